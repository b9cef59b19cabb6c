/**
 * `outdated` against a real registry (Debian's docker-registry on 127.0.0.1, deletes enabled): a lock
 * is written by a real `pull --write-lock`, then the world moves under it the ways it does upstream —
 * a tag re-pushed with other bytes (moved), a tag deleted and a repository removed (gone), tags
 * re-pushed in forms the gateway's fetcher refuses (unloadable) and a higher tag pushed (newer). Every
 * form called unloadable is proven so by the gateway's own fetcher (Istio pkg/wasm, test/gateway-client)
 * failing on it with the words `outdated` quotes, and every loadable one by the same fetcher loading it.
 */
import Ajv from 'ajv';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EXIT } from '../src/errors';
import { runCli } from './support/cli-run';
import { runCliProcess } from './support/cli-process';
import { gatewayFetch } from './support/gateway-client';
import { freePort } from './support/ports';
import { MEDIA, pushIndex, pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { parse } from 'yaml';
import { REPO_ROOT, tool } from './support/tools';

let reg: Registry;
let dir: string;
let list: string;
let lock: string;
const saved = process.env.DOCKER_CONFIG;
const validateEvent = new Ajv({ allErrors: true, strict: false }).compile(
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'docs', 'cli-events.schema.json'), 'utf8')),
);

/** A valid Wasm module (magic, version, one custom section named `label`): distinct bytes per label. */
function tinyWasm(label: string): Buffer {
  const name = Buffer.from(label);
  const body = Buffer.concat([Buffer.from([name.length]), name, Buffer.from('payload')]);
  return Buffer.concat([Buffer.from('\0asm'), Buffer.from([1, 0, 0, 0]), Buffer.from([0, body.length]), body]);
}

/** `oras push` of files (name → bytes, each with its media type) as one tag; optional config. */
function orasPush(repo: string, tag: string, files: Array<{ name: string; data: Buffer; type: string }>): void {
  const work = fs.mkdtempSync(path.join(dir, 'push-'));
  for (const f of files) fs.writeFileSync(path.join(work, f.name), f.data);
  fs.writeFileSync(path.join(work, 'config.json'), '{}');
  execFileSync(
    tool('oras'),
    [
      'push',
      '--plain-http',
      '--config',
      `config.json:${MEDIA.wasmConfig}`,
      `${reg.host}/${repo}:${tag}`,
      ...files.map((f) => `${f.name}:${f.type}`),
    ],
    { cwd: work, stdio: 'pipe' },
  );
}

/** The form Higress's gateway loads: the Wasm artifact with exactly two layers (module + spec.yaml). */
function pushLoadable(repo: string, tag: string, label: string): void {
  orasPush(repo, tag, [
    { name: 'plugin.wasm', data: tinyWasm(label), type: MEDIA.wasmLayer },
    { name: 'spec.yaml', data: Buffer.from(`info:\n  title: ${label}\n`), type: MEDIA.specLayer },
  ]);
}

const digestOf = (repo: string, tag: string) =>
  execFileSync(tool('oras'), ['resolve', '--plain-http', `${reg.host}/${repo}:${tag}`])
    .toString()
    .trim();

function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const e = JSON.parse(l) as Record<string, unknown>;
      if (!validateEvent(e))
        throw new Error(`${l} does not follow the schema: ${JSON.stringify(validateEvent.errors)}`);
      return e;
    });
}

