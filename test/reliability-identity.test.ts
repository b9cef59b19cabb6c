/**
 * Issue 27, classes 1 and 8: one rule for which plugin names and versions can be served together
 * (src/contract/plugin-identity.ts). Nginx `map` keys ignore letter case, so two versions that differ
 * only in case made the OCI view's maps hold a duplicate key and Nginx refuse to start; plugins `foo`
 * and `foo.json` want `oci/tags/foo.json` as a file and as a folder, and pull published plugins/ before
 * the view failed. Each case runs the real CLI (in-process) and `nginx -t` on image/nginx.conf as
 * `serve` rewrites it; the property test checks that the tree, `verify`, `nginx -t` and the OCI view
 * agree for generated sets of names and versions.
 *
 * Class 9, with the real Distribution registry: the source manifest digest is the OCI view's identity
 * of a version, so a lost or replaced kept side blob (the config) is fetched from the source again,
 * never papered over by a generated image with another digest.
 *
 * Class 13: `index` over a module hand-placed through a hardlink that several folders share refuses,
 * naming every path, instead of re-blessing the new bytes for all of them.
 */
import { spawnSync } from 'child_process';
import fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { identityClashes, PluginId, SAFE_SEGMENT } from '../src/contract/plugin-identity';
import { readView } from '../src/ociview/write';
import { prepareNginx } from '../src/serve/nginx-runtime';
import { runCli } from './support/cli-run';
import { blobPath, flipMiddleByte, pushWasmArtifact, Pushed, Registry, startRegistry } from './support/registry';
import { treeState, wasmVariant } from './support/tree-state';
import { tool } from './support/tools';
import { smallWasm } from './support/wasm';

let dir: string;
let small: Buffer;
let n = 0;
const fresh = (label: string) => fs.mkdtempSync(path.join(dir, `${label}-${n++}-`));

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-identity-'));
  small = fs.readFileSync(await smallWasm());
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A plugin list of file: sources, one distinct module per version. */
function listOf(where: string, ids: PluginId[]): string {
  const lines = ids.map((id, i) => {
    const file = path.join(where, `m-${n}-${i}.wasm`);
    fs.writeFileSync(file, wasmVariant(small, `${id.name}/${id.version}/${i}`));
    return `${id.name}=file:${file}@${id.version}`;
  });
  const list = path.join(where, `list-${n++}.properties`);
  fs.writeFileSync(list, `${lines.join('\n')}\n`);
  return list;
}

const pull = (where: string, ids: PluginId[], ...flags: string[]) =>
  runCli('pull', listOf(where, ids), '--out', path.join(where, 'tree'), ...flags);

