/**
 * The gateway's contract, checked with the gateway's own code: Istio's pkg/wasm (what Higress's
 * pilot-agent runs) fetches every plugin of index.json from the real Nginx on image/nginx.conf, asking
 * for gzip, decoding it and checking the sha256 the index (and `wasmplugins`) promise. Wrong sha256, a
 * 404 and a non-wasm body must fail with Istio's own errors: a fetch that cannot fail proves nothing.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { publishVersion, writeIndex } from '../src/tree/publish';
import type { PluginIndex } from '../src/contract/tree-format';
import { gatewayFetch } from './support/gateway-client';
import { startNginx, RunningNginx } from './support/nginx';
import { largeWasm, smallWasm } from './support/wasm';

const CREATED = '2026-01-02T03:04:05Z';
let root: string;
let nginx: RunningNginx | undefined;
let index: PluginIndex;
let finished = false;

// Compiling the small module and gzip -9 of a 12 MB one take a while on a loaded machine.
beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-gateway-fetch-'));
  const small = await smallWasm();
  await publishVersion(root, {
    name: 'add-header',
    version: '1.0.0',
    wasmPath: small,
    source: 'file:add-header.wasm@1.0.0',
    manifestDigest: null,
    created: CREATED,
  });
  await publishVersion(root, {
    name: 'add-header',
    version: '0.9.0',
    wasmPath: small,
    source: 'file:add-header.wasm@1.0.0',
    manifestDigest: null,
    created: CREATED,
    aliasOf: '1.0.0',
  });
  // A 12 MB Go-compiled module: the size class of Higress's largest plugins.
  await publishVersion(root, {
    name: 'big',
    version: '2.0.0',
    wasmPath: largeWasm(),
    source: 'file:big.wasm@2.0.0',
    manifestDigest: null,
    created: CREATED,
  });
  // A file that is served like a plugin but is not Wasm (the pipeline would refuse it; the server need not).
  fs.mkdirSync(path.join(root, 'plugins', 'not-wasm', '1.0.0'), { recursive: true });
  fs.writeFileSync(path.join(root, 'plugins', 'not-wasm', '1.0.0', 'plugin.wasm'), '<html>gateway error page</html>\n');
  await writeIndex(root);
  const started = await startNginx(root);
  // afterAll already ran (this hook timed out): stop what it could not see.
  if (finished) return started.stop();
  nginx = started;
  index = JSON.parse(fs.readFileSync(path.join(root, 'plugins', 'index.json'), 'utf8'));
}, 300_000);

afterAll(async () => {
  finished = true;
  await nginx?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

function accessLog(): Array<{ uri: string; status: number; content_encoding: string; body_bytes_sent: number }> {
  return fs
    .readFileSync(path.join(nginx!.dir, 'access.log'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}

test('every plugin of index.json, fetched by Istio with the index sha256, passes; gzip was sent and decoded', async () => {
  expect(index.plugins.map((p) => `${p.name}@${p.version}`)).toEqual([
    'add-header@0.9.0',
    'add-header@1.0.0',
    'big@2.0.0',
  ]);
  const run = await gatewayFetch(index.plugins.map((p) => ({ url: `${nginx!.url}${p.path}`, sha256: p.sha256 })));
  expect(run.results.map((r) => ({ url: r.url, ok: r.ok, error: r.error, bytes: r.bytes }))).toEqual(
    index.plugins.map((p) => ({ url: `${nginx!.url}${p.path}`, ok: true, error: undefined, bytes: p.size })),
  );
  expect(run.code).toBe(0);
  // Nginx answered each fetch with the static .gz (smaller than the module): the sha256 Istio checked
  // was of the decoded bytes, which is the contract the index promises.
  const fetched = accessLog().filter((l) => l.uri.endsWith('/plugin.wasm'));
  expect(fetched).toHaveLength(index.plugins.length);
  for (const line of fetched) {
    const entry = index.plugins.find((p) => line.uri === p.path)!;
    expect(line).toMatchObject({ status: 200, content_encoding: 'gzip' });
    expect(line.body_bytes_sent).toBeLessThan(entry.size);
  }
});

test("with gzip_static off (the chart's gzip.enabled=false) the same fetches pass on plain bytes", async () => {
  const plain = await startNginx(root, { gzipStatic: false });
  try {
    const run = await gatewayFetch(index.plugins.map((p) => ({ url: `${plain.url}${p.path}`, sha256: p.sha256 })));
    expect(run.results.map((r) => ({ ok: r.ok, error: r.error, bytes: r.bytes }))).toEqual(
      index.plugins.map((p) => ({ ok: true, error: undefined, bytes: p.size })),
    );
    expect(run.code).toBe(0);
    // The gateway asked for gzip as always; Nginx sent plugin.wasm itself, the module's exact size.
    const log = fs
      .readFileSync(path.join(plain.dir, 'access.log'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { uri: string; status: number; content_encoding: string; body_bytes_sent: number })
      .filter((l) => l.uri.endsWith('/plugin.wasm'));
    expect(log.map((l) => [l.uri, l.status, l.content_encoding, l.body_bytes_sent])).toEqual(
      index.plugins.map((p) => [p.path, 200, '', p.size]),
    );
  } finally {
    await plain.stop();
  }
});

test("a wrong sha256 fails with Istio's checksum error naming both sums", async () => {
  const entry = index.plugins.find((p) => p.name === 'big')!;
  const wrong = crypto.createHash('sha256').update('not the module').digest('hex');
  const url = `${nginx!.url}${entry.path}`;
  const run = await gatewayFetch([{ url, sha256: wrong }]);
  expect(run.code).toBe(1);
  expect(run.results[0].ok).toBe(false);
  expect(run.results[0].error).toBe(
    `module downloaded from ${url} has checksum ${entry.sha256}, which does not match: ${wrong}`,
  );
});

test("a 404 fails after one attempt with Istio's download error (4xx is not retried)", async () => {
  const url = `${nginx!.url}/plugins/missing/1.0.0/plugin.wasm`;
  const run = await gatewayFetch([{ url, sha256: 'a'.repeat(64) }]);
  expect(run.code).toBe(1);
  expect(run.results[0].error).toBe(
    'wasm module download failed after 1 attempts, last error: wasm module download request failed: status code 404',
  );
});

test("a body that is not Wasm fails Istio's magic-number check, with and without a sha256", async () => {
  const url = `${nginx!.url}/plugins/not-wasm/1.0.0/plugin.wasm`;
  const body = fs.readFileSync(path.join(root, 'plugins', 'not-wasm', '1.0.0', 'plugin.wasm'));
  const sha = crypto.createHash('sha256').update(body).digest('hex');
  const run = await gatewayFetch([{ url, sha256: sha }, { url }]);
  expect(run.code).toBe(1);
  expect(run.results.map((r) => r.error)).toEqual([
    `fetched Wasm binary from ${url} is invalid`,
    `fetched Wasm binary from ${url} is invalid`,
  ]);
});

test('a server that refuses connections is retried up to the attempt limit, then fails', async () => {
  // Nginx's port once stopped is a port nobody listens on; a second Nginx keeps the first one's tree.
  const gone = await startNginx(root);
  const url = `${gone.url}/plugins/add-header/1.0.0/plugin.wasm`;
  await gone.stop();
  const run = await gatewayFetch([{ url }], { retries: 2 });
  expect(run.code).toBe(1);
  expect(run.results[0].error).toMatch(
    /^wasm module download failed after 2 attempts, last error: .*connection refused/,
  );
});