const PLUGINS = ['steady', 'moving', 'vanishing', 'ghost', 'single', 'triple', 'odd', 'armonly', 'growing'];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-outdated-'));
  // No credentials of the machine's user: the registry is anonymous.
  fs.mkdirSync(path.join(dir, 'docker'));
  fs.writeFileSync(path.join(dir, 'docker', 'config.json'), '{}');
  process.env.DOCKER_CONFIG = path.join(dir, 'docker');
  reg = await startRegistry();
  for (const p of PLUGINS) pushLoadable(`plugins/${p}`, '1.0.0', `${p}-1`);
  // vanishing keeps another tag, so its repository stays when 1.0.0 is deleted.
  pushLoadable('plugins/vanishing', '0.9.0', 'vanishing-0');
  list = path.join(dir, 'plugins.properties');
  fs.writeFileSync(
    list,
    [
      '# every plugin of the drift scenarios',
      ...PLUGINS.map((p) => `${p}=oci://${reg.host}/plugins/${p}:1.0.0`),
      '#@alias steady 0.1.0=1.0.0',
      'local=file:local.wasm@1.0.0',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'local.wasm'), tinyWasm('local'));
  lock = path.join(dir, 'plugins.lock.json');
  const pulled = await runCli('pull', list, '--out', path.join(dir, 'tree'), '--write-lock', lock);
  if (pulled.code !== 0) throw new Error(`pull --write-lock failed: ${pulled.stderr}`);
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  if (saved === undefined) delete process.env.DOCKER_CONFIG;
  else process.env.DOCKER_CONFIG = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

let bundleFile: string;

