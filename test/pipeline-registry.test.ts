/**
 * End to end against a real registry (distribution on 127.0.0.1): the shipped list's shape (same
 * names, repository paths and tags, host rewritten to the local registry) in several artifact
 * formats pulls into a verified tree; a warm re-run downloads no blob; --frozen detects a moved tag.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { parsePluginList } from '../src/inputs/properties';
import { createOciClient } from '../src/oci/client';
import { runPull } from '../src/pipeline/pull';
import { verifyTree } from '../src/tree/read';
import { runCli } from './support/cli-run';
import { startFaultProxy } from './support/fault-proxy';
import {
  pushDockerImage,
  pushIndex,
  pushOciImage,
  pushWasmArtifact,
  Registry,
  startRegistry,
} from './support/registry';
import { REPO_ROOT } from './support/tools';
import { largeWasm, smallWasm } from './support/wasm';
import { treeState } from './support/tree-state';

const UPSTREAM = 'higress-registry.cn-hangzhou.cr.aliyuncs.com';
const LARGE = new Set(['ai-proxy', 'ai-statistics', 'mcp-server']);
const CREATED = '2025-01-02T03:04:05Z';

let reg: Registry;
let dir: string;
let list: string;
let root: string;
let small: Buffer;
let large: Buffer;
/** name@version -> expected sha256 of the served bytes. */
const expected = new Map<string, string>();
const hex = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  reg = await startRegistry();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pull-registry-'));
  small = fs.readFileSync(await smallWasm());
  large = fs.readFileSync(largeWasm());
  const shipped = fs.readFileSync(path.join(REPO_ROOT, 'image', 'plugins.properties'), 'utf8');
  list = path.join(dir, 'plugins.properties');
  fs.writeFileSync(list, shipped.split(UPSTREAM).join(reg.host));
  const { entries, problems } = parsePluginList(fs.readFileSync(list, 'utf8'), list);
  expect(problems).toEqual([]);
  for (const e of entries) {
    if (e.aliasOf || e.source.kind !== 'oci') continue;
    const { repository, tag } = e.source.ref;
    const bytes = LARGE.has(e.name) ? large : small;
    if (e.name === 'waf') await pushDockerImage(reg, repository, tag!, bytes, { created: CREATED });
    else if (e.name === 'cache-control') await pushOciImage(reg, repository, tag!, bytes, { created: CREATED });
    else if (e.name === 'geo-ip') await pushIndex(reg, repository, tag!, { amd64: small, arm64: large }, 'oci');
    else {
      const specYaml =
        e.name === 'cors'
          ? 'info:\n  version: 1.0.1\nspec:\n  phase: AUTHZ\n  priority: 10\n'
          : e.name === 'key-auth'
            ? 'info:\n  version: 1.0.0\n'
            : undefined;
      await pushWasmArtifact(reg, repository, tag!, bytes, {
        specYaml,
        annotations: { 'org.opencontainers.image.created': CREATED },
      });
    }
    expected.set(`${e.name}@${e.version}`, hex(bytes));
  }
  for (const e of entries)
    if (e.aliasOf) expected.set(`${e.name}@${e.version}`, expected.get(`${e.name}@${e.aliasOf}`)!);
  expected.set('cors@1.0.1', hex(small)); // from cors's spec.yaml
  root = path.join(dir, 'out');
  const cold = await runCli('pull', list, '--out', root, '--write-lock', '--concurrency', '8');
  if (cold.code !== 0) throw new Error(`cold pull failed:\n${cold.stderr}`);
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the shipped list shape pulls into a tree whose checksums, .gz and index match the pushed bytes', async () => {
  const index = JSON.parse(fs.readFileSync(path.join(root, 'plugins/index.json'), 'utf8'));
  const listed = new Map<string, { sha256: string; path: string }>(
    index.plugins.map((p: { name: string; version: string; sha256: string; path: string }) => [
      `${p.name}@${p.version}`,
      p,
    ]),
  );
  expect([...listed.keys()].sort()).toEqual([...expected.keys()].sort());
  // 43 plugins, each also as 1.0.0, and cors's spec.yaml version 1.0.1.
  expect(listed.size).toBe(43 + 43 + 1);
  for (const [id, sha] of expected) {
    const [name, version] = id.split('@') as [string, string];
    const d = path.join(root, 'plugins', name, version);
    const bytes = fs.readFileSync(path.join(d, 'plugin.wasm'));
    expect({ id, sha: hex(bytes) }).toEqual({ id, sha });
    expect(listed.get(id)!.sha256).toBe(sha);
    expect(hex(zlib.gunzipSync(fs.readFileSync(path.join(d, 'plugin.wasm.gz'))))).toBe(sha);
    expect(JSON.parse(fs.readFileSync(path.join(d, 'metadata.json'), 'utf8'))).toMatchObject({
      sha256: sha,
      size: bytes.length,
      manifestDigest: expect.stringMatching(/^sha256:/),
    });
  }
  expect(await verifyTree(root)).toMatchObject({ problems: [] });
  const cors = JSON.parse(fs.readFileSync(path.join(root, 'plugins/cors/1.0.1/metadata.json'), 'utf8'));
  expect(cors).toMatchObject({ aliasOf: '2.0.0', phase: 'AUTHZ', priority: 10, created: CREATED });
  expect(fs.readFileSync(path.join(root, 'plugins/cors/2.0.0/spec.yaml'), 'utf8')).toContain('1.0.1');
  expect(JSON.parse(fs.readFileSync(path.join(root, 'plugins/waf/2.0.0/metadata.json'), 'utf8')).created).toBe(CREATED);
  expect(fs.existsSync(path.join(root, 'plugins/mcp-server/2.0.0/plugin.wasm'))).toBe(true);
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'plugins.lock.json'), 'utf8')).plugins).toHaveLength(87);
});

