import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { IntegrityError, InputError } from '../src/errors';
import { publishVersion, writeIndex } from '../src/tree/publish';
import { removeRunLeftovers } from '../src/tree/run-journal';
import { RUN_ID } from '../src/content/fsutil';
import { verifyTree } from '../src/tree/read';
import { InodeHashes } from '../src/tree/inode-hashes';
import { reindexTree } from '../src/tree/reindex';
import { indexChunks, renderMetadataTxt } from '../src/tree/render';
import type { PluginIndex } from '../src/contract/tree-format';
import { largeWasm, shippedSmallWasm } from './support/wasm';
import { editInPlace, treeState } from './support/tree-state';

let small: string;
const tmpRoots: string[] = [];
const newRoot = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tree-'));
  tmpRoots.push(d);
  return d;
};
const base = (wasmPath: string) => ({
  name: 'demo',
  version: '1.0.0',
  wasmPath,
  source: 'file:demo.wasm',
  manifestDigest: null,
  created: '2024-05-01T12:00:00Z',
});

beforeAll(() => {
  small = shippedSmallWasm();
});
afterAll(() => {
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

test('publishes plugin.wasm, .gz, metadata and index with the contract fields', async () => {
  const root = newRoot();
  const m = await publishVersion(root, {
    ...base(small),
    specYaml: 'info:\n  version: 1.0.0\nspec:\n  phase: AUTHN\n  priority: 320\n',
  });
  await writeIndex(root);
  const dir = path.join(root, 'plugins/demo/1.0.0');
  const bytes = fs.readFileSync(small);
  expect(fs.readFileSync(path.join(dir, 'plugin.wasm')).equals(bytes)).toBe(true);
  expect(zlib.gunzipSync(fs.readFileSync(path.join(dir, 'plugin.wasm.gz'))).equals(bytes)).toBe(true);
  expect(m).toMatchObject({
    schemaVersion: 1,
    name: 'demo',
    version: '1.0.0',
    size: bytes.length,
    phase: 'AUTHN',
    priority: 320,
    manifestDigest: null,
  });
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'metadata.json'), 'utf8'))).toEqual(m);
  const txt = fs.readFileSync(path.join(dir, 'metadata.txt'), 'utf8');
  expect(txt).toBe(renderMetadataTxt(m));
  expect(txt).toMatch(
    /^Plugin Name: demo\n(.|\n)*Size: \d+ bytes\nLast Modified: 2024-05-01T12:00:00Z\nCreated: 2024-05-01T12:00:00Z\nMD5: [a-f0-9]{32}\nSHA256: [a-f0-9]{64}\n$/,
  );
  expect(fs.statSync(path.join(dir, 'plugin.wasm')).mtime.toISOString()).toBe('2024-05-01T12:00:00.000Z');
  const index = JSON.parse(fs.readFileSync(path.join(root, 'plugins/index.json'), 'utf8'));
  expect(index).toEqual({
    schemaVersion: 1,
    generated: '2024-05-01T12:00:00Z',
    plugins: [
      expect.objectContaining({
        name: 'demo',
        version: '1.0.0',
        sha256: m.sha256,
        path: '/plugins/demo/1.0.0/plugin.wasm',
      }),
    ],
  });
  expect(await verifyTree(root)).toMatchObject({ checked: 1, problems: [] });
});

test('same inputs give byte-identical trees (including mtimes), also for the large module', async () => {
  const build = async () => {
    const root = newRoot();
    await publishVersion(root, { ...base(largeWasm()), name: 'big' });
    await publishVersion(root, base(small));
    await publishVersion(root, { ...base(small), version: '0.9.0', aliasOf: '1.0.0' });
    await writeIndex(root);
    return treeState(root, { mtimes: true });
  };
  const [a, b] = [await build(), await build()];
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  expect(a).toEqual(b);
});

test('index.json in pieces is exactly the pretty JSON of the index: empty, with an inventory, optional fields', () => {
  const entry = (name: string, extra: object = {}) => ({
    name,
    version: '1.0.0',
    sha256: 'a'.repeat(64),
    size: 3,
    md5: 'b'.repeat(32),
    path: `/plugins/${name}/1.0.0/plugin.wasm`,
    source: `oci://r.example/${name}:1.0.0`,
    manifestDigest: null,
    ...extra,
  });
  const inventory = { path: '/plugins/snapshot-inventory.json', sha256: 'c'.repeat(64), size: 9 };
  const indexes: PluginIndex[] = [
    { schemaVersion: 1, generated: '1970-01-01T00:00:00Z', plugins: [] },
    { schemaVersion: 1, generated: '1970-01-01T00:00:00Z', inventory, plugins: [] },
    {
      schemaVersion: 1,
      generated: '2026-01-02T03:04:05Z',
      inventory,
      plugins: [
        entry('a', { holds: { kind: 'own', from: 'list' }, phase: 'AUTHN', priority: 7 }),
        entry('b', { aliasOf: '2.0.0', holds: { kind: 'alias', name: 'b', version: '2.0.0' } }),
        entry('c "quoted"\nname'),
      ],
    },
  ];
  for (const index of indexes) {
    const pieces = [...indexChunks(index)];
    expect(pieces.join('')).toBe(`${JSON.stringify(index, null, 2)}\n`);
    expect(pieces.length).toBe(index.plugins.length ? index.plugins.length + 2 : 1);
  }
});

