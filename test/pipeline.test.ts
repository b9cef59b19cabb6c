/**
 * src/pipeline/: runPull end to end with no registry. createLayoutClient serves an OCI image layout
 * written by test/support/oci-layout.ts (real Wasm modules, the three image forms registries hold), so
 * every step runs for real: resolve, fetch with digest checks, the CPU pool's analysis and gzip, the
 * content store's reuse, the atomic publish, index.json, the lock and the OCI view. Also the progress
 * lines (progress.ts) and the content store (content-store.ts) on their own.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { IntegrityError, InputError } from '../src/errors';
import { closeCpuPool } from '../src/content/cpu-pool';
import { parseLock } from '../src/inputs/lock';
import type { PluginEntry } from '../src/inputs/types';
import { createLayoutClient } from '../src/oci/client';
import { OciLayout } from '../src/oci/layout/layout';
import { verifyOciView } from '../src/ociview/verify';
import type { ViewFile } from '../src/ociview/layout';
import { ContentStore } from '../src/pipeline/content-store';
import { formatPluginEvent, humanSize, PullEvent, textReporter } from '../src/pipeline/progress';
import { failureLine, PullOptions, PullResult, runPull } from '../src/pipeline/pull';
import { verifyTree } from '../src/tree/read';
import { fileEntry, LayoutImage, layoutEntry, writeOciLayout } from './support/oci-layout';
import { editInPlace, leftovers, treeState, wasmVariant } from './support/tree-state';

const BASE = fs.readFileSync(path.join(__dirname, '..', 'examples', 'add-header', 'plugin.wasm'));
const A = wasmVariant(BASE, 'a');
const B = wasmVariant(BASE, 'b');
const C = wasmVariant(BASE, 'c');
const D = wasmVariant(BASE, 'd');
const CREATED = '2024-05-01T12:00:00Z';

const IMAGES: LayoutImage[] = [
  // A Higress release: raw wasm + spec.yaml whose info.version (1.0.1) differs from the tag.
  {
    repository: 'plugins/add-header',
    tag: '1.0.0',
    wasm: A,
    form: 'artifact',
    specYaml: 'info:\n  version: 1.0.1\nspec:\n  phase: AUTHN\n  priority: 100\n',
    created: CREATED,
  },
  { repository: 'plugins/key-auth', tag: '2.0.0', wasm: B, form: 'tar', created: '2024-06-01T00:00:00Z' },
  { repository: 'plugins/raw-only', tag: '1.0.0', wasm: C, form: 'single', created: CREATED },
  // Other manifest, same module as add-header: analysed and compressed once per run.
  { repository: 'plugins/add-header-copy', tag: '1.0.0', wasm: A, form: 'single', created: CREATED },
  { repository: 'plugins/later', tag: '1.0.0', wasm: D, form: 'single', created: CREATED },
  { repository: 'plugins/not-wasm', tag: '1.0.0', wasm: Buffer.from('this is text, not a module'), form: 'single' },
];

let work: string;
let layoutDir: string;
let digests: ReturnType<typeof writeOciLayout>;
let localWasm: string;
const roots: string[] = [];

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pipeline-'));
  layoutDir = path.join(work, 'layout');
  digests = writeOciLayout(layoutDir, IMAGES);
  localWasm = path.join(work, 'local.wasm');
  fs.writeFileSync(localWasm, wasmVariant(BASE, 'local'));
});
afterAll(async () => {
  await closeCpuPool();
  fs.rmSync(work, { recursive: true, force: true });
});

const newRoot = () => {
  const d = path.join(work, `tree-${roots.length}`);
  roots.push(d);
  return d;
};

/** The list most tests pull: three image forms, two names for one module, and a file: source. */
const ENTRIES = (): PluginEntry[] => [
  layoutEntry('add-header', 'plugins/add-header', '1.0.0'),
  layoutEntry('key-auth', 'plugins/key-auth', '2.0.0'),
  layoutEntry('raw-only', 'plugins/raw-only', '1.0.0'),
  layoutEntry('add-header-copy', 'plugins/add-header-copy', '1.0.0'),
  fileEntry('local', '0.1.0', localWasm),
];

