/**
 * Issue 12, items 1-9: hostile trees and careless operators against the real CLI (in-process) and a
 * real Distribution registry on 127.0.0.1. Each test builds the hostile state by hand, runs the
 * command, and checks what it printed, its exit code, and what is on disk inside and outside the tree.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { spawnSync } from 'child_process';
import { EXIT } from '../src/errors/exit-codes';
import { LOCK_FILE, RUN_JOURNAL } from '../src/contract/tree-format';
import { lockOutputRoot } from '../src/tree/output-lock';
import { verifyTree } from '../src/tree/read';
import { runPull } from '../src/pipeline/pull';
import { parsePluginList } from '../src/inputs/properties';
import { createOciClient } from '../src/oci/client';
import { runCli } from './support/cli-run';
import { pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { editInPlace, treeState, wasmVariant } from './support/tree-state';
import { smallWasm } from './support/wasm';

let reg: Registry;
let dir: string;
let small: Buffer;
const CREATED = '2025-01-02T03:04:05Z';
const hex = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const variant = (tag: string) => wasmVariant(small, tag);
let n = 0;
/** A fresh folder for one case. */
const fresh = (label: string) => fs.mkdtempSync(path.join(dir, `${label}-${n++}-`));
const writeList = (where: string, text: string) => {
  const f = path.join(where, `list-${n++}.properties`);
  fs.writeFileSync(f, text);
  return f;
};
const wasmOf = (root: string, name: string, version: string) =>
  path.join(root, 'plugins', name, version, 'plugin.wasm');
const metaOf = (root: string, name: string, version: string) =>
  JSON.parse(fs.readFileSync(path.join(root, 'plugins', name, version, 'metadata.json'), 'utf8'));