test('a warm re-run makes manifest requests only and leaves the tree byte-identical', async () => {
  const before = treeState(root, { mtimes: true, record: true });
  const kinds: string[] = [];
  const client = createOciClient({ onRequest: (kind) => kinds.push(kind) });
  try {
    const { entries } = parsePluginList(fs.readFileSync(list, 'utf8'), list);
    const r = await runPull({ root, entries, client });
    expect(r).toMatchObject({ ok: true, published: 0, cached: 87 });
  } finally {
    await client.close();
  }
  expect(kinds.filter((k) => k === 'blob')).toEqual([]);
  expect(kinds.filter((k) => k === 'manifest').length).toBeGreaterThanOrEqual(43);
  // The view and the record of what was read included: a warm run writes nothing.
  expect(treeState(root, { mtimes: true, record: true })).toEqual(before);
});

test('--frozen detects a moved tag, names the plugin and leaves the tree untouched', async () => {
  expect((await runCli('pull', list, '--out', root, '--frozen')).code).toBe(0);
  const before = treeState(root, { mtimes: true });
  await pushWasmArtifact(reg, 'plugins/request-block', '2.0.0', large, {
    annotations: { 'org.opencontainers.image.created': CREATED },
  });
  const r = await runCli('pull', list, '--out', root, '--frozen');
  expect(r.code).toBe(5);
  expect(r.stderr).toMatch(
    /FAILED request-block@2\.0\.0: oci:\/\/127\.0\.0\.1:\d+\/plugins\/request-block:2\.0\.0 now resolves to sha256:[a-f0-9]{64}, the lock file has sha256:/,
  );
  expect(treeState(root, { mtimes: true })).toEqual(before);
  // Without --frozen the moved tag is picked up, alias included, and only that source is downloaded.
  const ok = await runCli('pull', list, '--out', root, '--json');
  expect(ok.code).toBe(0);
  const downloaded = ok.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((e) => e.status === 'downloaded')
    .map((e) => `${e.name}@${e.version}`);
  expect(downloaded.sort()).toEqual(['request-block@1.0.0', 'request-block@2.0.0']);
  expect(hex(fs.readFileSync(path.join(root, 'plugins/request-block/1.0.0/plugin.wasm')))).toBe(hex(large));
});

test('registry errors (missing tag) fail the run with the plugin named; the tree is untouched', async () => {
  const bad = path.join(dir, 'missing.properties');
  fs.writeFileSync(bad, `cors=oci://${reg.host}/plugins/cors:2.0.0\nghost=oci://${reg.host}/plugins/ghost:9.9.9\n`);
  const before = treeState(root, { mtimes: true });
  const r = await runCli('pull', bad, '--out', root);
  expect(r.code).toBe(4);
  expect(r.stderr).toMatch(/FAILED ghost@9\.9\.9: .*\[E_REGISTRY_NOT_FOUND\]/);
  expect(treeState(root, { mtimes: true })).toEqual(before);
});

test("progress: the fast registry's plugins are reported before the slow one finishes", async () => {
  // Distinct manifests (a note each): identical ones would share one download, the slow one's.
  for (const name of ['fast-a', 'fast-b', 'slow'])
    await pushWasmArtifact(reg, `progress/${name}`, '1.0.0', small, { annotations: { 'org.example.note': name } });
  // The same registry seen through a proxy that holds every blob of progress/slow for 3 s.
  const proxy = await startFaultProxy(reg.url);
  try {
    proxy.add({ path: /\/progress\/slow\/blobs\//, delayMs: 3000 });
    const l = path.join(dir, 'progress.properties');
    fs.writeFileSync(
      l,
      `slow=oci://${proxy.host}/progress/slow:1.0.0\nfast-a=oci://${reg.host}/progress/fast-a:1.0.0\nfast-b=oci://${reg.host}/progress/fast-b:1.0.0\n`,
    );
    const r = await runCli('pull', l, '--out', path.join(dir, 'progress-out'), '--concurrency', '3');
    expect(r.code).toBe(0);
    const order = r.stderr
      .split('\n')
      .map((x) => /^downloaded\s+(\S+)@/.exec(x)?.[1])
      .filter(Boolean);
    expect(order).toHaveLength(3);
    expect(order.at(-1)).toBe('slow');
    expect(proxy.log.some((x) => x.fault)).toBe(true);
  } finally {
    await proxy.stop();
  }
});
