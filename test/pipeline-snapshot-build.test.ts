/**
 * `pull --snapshot <snapshot> --unmanaged-lock <lock> <list>` against a real registry (distribution on
 * 127.0.0.1) holding a module at every reference of the real 2.2.4 snapshot, list and lock (host
 * re-pointed at it, digests and wasmSha256 rewritten): the tree upstream 2.2.4 serves, its
 * snapshot-inventory.json served by the real Nginx with image/nginx.conf, and each of upstream's refusals with its exit code, its one line and the
 * tree left byte-identical.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCli } from './support/cli-run';
import { request } from './support/http';
import { startNginx } from './support/nginx';
import {
  pushReferenceInputs,
  ReferenceInputs,
  referenceModule,
  LockDoc,
  SnapshotDoc,
} from './support/reference-registry';
import { pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { smallWasm } from './support/wasm';
import { treeState, wasmVariant } from './support/tree-state';

const REF = path.join(__dirname, 'fixtures', 'reference');

let reg: Registry;
let dir: string;
let root: string;
let snapshotText: string;
let lockText: string;
let listText: string;
let consoleText: string;
let base: Buffer;
let ref: ReferenceInputs;
const hex = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

const write = (name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};
const pull = (snapshot: string, lock: string, list: string, ...more: string[]) =>
  runCli('pull', '--snapshot', snapshot, '--unmanaged-lock', lock, list, ...more, '--out', root);

beforeAll(async () => {
  reg = await startRegistry();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pull-snapshot-build-'));
  root = path.join(dir, 'out');
  base = fs.readFileSync(await smallWasm());
  const read = (f: string) => fs.readFileSync(path.join(REF, f), 'utf8');
  // A module at every reference of the snapshot, the lock, upstream's list and the Console's list.
  ref = await pushReferenceInputs(reg, base, {
    snapshot: read('higress-plugin-snapshot-2.2.4.json'),
    lock: read('unmanaged-plugins.lock.json'),
    lists: [read('plugin-server.plugins.properties'), read('console.plugins.properties')],
  });
  snapshotText = ref.snapshot;
  lockText = ref.lock;
  [listText, consoleText] = ref.lists;
  process.env.SOURCE_DATE_EPOCH = '1714564800';
}, 120_000);
afterAll(async () => {
  delete process.env.SOURCE_DATE_EPOCH;
  await reg?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the 2.2.4 inputs give the tree upstream 2.2.4 serves, with its snapshot-inventory.json', async () => {
  const r = await pull(write('snapshot.json', snapshotText), write('lock.json', lockText), write('list', listText));
  expect(r.stderr).toMatch(/ok: 79 plugin version\(s\)/);
  expect(r.code).toBe(0);
  const index = JSON.parse(fs.readFileSync(path.join(root, 'plugins', 'index.json'), 'utf8')) as {
    inventory: { path: string; sha256: string };
    plugins: Array<{ name: string; version: string; sha256: string; holds: Record<string, string> }>;
  };
  const served = index.plugins.map((p) => `${p.name}@${p.version}`);
  // 35 managed at their snapshot versions, the jsonrpc-converter alias, the 9 unmanaged at 2.0.0 (all
  // upstream 2.2.4 serves), and the list's 34 managed entries at their own tag, 2.0.0 (what every image
  // before 2.2.4 served there); upstream's list has no #@alias lines, so no 1.0.0 here.
  expect(served).toHaveLength(45 + 34);
  expect(served).toEqual(expect.arrayContaining(['mcp-server@2.0.1', 'cors@2.0.2', 'jsonrpc-converter@2.0.1']));
  expect(served.filter((s) => s.endsWith('@2.0.0'))).toHaveLength(9 + 34);
  expect(served.filter((s) => s.endsWith('@1.0.0'))).toEqual([]);
  const from = (name: string, version: string) =>
    index.plugins.find((p) => p.name === name && p.version === version)?.holds;
  expect(from('cors', '2.0.2')).toEqual({ kind: 'own', from: 'snapshot' });
  expect(from('cors', '2.0.0')).toEqual({ kind: 'own', from: 'list' });
  expect(from('basic-auth', '2.0.0')).toEqual({ kind: 'own', from: 'unmanaged-lock' });
  expect(index.plugins.find((p) => p.name === 'cors' && p.version === '2.0.0')?.sha256).toBe(
    hex(ref.moduleAt('plugins/cors', '2.0.0')),
  );
  const lock = JSON.parse(lockText) as LockDoc;
  expect(index.plugins.find((p) => p.name === 'basic-auth')?.sha256).toBe(lock.plugins['basic-auth'].wasmSha256);
  const inventoryText = fs.readFileSync(path.join(root, 'plugins', 'snapshot-inventory.json'), 'utf8');
  const inventory = JSON.parse(inventoryText) as Record<
    string,
    { digest: string; version: string; wasmSha256: string }
  >;
  expect(Object.keys(inventory)).toHaveLength(36);
  expect(Object.keys(inventory)).toEqual(expect.arrayContaining(['mcp-server', 'json-converter', 'jsonrpc-converter']));
  expect(inventory['basic-auth']).toBeUndefined();
  const mcp = (JSON.parse(snapshotText) as SnapshotDoc).plugins.find((p) => p.logicalId === 'mcp-server');
  expect(inventory['mcp-server']).toEqual({
    digest: mcp?.digest,
    version: '2.0.1',
    wasmSha256: hex(ref.moduleAt('plugins/mcp-server', '2.0.1')),
  });
  expect(inventory['jsonrpc-converter']).toEqual(inventory['json-converter']);
  expect(index.inventory).toEqual({
    path: '/plugins/snapshot-inventory.json',
    sha256: hex(Buffer.from(inventoryText)),
    size: Buffer.byteLength(inventoryText),
  });
  expect(await runCli('verify', root)).toMatchObject({ code: 0 });
  // A second run finds everything current and changes nothing.
  const before = treeState(root);
  expect((await pull(path.join(dir, 'snapshot.json'), path.join(dir, 'lock.json'), path.join(dir, 'list'))).code).toBe(
    0,
  );
  expect(treeState(root)).toEqual(before);
}, 120_000);

test('image/nginx.conf serves the inventory as JSON, the alias at the snapshot version and the unmanaged at servedVersion', async () => {
  const nginx = await startNginx(root);
  try {
    const r = await request(`${nginx.url}/plugins/snapshot-inventory.json`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.body.equals(fs.readFileSync(path.join(root, 'plugins', 'snapshot-inventory.json')))).toBe(true);
    const inventory = JSON.parse(r.body.toString()) as Record<string, { version: string; wasmSha256: string }>;
    const jc = inventory['json-converter'];
    const alias = await request(`${nginx.url}/plugins/jsonrpc-converter/${jc.version}/plugin.wasm`);
    expect(alias.status).toBe(200);
    expect(hex(alias.body)).toBe(jc.wasmSha256);
    const lock = JSON.parse(lockText) as LockDoc;
    const basic = await request(
      `${nginx.url}/plugins/basic-auth/${lock.plugins['basic-auth'].servedVersion}/plugin.wasm`,
    );
    expect(basic.status).toBe(200);
    expect(basic.body.subarray(0, 4).toString('latin1')).toBe('\0asm');
    expect(hex(basic.body)).toBe(lock.plugins['basic-auth'].wasmSha256);
  } finally {
    await nginx.stop();
  }
});

test('a later list (the Console list) adds its entries; its tags at a pinned name and version must resolve to the pin', async () => {
  const consoleList = write('console.properties', consoleText);
  const args = [
    path.join(dir, 'snapshot.json'),
    path.join(dir, 'lock.json'),
    path.join(dir, 'list'),
    consoleList,
  ] as const;
  const r = await pull(...args);
  expect(r.stderr).toMatch(/^ok: /m);
  expect(r.code).toBe(0);
  const served = (
    JSON.parse(fs.readFileSync(path.join(root, 'plugins', 'index.json'), 'utf8')) as {
      plugins: Array<{ name: string; version: string; sha256: string }>;
    }
  ).plugins;
  // The Console's own plugins the 2.2.4 image does not serve are served now; ai-proxy@2.0.1 is the snapshot's bytes.
  expect(served.map((p) => `${p.name}@${p.version}`)).toEqual(
    expect.arrayContaining(['simple-jwt-auth@1.0.1', 'mcp-router@2.0.1', 'ai-proxy@2.0.1', 'basic-auth@2.0.0']),
  );
  expect(served.find((p) => p.name === 'ai-proxy' && p.version === '2.0.1')?.sha256).toBe(
    hex(ref.moduleAt('plugins/ai-proxy', '2.0.1')),
  );
  expect(await runCli('verify', root)).toMatchObject({ code: 0 });

  // The tag moves away from the snapshot's pin: exit 5, one line naming both sources, nothing changed.
  const original = ref.pushedAt('plugins/ai-proxy', '2.0.1');
  await pushWasmArtifact(reg, 'plugins/ai-proxy', '2.0.1', wasmVariant(base, 'moved'));
  try {
    const before = treeState(root, { mtimes: true });
    const moved = await pull(...args);
    expect(moved.stderr.split('\n')).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^FAILED +ai-proxy@2\\.0\\.1: ai-proxy@2\\.0\\.1 is served by two sources with different bytes: oci://${reg.host}/plugins/ai-proxy:2\\.0\\.1 \\(.*console\\.properties:\\d+\\) resolves to sha256:[0-9a-f]{64}, oci://${reg.host}/plugins/ai-proxy:2\\.0\\.1@${original.manifestDigest} \\(.*snapshot\\.json:\\d+\\) pins ${original.manifestDigest}`,
        ),
      ),
    );
    expect(moved.code).toBe(5);
    expect(treeState(root, { mtimes: true })).toEqual(before);
  } finally {
    await pushWasmArtifact(reg, 'plugins/ai-proxy', '2.0.1', referenceModule(base, 'plugins/ai-proxy', '2.0.1'));
  }
}, 120_000);

test('compatibility entries are pinned by --write-lock and held by --frozen like any list entry; at the snapshot version the first list must give the same bytes', async () => {
  const snapshot = write('snapshot.json', snapshotText);
  const lock = write('lock.json', lockText);
  const list = write('compat.properties', listText);
  const pinFile = path.join(dir, 'compat.lock.json');
  const written = await pull(snapshot, lock, list, '--write-lock', pinFile);
  expect(written.code).toBe(0);
  const pins = (JSON.parse(fs.readFileSync(pinFile, 'utf8')) as { plugins: Array<Record<string, string>> }).plugins;
  const cors = ref.pushedAt('plugins/cors', '2.0.0');
  expect(pins.find((p) => p.name === 'cors' && p.version === '2.0.0')).toMatchObject({
    source: `oci://${reg.host}/plugins/cors:2.0.0`,
    digest: cors.manifestDigest,
  });
  expect(pins.find((p) => p.name === 'cors' && p.version === '2.0.2')?.source).toMatch(/plugins\/cors:2\.0\.2@sha256:/);

  // The compatibility tag moves: --frozen refuses, the tree stays as it was.
  await pushWasmArtifact(reg, 'plugins/cors', '2.0.0', wasmVariant(base, 'cors moved'));
  try {
    const before = treeState(root, { mtimes: true });
    const frozen = await pull(snapshot, lock, list, '--frozen', '--lock', pinFile);
    expect(frozen.stderr).toMatch(/cors@2\.0\.0.*\[E_FROZEN_DIGEST\]/);
    expect(frozen.code).not.toBe(0);
    expect(treeState(root, { mtimes: true })).toEqual(before);
  } finally {
    await pushWasmArtifact(reg, 'plugins/cors', '2.0.0', referenceModule(base, 'plugins/cors', '2.0.0'));
  }

  // A first-list tag at the snapshot's own version is served from the snapshot's pin and must resolve to it.
  const same = write('same.properties', `${listText}\ncors=oci://${reg.host}/plugins/cors:2.0.2\n`);
  expect((await pull(snapshot, lock, same)).code).toBe(0);
  await pushWasmArtifact(reg, 'plugins/cors', '2.0.2', wasmVariant(base, 'cors 2.0.2 moved'));
  try {
    const before = treeState(root, { mtimes: true });
    const moved = await pull(snapshot, lock, same);
    expect(moved.stderr).toMatch(
      /cors@2\.0\.2 is served by two sources with different bytes: .*same\.properties:\d+\) resolves to sha256:[0-9a-f]{64}, .*snapshot\.json:\d+\) pins sha256:/,
    );
    expect(moved.code).toBe(5);
    expect(treeState(root, { mtimes: true })).toEqual(before);
  } finally {
    await pushWasmArtifact(reg, 'plugins/cors', '2.0.2', referenceModule(base, 'plugins/cors', '2.0.2'));
  }
}, 180_000);

describe('refusals: exit code, one line, the tree left byte-identical', () => {
  const refuse = async (
    files: { snapshot?: string; lock?: string; list?: string },
    code: number,
    line: RegExp,
  ): Promise<void> => {
    const before = treeState(root, { mtimes: true });
    const r = await pull(
      write('s.json', files.snapshot ?? snapshotText),
      write('l.json', files.lock ?? lockText),
      write('p.properties', files.list ?? listText),
    );
    expect(r.stderr.split('\n')).toContainEqual(expect.stringMatching(line));
    expect(r.code).toBe(code);
    expect(treeState(root, { mtimes: true })).toEqual(before);
  };
  const editLock = (edit: (l: LockDoc) => void) => {
    const l = JSON.parse(lockText) as LockDoc;
    edit(l);
    return JSON.stringify(l, null, 2);
  };

  test('two snapshot entries with the same inventoryKey: ambiguous (exit 3)', async () => {
    const s = JSON.parse(snapshotText) as SnapshotDoc;
    s.plugins.push({ ...s.plugins.find((p) => p.logicalId === 'cors')!, logicalId: 'cors-again' });
    await refuse(
      { snapshot: JSON.stringify(s, null, 2) },
      3,
      /s\.json:\d+: inventoryKey cors is ambiguous: snapshot entries cors and cors-again both claim it/,
    );
  });

  test('an ociRef whose tag differs from version: disagrees (exit 3)', async () => {
    await refuse(
      { snapshot: snapshotText.replace('/plugins/waf:2.0.1', '/plugins/waf:2.0.0') },
      3,
      /s\.json:\d+: waf: ociRef tag 2\.0\.0 disagrees with version 2\.0\.1/,
    );
  });

  test('a lock that misses an entry and adds one: missing=… extra=… (exit 3)', async () => {
    const lock = editLock((l) => {
      l.plugins['waf'] = { ...l.plugins['oauth'] };
      delete l.plugins['oauth'];
    });
    await refuse({ lock }, 3, /l\.json: the unmanaged lock does not cover .* missing=oauth extra=waf/);
  });

  test('a list entry the lock does not hold: missing (exit 3)', async () => {
    await refuse(
      { list: `${listText}\nsimple-jwt-auth=oci://${reg.host}/plugins/simple-jwt-auth:1.0.1\n` },
      3,
      /missing=simple-jwt-auth extra=\(none\)/,
    );
  });

  test('a lock whose repository or tag drifts from the list (exit 3)', async () => {
    await refuse(
      { list: listText.replace('/plugins/key-auth:2.0.0', '/plugins/key-auth:2.0.1') },
      3,
      /l\.json:\d+: key-auth drifts from the list: tag 2\.0\.0 in the lock, 2\.0\.1 in the list/,
    );
    await refuse(
      { lock: editLock((l) => (l.plugins['oauth'].repository += '-fork')) },
      3,
      /l\.json:\d+: oauth drifts from the list: repository .*\/plugins\/oauth-fork in the lock/,
    );
  });

  test('servedVersion, servedPath or logicalKey changing identity (exit 3)', async () => {
    await refuse(
      { lock: editLock((l) => (l.plugins['basic-auth'].servedVersion = '1.0.0')) },
      3,
      /l\.json:\d+: basic-auth changes its served identity: servedVersion 1\.0\.0, the list tag is 2\.0\.0/,
    );
  });

  test('a module whose sha256 differs from the lock: Wasm hash (exit 5), after the download, before the commit', async () => {
    // The locked digest now names another module of the same repository.
    const other = await pushWasmArtifact(reg, 'plugins/basic-auth', 'other', wasmVariant(base, 'tampered'));
    await refuse(
      { lock: editLock((l) => (l.plugins['basic-auth'].digest = other.manifestDigest)) },
      5,
      /basic-auth@2\.0\.0: Wasm hash does not match the unmanaged lock: the module is sha256 [0-9a-f]{64}, the lock's wasmSha256 is [0-9a-f]{64}/,
    );
    // And when the folder is current, its recorded bytes are checked against the lock all the same.
    await refuse(
      { lock: editLock((l) => (l.plugins['basic-auth'].wasmSha256 = '0'.repeat(64))) },
      5,
      /basic-auth@2\.0\.0: Wasm hash does not match the unmanaged lock/,
    );
  });

  test("a snapshot that is not the published one: --snapshot-sha256 (the Dockerfile's SNAPSHOT_SHA256, exit 3)", async () => {
    const snapshot = write('s.json', snapshotText);
    const good = hex(Buffer.from(snapshotText));
    expect(
      (await pull(snapshot, write('l.json', lockText), write('p', listText), '--snapshot-sha256', good)).code,
    ).toBe(0);
    const before = treeState(root, { mtimes: true });
    const r = await pull(snapshot, path.join(dir, 'l.json'), path.join(dir, 'p'), '--snapshot-sha256', '0'.repeat(64));
    expect(r.code).toBe(3);
    expect(r.stderr.split('\n')).toContainEqual(
      `error: ${snapshot}: sha256 is ${good}, --snapshot-sha256 says ${'0'.repeat(64)} (the snapshot is not the released one: fetch plugins/release/snapshots/<version>.json again from the Higress tag) [E_RELEASE_SNAPSHOT]`,
    );
    expect(treeState(root, { mtimes: true })).toEqual(before);
  });

  test('--unmanaged-lock without --snapshot is a usage error (exit 2)', async () => {
    const r = await runCli('pull', '--unmanaged-lock', write('l.json', lockText), write('p', listText), '--out', root);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--unmanaged-lock applies to a snapshot build/);
  });
});