describe('before anything moved', () => {
  test('a bundle made now carries the lists and the lock outdated compares with later', async () => {
    const sub = path.join(dir, 'bundled');
    fs.mkdirSync(sub);
    const l = path.join(sub, 'plugins.properties');
    fs.writeFileSync(l, ['steady', 'moving'].map((p) => `${p}=oci://${reg.host}/plugins/${p}:1.0.0\n`).join(''));
    bundleFile = path.join(dir, 'plugins.oci.tar');
    const b = await runCli('bundle', l, '--out', bundleFile);
    expect(b.code).toBe(EXIT.ok);
    const r = await runCli('outdated', `oci-layout:${bundleFile}`);
    expect(r.code).toBe(EXIT.ok);
    expect(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .map((x) => x.split(/\s+/).slice(0, 2)),
    ).toEqual([
      ['unchanged', 'steady@1.0.0'],
      ['unchanged', 'moving@1.0.0'],
    ]);
  }, 60_000);

  test('every plugin is unchanged, one aligned line each, exit 0; file: plugins are not watched', async () => {
    const r = await runCli('outdated', list, '--lock', lock);
    expect(r.code).toBe(EXIT.ok);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(PLUGINS.length + 1); // steady@0.1.0, its alias, too
    for (const l of lines) expect(l).toMatch(/^unchanged {2}\S+ +oci:\/\/\S+ +sha256:[0-9a-f]{12}$/);
    // aligned: the source column starts at the same place on every line
    expect(new Set(lines.map((l) => l.indexOf('oci://'))).size).toBe(1);
    expect(lines).toContain(
      `unchanged  steady@0.1.0     oci://${reg.host}/plugins/steady:1.0.0     ${digestOf('plugins/steady', '1.0.0').slice(0, 19)}`,
    );
    expect(r.stderr).toMatch(
      /^ok: 10 plugin\(s\): 10 unchanged, 0 newer, 0 moved, 0 unloadable, 0 gone, 0 failed; 1 file: plugin\(s\) not watched$/m,
    );
  });

  test('--lock-file (the issue spelling) and the lock next to the list are the same pins', async () => {
    const a = await runCli('outdated', list, '--lock-file', lock);
    const b = await runCli('outdated', list);
    expect(a.code).toBe(EXIT.ok);
    expect(b.code).toBe(EXIT.ok);
    expect(a.stdout).toBe(b.stdout);
    const both = await runCli('outdated', list, '--lock', lock, '--lock-file', path.join(dir, 'other.json'));
    expect(both.code).toBe(EXIT.input);
    expect(both.stderr).toMatch(/two lock files.*\[E_LOCK\]$/m);
  });

  test('a list with no lock beside it and no pins: one line per plugin without a digest, exit 3', async () => {
    const lone = path.join(dir, 'lone');
    fs.mkdirSync(lone);
    const l = path.join(lone, 'plugins.properties');
    fs.writeFileSync(
      l,
      `steady=oci://${reg.host}/plugins/steady:1.0.0\npinned=oci://${reg.host}/plugins/moving:1.0.0@${digestOf('plugins/moving', '1.0.0')}\n`,
    );
    const r = await runCli('outdated', l);
    expect(r.code).toBe(EXIT.input);
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: ${l}:1 steady@1\\.0\\.0: no digest to compare steady@1\\.0\\.0 with: .*\\[E_OUTDATED_BASELINE\\]$`,
        'm',
      ),
    );
    expect(r.stderr).not.toMatch(/pinned@1\.0\.0/);
    expect(r.stdout).toBe('');
  });
});

describe('after the world moved', () => {
  let movedTo: string;
  beforeAll(async () => {
    // moved: the same tag, other bytes (a same-version overwrite)
    pushLoadable('plugins/moving', '1.0.0', 'moving-2');
    movedTo = digestOf('plugins/moving', '1.0.0');
    // gone: the tag deleted (the registry has deletes enabled); the repository removed by its admin
    execFileSync(tool('oras'), [
      'manifest',
      'delete',
      '--plain-http',
      '--force',
      `${reg.host}/plugins/vanishing:1.0.0`,
    ]);
    fs.rmSync(path.join(reg.storageDir, 'docker', 'registry', 'v2', 'repositories', 'plugins', 'ghost'), {
      recursive: true,
    });
    // unloadable: one raw layer (plain `oras push plugin.wasm`), three layers, two layers of unknown types
    orasPush('plugins/single', '1.0.0', [{ name: 'plugin.wasm', data: tinyWasm('single-2'), type: MEDIA.wasmLayer }]);
    orasPush('plugins/triple', '1.0.0', [
      { name: 'plugin.wasm', data: tinyWasm('triple-2'), type: MEDIA.wasmLayer },
      { name: 'spec.yaml', data: Buffer.from('info:\n  title: triple\n'), type: MEDIA.specLayer },
      { name: 'README.md', data: Buffer.from('# triple\n'), type: 'text/markdown' },
    ]);
    orasPush('plugins/odd', '1.0.0', [
      { name: 'plugin.bin', data: tinyWasm('odd-2'), type: 'application/octet-stream' },
      { name: 'notes.txt', data: Buffer.from('notes\n'), type: 'application/vnd.example.unknown' },
    ]);
    // ...and an image index without linux/amd64 (our pull takes its single entry; the gateway does not)
    await pushIndex(reg, 'plugins/armonly', '1.0.0', { amd64: null, arm64: tinyWasm('armonly-2') }, 'oci');
    // newer: a higher release (and a pre-release above it, which does not count)
    pushLoadable('plugins/growing', '1.1.0', 'growing-2');
    pushLoadable('plugins/growing', '2.0.0-rc.1', 'growing-3');
    pushLoadable('plugins/steady', 'latest', 'steady-latest');
  }, 120_000);

  test('one aligned line per plugin with its status; exit 9 (drift)', async () => {
    const r = await runCli('outdated', list, '--lock', lock);
    expect(r.code).toBe(EXIT.drift);
    const line = (id: string) => r.stdout.split('\n').find((l) => l.split(/\s+/)[1] === id) ?? '';
    const status = (id: string) => line(id).split(/\s+/)[0];
    expect(Object.fromEntries(PLUGINS.map((p) => [p, status(`${p}@1.0.0`)]))).toEqual({
      steady: 'unchanged',
      moving: 'moved',
      vanishing: 'gone',
      ghost: 'gone',
      single: 'unloadable',
      triple: 'unloadable',
      odd: 'unloadable',
      armonly: 'unloadable',
      growing: 'newer',
    });
    expect(status('steady@0.1.0')).toBe('unchanged');
    expect(line('moving@1.0.0')).toMatch(/ sha256:[0-9a-f]{12} -> sha256:[0-9a-f]{12}$/);
    expect(line('moving@1.0.0')).toContain(`-> ${movedTo.slice(0, 19)}`);
    expect(line('vanishing@1.0.0')).toContain('tag not found (the repository is there); the lock pins sha256:');
    expect(line('ghost@1.0.0')).toContain('repository not found; the lock pins sha256:');
    expect(line('single@1.0.0')).toContain('number of layers must be 2 but got 1');
    expect(line('triple@1.0.0')).toContain('number of layers must be 2 but got 3');
    expect(line('odd@1.0.0')).toContain(`could not find the layer of type ${MEDIA.wasmLayer}`);
    expect(line('armonly@1.0.0')).toContain('no child with platform linux/amd64 in index (has linux/arm64)');
    expect(line('growing@1.0.0')).toMatch(/ sha256:[0-9a-f]{12}; newer tag 1\.1\.0$/);
    const rows = r.stdout.trimEnd().split('\n');
    expect(new Set(rows.map((l) => l.indexOf('oci://'))).size).toBe(1);
    expect(r.stderr).toMatch(
      /^drift: 10 plugin\(s\): 2 unchanged, 1 newer, 1 moved, 4 unloadable, 2 gone, 0 failed; 1 file: plugin\(s\) not watched$/m,
    );
  }, 60_000);

  test('--json: one schema-valid tag event per plugin with digests and codes, and the summary', async () => {
    const r = await runCli('outdated', list, '--lock', lock, '--json');
    expect(r.code).toBe(EXIT.drift);
    const e = events(r.stdout);
    expect(e[0]).toEqual({ event: 'start', command: 'outdated', plugins: 10 });
    const tag = (name: string) => e.find((x) => x.event === 'tag' && x.name === name && x.version === '1.0.0')!;
    const locked = JSON.parse(fs.readFileSync(lock, 'utf8')) as { plugins: Array<{ name: string; digest: string }> };
    const pin = (name: string) => locked.plugins.find((p) => p.name === name)!.digest;
    expect(tag('moving')).toMatchObject({
      status: 'moved',
      source: `oci://${reg.host}/plugins/moving:1.0.0`,
      pinned: pin('moving'),
      digest: movedTo,
      code: 'E_TAG_MOVED',
      file: list,
      line: 3,
    });
    expect(tag('vanishing')).toMatchObject({ status: 'gone', code: 'E_TAG_GONE', pinned: pin('vanishing') });
    expect(tag('vanishing').digest).toBeUndefined();
    expect(tag('single')).toMatchObject({ status: 'unloadable', code: 'E_TAG_UNLOADABLE' });
    expect(tag('growing')).toEqual({
      event: 'tag',
      command: 'outdated',
      name: 'growing',
      version: '1.0.0',
      source: `oci://${reg.host}/plugins/growing:1.0.0`,
      status: 'newer',
      pinned: pin('growing'),
      digest: pin('growing'),
      newer: '1.1.0',
    });
    expect(e.at(-1)).toMatchObject({
      event: 'summary',
      command: 'outdated',
      ok: false,
      exitCode: EXIT.drift,
      counts: { plugins: 10, unchanged: 2, newer: 1, moved: 1, unloadable: 4, gone: 2, failed: 0, local: 1 },
    });
  }, 60_000);

  test("the gateway's own fetcher refuses every form called unloadable, in the words outdated quotes, and loads the rest", async () => {
    const r = events((await runCli('outdated', list, '--lock', lock, '--json')).stdout);
    const reasons = new Map(r.filter((e) => e.event === 'tag' && e.version === '1.0.0').map((e) => [e.name, e.reason]));
    const url = (p: string) => `oci://${reg.host}/plugins/${p}:1.0.0`;
    const run = await gatewayFetch(
      ['steady', 'moving', 'growing', 'single', 'triple', 'odd', 'armonly'].map((p) => ({ url: url(p) })),
      { insecureRegistries: [reg.host], retries: 1 },
    );
    const result = (p: string) => run.results.find((x) => x.url === url(p))!;
    for (const p of ['steady', 'moving', 'growing']) expect(result(p)).toMatchObject({ ok: true });
    for (const p of ['single', 'triple', 'odd']) {
      expect(result(p).ok).toBe(false);
      // each clause outdated gives is one of Istio's own error clauses for that image
      for (const clause of String(reasons.get(p)).split('; ')) expect(result(p).error).toContain(clause);
    }
    expect(result('armonly').ok).toBe(false);
    expect(result('armonly').error).toContain('no child with platform');
    expect(reasons.get('armonly')).toContain('no child with platform linux/amd64');
    expect(run.code).toBe(1);
  }, 120_000);

  test('a bundle made before: its own lock is the pin ("did upstream move since this bundle?")', async () => {
    const r = await runCli('outdated', `oci-layout:${bundleFile}`);
    expect(r.code).toBe(EXIT.drift);
    expect(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .map((x) => x.split(/\s+/).slice(0, 2)),
    ).toEqual([
      ['unchanged', 'steady@1.0.0'],
      ['moved', 'moving@1.0.0'],
    ]);
  }, 60_000);

  test('the compiled CLI exits 9 and prints the same lines; a snapshot pins like a lock', async () => {
    const p = await runCliProcess(['outdated', list, '--lock', lock]);
    expect(p.code).toBe(EXIT.drift);
    expect(p.stdout).toMatch(/^moved {7}moving@1\.0\.0 {5}oci:\/\//m);
    const snapshot = path.join(dir, 'snapshot.json');
    const locked = JSON.parse(fs.readFileSync(lock, 'utf8')) as { plugins: Array<{ name: string; digest: string }> };
    const entry = (name: string) => ({
      logicalId: name,
      version: '1.0.0',
      ociRef: `${reg.host}/plugins/${name}:1.0.0`,
      digest: locked.plugins.find((x) => x.name === name)!.digest,
      consumers: { pluginServer: { httpPath: name } },
    });
    fs.writeFileSync(snapshot, JSON.stringify({ schemaVersion: 1, plugins: [entry('steady'), entry('moving')] }));
    const s = await runCli('outdated', '--snapshot', snapshot, '--json');
    expect(s.code).toBe(EXIT.drift);
    expect(
      events(s.stdout)
        .filter((e) => e.event === 'tag')
        .map((e) => [e.name, e.status]),
    ).toEqual([
      ['steady', 'unchanged'],
      ['moving', 'moved'],
    ]);
  }, 60_000);

  test('a registry that does not answer: failed with its code, exit 4, nothing else said about it', async () => {
    const host = `127.0.0.1:${await freePort()}`;
    fs.mkdirSync(path.join(dir, 'down'));
    const l = path.join(dir, 'down', 'plugins.properties');
    fs.writeFileSync(l, `down=oci://${host}/plugins/down:1.0.0@sha256:${'a'.repeat(64)}\n`);
    const r = await runCli('outdated', l, '--json');
    expect(r.code).toBe(EXIT.registry);
    const t = events(r.stdout).find((e) => e.event === 'tag')!;
    expect(t).toMatchObject({ status: 'failed', code: 'E_REGISTRY_CONNECTION', name: 'down' });
    const human = await runCli('outdated', l);
    expect(human.code).toBe(EXIT.registry);
    expect(human.stderr).toMatch(
      new RegExp(`^error: ${l}:1 down@1\\.0\\.0: .*${host}.*\\[E_REGISTRY_CONNECTION\\]$`, 'm'),
    );
    expect(human.stderr).toMatch(/^failed: 1 plugin\(s\): .* 1 failed$/m);
  }, 60_000);

  describe("sync-plugins.yml's watch job, its steps run as written", () => {
    type Step = { id?: string; name?: string; run?: string; if?: string };
    const workflow = parse(
      fs.readFileSync(path.join(REPO_ROOT, '.github', 'workflows', 'sync-plugins.yml'), 'utf8'),
    ) as {
      jobs: { watch: { steps: Step[] } };
    };
    const steps = workflow.jobs.watch.steps.filter((x) => x.run && x.run.includes('outdated'));
    const watchStep = steps.find((x) => x.id === 'watch')!;
    const updateStep = steps.find((x) => x.id !== 'watch')!;

    /** A checkout of the repository as the job sees it: image/ lists and lock, the built CLI. */
    function workspace(name: string, lists: Record<string, string[]>, lockOf: string[]): string {
      const ws = path.join(dir, name);
      fs.mkdirSync(path.join(ws, 'image'), { recursive: true });
      fs.symlinkSync(path.join(REPO_ROOT, 'build'), path.join(ws, 'build'));
      for (const [file, names] of Object.entries(lists))
        fs.writeFileSync(
          path.join(ws, 'image', file),
          names.map((n) => `${n}=oci://${reg.host}/plugins/${n}:1.0.0\n`).join(''),
        );
      // The lock written before the world moved: the suite's own, for these plugins.
      const locked = JSON.parse(fs.readFileSync(lock, 'utf8')) as {
        lockVersion: 1;
        plugins: Array<{ name: string; version: string }>;
      };
      const kept = {
        lockVersion: 1,
        plugins: locked.plugins.filter((p) => lockOf.includes(p.name) && p.version === '1.0.0'),
      };
      fs.writeFileSync(path.join(ws, 'image', 'plugins.lock.json'), `${JSON.stringify(kept, null, 2)}\n`);
      return ws;
    }

    function runStep(ws: string, step: Step) {
      const temp = path.join(ws, '.runner-temp');
      fs.mkdirSync(temp, { recursive: true });
      const env = {
        ...process.env,
        RUNNER_TEMP: temp,
        GITHUB_OUTPUT: path.join(temp, 'output'),
        GITHUB_STEP_SUMMARY: path.join(temp, 'summary.md'),
      };
      // GitHub's default shell for run steps: bash -e.
      const r = spawnSync('bash', ['-e', '-c', step.run!], { cwd: ws, env, encoding: 'utf8', timeout: 120_000 });
      const read = (f: string) =>
        fs.existsSync(path.join(temp, f)) ? fs.readFileSync(path.join(temp, f), 'utf8') : '';
      return {
        code: r.status,
        stdout: r.stdout,
        stderr: r.stderr,
        output: read('output'),
        summary: read('summary.md'),
        temp,
      };
    }

    test('a moved tag and a newer one: the newer tag is added beside the served one, everything locked again, a PR body written', () => {
      const ws = workspace(
        'ws-drift',
        { 'plugins.properties': ['steady', 'moving', 'growing'], 'console.plugins.properties': ['steady'] },
        ['steady', 'moving', 'growing'],
      );
      const watch = runStep(ws, watchStep);
      expect(watch.stderr).toMatch(
        /^drift: 3 plugin\(s\): 1 unchanged, 1 newer, 1 moved, 0 unloadable, 0 gone, 0 failed\n$/,
      );
      expect(watch.code).toBe(0);
      expect(watch.output).toBe('drift=true\n');
      expect(watch.summary).toMatch(/^\| moved \| moving@1\.0\.0 \| `oci:\/\/\S+\/plugins\/moving:1\.0\.0` \|/m);
      expect(watch.summary).toMatch(/^\| newer \| growing@1\.0\.0 \| .* \| 1\.1\.0 \| {2}\|$/m);
      expect(watch.summary).not.toMatch(/steady/);
      const update = runStep(ws, updateStep);
      expect(update.code).toBe(0);
      expect(fs.readFileSync(path.join(ws, 'image', 'plugins.properties'), 'utf8')).toBe(
        ['steady', 'moving', 'growing'].map((n) => `${n}=oci://${reg.host}/plugins/${n}:1.0.0\n`).join('') +
          `\n# newer tags found by \`outdated\` (sync-plugins workflow)\ngrowing=oci://${reg.host}/plugins/growing:1.1.0\n`,
      );
      const relocked = JSON.parse(fs.readFileSync(path.join(ws, 'image', 'plugins.lock.json'), 'utf8')) as {
        plugins: Array<{ name: string; version: string; digest: string }>;
      };
      expect(relocked.plugins.map((p) => `${p.name}@${p.version}`)).toEqual([
        'growing@1.0.0',
        'growing@1.1.0',
        'moving@1.0.0',
        'steady@1.0.0',
      ]);
      expect(relocked.plugins.find((p) => p.name === 'moving')!.digest).toBe(movedTo);
      expect(fs.readFileSync(path.join(update.temp, 'pr-body.md'), 'utf8')).toContain('| moved | moving@1.0.0 |');
      // After the pull request is merged, the watch sees nothing to do but the still newer-free world.
      fs.rmSync(path.join(ws, '.runner-temp'), { recursive: true });
      const again = runStep(ws, watchStep);
      expect(again.code).toBe(0);
      expect(again.output).toBe('');
    }, 180_000);

    test('no lock yet: the first one is written by a real pull and proposed', () => {
      const ws = workspace('ws-first', { 'plugins.properties': ['steady'], 'console.plugins.properties': [] }, []);
      fs.rmSync(path.join(ws, 'image', 'plugins.lock.json'));
      const watch = runStep(ws, watchStep);
      expect(watch.code).toBe(0);
      expect(watch.output).toBe('drift=true\n');
      const update = runStep(ws, updateStep);
      expect(update.code).toBe(0);
      const written = JSON.parse(fs.readFileSync(path.join(ws, 'image', 'plugins.lock.json'), 'utf8')) as {
        plugins: Array<{ name: string; digest: string }>;
      };
      expect(written.plugins.map((p) => [p.name, p.digest])).toEqual([['steady', digestOf('plugins/steady', '1.0.0')]]);
      expect(fs.readFileSync(path.join(update.temp, 'pr-body.md'), 'utf8')).toContain('(first lock: no report)');
    }, 60_000);

    test('a tag that is gone fails the job with its report, and nothing is changed', () => {
      const ws = workspace(
        'ws-gone',
        { 'plugins.properties': ['steady', 'vanishing'], 'console.plugins.properties': [] },
        ['steady', 'vanishing'],
      );
      const before = fs.readFileSync(path.join(ws, 'image', 'plugins.lock.json'), 'utf8');
      const watch = runStep(ws, watchStep);
      expect(watch.code).toBe(9);
      expect(watch.stderr).toMatch(
        /^drift: 2 plugin\(s\): 1 unchanged, 0 newer, 0 moved, 0 unloadable, 1 gone, 0 failed\n$/,
      );
      expect(watch.stdout).toMatch(/^::error::a tag is gone upstream/m);
      expect(watch.summary).toMatch(/^\| gone \| vanishing@1\.0\.0 \|/m);
      expect(watch.output).toBe('');
      expect(fs.readFileSync(path.join(ws, 'image', 'plugins.lock.json'), 'utf8')).toBe(before);
    }, 60_000);
  });
});