/** `nginx -t` on image/nginx.conf rewritten for this tree (its OCI view's maps included). */
function nginxTest(root: string): { ok: boolean; stderr: string } {
  const prepared = prepareNginx({ root, host: '127.0.0.1', port: 18080, accessLog: 'off', binary: tool('nginx') });
  try {
    const r = spawnSync(tool('nginx'), ['-t', '-q', ...prepared.args.slice(0, 6)], { encoding: 'utf8' });
    // njs logs its VM start at notice level while the config is read (before error_log applies).
    const stderr = r.stderr
      .split('\n')
      .filter((l) => !/\[notice\] \d+#\d+: js vm init/.test(l))
      .join('\n');
    return { ok: r.status === 0, stderr };
  } finally {
    prepared.cleanup();
  }
}

/** The `error:` lines of a run's stderr (pull adds "nothing was published" after them). */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error:'));

const versionsIn = (root: string): string[] => {
  const base = path.join(root, 'plugins');
  if (!fs.existsSync(base)) return [];
  return fs
    .readdirSync(base, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => fs.readdirSync(path.join(base, d.name)).map((v) => `${d.name}/${v}`))
    .sort();
};

describe('class 1: versions and names that differ only in letter case', () => {
  test('one list: refused before anything is published, one line naming both', async () => {
    const w = fresh('case-list');
    const r = await pull(w, [
      { name: 'p', version: '1.0.0-RC1' },
      { name: 'p', version: '1.0.0-rc1' },
    ]);
    expect(r.code).toBe(3);
    const lines = errorLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('plugins/p/1.0.0-RC1 and plugins/p/1.0.0-rc1 cannot both be served');
    expect(versionsIn(path.join(w, 'tree'))).toEqual([]);
  });

  test('a later list adding the other case: refused, tree and view unchanged, Nginx still starts; --prune may swap', async () => {
    const w = fresh('case-later');
    const tree = path.join(w, 'tree');
    expect((await pull(w, [{ name: 'p', version: '1.0.0-RC1' }])).code).toBe(0);
    const before = treeState(tree);
    const r = await pull(w, [
      { name: 'p', version: '1.0.0-RC1' },
      { name: 'p', version: '1.0.0-rc1' },
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/plugins\/p\/1\.0\.0-RC1 and plugins\/p\/1\.0\.0-rc1 cannot both be served/);
    // A list naming only the new case still clashes with the folder the run would keep.
    const only = await pull(w, [{ name: 'p', version: '1.0.0-rc1' }]);
    expect(only.code).toBe(3);
    expect(treeState(tree)).toEqual(before);
    expect(nginxTest(tree)).toEqual({ ok: true, stderr: '' });
    expect((await runCli('verify', tree)).code).toBe(0);
    // With --prune the old folder goes, so the new one may come.
    expect((await pull(w, [{ name: 'p', version: '1.0.0-rc1' }], '--prune')).code).toBe(0);
    expect(versionsIn(tree)).toEqual(['p/1.0.0-rc1']);
    expect(nginxTest(tree).ok).toBe(true);
  });

  test('plugin names Foo and foo: refused', async () => {
    const w = fresh('case-name');
    const r = await pull(w, [
      { name: 'Foo', version: '1.0.0' },
      { name: 'foo', version: '2.0.0' },
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/plugins\/Foo and plugins\/foo cannot both be served: plugin names that differ only/);
  });

  test('a tree made by hand: verify reports the clash, index refuses and changes nothing', async () => {
    const w = fresh('case-hand');
    const tree = path.join(w, 'tree');
    const side = fresh('case-side');
    expect((await pull(w, [{ name: 'p', version: '1.0.0-RC1' }])).code).toBe(0);
    expect((await pull(side, [{ name: 'p', version: '1.0.0-rc1' }])).code).toBe(0);
    fs.cpSync(path.join(side, 'tree', 'plugins', 'p', '1.0.0-rc1'), path.join(tree, 'plugins', 'p', '1.0.0-rc1'), {
      recursive: true,
    });
    const v = await runCli('verify', tree);
    expect(v.code).toBe(6);
    expect(v.stderr).toMatch(/plugins\/p\/1\.0\.0-RC1 and plugins\/p\/1\.0\.0-rc1 cannot both be served/);
    const before = treeState(tree);
    const ix = await runCli('index', tree);
    expect(ix.code).toBe(3);
    expect(ix.stderr).toMatch(/plugins\/p\/1\.0\.0-RC1 and plugins\/p\/1\.0\.0-rc1 cannot both be served/);
    expect(treeState(tree)).toEqual(before);
    // The view index would have written would not load; the old one still does.
    expect(nginxTest(tree).ok).toBe(true);
  });
});

describe('class 8: foo and foo.json (a file and a folder of the OCI view)', () => {
  test('refused before plugins/ changes; a later pull and index work', async () => {
    const w = fresh('json');
    const tree = path.join(w, 'tree');
    expect((await pull(w, [{ name: 'bar', version: '1.0.0' }])).code).toBe(0);
    const before = treeState(tree);
    const r = await pull(w, [
      { name: 'bar', version: '1.0.0' },
      { name: 'foo', version: '1.0.0' },
      { name: 'foo.json', version: '1.0.0' },
    ]);
    expect(r.code).toBe(3);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/plugins\/foo and plugins\/foo\.json cannot both be served: the OCI view's tag list/);
    // Nothing published: /plugins/ and /v2/ still serve the same set.
    expect(treeState(tree)).toEqual(before);
    expect((await runCli('verify', tree)).code).toBe(0);
    // Not stuck: the next run without the clash publishes, and index agrees.
    expect(
      (
        await pull(w, [
          { name: 'bar', version: '1.0.0' },
          { name: 'foo', version: '1.0.0' },
        ])
      ).code,
    ).toBe(0);
    expect((await runCli('index', tree)).code).toBe(0);
    expect((await runCli('verify', tree)).code).toBe(0);
    expect((await readView(path.join(tree, 'oci')))?.tags.map((t) => t.name)).toEqual(['bar', 'foo']);
  });
});

describe('property: the tree, verify, nginx -t and the OCI view agree', () => {
  // Names and versions built to collide: letter case, dots, dashes, `.json`-like suffixes, and the
  // longest segments SAFE_SEGMENT allows (the longest map key).
  const stem = fc.constantFrom('foo', 'Foo', 'a.b', 'a-b', 'A-B', 'x', 'x.json', 'X.JSON', 'a'.repeat(128));
  const suffix = fc.constantFrom('', '', '.json', '.JSON', '.json.json', '-1', '.');
  const segment = fc
    .tuple(stem, suffix)
    .map(([s, x]) => `${s}${x}`.slice(0, 128))
    .filter((s) => SAFE_SEGMENT.test(s));
  const version = fc.constantFrom('1.0.0', '1.0.0-RC1', '1.0.0-rc1', 'v1', 'V1', '1.0.json', 'b'.repeat(128), 'latest');
  const set = fc.uniqueArray(fc.record({ name: segment, version }), {
    minLength: 1,
    maxLength: 5,
    selector: (id) => `${id.name}/${id.version}`,
  });

  test('20 generated sets: pull publishes exactly the sets the rule allows, and Nginx loads what it published', async () => {
    await fc.assert(
      fc.asyncProperty(set, async (ids) => {
        const w = fresh('prop');
        const tree = path.join(w, 'tree');
        const clashes = identityClashes(ids);
        const r = await pull(w, ids);
        if (clashes.length) {
          // Refused whole, naming the first clash; nothing published.
          expect(r.code).toBe(3);
          expect(errorLines(r.stderr)).toHaveLength(1);
          expect(r.stderr).toContain(`${clashes[0].a} and ${clashes[0].b} cannot both be served`);
          expect(versionsIn(tree)).toEqual([]);
        } else {
          expect(errorLines(r.stderr)).toEqual([]);
          expect(r.code).toBe(0);
          expect(versionsIn(tree)).toEqual(ids.map((id) => `${id.name}/${id.version}`).sort());
          expect((await runCli('verify', tree)).code).toBe(0);
          const view = await readView(path.join(tree, 'oci'));
          expect(view?.tags.map((t) => `${t.name}/${t.version}`).sort()).toEqual(versionsIn(tree));
          expect(nginxTest(tree)).toEqual({ ok: true, stderr: '' });
        }
        fs.rmSync(w, { recursive: true, force: true });
      }),
      { numRuns: 20, seed: 27 },
    );
  });

  test('the rule alone, over many sets: every pair it allows has distinct case-folded map keys and no file/folder overlap', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.record({ name: segment, version }), { maxLength: 8 }), (ids) => {
        if (identityClashes(ids).length) return;
        const keys = new Set<string>();
        const files = new Set<string>();
        const dirs = new Set<string>();
        for (const id of ids) {
          keys.add(`/v2/plugins/${id.name}/manifests/${id.version}`.toLowerCase());
          files.add(`tags/${id.name}.json`.toLowerCase());
          dirs.add(`tags/${id.name}`.toLowerCase());
        }
        const distinct = new Set(ids.map((id) => `${id.name}/${id.version}`));
        expect(keys.size).toBe(distinct.size);
        for (const f of files) expect(dirs.has(f)).toBe(false);
      }),
      { numRuns: 2000, seed: 27 },
    );
  });
});

