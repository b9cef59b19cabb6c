/**
 * The shipped image/nginx.conf, run by the real Nginx on 127.0.0.1, serving a tree written by the
 * pipeline's own publisher (publishVersion + writeIndex) with a small AssemblyScript filter, its
 * alias, and the ~12 MB Go-compiled esbuild.wasm.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import {
  GZ_FILE,
  INDEX_FILE,
  METADATA_JSON,
  METADATA_TXT,
  PluginIndex,
  PluginMetadata,
  PLUGINS_DIR,
  wasmUrlPath,
} from '../src/contract/tree-format';
import { publishVersion, writeIndex } from '../src/tree/publish';
import { rawGet, request } from './support/http';
import { RunningNginx, startNginx } from './support/nginx';
import { largeWasm, smallWasm } from './support/wasm';

const SECRET = 'TOP-SECRET-OUTSIDE-THE-TREE';
const CREATED = '2024-05-01T00:00:00Z';
const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

let root: string;
let outside: string;
let nginx: RunningNginx;
let index: PluginIndex;
const meta = (name: string, version: string): PluginMetadata =>
  JSON.parse(fs.readFileSync(path.join(root, PLUGINS_DIR, name, version, METADATA_JSON), 'utf8')) as PluginMetadata;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-serving-'));
  outside = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-outside-'));
  const small = await smallWasm();
  await publishVersion(root, {
    name: 'add-header',
    version: '1.0.0',
    wasmPath: small,
    source: 'file:add-header.wasm@1.0.0',
    manifestDigest: null,
    created: CREATED,
  });
  // A version alias, the way the pipeline writes it (a full copy, not a link).
  await publishVersion(root, {
    name: 'add-header',
    version: '2.0.0',
    wasmPath: small,
    source: 'file:add-header.wasm@1.0.0',
    manifestDigest: null,
    created: CREATED,
    aliasOf: '1.0.0',
  });
  await publishVersion(root, {
    name: 'esbuild',
    version: '0.25.12',
    wasmPath: largeWasm(),
    source: 'file:esbuild.wasm@0.25.12',
    manifestDigest: null,
    created: CREATED,
  });
  await writeIndex(root);
  index = JSON.parse(fs.readFileSync(path.join(root, PLUGINS_DIR, INDEX_FILE), 'utf8')) as PluginIndex;

  // Things that must never be served: a file beside plugins/, a dotfile, a temp folder, and a
  // symlink planted inside the tree pointing out of it.
  fs.writeFileSync(path.join(root, 'secret.txt'), SECRET);
  fs.writeFileSync(path.join(outside, 'secret.txt'), SECRET);
  fs.writeFileSync(path.join(root, PLUGINS_DIR, '.secret'), SECRET);
  fs.mkdirSync(path.join(root, PLUGINS_DIR, 'add-header', '.tmp-3.0.0-abc'));
  fs.writeFileSync(path.join(root, PLUGINS_DIR, 'add-header', '.tmp-3.0.0-abc', 'plugin.wasm'), SECRET);
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, PLUGINS_DIR, 'add-header', '1.0.0', 'link.txt'));
  fs.symlinkSync(outside, path.join(root, PLUGINS_DIR, 'outside'));

  nginx = await startNginx(root);
});

afterAll(async () => {
  await nginx?.stop();
  for (const dir of [root, outside]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the tree holds what the test expects (index lists all three versions)', () => {
  expect(index.plugins.map((p) => `${p.name}@${p.version}`)).toEqual([
    'add-header@1.0.0',
    'add-header@2.0.0',
    'esbuild@0.25.12',
  ]);
});

describe.each([
  ['add-header', '1.0.0'],
  ['add-header', '2.0.0'],
  ['esbuild', '0.25.12'],
])('%s@%s', (name, version) => {
  const url = () => `${nginx.url}${wasmUrlPath(name, version)}`;

  test('a plain client gets the raw wasm: bytes and sha256 match metadata.json', async () => {
    const m = meta(name, version);
    const r = await request(url());
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.headers['content-type']).toBe('application/wasm');
    expect(Number(r.headers['content-length'])).toBe(m.size);
    expect(r.body.length).toBe(m.size);
    expect(sha256(r.body)).toBe(m.sha256);
    expect(r.headers.vary).toBe('Accept-Encoding');
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(r.headers['last-modified']).toBe(new Date(CREATED).toUTCString());
    expect(r.headers.server).toBe('nginx');
  });

  test('a gzip client gets plugin.wasm.gz (static) and the decoded bytes match', async () => {
    const m = meta(name, version);
    const r = await request(url(), { headers: { 'Accept-Encoding': 'gzip' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(r.headers['content-type']).toBe('application/wasm');
    expect(r.headers.vary).toBe('Accept-Encoding');
    // The precompressed file itself, not an on-the-fly recompression.
    expect(r.body.equals(fs.readFileSync(path.join(root, PLUGINS_DIR, name, version, GZ_FILE)))).toBe(true);
    expect(r.body.length).toBe(m.gzipSize);
    const decoded = zlib.gunzipSync(r.body);
    expect(decoded.length).toBe(m.size);
    expect(sha256(decoded)).toBe(m.sha256);
  });

  test('HEAD answers the headers without a body', async () => {
    const r = await request(url(), { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(Number(r.headers['content-length'])).toBe(meta(name, version).size);
    expect(r.body.length).toBe(0);
  });

  test('metadata.txt and metadata.json are served as written', async () => {
    for (const file of [METADATA_TXT, METADATA_JSON]) {
      const r = await request(`${nginx.url}/${PLUGINS_DIR}/${name}/${version}/${file}`);
      expect(r.status).toBe(200);
      expect(r.body.equals(fs.readFileSync(path.join(root, PLUGINS_DIR, name, version, file)))).toBe(true);
      expect(r.headers['cache-control']).toBe('no-cache');
    }
  });
});

test('validators work: If-None-Match and If-Modified-Since give 304', async () => {
  const url = `${nginx.url}${wasmUrlPath('add-header', '1.0.0')}`;
  const first = await request(url);
  const byEtag = await request(url, { headers: { 'If-None-Match': String(first.headers.etag) } });
  expect(byEtag.status).toBe(304);
  const byDate = await request(url, { headers: { 'If-Modified-Since': String(first.headers['last-modified']) } });
  expect(byDate.status).toBe(304);
});

test('a replaced version is served at once with a new validator (no-cache paths)', async () => {
  const url = `${nginx.url}${wasmUrlPath('replaced', '1.0.0')}`;
  const small = fs.readFileSync(await smallWasm());
  await publishVersion(root, {
    name: 'replaced',
    version: '1.0.0',
    wasmPath: await smallWasm(),
    source: 'file:a',
    manifestDigest: null,
    created: CREATED,
  });
  const before = await request(url);
  // Same module plus a custom section: still valid wasm, different bytes and mtime.
  const name = Buffer.from('replaced');
  const custom = Buffer.concat([Buffer.from([0x00, name.length + 1, name.length]), name]);
  const changed = path.join(outside, 'changed.wasm');
  fs.writeFileSync(changed, Buffer.concat([small, custom]));
  await publishVersion(root, {
    name: 'replaced',
    version: '1.0.0',
    wasmPath: changed,
    source: 'file:b',
    manifestDigest: null,
    created: '2024-06-01T00:00:00Z',
  });
  const after = await request(url);
  expect(after.status).toBe(200);
  expect(sha256(after.body)).toBe(sha256(Buffer.concat([small, custom])));
  expect(after.headers.etag).not.toBe(before.headers.etag);
  const stale = await request(url, { headers: { 'If-None-Match': String(before.headers.etag) } });
  expect(stale.status).toBe(200);
});

test('unknown plugins, versions and files are 404', async () => {
  for (const p of [
    wasmUrlPath('no-such-plugin', '1.0.0'),
    wasmUrlPath('add-header', '9.9.9'),
    '/plugins/add-header/1.0.0/nope.wasm',
    '/plugins/nope/',
  ]) {
    expect((await request(`${nginx.url}${p}`)).status).toBe(404);
  }
});

test.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('%s is 405 everywhere', async (method) => {
  for (const p of [wasmUrlPath('add-header', '1.0.0'), '/plugins/', '/plugins/index.json', '/healthz', '/']) {
    expect((await request(`${nginx.url}${p}`, { method })).status).toBe(405);
  }
});

test('/healthz is 200 "ok" and stays out of the JSON access log', async () => {
  const r = await request(`${nginx.url}/healthz`);
  expect(r.status).toBe(200);
  expect(r.body.toString()).toBe('ok');
  await request(`${nginx.url}/plugins/index.json?marker=access-log`);
  // Nginx writes the log line after the last byte is sent: wait (backing off) until it is there.
  type Entry = { uri: string; status: number; method: string };
  let entries: Entry[] = [];
  for (let delay = 10; delay < 2000; delay *= 2) {
    const lines = fs.readFileSync(path.join(nginx.dir, 'access.log'), 'utf8').trim().split('\n');
    entries = lines.map((l) => JSON.parse(l) as Entry);
    if (entries.some((e) => e.uri.includes('marker=access-log'))) break;
    await new Promise((r) => setTimeout(r, delay));
  }
  expect(
    entries.some((e) => e.uri === '/plugins/index.json?marker=access-log' && e.status === 200 && e.method === 'GET'),
  ).toBe(true);
  // Probes (GET /healthz) are not logged; refused methods on /healthz (405) still are.
  expect(entries.some((e) => e.uri.startsWith('/healthz') && e.method === 'GET')).toBe(false);
});

describe('nothing outside the plugin tree is reachable', () => {
  const attempts = [
    '/secret.txt',
    '/plugins/../secret.txt',
    '/plugins/./../secret.txt',
    '//plugins/../secret.txt',
    '/plugins/%2e%2e/secret.txt',
    '/plugins/%2E%2E%2Fsecret.txt',
    '/plugins/..%2fsecret.txt',
    '/plugins/%252e%252e/secret.txt',
    '/plugins/%252e%252e%252fsecret.txt',
    '/plugins/..%5csecret.txt',
    '/plugins/%5c..%5c..%5csecret.txt',
    '/plugins\\..\\secret.txt',
    '/plugins/..\\secret.txt',
    '/plugins/%2e%2e%5csecret.txt',
    '/plugins/add-header/..;/..;/secret.txt',
    '/plugins/%c0%ae%c0%ae/secret.txt',
    '/plugins/../../../../../../etc/passwd',
    '/plugins/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/plugins/.secret',
    '/plugins/%2esecret',
    '/plugins/add-header/.tmp-3.0.0-abc/plugin.wasm',
    '/plugins/add-header/1.0.0/link.txt',
    '/plugins/outside/secret.txt',
    '/plugins/outside/',
    '/plugins/add-header/1.0.0/plugin.wasm/../../../../secret.txt',
  ];
  test.each(attempts)('%s', async (target) => {
    const r = await rawGet(nginx.port, target);
    expect([400, 403, 404]).toContain(r.status);
    expect(r.text).not.toContain(SECRET);
    expect(r.text).not.toContain('root:x:0:0');
  });
});

describe('listings and index.json list every plugin', () => {
  test('index.json is served as written and every path in it resolves', async () => {
    const r = await request(`${nginx.url}/${PLUGINS_DIR}/${INDEX_FILE}`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['cache-control']).toBe('no-cache');
    const served = JSON.parse(r.body.toString()) as PluginIndex;
    expect(served).toEqual(index);
    for (const e of served.plugins) {
      const w = await request(`${nginx.url}${e.path}`, { method: 'HEAD' });
      expect(w.status).toBe(200);
      expect(Number(w.headers['content-length'])).toBe(e.size);
    }
  });

  test('the HTML listing of /plugins/ links every plugin and hides dotfiles', async () => {
    const r = await request(`${nginx.url}/${PLUGINS_DIR}/`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    const html = r.body.toString();
    for (const name of ['add-header', 'esbuild']) expect(html).toContain(`href="${name}/"`);
    expect(html).toContain(`href="${INDEX_FILE}"`);
    expect(html).not.toContain('.secret');
  });

  test.each([
    ['Accept: application/json', { Accept: 'application/json' }, ''],
    ['?format=json', {}, '?format=json'],
  ])('JSON listing with %s', async (_label, headers: Record<string, string>, query) => {
    const r = await request(`${nginx.url}/${PLUGINS_DIR}/${query}`, { headers });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    const entries = JSON.parse(r.body.toString()) as Array<{ name: string; type: string }>;
    const dirs = entries.filter((e) => e.type === 'directory').map((e) => e.name);
    expect(dirs).toEqual(expect.arrayContaining(['add-header', 'esbuild']));
    expect(entries.some((e) => e.name.startsWith('.'))).toBe(false);
    const versions = JSON.parse(
      (await request(`${nginx.url}/${PLUGINS_DIR}/add-header/${query}`, { headers })).body.toString(),
    ) as Array<{ name: string }>;
    expect(versions.map((v) => v.name).sort()).toEqual(['1.0.0', '2.0.0']);
    const files = JSON.parse(
      (await request(`${nginx.url}/${PLUGINS_DIR}/esbuild/0.25.12/${query}`, { headers })).body.toString(),
    ) as Array<{ name: string; size: number }>;
    expect(files.find((f) => f.name === 'plugin.wasm')?.size).toBe(meta('esbuild', '0.25.12').size);
  });
});