describe('atomicity', () => {
  test('a payload that is not wasm is refused and the previous version stays untouched', async () => {
    const root = newRoot();
    await publishVersion(root, base(small));
    await writeIndex(root);
    const before = treeState(root, { mtimes: true });
    const bogus = path.join(newRoot(), 'x.wasm');
    fs.writeFileSync(bogus, 'this is not wasm at all');
    await expect(publishVersion(root, base(bogus))).rejects.toThrow(IntegrityError);
    expect(treeState(root, { mtimes: true })).toEqual(before);
  });

  test('a truncated module fails WebAssembly.validate and leaves nothing behind', async () => {
    const root = newRoot();
    const cut = path.join(newRoot(), 'cut.wasm');
    fs.writeFileSync(cut, fs.readFileSync(small).subarray(0, 4000));
    await expect(publishVersion(root, base(cut))).rejects.toMatchObject({ code: 'E_WASM_INVALID' });
    expect(fs.readdirSync(root)).toEqual([]);
  });

  test('a refused payload names its plugin in the error it was built with (no copy)', async () => {
    const bogus = path.join(newRoot(), 'x.wasm');
    fs.writeFileSync(bogus, 'this is not wasm at all');
    const err = (await publishVersion(newRoot(), base(bogus)).catch((e: unknown) => e)) as IntegrityError;
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err).toMatchObject({ code: 'E_NOT_WASM', context: { plugin: 'demo', version: '1.0.0' } });
    expect(err.toLine()).toMatch(/^demo@1\.0\.0: payload is not a Wasm module/);
  });

  test('a wrong wasm version is refused', async () => {
    const v2 = path.join(newRoot(), 'v2.wasm');
    fs.writeFileSync(v2, Buffer.from([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]));
    await expect(publishVersion(newRoot(), base(v2))).rejects.toMatchObject({ code: 'E_WASM_VERSION' });
  });

  test('republishing replaces the folder as a whole', async () => {
    const root = newRoot();
    await publishVersion(root, { ...base(small), specYaml: 'info: {version: 1.0.0}\n' });
    await publishVersion(root, { ...base(largeWasm()) });
    const dir = path.join(root, 'plugins/demo/1.0.0');
    expect(fs.readdirSync(dir).sort()).toEqual(['metadata.json', 'metadata.txt', 'plugin.wasm', 'plugin.wasm.gz']);
    expect(fs.readdirSync(path.join(root, 'plugins/demo'))).toEqual(['1.0.0']);
  });

  test("leftover temp and old folders of this process's runs are cleaned; foreign .tmp-/.old- entries are kept", async () => {
    const root = newRoot();
    await publishVersion(root, base(small));
    const ours = [
      `.tmp-${RUN_ID}-abc/x`,
      `plugins/.tmp-${RUN_ID}-1/y`,
      `plugins/demo/.tmp-${RUN_ID}-1.0.0-zz/plugin.wasm`,
      `plugins/demo/.old-${RUN_ID}-1.0.0-zz/plugin.wasm`,
    ];
    const foreign = ['.tmp-abc/x', 'plugins/.tmp-1/y', 'plugins/demo/.old-1.0.0-zz/plugin.wasm'];
    for (const p of [...ours, ...foreign]) {
      fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      fs.writeFileSync(path.join(root, p), 'x');
    }
    // Named plugin folders only (a run that wrote into none of demo's): demo's leftovers stay.
    expect(await removeRunLeftovers(root, new Set([RUN_ID]), new Set(['other']))).toHaveLength(2);
    expect(fs.readdirSync(path.join(root, 'plugins/demo'))).toHaveLength(4);
    expect(await removeRunLeftovers(root, new Set([RUN_ID]))).toHaveLength(2);
    expect(fs.readdirSync(path.join(root, 'plugins/demo')).sort()).toEqual(['.old-1.0.0-zz', '1.0.0']);
    expect(fs.readdirSync(root).sort()).toEqual(['.tmp-abc', 'plugins']);
    for (const p of foreign) expect(fs.readFileSync(path.join(root, p), 'utf8')).toBe('x');
  });
});