describe('class 9: the source manifest digest is the OCI view identity', () => {
  let reg: Registry;
  const pushed: Record<string, Pushed> = {};
  beforeAll(async () => {
    reg = await startRegistry();
    for (const name of ['keep', 'gone'])
      // wasm + spec.yaml: the form the gateway loads, so the view keeps the source's own manifest.
      pushed[name] = await pushWasmArtifact(reg, `plugins/${name}`, '1.0.0', wasmVariant(small, `class9-${name}`), {
        specYaml: 'info:\n  version: 1.0.0\n',
        annotations: { 'org.opencontainers.image.created': '2025-01-02T03:04:05Z' },
      });
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  const listFor = (where: string, names: string[]) => {
    const list = path.join(where, `list-${n++}.properties`);
    fs.writeFileSync(list, names.map((x) => `${x}=oci://${reg.host}/plugins/${x}:1.0.0\n`).join(''));
    return list;
  };
  const tagOf = async (tree: string, name: string) =>
    (await readView(path.join(tree, 'oci')))?.tags.find((t) => t.name === name);
  const configFile = (tree: string, name: string) =>
    path.join(tree, 'oci', 'blobs', pushed[name].config.digest.slice('sha256:'.length));

  test.each([
    ['lost', (f: string) => fs.rmSync(f)],
    [
      'replaced',
      (f: string) => {
        fs.chmodSync(f, 0o644);
        fs.writeFileSync(f, '{"other":true}');
      },
    ],
  ])(
    'a %s config blob: verify fails, pull restores it from the source and the tag keeps its digest',
    async (_l, harm) => {
      const w = fresh('digest');
      const tree = path.join(w, 'tree');
      const list = listFor(w, ['keep']);
      expect((await runCli('pull', list, '--out', tree)).code).toBe(0);
      expect(await tagOf(tree, 'keep')).toMatchObject({ form: 'original', digest: pushed.keep.manifestDigest });
      harm(configFile(tree, 'keep'));
      const v = await runCli('verify', tree);
      expect(v.code).toBe(6);
      expect(v.stderr).toContain(`blob ${pushed.keep.config.digest} is missing or does not hash to its name`);
      const again = await runCli('pull', list, '--out', tree);
      expect(again.stderr).not.toMatch(/^error/m);
      expect(again.code).toBe(0);
      // Not a generated image with a new digest: the source's manifest, its config fetched again.
      expect(await tagOf(tree, 'keep')).toMatchObject({ form: 'original', digest: pushed.keep.manifestDigest });
      expect(fs.readFileSync(configFile(tree, 'keep'), 'utf8')).toBe('{}');
      expect((await runCli('verify', tree)).code).toBe(0);
    },
  );

  test('when the source cannot give it back: pull --keep-going and index fail naming the digest, the tag never moves', async () => {
    const w = fresh('digest-gone');
    const tree = path.join(w, 'tree');
    const list = listFor(w, ['gone']);
    expect((await runCli('pull', list, '--out', tree)).code).toBe(0);
    fs.rmSync(configFile(tree, 'gone'));
    // The registry now serves other bytes for the module: the fetch fails its digest check.
    const layer = blobPath(reg, pushed.gone.wasmLayer.digest);
    fs.writeFileSync(layer, flipMiddleByte(fs.readFileSync(layer)));
    const before = treeState(tree);
    const r = await runCli('pull', list, '--out', tree, '--keep-going');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`but its config blob ${pushed.gone.config.digest} is missing`);
    expect(r.stderr).toContain(pushed.gone.manifestDigest);
    const ix = await runCli('index', tree);
    expect(ix.code).not.toBe(0);
    expect(ix.stderr).toContain(`serves gone:1.0.0 as its source manifest ${pushed.gone.manifestDigest}`);
    expect(await tagOf(tree, 'gone')).toMatchObject({ form: 'original', digest: pushed.gone.manifestDigest });
    // index rewrote nothing of the view; verify still reports the lost blob.
    const after = treeState(tree);
    for (const k of Object.keys(before)) if (k.startsWith('oci/')) expect([k, after[k]]).toEqual([k, before[k]]);
    expect((await runCli('verify', tree)).code).toBe(6);
  });
});

describe('class 13: a hand-placed module written through a shared hardlink', () => {
  test('index refuses naming every path and changes nothing; pull restores; rm then cp is the safe way', async () => {
    const w = fresh('hardlink');
    const tree = path.join(w, 'tree');
    const mod = path.join(w, 'shared.wasm');
    fs.writeFileSync(mod, wasmVariant(small, 'class13-shared'));
    const list = path.join(w, 'list.properties');
    fs.writeFileSync(list, `a=file:${mod}@1.0.0\nb=file:${mod}@1.0.0\n#@alias a latest=1.0.0\n`);
    expect((await runCli('pull', list, '--out', tree)).code).toBe(0);
    const wasm = (name: string, version: string) => path.join(tree, 'plugins', name, version, 'plugin.wasm');
    const shared = fs.statSync(wasm('a', '1.0.0')).ino;
    expect([fs.statSync(wasm('b', '1.0.0')).ino, fs.statSync(wasm('a', 'latest')).ino]).toEqual([shared, shared]);
    const original = fs.readFileSync(mod);

    // What the index workflow used to invite: cp over the path (as root, past the 0444 mode).
    const fresher = path.join(w, 'new.wasm');
    fs.writeFileSync(fresher, wasmVariant(small, 'class13-new'));
    fs.chmodSync(wasm('a', '1.0.0'), 0o644); // as root needs no chmod; a non-root test does
    fs.copyFileSync(fresher, wasm('a', '1.0.0'));
    expect(fs.readFileSync(wasm('b', '1.0.0'))).toEqual(fs.readFileSync(fresher)); // written through
    const before = treeState(tree);
    const ix = await runCli('index', tree);
    expect(ix.code).toBe(3);
    expect(errorLines(ix.stderr)).toHaveLength(1);
    expect(ix.stderr).toContain(
      'it is one file (hardlink) with 3 paths, all changed with it: plugins/a/1.0.0/plugin.wasm, plugins/a/latest/plugin.wasm, plugins/b/1.0.0/plugin.wasm',
    );
    expect(ix.stderr).toContain('`rm <path>` then `cp new.wasm <path>`');
    expect(treeState(tree)).toEqual(before);
    // b keeps its recorded source and sha256: nothing was re-blessed.
    const metaB = JSON.parse(fs.readFileSync(path.join(tree, 'plugins', 'b', '1.0.0', 'metadata.json'), 'utf8'));
    expect(metaB.source).toBe(`file:${mod}`);

    // Recovery: pull fetches every sharer again; then the module is placed with rm + cp.
    expect((await runCli('pull', list, '--out', tree)).code).toBe(0);
    for (const [n2, v] of [
      ['a', '1.0.0'],
      ['b', '1.0.0'],
      ['a', 'latest'],
    ])
      expect(fs.readFileSync(wasm(n2, v))).toEqual(original);
    fs.rmSync(wasm('a', '1.0.0'));
    fs.copyFileSync(fresher, wasm('a', '1.0.0'));
    const ok = await runCli('index', tree);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toMatch(/1 rebuilt/);
    expect(fs.readFileSync(wasm('b', '1.0.0'))).toEqual(original);
    expect(fs.readFileSync(wasm('a', 'latest'))).toEqual(original);
    expect((await runCli('verify', tree)).code).toBe(0);
    // The other way docs/custom-plugins.md shows: install unlinks the path before it writes.
    const third = path.join(w, 'third.wasm');
    fs.writeFileSync(third, wasmVariant(small, 'class13-third'));
    const inst = spawnSync('install', ['-m', '0444', third, wasm('b', '1.0.0')], { encoding: 'utf8' });
    expect(inst.status).toBe(0);
    expect(fs.readFileSync(wasm('a', 'latest'))).toEqual(original);
    expect((await runCli('index', tree)).stderr).toMatch(/1 rebuilt/);
    expect((await runCli('verify', tree)).code).toBe(0);
    const docs = fs.readFileSync(path.join(__dirname, '..', 'docs', 'custom-plugins.md'), 'utf8');
    expect(docs).toContain('rm tree/plugins/my-filter/1.2.0/plugin.wasm\ncp ');
    expect(docs).toContain('install -m 0444 ');
  });
});
