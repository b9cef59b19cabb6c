/**
 * Content reuse in a pull, against a real registry (distribution on 127.0.0.1): references that
 * resolve to the same manifest are downloaded once, the same bytes are validated and compressed once
 * and hardlinked between folders, a level-9 .gz already in the tree is reused for new folders of the
 * same bytes, and the result stays byte-identical to a fresh pull. Also `--gzip-level`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { parsePluginList } from '../src/inputs/properties';
import { PluginEntry } from '../src/inputs/types';
import { createOciClient } from '../src/oci/client';
import { OciClient } from '../src/oci/types';
import { closeCpuPool } from '../src/content/cpu-pool';
import { failureLine, runPull } from '../src/pipeline/pull';
import { verifyTree } from '../src/tree/read';
import { runCli } from './support/cli-run';
import { pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { largeWasm, smallWasm } from './support/wasm';

const CREATED = '2025-01-02T03:04:05Z';
const LATER = '2025-06-01T00:00:00Z';

let reg: Registry;
let dir: string;
let large: Buffer;
let small: Buffer;
let largeLayer: string;

function entries(text: string, name: string): PluginEntry[] {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text.replace(/HOST/g, reg.host));
  const parsed = parsePluginList(fs.readFileSync(file, 'utf8'), file);
  expect(parsed.problems).toEqual([]);
  return parsed.entries;
}

/** A client that records the URL of every blob request. */
function recordingClient(): { client: ReturnType<typeof createOciClient>; blobs: string[] } {
  const blobs: string[] = [];
  return { client: createOciClient({ onRequest: (kind, url) => kind === 'blob' && blobs.push(url) }), blobs };
}

const file = (root: string, rel: string) => path.join(root, 'plugins', rel);
const ino = (root: string, rel: string) => fs.statSync(file(root, rel)).ino;

const LIST = [
  'a=oci://HOST/plugins/a:1.0.0',
  'b=oci://HOST/plugins/b:1.0.0',
  'c=oci://HOST/plugins/c/nested:1.0.0',
  'd=oci://HOST/plugins/d:2.0.0',
  'e=oci://HOST/plugins/e:1.0.0',
  '#@alias a 0.9.0=1.0.0',
  '',
].join('\n');

beforeAll(async () => {
  reg = await startRegistry();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pull-content-'));
  large = fs.readFileSync(largeWasm());
  small = fs.readFileSync(await smallWasm());
  const same = { annotations: { 'org.opencontainers.image.created': CREATED } };
  // a, b and c: the same manifest under three names. d: the same bytes under another manifest.
  largeLayer = (await pushWasmArtifact(reg, 'plugins/a', '1.0.0', large, same)).wasmLayer.digest;
  await pushWasmArtifact(reg, 'plugins/b', '1.0.0', large, same);
  await pushWasmArtifact(reg, 'plugins/c/nested', '1.0.0', large, same);
  await pushWasmArtifact(reg, 'plugins/d', '2.0.0', large, {
    annotations: { ...same.annotations, 'org.example.note': 'd' },
  });
  await pushWasmArtifact(reg, 'plugins/e', '1.0.0', small, same);
  await pushWasmArtifact(reg, 'plugins/f', '3.0.0', large, {
    annotations: { 'org.opencontainers.image.created': LATER },
  });
  const html = Buffer.from('<html>not a module</html>');
  await pushWasmArtifact(reg, 'plugins/x', '1.0.0', html, same);
  await pushWasmArtifact(reg, 'plugins/y', '1.0.0', html, same);
}, 120_000);

