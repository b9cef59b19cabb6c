/**
 * Failure modes of the OCI client, each against the real registry: damaged storage (the registry
 * serves what is on disk), and faults injected by a small proxy in front of it (status codes,
 * stalls, dropped connections, truncated or corrupted bodies).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createOciClient } from '../src/oci/client';
import type { OciClientOptions } from '../src/oci/types';
import { FaultProxy, startFaultProxy } from './support/fault-proxy';
import {
  corruptBlob,
  MEDIA,
  pushBlob,
  pushManifest,
  pushOciImage,
  pushWasmArtifact,
  Pushed,
  Registry,
  sha256,
  startRegistry,
} from './support/registry';
import { smallWasm } from './support/wasm';
import { freePort } from './support/ports';

let reg: Registry;
let proxy: FaultProxy;
let small: Buffer;
let tmp: string;
let plain: Pushed;
const hex = (b: Buffer) => sha256(b).slice(7);

beforeAll(async () => {
  [reg, small] = await Promise.all([startRegistry(), smallWasm().then((p) => fs.readFileSync(p))]);
  proxy = await startFaultProxy(reg.url);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-faults-'));
  plain = await pushWasmArtifact(reg, 'plugins/request-block', '2.0.0', small);
});

afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => proxy.clear());

const dir = () => fs.mkdtempSync(path.join(tmp, 'pull-'));
const viaProxy = (p: Pushed) => ({ ...p.ref, registry: proxy.host });
const fast = (extra: OciClientOptions = {}) => createOciClient({ retries: 3, retryBaseMs: 1, ...extra });
const hits = (re: RegExp) => proxy.log.filter((l) => re.test(l.path)).length;

async function failure(p: Promise<unknown>): Promise<Error & { code: string; transient?: boolean; toLine(): string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!err) throw new Error('expected a failure');
  return err as Error & { code: string; transient?: boolean; toLine(): string };
}

describe('server errors and retries', () => {
  test('500 on every attempt: retried, then a transient RegistryError', async () => {
    proxy.add({ path: /\/manifests\//, status: 500 });
    const client = fast();
    const err = await failure(client.fetch(viaProxy(plain), dir()));
    expect(err).toMatchObject({ name: 'RegistryError', code: 'E_REGISTRY_SERVER', transient: true });
    // The registry's own error body is part of the line.
    expect(err.toLine()).toMatch(
      /registry error 500 for http:\/\/127\.0\.0\.1:\d+\/v2\/plugins\/request-block\/manifests\/2\.0\.0: registry says FAULT \(the registry is failing: retry later\)/,
    );
    expect(hits(/\/manifests\//)).toBe(3);
    await client.close();
  });

  test('503 twice then OK: succeeds on the third attempt', async () => {
    proxy.add({ path: /\/manifests\//, status: 503, times: 2 });
    proxy.add({ path: /\/blobs\//, status: 502, times: 1 });
    const client = fast();
    const got = await client.fetch(viaProxy(plain), dir());
    expect(got.sha256).toBe(hex(small));
    expect(hits(/\/manifests\//)).toBe(3);
    await client.close();
  });

  test('429 with Retry-After is retried', async () => {
    proxy.add({ path: /\/manifests\//, status: 429, times: 1, headers: { 'retry-after': '0' } });
    const client = fast();
    expect((await client.resolve(viaProxy(plain))).digest).toBe(plain.manifestDigest);
    expect(hits(/\/manifests\//)).toBe(2);
    await client.close();
  });

  test('501 is not retried', async () => {
    proxy.add({ path: /\/manifests\//, status: 501 });
    const client = fast();
    expect(await failure(client.resolve(viaProxy(plain)))).toMatchObject({
      code: 'E_REGISTRY_SERVER',
      transient: false,
    });
    expect(hits(/\/manifests\//)).toBe(1);
    await client.close();
  });

  test('a stalled response times out (per attempt) and is retried', async () => {
    proxy.add({ path: /\/manifests\//, delayMs: 5000 });
    const client = fast({ timeoutMs: 150, retries: 2 });
    const err = await failure(client.resolve(viaProxy(plain)));
    expect(err).toMatchObject({ code: 'E_REGISTRY_TIMEOUT', transient: true });
    expect(err.message).toMatch(/no response from .* within 150 ms/);
    expect(hits(/\/manifests\//)).toBe(2);
    await client.close();
  });

  test('a dropped connection is retried', async () => {
    proxy.add({ path: /\/blobs\//, drop: true, times: 1 });
    const client = fast();
    expect((await client.fetch(viaProxy(plain), dir())).sha256).toBe(hex(small));
    await client.close();
  });

  test('a connection dropped mid-body on every attempt fails as a connection error', async () => {
    proxy.add({ path: /\/blobs\/sha256:/, truncateTo: 100, keepLength: true });
    const client = fast({ retries: 2 });
    const d = dir();
    const err = await failure(client.fetch(viaProxy(plain), d));
    expect(err).toMatchObject({ code: 'E_REGISTRY_CONNECTION', transient: true });
    expect(fs.readdirSync(d)).toEqual([]);
    await client.close();
  });

  test('nothing listening: connection error naming the URL', async () => {
    const client = fast({ retries: 1 });
    const port = await freePort();
    const err = await failure(client.resolve({ registry: `127.0.0.1:${port}`, repository: 'plugins/x', tag: '1' }));
    expect(err).toMatchObject({ code: 'E_REGISTRY_CONNECTION', transient: true });
    expect(err.message).toBe(`connection to http://127.0.0.1:${port}/v2/plugins/x/manifests/1 failed (ECONNREFUSED)`);
    await client.close();
  });

  test('a port the fetch standard blocks is named as such and not retried', async () => {
    const requests: string[] = [];
    const client = fast({ retries: 3, onRequest: (_kind, url) => requests.push(url) });
    const err = await failure(client.resolve({ registry: '127.0.0.1:9', repository: 'plugins/x', tag: '1' }));
    expect(err).toMatchObject({ code: 'E_REGISTRY_CONNECTION', transient: false });
    expect(err.message).toMatch(/port 9 is on the fetch standard's list of blocked ports/);
    expect(requests).toHaveLength(1);
    await client.close();
  });

  test('a caller abort is not retried', async () => {
    proxy.add({ path: /\/manifests\//, delayMs: 5000 });
    const client = fast();
    const ac = new AbortController();
    const p = client.resolve(viaProxy(plain), ac.signal);
    // Abort once the request is at the proxy (a fixed delay can fire before it arrives on a busy machine).
    const arrived = setInterval(() => {
      if (hits(/\/manifests\//) > 0) {
        clearInterval(arrived);
        ac.abort(new Error('cancelled by caller'));
      }
    }, 10);
    await expect(p).rejects.toThrow('cancelled by caller');
    expect(hits(/\/manifests\//)).toBe(1);
    await client.close();
  });
});

describe('integrity', () => {
  test('blob digest mismatch (stored bytes changed): IntegrityError, nothing left behind', async () => {
    const p = await pushWasmArtifact(reg, 'plugins/corrupt-blob', '1.0.0', Buffer.concat([small, Buffer.from('x')]));
    corruptBlob(reg, p.wasmLayer.digest);
    const d = dir();
    const client = fast();
    const err = await failure(client.fetch(p.ref, d));
    expect(err).toMatchObject({ name: 'IntegrityError', code: 'E_DIGEST_MISMATCH' });
    expect(err.toLine()).toContain(`expected ${p.wasmLayer.digest}`);
    expect(fs.readdirSync(d)).toEqual([]);
    await client.close();
  });

  test('blob corrupted in transit', async () => {
    proxy.add({ path: /\/blobs\/sha256:/, corrupt: true });
    const client = fast();
    expect(await failure(client.fetch(viaProxy(plain), dir()))).toMatchObject({ code: 'E_DIGEST_MISMATCH' });
    await client.close();
  });

  test('manifest digest mismatch: stored manifest changed under its digest', async () => {
    const p = await pushWasmArtifact(reg, 'plugins/corrupt-manifest', '1.0.0', small, {
      annotations: { note: 'original' },
    });
    corruptBlob(reg, p.manifestDigest, (b) => Buffer.from(b.toString('utf8').replace('original', 'tampered')));
    const client = fast();
    const err = await failure(client.fetch(p.ref, dir()));
    expect(err).toMatchObject({ name: 'IntegrityError', code: 'E_DIGEST_MISMATCH' });
    // Pinned by digest, the same tampering is caught without trusting any header.
    expect(await failure(client.fetch({ ...p.ref, tag: undefined, digest: p.manifestDigest }, dir()))).toMatchObject({
      code: 'E_DIGEST_MISMATCH',
    });
    await client.close();
  });

  test('manifest corrupted in transit', async () => {
    proxy.add({ path: /\/manifests\//, method: 'GET', corrupt: true });
    const client = fast();
    expect(await failure(client.fetch(viaProxy(plain), dir()))).toMatchObject({ code: 'E_DIGEST_MISMATCH' });
    await client.close();
  });

  test('truncated blob (short body with a matching Content-Length)', async () => {
    proxy.add({ path: /\/blobs\/sha256:/, truncateTo: 1000 });
    const client = fast();
    const err = await failure(client.fetch(viaProxy(plain), dir()));
    expect(err).toMatchObject({ name: 'IntegrityError', code: 'E_TRUNCATED' });
    expect(err.message).toMatch(new RegExp(`got 1000 of ${small.length} bytes`));
    await client.close();
  });

  test('truncated blob in storage', async () => {
    const p = await pushWasmArtifact(reg, 'plugins/short-blob', '1.0.0', Buffer.concat([small, Buffer.from('yy')]));
    corruptBlob(reg, p.wasmLayer.digest, (b) => b.subarray(0, b.length - 10));
    const client = fast();
    expect(await failure(client.fetch(p.ref, dir()))).toMatchObject({ code: 'E_TRUNCATED' });
    await client.close();
  });

  test('oversize: descriptor over maxBytes is refused before any blob request', async () => {
    const seen: string[] = [];
    const client = fast({ maxBytes: 1000, onRequest: (k) => seen.push(k) });
    const err = await failure(client.fetch(plain.ref, dir()));
    expect(err).toMatchObject({ name: 'IntegrityError', code: 'E_OVERSIZE' });
    expect(err.toLine()).toMatch(/over the 1000-byte limit \(the gateway refuses plugins over 256 MiB/);
    expect(seen.filter((k) => k === 'blob')).toHaveLength(0);
    await client.close();
  });

  test('oversize: a descriptor that under-states the size is caught while streaming', async () => {
    const repo = 'plugins/lying-size';
    const config = await pushBlob(reg, repo, Buffer.from('{}'), MEDIA.wasmConfig);
    const layer = await pushBlob(reg, repo, small, MEDIA.wasmLayer);
    await pushManifest(
      reg,
      repo,
      '1.0.0',
      { schemaVersion: 2, mediaType: MEDIA.ociManifest, config, layers: [{ ...layer, size: 500 }] },
      MEDIA.ociManifest,
    );
    const client = fast();
    const d = dir();
    expect(await failure(client.fetch(reg.ref(repo, '1.0.0'), d))).toMatchObject({
      name: 'IntegrityError',
      code: 'E_SIZE_MISMATCH',
    });
    expect(fs.readdirSync(d)).toEqual([]);
    // Under the limit by descriptor but not by Content-Length: refused before reading the body.
    const limited = fast({ maxBytes: 1000 });
    expect(await failure(limited.fetch(reg.ref(repo, '1.0.0'), d))).toMatchObject({ code: 'E_OVERSIZE' });
    await Promise.all([client.close(), limited.close()]);
  });
});

describe('artifact shape', () => {
  test('a tar layer without plugin.wasm', async () => {
    const p = await pushOciImage(reg, 'plugins/no-wasm', '1.0.0', small, {
      files: { 'main.wasm.txt': Buffer.from('nope') },
    });
    const client = fast();
    const err = await failure(client.fetch(p.ref, dir()));
    expect(err).toMatchObject({ name: 'IntegrityError', code: 'E_ARTIFACT_NO_WASM' });
    expect(err.toLine()).toMatch(/no plugin\.wasm in the tar layers of .*plugins\/no-wasm/);
    await client.close();
  });

  test('a tar+gzip layer that is not a tar', async () => {
    const p = await pushOciImage(reg, 'plugins/not-tar', '1.0.0', small, {
      layerBytes: Buffer.from('this is not a tarball at all, not even gzip'.repeat(20)),
    });
    const client = fast();
    expect(await failure(client.fetch(p.ref, dir()))).toMatchObject({ name: 'IntegrityError', code: 'E_LAYER_FORMAT' });
    await client.close();
  });

  test('a manifest with no wasm layer at all', async () => {
    const repo = 'plugins/docs-only';
    const config = await pushBlob(reg, repo, Buffer.from('{}'), MEDIA.wasmConfig);
    const readme = await pushBlob(reg, repo, Buffer.from('# docs'), 'application/vnd.module.wasm.doc.v1+markdown');
    await pushManifest(
      reg,
      repo,
      '1.0.0',
      { schemaVersion: 2, mediaType: MEDIA.ociManifest, config, layers: [readme] },
      MEDIA.ociManifest,
    );
    const client = fast();
    const err = await failure(client.fetch(reg.ref(repo, '1.0.0'), dir()));
    expect(err).toMatchObject({ code: 'E_ARTIFACT_NO_WASM' });
    expect(err.message).toContain('application/vnd.module.wasm.doc.v1+markdown');
    await client.close();
  });
});

describe('transport security', () => {
  // 0.0.0.0 reaches the loopback-bound registry but is not a loopback name: the client must insist on HTTPS.
  test('plain HTTP is refused for a non-loopback host unless it is marked insecure', async () => {
    const port = reg.host.split(':')[1];
    const ref = { ...plain.ref, registry: `0.0.0.0:${port}` };
    const client = fast();
    const err = await failure(client.resolve(ref));
    expect(err).toMatchObject({ name: 'RegistryError', code: 'E_REGISTRY_TLS', transient: false });
    expect(err.toLine()).toMatch(/https:\/\/0\.0\.0\.0:\d+.*list it as an insecure host/);
    await client.close();
    const insecure = fast({ insecureHosts: [`0.0.0.0:${port}`] });
    expect((await insecure.resolve(ref)).digest).toBe(plain.manifestDigest);
    await insecure.close();
  });
});