beforeAll(async () => {
  reg = await startRegistry();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-tree-'));
  small = fs.readFileSync(await smallWasm());
  await pushWasmArtifact(reg, 'plugins/alpha', '1.0.0', variant('alpha'), {
    annotations: { 'org.opencontainers.image.created': CREATED },
  });
  await pushWasmArtifact(reg, 'plugins/beta', '1.0.0', variant('beta'), {
    annotations: { 'org.opencontainers.image.created': CREATED },
  });
  // Two lists publish `shared`: one at 1.0.0 directly, the other at 2.0.0 whose spec.yaml says 1.0.0.
  await pushWasmArtifact(reg, 'plugins/shared', '1.0.0', variant('shared-1'), {
    annotations: { 'org.opencontainers.image.created': CREATED },
  });
  await pushWasmArtifact(reg, 'other/shared', '2.0.0', variant('shared-2'), {
    specYaml: 'info:\n  version: 1.0.0\n',
    annotations: { 'org.opencontainers.image.created': CREATED },
  });
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('integrity (items 1-4)', () => {
  test('1: index over a hand-replaced plugin.wasm records it as local; pull --frozen fetches the registry bytes again', async () => {
    const d = fresh('replaced');
    const root = path.join(d, 'out');
    const list = writeList(d, `alpha=oci://${reg.host}/plugins/alpha:1.0.0\n`);
    expect((await runCli('pull', list, '--out', root, '--write-lock')).code).toBe(0);
    const good = fs.readFileSync(wasmOf(root, 'alpha', '1.0.0'));
    // Same size, other bytes: a size check alone cannot see it.
    const evil = variant('alpha');
    evil[evil.length - 1] ^= 0xff;
    expect(evil.length).toBe(good.length);
    editInPlace(wasmOf(root, 'alpha', '1.0.0'), evil);

    const idx = await runCli('index', root);
    expect(idx.stderr).toContain('rebuilt alpha@1.0.0');
    const m = metaOf(root, 'alpha', '1.0.0');
    expect(m).toMatchObject({
      source: 'file:plugins/alpha/1.0.0/plugin.wasm',
      manifestDigest: null,
      sha256: hex(evil),
    });

    const again = await runCli('pull', list, '--out', root, '--frozen');
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/downloaded alpha@1\.0\.0/);
    expect(hex(fs.readFileSync(wasmOf(root, 'alpha', '1.0.0')))).toBe(hex(good));
    expect(metaOf(root, 'alpha', '1.0.0').source).toBe(`oci://${reg.host}/plugins/alpha:1.0.0`);
    expect((await verifyTree(root)).problems).toEqual([]);
  }, 60_000);

  test('1: pull alone (no index) does not call a hand-replaced plugin.wasm of the recorded size cached', async () => {
    const d = fresh('replaced-pull');
    const root = path.join(d, 'out');
    const list = writeList(d, `alpha=oci://${reg.host}/plugins/alpha:1.0.0\n`);
    expect((await runCli('pull', list, '--out', root)).code).toBe(0);
    const good = fs.readFileSync(wasmOf(root, 'alpha', '1.0.0'));
    const evil = Buffer.from(good);
    evil[evil.length - 1] ^= 0xff;
    editInPlace(wasmOf(root, 'alpha', '1.0.0'), evil);
    const again = await runCli('pull', list, '--out', root);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/downloaded alpha@1\.0\.0.*\n.*0 cached/);
    expect(fs.readFileSync(wasmOf(root, 'alpha', '1.0.0')).equals(good)).toBe(true);
  }, 60_000);

  test('2: a corrupt plugin.wasm.gz with the right header, trailer and size is neither reused nor called cached', async () => {
    const d = fresh('gz');
    const root = path.join(d, 'out');
    const list = writeList(d, `alpha=oci://${reg.host}/plugins/alpha:1.0.0\n`);
    expect((await runCli('pull', list, '--out', root)).code).toBe(0);
    const gzFile = path.join(root, 'plugins/alpha/1.0.0/plugin.wasm.gz');
    const gz = fs.readFileSync(gzFile);
    // Flip bytes in the middle of the deflate stream: the first and last bytes stay as they were.
    const mid = Math.floor(gz.length / 2);
    for (let i = mid; i < mid + 16; i++) gz[i] ^= 0x5a;
    editInPlace(gzFile, gz);
    // A second plugin with the same bytes: the old code copied this .gz from the tree.
    const list2 = writeList(
      d,
      `alpha=oci://${reg.host}/plugins/alpha:1.0.0\nalpha2=oci://${reg.host}/plugins/alpha:1.0.0\n`,
    );
    const r = await runCli('pull', list2, '--out', root, '--json');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('"status":"cached"');
    for (const name of ['alpha', 'alpha2']) {
      const decoded = zlib.gunzipSync(fs.readFileSync(path.join(root, 'plugins', name, '1.0.0', 'plugin.wasm.gz')));
      expect(hex(decoded)).toBe(hex(variant('alpha')));
    }
    expect((await verifyTree(root)).problems).toEqual([]);
  }, 60_000);

  test('3: folders with the same bytes share read-only hardlinks; an edit through one is caught by verify naming every sharer, and pull fetches them all again', async () => {
    const d = fresh('shared');
    const root = path.join(d, 'out');
    const list = writeList(
      d,
      `alpha=oci://${reg.host}/plugins/alpha:1.0.0\ncopy=oci://${reg.host}/plugins/alpha:1.0.0\n#@alias alpha latest=1.0.0\n`,
    );
    expect((await runCli('pull', list, '--out', root)).code).toBe(0);
    const versions = ['alpha/1.0.0', 'alpha/latest', 'copy/1.0.0'];
    const paths = (f: string) => versions.map((v) => `plugins/${v}/${f}`);
    // One inode per content and file kind (the image does not grow with aliases), read-only.
    for (const f of ['plugin.wasm', 'plugin.wasm.gz']) {
      const st = paths(f).map((p) => fs.statSync(path.join(root, p)));
      expect(new Set(st.map((s) => `${s.dev}:${s.ino}`)).size).toBe(1);
      for (const s of st) expect(s.mode & 0o777).toBe(0o444);
    }
    expect(metaOf(root, 'copy', '1.0.0').gzipSha256).toBe(
      hex(fs.readFileSync(path.join(root, 'plugins/copy/1.0.0/plugin.wasm.gz'))),
    );
    // An in-place edit through one folder (made writable first, as anyone but root must; `>>` and editors write in place)...
    editInPlace(wasmOf(root, 'copy', '1.0.0'), 'x', 'append');
    // ...changes every sharer: verify names the one changed file once, with all three paths, and does
    // not blame the intact .gz (or the OCI view's manifests, which follow from it).
    const { problems, changed } = await verifyTree(root);
    expect(changed).toEqual(new Set(['alpha@1.0.0', 'alpha@latest', 'copy@1.0.0']));
    expect(problems).toHaveLength(1);
    expect(problems[0].code).toBe('E_VERIFY_SHA256');
    expect(problems[0].message).toContain('one file (hardlink) with 3 paths');
    expect(problems[0].message).toContain('(size and md5 too)');
    for (const shared of paths('plugin.wasm')) expect(problems[0].message).toContain(shared);
    // The CLI prints the same: exit 6, one line naming the sharers.
    const v = await runCli('verify', root);
    expect(v.code).toBe(EXIT.verify);
    expect(v.stderr.split('\n').filter((l) => l.startsWith('error: '))).toHaveLength(1);
    expect(v.stderr).toContain('plugins/alpha/latest/plugin.wasm');
    // pull re-checks a shared file before calling it cached: every sharer is fetched again.
    const again = await runCli('pull', list, '--out', root, '--json');
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('"status":"cached"');
    for (const p of paths('plugin.wasm')) expect(hex(fs.readFileSync(path.join(root, p)))).toBe(hex(variant('alpha')));
    expect((await verifyTree(root)).problems).toEqual([]);
  }, 90_000);

  test('3: a hand-made hardlink between folders of different bytes fails the folder it does not belong to, naming both paths', async () => {
    const d = fresh('crosslink');
    const root = path.join(d, 'out');
    const list = writeList(
      d,
      `alpha=oci://${reg.host}/plugins/alpha:1.0.0\nbeta=oci://${reg.host}/plugins/beta:1.0.0\n`,
    );
    expect((await runCli('pull', list, '--out', root)).code).toBe(0);
    fs.rmSync(path.join(root, 'plugins/beta/1.0.0/plugin.wasm.gz'));
    fs.linkSync(
      path.join(root, 'plugins/alpha/1.0.0/plugin.wasm.gz'),
      path.join(root, 'plugins/beta/1.0.0/plugin.wasm.gz'),
    );
    const { problems } = await verifyTree(root);
    const gz = problems.filter((p) => p.code === 'E_VERIFY_GZIP');
    expect(gz.map((p) => `${p.context.plugin}@${p.context.version}`)).toEqual(expect.arrayContaining(['beta@1.0.0']));
    expect(gz.map((p) => `${p.context.plugin}@${p.context.version}`)).not.toContain('alpha@1.0.0');
    expect(gz.find((p) => p.context.plugin === 'beta')?.message).toContain(
      'plugins/alpha/1.0.0/plugin.wasm.gz, plugins/beta/1.0.0/plugin.wasm.gz',
    );
  }, 60_000);

  test('4: verify rejects malformed index.json values with E_VERIFY_INDEX, never a TypeError', async () => {
    const d = fresh('index');
    const root = path.join(d, 'out');
    const list = writeList(d, `alpha=oci://${reg.host}/plugins/alpha:1.0.0\n`);
    expect((await runCli('pull', list, '--out', root)).code).toBe(0);
    const indexFile = path.join(root, 'plugins/index.json');
    const cases = [
      'null',
      '[]',
      '42',
      '"x"',
      'true',
      '{}',
      '{"schemaVersion":1}',
      '{"schemaVersion":1,"plugins":null}',
      '{"schemaVersion":1,"plugins":[null]}',
      '{"schemaVersion":1,"plugins":[1]}',
      '{"schemaVersion":1,"plugins":"x"}',
      '{"schemaVersion":2,"plugins":[]}',
      '{"schemaVersion":1,"plugins":[{"name":1,"version":"1.0.0"}]}',
    ];
    for (const text of cases) {
      fs.writeFileSync(indexFile, text);
      const r = await runCli('verify', root, '--json');
      expect({ text, code: r.code }).toEqual({ text, code: EXIT.verify });
      expect(r.stdout).toContain('"code":"E_VERIFY_INDEX"');
      expect(r.stderr).not.toMatch(/TypeError|Cannot read/);
    }
  }, 60_000);

  test('4: verify rejects symlinked files and folders (Nginx answers 403 for them)', async () => {
    const d = fresh('links');
    const root = path.join(d, 'out');
    const list = writeList(
      d,
      `alpha=oci://${reg.host}/plugins/alpha:1.0.0\nbeta=oci://${reg.host}/plugins/beta:1.0.0\n`,
    );
    expect((await runCli('pull', list, '--out', root)).code).toBe(0);
    // A symlinked file that points at the identical bytes, and a symlinked version folder.
    const outside = path.join(d, 'outside');
    fs.mkdirSync(outside);
    const wasm = wasmOf(root, 'alpha', '1.0.0');
    fs.copyFileSync(wasm, path.join(outside, 'plugin.wasm'));
    fs.rmSync(wasm);
    fs.symlinkSync(path.join(outside, 'plugin.wasm'), wasm);
    const beta = path.join(root, 'plugins/beta/1.0.0');
    fs.renameSync(beta, path.join(outside, 'beta'));
    fs.symlinkSync(path.join(outside, 'beta'), beta);
    const r = await runCli('verify', root, '--json');
    expect(r.code).toBe(EXIT.verify);
    expect(r.stdout).toContain('"code":"E_VERIFY_SYMLINK","message":"plugin.wasm is a symlink');
    expect(r.stdout).toContain('"code":"E_VERIFY_SYMLINK","message":"plugins/beta/1.0.0 is a symlink');
  }, 60_000);

  test('4: verify stops decoding a gzip bomb at the size limit (memory stays bounded)', async () => {
    const d = fresh('bomb');
    const root = path.join(d, 'out');
    const list = writeList(d, `alpha=oci://${reg.host}/plugins/alpha:1.0.0\n`);
    expect((await runCli('pull', list, '--out', root)).code).toBe(0);
    // 1 GiB of zeros in ~1 MB of gzip, streamed so the test itself never holds it.
    const gzFile = path.join(root, 'plugins/alpha/1.0.0/plugin.wasm.gz');
    const zero = Buffer.alloc(1024 * 1024);
    const parts: Buffer[] = [];
    const z = zlib.createGzip({ level: 9 });
    z.on('data', (c: Buffer) => parts.push(c));
    const done = new Promise((r) => z.on('end', r));
    for (let i = 0; i < 1024; i++) z.write(zero);
    z.end();
    await done;
    editInPlace(gzFile, Buffer.concat(parts));
    // Measured in a separate process: its peak RSS is what verify costs.
    // build/ is compiled by test/global-setup.js for the integration tier.
    const script = `require(${JSON.stringify(path.join(__dirname, '..', 'build/src/tree/read.js'))}).verifyTree(${JSON.stringify(root)}).then((r) => {
        const rss = Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
        console.log(JSON.stringify({ rss, problems: r.problems.map((p) => p.code + ' ' + p.message) }));
      });`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    const out = JSON.parse(run.stdout.trim().split('\n').pop() as string) as { rss: number; problems: string[] };
    expect(out.problems.join('\n')).toMatch(/E_VERIFY_GZIP plugin\.wasm\.gz decodes to more than/);
    expect(out.rss).toBeLessThan(400 * 1024 * 1024);
  }, 90_000);
});