test.each([['..'], ['a/b'], ['/abs'], ['a b'], ['a\0b']])(
  'unsafe name %j is refused before any write',
  async (name) => {
    const root = newRoot();
    await expect(publishVersion(root, { ...base(small), name })).rejects.toThrow(InputError);
    await expect(publishVersion(root, { ...base(small), version: name })).rejects.toThrow(InputError);
    expect(fs.readdirSync(root)).toEqual([]);
  },
);

describe('verify and reindex', () => {
  test('verify reads a shared inode once: the second path is answered from the dev+ino cache', async () => {
    const root = newRoot();
    const a = path.join(root, 'a.wasm');
    const b = path.join(root, 'b.wasm');
    fs.copyFileSync(small, a);
    fs.linkSync(a, b);
    const hashes = new InodeHashes();
    const first = await hashes.hashWasm(a);
    // Changed after the first read: a second read would see it, the cache does not.
    fs.appendFileSync(a, 'x');
    expect(await hashes.hashWasm(b)).toEqual(first);
    expect((await new InodeHashes().hashWasm(b)).size).toBe(first.size + 1);
  });

  test('published plugin.wasm and plugin.wasm.gz are read-only (they may be shared hardlinks)', async () => {
    const root = newRoot();
    await publishVersion(root, base(small));
    await publishVersion(root, {
      ...base(path.join(root, 'plugins/demo/1.0.0/plugin.wasm')),
      version: '0.9.0',
      aliasOf: '1.0.0',
    });
    for (const f of ['plugin.wasm', 'plugin.wasm.gz']) {
      const [x, y] = ['1.0.0', '0.9.0'].map((v) => fs.statSync(path.join(root, 'plugins/demo', v, f)));
      expect(x.mode & 0o777).toBe(0o444);
      expect(y.mode & 0o777).toBe(0o444);
    }
  });

  test('verify reports each tampered file; reindex repairs hand edits', async () => {
    const root = newRoot();
    await publishVersion(root, base(small));
    await publishVersion(root, { ...base(small), name: 'other' });
    await writeIndex(root);
    editInPlace(path.join(root, 'plugins/demo/1.0.0/plugin.wasm'), Buffer.from([0]), 'append');
    editInPlace(path.join(root, 'plugins/other/1.0.0/plugin.wasm.gz'), zlib.gzipSync(Buffer.from('nope')));
    // A plugin dropped in by hand, with no metadata at all.
    fs.mkdirSync(path.join(root, 'plugins/hand/2.0.0'), { recursive: true });
    fs.copyFileSync(small, path.join(root, 'plugins/hand/2.0.0/plugin.wasm'));
    const { problems } = await verifyTree(root);
    const lines = problems.map((p) => p.toLine());
    expect(lines.filter((l) => l.startsWith('demo@'))).toHaveLength(1);
    expect(lines).toEqual(
      expect.arrayContaining([
        // One line for the changed file, with what else differs; its intact .gz is not blamed.
        expect.stringMatching(
          /^demo@1\.0\.0: plugin\.wasm sha256 [0-9a-f]{64} differs from metadata [0-9a-f]{64} \(size and md5 too\)/,
        ),
        expect.stringMatching(/^other@1\.0\.0: plugin\.wasm\.gz does not decode to plugin\.wasm/),
        expect.stringMatching(/^hand@2\.0\.0: metadata\.json missing/),
        expect.stringMatching(/index\.json: folder hand\/2\.0\.0 is missing from index\.json/),
      ]),
    );
    const r = await reindexTree(root, { sourceDateEpoch: '2024-01-01T00:00:00Z' });
    // The appended NUL byte makes demo invalid wasm: reindex refuses to publish it.
    expect(r.failed.map((e) => e.toLine())).toEqual([
      expect.stringMatching(/^demo@1\.0\.0: Wasm module does not validate/),
    ]);
    expect(r.rebuilt).toEqual(['hand/2.0.0', 'other/1.0.0']);
    fs.copyFileSync(small, path.join(root, 'plugins/demo/1.0.0/plugin.wasm'));
    await reindexTree(root);
    expect(await verifyTree(root)).toMatchObject({ checked: 3, problems: [] });
    expect(JSON.parse(fs.readFileSync(path.join(root, 'plugins/hand/2.0.0/metadata.json'), 'utf8')).created).toBe(
      '2024-01-01T00:00:00Z',
    );
  });
});