afterAll(async () => {
  await closeCpuPool();
  await reg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('one tree, pulled cold then extended', () => {
  let root: string;

  beforeAll(() => {
    root = path.join(dir, 'tree');
  });

  test('one download per manifest, one compression per content, hardlinks between folders of the same bytes', async () => {
    const { client, blobs } = recordingClient();
    const r = await runPull({ root, entries: entries(LIST, 'list.properties'), client }).finally(() =>
      client.close?.(),
    );
    expect(r.failed.map(failureLine)).toEqual([]);
    expect(r.published).toBe(6);
    // a, b, c share one manifest; d is another manifest of the same bytes; e is another module.
    expect(blobs.filter((u) => u.includes(largeLayer))).toHaveLength(2);
    expect(r.content).toEqual({ fetched: 3, analyzed: 2, compressed: 2, reusedTree: 0, reusedRun: 3 });
    const a = ino(root, 'a/1.0.0/plugin.wasm');
    for (const rel of ['a/0.9.0', 'b/1.0.0', 'c/1.0.0', 'd/2.0.0']) {
      expect(ino(root, `${rel}/plugin.wasm`)).toBe(a);
      expect(ino(root, `${rel}/plugin.wasm.gz`)).toBe(ino(root, 'a/1.0.0/plugin.wasm.gz'));
    }
    for (const f of ['a/1.0.0/plugin.wasm', 'a/1.0.0/plugin.wasm.gz', 'e/1.0.0/plugin.wasm'])
      expect(fs.statSync(file(root, f)).mode & 0o777).toBe(0o444); // shared, so read-only (issue 12, item 3)
    expect(zlib.gunzipSync(fs.readFileSync(file(root, 'd/2.0.0/plugin.wasm.gz'))).equals(large)).toBe(true);
    expect(zlib.gunzipSync(fs.readFileSync(file(root, 'e/1.0.0/plugin.wasm.gz'))).equals(small)).toBe(true);
    expect(await verifyTree(root)).toMatchObject({ checked: 6, problems: [] });
  }, 120_000);

  test('a new folder of bytes the tree already holds copies the existing .gz instead of compressing, byte-identical to a fresh pull', async () => {
    const list2 = entries(`${LIST}f=oci://HOST/plugins/f:3.0.0\n`, 'list2.properties');
    const { client, blobs } = recordingClient();
    const before = fs.statSync(file(root, 'a/1.0.0/plugin.wasm.gz'));
    const r = await runPull({ root, entries: list2, client }).finally(() => client.close?.());
    expect(r).toMatchObject({ ok: true, published: 1, cached: 6 });
    expect(blobs).toHaveLength(1);
    expect(r.content).toMatchObject({ fetched: 1, compressed: 0, reusedTree: 1 });
    // Its own file with its own time: the folder it was copied from is unchanged.
    expect(ino(root, 'f/3.0.0/plugin.wasm.gz')).not.toBe(before.ino);
    expect(fs.statSync(file(root, 'f/3.0.0/plugin.wasm.gz')).mtime.toISOString()).toBe('2025-06-01T00:00:00.000Z');
    expect(fs.statSync(file(root, 'a/1.0.0/plugin.wasm.gz')).mtimeMs).toBe(before.mtimeMs);

    const fresh = path.join(dir, 'fresh');
    const c2 = createOciClient({});
    const r2 = await runPull({ root: fresh, entries: list2, client: c2 }).finally(() => c2.close?.());
    expect(r2.content).toMatchObject({ compressed: 2, reusedTree: 0 });
    for (const name of fs.readdirSync(file(root, 'f/3.0.0'))) {
      const [x, y] = [file(root, `f/3.0.0/${name}`), file(fresh, `f/3.0.0/${name}`)];
      expect({ name, bytes: fs.readFileSync(x).equals(fs.readFileSync(y)), mtime: fs.statSync(x).mtimeMs }).toEqual({
        name,
        bytes: true,
        mtime: fs.statSync(y).mtimeMs,
      });
    }
    expect(fs.readFileSync(file(root, 'index.json'), 'utf8')).toBe(fs.readFileSync(file(fresh, 'index.json'), 'utf8'));
  }, 120_000);

  test('another --gzip-level (9) does not reuse the default level-6 files and gives a valid, smaller .gz; metadata records each level', async () => {
    const c = createOciClient({});
    const list3 = entries('g=oci://HOST/plugins/f:3.0.0\n', 'list3.properties');
    const r = await runPull({ root, entries: list3, client: c, gzipLevel: 9 }).finally(() => c.close?.());
    expect(r.content).toMatchObject({ compressed: 1, reusedTree: 0 });
    const gz9 = fs.readFileSync(file(root, 'g/3.0.0/plugin.wasm.gz'));
    const gz6 = fs.readFileSync(file(root, 'f/3.0.0/plugin.wasm.gz'));
    expect([gz9[8], gz6[8]]).toEqual([2, 0]); // XFL: "maximum compression", then none recorded
    expect(zlib.gunzipSync(gz9).equals(large)).toBe(true);
    expect(gz9.length).toBeLessThan(gz6.length);
    const level = (rel: string) => JSON.parse(fs.readFileSync(file(root, `${rel}/metadata.json`), 'utf8')).gzipLevel;
    expect([level('g/3.0.0'), level('f/3.0.0')]).toEqual([9, 6]);
    expect(await verifyTree(root)).toMatchObject({ problems: [] });
  }, 120_000);
});

test('plugins sharing one bad download each fail under their own name', async () => {
  const c = createOciClient({});
  const root = path.join(dir, 'bad');
  const r = await runPull({
    root,
    entries: entries('x=oci://HOST/plugins/x:1.0.0\ny=oci://HOST/plugins/y:1.0.0\n', 'bad.properties'),
    client: c,
  }).finally(() => c.close?.());
  expect(r.ok).toBe(false);
  expect(r.failed.map((f) => [f.error.code, f.name, f.version]).sort()).toEqual([
    ['E_NOT_WASM', 'x', '1.0.0'],
    ['E_NOT_WASM', 'y', '1.0.0'],
  ]);
  expect(failureLine(r.failed[0])).toMatch(/^[xy]@1\.0\.0: payload is not a Wasm module/);
  expect(fs.readdirSync(path.join(root, 'plugins'))).toEqual([]);
});

test('pull --gzip-level takes 1 to 9 and refuses anything else with a one-line error', async () => {
  const list = path.join(dir, 'cli.properties');
  fs.writeFileSync(list, `e=oci://${reg.host}/plugins/e:1.0.0\n`);
  const out = path.join(dir, 'cli-out');
  expect(await runCli('pull', list, '--out', out, '--gzip-level', '1')).toMatchObject({ code: 0 });
  expect(fs.readFileSync(path.join(out, 'plugins/e/1.0.0/plugin.wasm.gz'))[8]).toBe(4); // XFL: fastest
  expect((await runCli('verify', out)).code).toBe(0);
  const bad = await runCli('pull', list, '--out', out, '--gzip-level', '10');
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/--gzip-level must be an integer from 1 to 9, got "10"/);
});

test('when one repository fails to serve a shared manifest, another repository serving it still succeeds', async () => {
  const note = { annotations: { 'org.opencontainers.image.created': CREATED, 'org.example.note': 'z' } };
  const { wasmLayer } = await pushWasmArtifact(reg, 'plugins/z1', '1.0.0', small, note);
  await pushWasmArtifact(reg, 'plugins/z2', '1.0.0', small, note);
  // Unlink the layer from z1 only (registry API): z1 then answers 404 for it, z2 still serves it.
  expect((await fetch(`${reg.url}/v2/plugins/z1/blobs/${wasmLayer.digest}`, { method: 'DELETE' })).status).toBe(202);
  const real = createOciClient({ retries: 1 });
  // Order only (no fake responses): z2 resolves after z1's download started, so z1 owns the shared download.
  let z1Started!: () => void;
  const started = new Promise<void>((r) => (z1Started = r));
  const client: OciClient = {
    resolve: async (ref, signal) => {
      if (ref.repository === 'plugins/z2') await started;
      return real.resolve(ref, signal);
    },
    fetch: (ref, tmp, o) => {
      if (ref.repository === 'plugins/z1') z1Started();
      return real.fetch(ref, tmp, o);
    },
  };
  const root = path.join(dir, 'shared-failure');
  const r = await runPull({
    root,
    entries: entries('z1=oci://HOST/plugins/z1:1.0.0\nz2=oci://HOST/plugins/z2:1.0.0\n', 'z.properties'),
    client,
    keepGoing: true,
  }).finally(() => real.close?.());
  expect(r.failed.map(failureLine)).toEqual([expect.stringMatching(/^z1@1\.0\.0: /)]);
  expect(r.published).toBe(1);
  expect(fs.readFileSync(path.join(root, 'plugins/z2/1.0.0/plugin.wasm')).equals(small)).toBe(true);
});