describe('the tree and the filesystem (items 5-8)', () => {
  test("5: pull and index remove only their own (recorded) temp entries, never a user's .tmp-/.old- files", async () => {
    const d = fresh('foreign');
    const root = path.join(d, 'out');
    const list = writeList(d, `alpha=oci://${reg.host}/plugins/alpha:1.0.0\n`);
    expect((await runCli('pull', list, '--out', root)).code).toBe(0);
    const foreign = [
      '.tmp-notes/keep.txt',
      '.old-backup',
      'plugins/.tmp-mine/keep.txt',
      'plugins/alpha/.old-1.0.0-mine/plugin.wasm',
      'plugins/alpha/.tmp-0123456789ab-x/keep.txt',
    ];
    for (const p of foreign) {
      fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      fs.writeFileSync(path.join(root, p), 'mine');
    }
    // A killed run's leftover, recorded in the run journal: that one goes.
    fs.writeFileSync(path.join(root, RUN_JOURNAL), 'feedfacecafe\n');
    fs.mkdirSync(path.join(root, 'plugins/alpha/.tmp-feedfacecafe-1.0.0-abc'));
    expect((await runCli('pull', list, '--out', root)).code).toBe(0);
    expect((await runCli('index', root)).code).toBe(0);
    for (const p of foreign) expect(fs.readFileSync(path.join(root, p), 'utf8')).toBe('mine');
    expect(fs.existsSync(path.join(root, 'plugins/alpha/.tmp-feedfacecafe-1.0.0-abc'))).toBe(false);
    expect(fs.existsSync(path.join(root, RUN_JOURNAL))).toBe(false);
    expect(fs.existsSync(path.join(root, LOCK_FILE))).toBe(false);
  }, 60_000);

  test('6: a symlinked plugins/<name> fails clearly; nothing is written or deleted outside the tree', async () => {
    const d = fresh('symlink');
    const root = path.join(d, 'out');
    const list = writeList(
      d,
      `alpha=oci://${reg.host}/plugins/alpha:1.0.0\nbeta=oci://${reg.host}/plugins/beta:1.0.0\n`,
    );
    expect((await runCli('pull', list, '--out', root)).code).toBe(0);
    const outside = path.join(d, 'victim');
    fs.mkdirSync(path.join(outside, '1.0.0'), { recursive: true });
    fs.writeFileSync(path.join(outside, '1.0.0', 'precious.txt'), 'keep');
    fs.writeFileSync(path.join(outside, '.old-x'), 'keep');
    fs.rmSync(path.join(root, 'plugins/alpha'), { recursive: true });
    fs.symlinkSync(outside, path.join(root, 'plugins/alpha'));
    const before = treeState(outside);
    for (const args of [
      ['pull', list, '--out', root, '--json'],
      ['pull', writeList(d, `beta=oci://${reg.host}/plugins/beta:1.0.0\n`), '--out', root, '--prune'],
      ['index', root],
    ]) {
      const r = await runCli(...args);
      if (args.includes('--json')) {
        expect(r.code).toBe(EXIT.environment);
        expect(r.stdout).toContain('"code":"E_TREE_SYMLINK"');
        expect(r.stderr).toMatch(/plugins\/alpha under .* is a symlink; it is never followed/);
      }
      expect(treeState(outside)).toEqual(before);
    }
  }, 60_000);

  test('6: a symlinked plugins/ folder fails before anything is written', async () => {
    const d = fresh('symlink-root');
    const root = path.join(d, 'out');
    const outside = path.join(d, 'elsewhere');
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(root, 'plugins'));
    const r = await runCli(
      'pull',
      writeList(d, `alpha=oci://${reg.host}/plugins/alpha:1.0.0\n`),
      '--out',
      root,
      '--json',
    );
    expect(r.code).toBe(EXIT.environment);
    expect(r.stdout).toContain('"code":"E_TREE_SYMLINK"');
    expect(fs.readdirSync(outside)).toEqual([]);
  }, 30_000);

  test('7: plugin names the tree format uses are an input error (list, alias directive)', async () => {
    const d = fresh('reserved');
    const root = path.join(d, 'out');
    for (const text of [
      `index.json=oci://${reg.host}/plugins/alpha:1.0.0\n`,
      `index.json.gz=oci://${reg.host}/plugins/alpha:1.0.0\n`,
      `alpha=oci://${reg.host}/plugins/alpha:1.0.0\n#@alias index.json latest=1.0.0\n`,
    ]) {
      const list = writeList(d, text);
      const r = await runCli('pull', list, '--out', root, '--json');
      expect(r.code).toBe(EXIT.input);
      expect(r.stdout).toContain('"code":"E_RESERVED_NAME"');
      expect(r.stderr).toMatch(/:\d+: plugin name "index\.json(\.gz)?" is reserved/);
      expect(r.stderr).toContain(path.basename(list));
    }
    expect(
      fs.existsSync(path.join(root, 'plugins/index.json'))
        ? fs.statSync(path.join(root, 'plugins/index.json')).isFile()
        : true,
    ).toBe(true);
  }, 30_000);

  test("8: a spec.yaml info.version alias that would replace another list's version folder is an error naming both sources", async () => {
    const d = fresh('alias-conflict');
    const root = path.join(d, 'out');
    const first = writeList(d, `shared=oci://${reg.host}/plugins/shared:1.0.0\n`);
    expect((await runCli('pull', first, '--out', root)).code).toBe(0);
    const before = treeState(root);
    const second = writeList(d, `shared=oci://${reg.host}/other/shared:2.0.0\n`);
    const r = await runCli('pull', second, '--out', root, '--json');
    expect(r.code).toBe(EXIT.input);
    expect(r.stdout).toContain('"code":"E_ALIAS_CONFLICT"');
    expect(r.stderr).toContain(`oci://${reg.host}/other/shared:2.0.0`);
    expect(r.stderr).toContain(`oci://${reg.host}/plugins/shared:1.0.0`);
    expect(treeState(root)).toEqual(before);
    expect(hex(fs.readFileSync(wasmOf(root, 'shared', '1.0.0')))).toBe(hex(variant('shared-1')));
    // With --prune the other list's folder is not wanted anyway: the alias may take it.
    expect((await runCli('pull', second, '--out', root, '--prune')).code).toBe(0);
    expect(hex(fs.readFileSync(wasmOf(root, 'shared', '1.0.0')))).toBe(hex(variant('shared-2')));
  }, 60_000);
});