describe('a registry with token auth (anonymous pull tokens, as public registries give them)', () => {
  let tokenReg: Registry;
  afterAll(async () => tokenReg?.stop());

  test('manifests and the tag list go through the token flow with a pull scope; a newer tag is seen', async () => {
    tokenReg = await startRegistry({ auth: 'token', anonymousPull: true });
    const spec = { specYaml: 'info:\n  title: t\n' };
    const a = await pushWasmArtifact(tokenReg, 'plugins/t', '1.0.0', tinyWasm('t-1'), spec);
    await pushWasmArtifact(tokenReg, 'plugins/t', '1.2.0', tinyWasm('t-2'), spec);
    const sub = path.join(dir, 'token');
    fs.mkdirSync(sub);
    const l = path.join(sub, 'plugins.properties');
    fs.writeFileSync(l, `t=oci://${tokenReg.host}/plugins/t:1.0.0@${a.manifestDigest}\n`);
    const r = await runCli('outdated', l, '--json');
    expect(r.code).toBe(EXIT.ok);
    expect(events(r.stdout).find((e) => e.event === 'tag')).toMatchObject({
      status: 'newer',
      pinned: a.manifestDigest,
      digest: a.manifestDigest,
      newer: '1.2.0',
    });
    const asked = tokenReg.tokenServer!.requests.filter((q) => q.scope.includes('plugins/t') && q.user === 'anonymous');
    expect(asked.map((q) => q.scope)).toContain('repository:plugins/t:pull');
  }, 60_000);
});