async function pull(
  root: string,
  entries: PluginEntry[],
  opts: Partial<PullOptions> = {},
): Promise<PullResult & { events: PullEvent[] }> {
  const events: PullEvent[] = [];
  const client = createLayoutClient(await OciLayout.open(layoutDir));
  const r = await runPull({
    root,
    entries,
    client,
    sourceDateEpoch: '2024-01-01T00:00:00Z',
    reporter: { emit: (e) => events.push(e) },
    ...opts,
  });
  return { ...r, events };
}

const read = (root: string, rel: string) => fs.readFileSync(path.join(root, rel));
const json = (root: string, rel: string) => JSON.parse(read(root, rel).toString('utf8'));

describe('runPull from an OCI layout', () => {
  let root: string;
  let first: Awaited<ReturnType<typeof pull>>;
  let lockFile: string;

  beforeAll(async () => {
    root = newRoot();
    lockFile = path.join(work, 'plugins.lock');
    first = await pull(root, ENTRIES(), { writeLock: lockFile });
  });

  test('publishes every version, the spec.yaml alias and the file: source', () => {
    expect(first.failed.map(failureLine)).toEqual([]);
    expect(first.ok).toBe(true);
    expect(first.counts).toEqual({ downloaded: 4, copied: 1, aliased: 1, cached: 0, failed: 0, pruned: 0 });
    expect(first.published).toBe(6);
    // One download per manifest; add-header and add-header-copy hold the same module: prepared once.
    expect(first.content).toMatchObject({ fetched: 4, reusedRun: 1 });
    expect(first.content.compressed).toBe(4);
    expect(leftovers(root)).toEqual([]);
  });

  test('the tree holds the bytes, their gzip and the metadata of each source', () => {
    const cases: Array<[string, Buffer, string | null, string]> = [
      ['add-header/1.0.0', A, digests.get('plugins/add-header:1.0.0')!.manifestDigest, CREATED],
      ['add-header/1.0.1', A, digests.get('plugins/add-header:1.0.0')!.manifestDigest, CREATED],
      ['key-auth/2.0.0', B, digests.get('plugins/key-auth:2.0.0')!.manifestDigest, '2024-06-01T00:00:00Z'],
      ['local/0.1.0', wasmVariant(BASE, 'local'), null, '2024-01-01T00:00:00Z'],
    ];
    for (const [dir, bytes, manifestDigest, created] of cases) {
      expect(read(root, `plugins/${dir}/plugin.wasm`).equals(bytes)).toBe(true);
      expect(zlib.gunzipSync(read(root, `plugins/${dir}/plugin.wasm.gz`)).equals(bytes)).toBe(true);
      expect(json(root, `plugins/${dir}/metadata.json`)).toMatchObject({ size: bytes.length, manifestDigest, created });
    }
    expect(json(root, 'plugins/add-header/1.0.1/metadata.json')).toMatchObject({
      aliasOf: '1.0.0',
      phase: 'AUTHN',
      priority: 100,
      source: 'oci://registry.example.test/plugins/add-header:1.0.0',
    });
    expect(read(root, 'plugins/add-header/1.0.0/spec.yaml').toString()).toMatch(/version: 1\.0\.1/);
    expect(json(root, 'plugins/local/0.1.0/metadata.json').source).toBe('file:local.wasm');
  });

  test('index.json lists every version, sorted, and verify finds nothing wrong', async () => {
    const index = json(root, 'plugins/index.json');
    expect(index.plugins.map((p: any) => `${p.name}/${p.version}`)).toEqual([
      'add-header/1.0.0',
      'add-header/1.0.1',
      'add-header-copy/1.0.0',
      'key-auth/2.0.0',
      'local/0.1.0',
      'raw-only/1.0.0',
    ]);
    expect(index.generated).toBe('2024-06-01T00:00:00Z');
    expect((await verifyTree(root)).problems).toEqual([]);
  });

  test('index.json and metadata.json say what each folder holds: its own bytes (from which input) or an alias (of what)', () => {
    const holds = new Map(
      json(root, 'plugins/index.json').plugins.map((p: any) => [`${p.name}/${p.version}`, p.holds]),
    );
    expect(Object.fromEntries(holds)).toEqual({
      'add-header/1.0.0': { kind: 'own', from: 'list' },
      'add-header/1.0.1': { kind: 'alias', name: 'add-header', version: '1.0.0' },
      'add-header-copy/1.0.0': { kind: 'own', from: 'list' },
      'key-auth/2.0.0': { kind: 'own', from: 'list' },
      'local/0.1.0': { kind: 'own', from: 'list' },
      'raw-only/1.0.0': { kind: 'own', from: 'list' },
    });
    expect(json(root, 'plugins/add-header/1.0.1/metadata.json').holds).toEqual(holds.get('add-header/1.0.1'));
  });

  test('entries from a snapshot, the unmanaged lock or a lock say so; a folder whose input changed is rewritten', async () => {
    const other = newRoot();
    const [a, b, c] = ENTRIES();
    const entries: PluginEntry[] = [
      { ...a, from: 'snapshot' },
      { ...a, name: 'add-header-alias', from: 'snapshot', aliasName: 'add-header' },
      { ...b, from: 'unmanaged-lock' },
      { ...c, from: 'lock' },
    ];
    expect((await pull(other, entries)).ok).toBe(true);
    const holds = () =>
      Object.fromEntries(
        json(other, 'plugins/index.json').plugins.map((p: any) => [`${p.name}/${p.version}`, p.holds]),
      );
    expect(holds()).toMatchObject({
      'add-header/1.0.0': { kind: 'own', from: 'snapshot' },
      'add-header-alias/1.0.0': { kind: 'alias', name: 'add-header', version: '1.0.0' },
      'key-auth/2.0.0': { kind: 'own', from: 'unmanaged-lock' },
      'raw-only/1.0.0': { kind: 'own', from: 'lock' },
    });
    // The same bytes now come from a list: the folder is not current any more, and says so after the run.
    const again = await pull(other, [{ ...a, from: 'list' }, ...entries.slice(1)]);
    expect(again.ok).toBe(true);
    expect(holds()['add-header/1.0.0']).toEqual({ kind: 'own', from: 'list' });
    expect((await verifyTree(other)).problems).toEqual([]);
  });

  test('the lock names each resolved digest; the spec alias is marked fromSpec', () => {
    const { lock, problems } = parseLock(fs.readFileSync(lockFile, 'utf8'), lockFile);
    expect(problems).toEqual([]);
    const byKey = new Map(lock!.plugins.map((p) => [`${p.name}@${p.version}`, p]));
    expect(byKey.get('add-header@1.0.0')!.digest).toBe(digests.get('plugins/add-header:1.0.0')!.manifestDigest);
    expect(byKey.get('add-header@1.0.1')).toMatchObject({ aliasOf: '1.0.0', fromSpec: true });
    expect(byKey.get('key-auth@2.0.0')!.digest).toBe(digests.get('plugins/key-auth:2.0.0')!.manifestDigest);
    expect(byKey.get('local@0.1.0')!.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  test('the OCI view keeps the artifact manifest and generates images for the other forms', async () => {
    const view = json(root, 'oci/view.json') as ViewFile;
    const forms = Object.fromEntries(view.tags.map((t) => [`${t.name}/${t.version}`, t.form]));
    expect(forms).toEqual({
      'add-header/1.0.0': 'original',
      'add-header/1.0.1': 'original',
      'add-header-copy/1.0.0': 'generated',
      'key-auth/2.0.0': 'generated',
      'local/0.1.0': 'generated',
      'raw-only/1.0.0': 'generated',
    });
    const kept = view.tags.find((t) => t.name === 'add-header' && t.version === '1.0.0')!;
    expect(kept.digest).toBe(digests.get('plugins/add-header:1.0.0')!.manifestDigest);
    // The kept wasm layer is plugin.wasm itself (a hardlink), not a copy.
    const layer = fs.statSync(
      path.join(root, 'oci/blobs', digests.get('plugins/add-header:1.0.0')!.wasmLayer.slice(7)),
    );
    expect(layer.ino).toBe(fs.statSync(path.join(root, 'plugins/add-header/1.0.0/plugin.wasm')).ino);
    expect(await verifyOciView(root)).toEqual([]);
  });

  test('progress: a start event, then one line per version', () => {
    expect(first.events[0]).toEqual({ event: 'start', plugins: 5, sources: 5 });
    const lines = first.events.flatMap((e) => (e.event === 'plugin' ? [`${e.status} ${e.name}@${e.version}`] : []));
    expect(lines.sort()).toEqual([
      'aliased add-header@1.0.1',
      'copied local@0.1.0',
      'downloaded add-header-copy@1.0.0',
      'downloaded add-header@1.0.0',
      'downloaded key-auth@2.0.0',
      'downloaded raw-only@1.0.0',
    ]);
  });

  test('a second run downloads nothing and writes nothing', async () => {
    const before = treeState(root, { mtimes: true });
    const again = await pull(root, ENTRIES());
    expect(again.ok).toBe(true);
    expect(again.counts).toEqual({ downloaded: 0, copied: 0, aliased: 0, cached: 6, failed: 0, pruned: 0 });
    expect(again.content).toEqual({ fetched: 0, analyzed: 0, compressed: 0, reusedTree: 0, reusedRun: 0 });
    expect(treeState(root, { mtimes: true })).toEqual(before);
  });

  test('a file changed by hand in the tree is fetched again; the others stay cached', async () => {
    editInPlace(path.join(root, 'plugins/key-auth/2.0.0/plugin.wasm'), C);
    const r = await pull(root, ENTRIES());
    expect(r.counts).toMatchObject({ downloaded: 1, cached: 5 });
    expect(read(root, 'plugins/key-auth/2.0.0/plugin.wasm').equals(B)).toBe(true);
    expect((await verifyTree(root)).problems).toEqual([]);
    expect(await verifyOciView(root)).toEqual([]);
  });
});

describe('a failed run changes nothing', () => {
  let root: string;
  beforeAll(async () => {
    root = newRoot();
    expect((await pull(root, ENTRIES())).ok).toBe(true);
  });

  test('a source missing from the layout: a stage failure record, no new version published', async () => {
    const before = treeState(root, { mtimes: true });
    const r = await pull(root, [
      ...ENTRIES(),
      layoutEntry('later', 'plugins/later', '1.0.0'),
      layoutEntry('absent', 'plugins/absent', '1.0.0'),
    ]);
    expect(r.ok).toBe(false);
    expect(r.failed).toHaveLength(1);
    const [f] = r.failed;
    expect({ name: f.name, version: f.version, step: f.step, code: f.error.code }).toEqual({
      name: 'absent',
      version: '1.0.0',
      step: 'stage',
      code: 'E_LAYOUT_MISSING',
    });
    expect(f.error).toBeInstanceOf(IntegrityError);
    expect(failureLine(f)).toMatch(/^absent@1\.0\.0: .*plugins\/absent:1\.0\.0 is not in oci-layout:/);
    expect(r.events.some((e) => e.event === 'plugin' && e.status === 'failed' && e.name === 'absent')).toBe(true);
    expect(r.published).toBe(0);
    expect(treeState(root, { mtimes: true })).toEqual(before);
    expect(leftovers(root)).toEqual([]);
  });

  test('a payload that is not Wasm is refused by the CPU pool worker, with its code', async () => {
    const before = treeState(root, { mtimes: true });
    const r = await pull(root, [...ENTRIES(), layoutEntry('not-wasm', 'plugins/not-wasm', '1.0.0')]);
    expect(r.failed.map((f) => [f.name, f.step, f.error.code])).toEqual([['not-wasm', 'stage', 'E_NOT_WASM']]);
    expect(treeState(root, { mtimes: true })).toEqual(before);
  });

  test('a lock pins another digest (--frozen): E_FROZEN_DIGEST, nothing written', async () => {
    const before = treeState(root, { mtimes: true });
    const wrong = `sha256:${'0'.repeat(64)}`;
    const r = await pull(root, ENTRIES(), {
      frozen: {
        lockVersion: 1,
        plugins: [{ name: 'key-auth', version: '2.0.0', source: 'x', digest: wrong }],
      },
    });
    expect(r.failed.map((f) => [f.name, f.error.code])).toEqual([['key-auth', 'E_FROZEN_DIGEST']]);
    expect(treeState(root, { mtimes: true })).toEqual(before);
  });

  test('a missing file: source is an input error naming the list line', async () => {
    const r = await pull(root, [fileEntry('gone', '1.0.0', path.join(work, 'gone.wasm'))]);
    expect(r.failed[0].error).toBeInstanceOf(InputError);
    expect(r.failed[0].error.code).toBe('E_FILE_SOURCE');
    expect(r.failed[0].error.context).toMatchObject({ file: 'plugins.properties', line: 2 });
  });

  test('a damaged blob in the layout fails its digest check', async () => {
    const damaged = path.join(work, 'damaged');
    const d = writeOciLayout(damaged, [IMAGES[4]]);
    const blob = path.join(damaged, 'blobs/sha256', d.get('plugins/later:1.0.0')!.wasmLayer.slice(7));
    fs.writeFileSync(blob, A);
    const before = treeState(root, { mtimes: true });
    const r = await runPull({
      root,
      entries: [layoutEntry('later', 'plugins/later', '1.0.0')],
      client: createLayoutClient(await OciLayout.open(damaged)),
    });
    expect(r.failed.map((f) => f.error.code)).toEqual(['E_DIGEST_MISMATCH']);
    expect(treeState(root, { mtimes: true })).toEqual(before);
  });

  test('a run stopped while staging (deadline) fails every source with the reason and writes nothing', async () => {
    const before = treeState(root, { mtimes: true });
    const deadline = new AbortController();
    const r = await pull(root, ENTRIES(), {
      signal: deadline.signal,
      reporter: { emit: (e) => e.event === 'start' && deadline.abort(new Error('deadline passed')) },
    });
    expect(r.ok).toBe(false);
    expect(r.failed).toHaveLength(5);
    expect(r.failed[0].error.message).toMatch(/deadline passed/);
    expect(treeState(root, { mtimes: true })).toEqual(before);
    // Aborted before it starts: the run refuses at once.
    await expect(pull(root, ENTRIES(), { signal: AbortSignal.abort(new Error('closed')) })).rejects.toThrow('closed');
    expect(treeState(root, { mtimes: true })).toEqual(before);
  });

  test('--keep-going publishes what staged and records the rest; no lock is written', async () => {
    const lockFile = path.join(work, 'keep-going.lock');
    const r = await pull(
      root,
      [...ENTRIES(), layoutEntry('later', 'plugins/later', '1.0.0'), layoutEntry('absent', 'plugins/absent', '1.0.0')],
      {
        keepGoing: true,
        writeLock: lockFile,
      },
    );
    expect(r.ok).toBe(false);
    expect(r.counts).toMatchObject({ downloaded: 1, cached: 6, failed: 1 });
    expect(read(root, 'plugins/later/1.0.0/plugin.wasm').equals(D)).toBe(true);
    expect(fs.existsSync(lockFile)).toBe(false);
    expect(await verifyOciView(root)).toEqual([]);
  });
});

test('--prune removes the versions the list no longer names, and the view follows', async () => {
  const root = newRoot();
  expect((await pull(root, ENTRIES())).ok).toBe(true);
  const r = await pull(root, [layoutEntry('key-auth', 'plugins/key-auth', '2.0.0')], { prune: true });
  expect(r.ok).toBe(true);
  expect(r.pruned.sort()).toEqual([
    'add-header-copy/1.0.0',
    'add-header/1.0.0',
    'add-header/1.0.1',
    'local/0.1.0',
    'raw-only/1.0.0',
  ]);
  expect(fs.readdirSync(path.join(root, 'plugins')).sort()).toEqual(['index.json', 'key-auth']);
  expect(json(root, 'plugins/index.json').plugins.map((p: any) => p.name)).toEqual(['key-auth']);
  expect((json(root, 'oci/view.json') as ViewFile).tags.map((t) => t.name)).toEqual(['key-auth']);
  expect(await verifyOciView(root)).toEqual([]);
});

test('a module already in the tree under another name reuses its .gz instead of compressing', async () => {
  const root = newRoot();
  expect((await pull(root, [layoutEntry('key-auth', 'plugins/key-auth', '2.0.0')])).ok).toBe(true);
  const twin = path.join(work, 'twin.wasm');
  fs.writeFileSync(twin, B);
  const r = await pull(root, [layoutEntry('key-auth', 'plugins/key-auth', '2.0.0'), fileEntry('twin', '1.0.0', twin)]);
  expect(r.ok).toBe(true);
  expect(r.content).toMatchObject({ reusedTree: 1, compressed: 0 });
  expect(
    read(root, 'plugins/twin/1.0.0/plugin.wasm.gz').equals(read(root, 'plugins/key-auth/2.0.0/plugin.wasm.gz')),
  ).toBe(true);
});

describe('ContentStore', () => {
  test('prepares each distinct module once per run and refuses a file that is not what it claims', async () => {
    const root = newRoot();
    const tmp = path.join(root, 'work');
    fs.mkdirSync(tmp, { recursive: true });
    const file = path.join(tmp, 'a.wasm');
    fs.writeFileSync(file, A);
    const store = new ContentStore(root, tmp, 9);
    const one = await store.prepare(file, { owned: true });
    const two = await store.prepare(file, { owned: true });
    expect(one.gz).toBe('compressed');
    expect(two.gz).toBe('reused-run');
    expect(one.gzipLevel).toBe(9);
    expect(zlib.gunzipSync(fs.readFileSync(one.gzPath)).equals(A)).toBe(true);
    expect(store.stats).toEqual({ analyzed: 2, compressed: 1, reusedTree: 0, reusedRun: 1 });
    // The first folder that publishes owned files gives them its time (so aliases can hardlink them).
    await store.claim(one, new Date(CREATED));
    expect(fs.statSync(one.gzPath).mtime.toISOString()).toBe('2024-05-01T12:00:00.000Z');
    const other = path.join(tmp, 'b.wasm');
    fs.writeFileSync(other, B);
    await expect(store.prepare(other, { sha256: 'f'.repeat(64), owned: true })).rejects.toMatchObject({
      code: 'E_DIGEST_MISMATCH',
    });
  });
});

describe('progress lines', () => {
  const err = new IntegrityError({
    code: 'E_NOT_WASM',
    message: 'payload is not a Wasm module',
    context: { file: 'plugins.properties', line: 3 },
    hint: 'check the reference',
  });

  test('one line per event, sizes in readable units', () => {
    expect(humanSize(undefined)).toBe('-');
    expect(humanSize(512)).toBe('512 B');
    expect(humanSize(2048)).toBe('2.0 KiB');
    expect(humanSize(3 * 1024 * 1024)).toBe('3.0 MiB');
    expect(formatPluginEvent({ event: 'plugin', name: 'a', version: '1', status: 'pruned', ms: 0 })).toBe(
      'pruned     a@1',
    );
    expect(
      formatPluginEvent({
        event: 'plugin',
        name: 'a',
        version: '2',
        status: 'aliased',
        ms: 5,
        size: 2048,
        aliasOf: '1',
      }),
    ).toBe('aliased    a@2 (alias of 1) 2.0 KiB 5 ms');
    expect(formatPluginEvent({ event: 'plugin', name: 'a', version: '1', status: 'failed', ms: 1, error: err })).toBe(
      `FAILED a@1: plugins.properties:3: ${err.detail()} [E_NOT_WASM]`,
    );
    expect(formatPluginEvent({ event: 'plugin', name: 'a', version: '1', status: 'failed', ms: 1 })).toBe(
      'FAILED a@1: unknown error',
    );
  });

  test('on a TTY a live counter is redrawn below the lines; elsewhere only the lines', () => {
    const written: string[] = [];
    const tty = { isTTY: true, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    const r = textReporter(tty);
    r.emit({ event: 'start', plugins: 2, sources: 2 });
    r.emit({ event: 'begin', plugins: 2 });
    r.emit({ event: 'plugin', name: 'a', version: '1', status: 'downloaded', ms: 3, size: 2048 });
    r.emit({ event: 'plugin', name: 'b', version: '1', status: 'cached', ms: 0, size: 4096 });
    r.clear();
    const text = written.join('');
    expect(text).toContain('downloaded a@1 2.0 KiB 3 ms\n');
    expect(text).toContain('[1/2] 1 in flight, 2.0 KiB');
    expect(text).toContain('[2/2] 0 in flight, 2.0 KiB');
    const plain: string[] = [];
    const pipe = textReporter({ isTTY: false, write: (s: string) => plain.push(s) } as unknown as NodeJS.WriteStream);
    pipe.emit({ event: 'plugin', name: 'a', version: '1', status: 'copied', ms: 3 });
    pipe.clear();
    expect(plain).toEqual(['copied     a@1 - 3 ms\n']);
  });
});