describe('concurrent runs (item 9)', () => {
  const entriesOf = (list: string) => parsePluginList(fs.readFileSync(list, 'utf8'), list).entries;

  test('two pulls into the same folder at once both succeed and index.json lists both', async () => {
    const d = fresh('two-runs');
    const root = path.join(d, 'out');
    const a = entriesOf(writeList(d, `alpha=oci://${reg.host}/plugins/alpha:1.0.0\n`));
    const b = entriesOf(writeList(d, `beta=oci://${reg.host}/plugins/beta:1.0.0\n`));
    const clients = [createOciClient(), createOciClient()];
    const waited: number[] = [];
    try {
      const [ra, rb] = await Promise.all([
        runPull({ root, entries: a, client: clients[0], lock: { onWait: (h) => waited.push(h.pid) } }),
        runPull({ root, entries: b, client: clients[1], lock: { onWait: (h) => waited.push(h.pid) } }),
      ]);
      expect([ra.ok, rb.ok]).toEqual([true, true]);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    expect(waited).toEqual([process.pid]);
    const index = JSON.parse(fs.readFileSync(path.join(root, 'plugins/index.json'), 'utf8'));
    expect(index.plugins.map((p: { name: string }) => p.name)).toEqual(['alpha', 'beta']);
    expect((await verifyTree(root)).problems).toEqual([]);
  }, 60_000);

  test('--no-wait fails with E_TREE_LOCKED while another run holds the folder; a waiting run says so and then proceeds', async () => {
    const d = fresh('busy');
    const root = path.join(d, 'out');
    fs.mkdirSync(root);
    const list = writeList(d, `alpha=oci://${reg.host}/plugins/alpha:1.0.0\n`);
    const held = await lockOutputRoot(root);
    try {
      const r = await runCli('pull', list, '--out', root, '--no-wait', '--json');
      expect(r.code).toBe(EXIT.environment);
      expect(r.stdout).toContain('"code":"E_TREE_LOCKED"');
      expect(r.stderr).toMatch(/in use by another run \(pid \d+/);
      const idx = await runCli('index', root, '--no-wait');
      expect(idx.code).toBe(EXIT.environment);
      const waiting = runCli('pull', list, '--out', root);
      await new Promise((res) => setTimeout(res, 500));
      await held.release();
      const w = await waiting;
      expect(w.code).toBe(0);
      expect(w.stderr).toMatch(/waiting: .* is in use by pid \d+/);
    } finally {
      await held.release();
    }
  }, 60_000);

  test('a stale lock of a killed run (dead pid, or a reused pid with another start time) is taken over', async () => {
    const d = fresh('stale');
    const root = path.join(d, 'out');
    fs.mkdirSync(root);
    const list = writeList(d, `alpha=oci://${reg.host}/plugins/alpha:1.0.0\n`);
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout.trim());
    fs.writeFileSync(
      path.join(root, LOCK_FILE),
      JSON.stringify({ pid: deadPid, start: '1', host: os.hostname(), runId: 'aaaaaaaaaaaa', since: CREATED }),
    );
    expect((await runCli('pull', list, '--out', root, '--no-wait')).code).toBe(0);
    // Our own live pid, but another start time: the pid was reused after the owner died.
    fs.writeFileSync(
      path.join(root, LOCK_FILE),
      JSON.stringify({ pid: process.pid, start: '1', host: os.hostname(), runId: 'bbbbbbbbbbbb', since: CREATED }),
    );
    expect((await runCli('pull', list, '--out', root, '--no-wait')).code).toBe(0);
    expect(fs.existsSync(path.join(root, LOCK_FILE))).toBe(false);
  }, 60_000);
});
