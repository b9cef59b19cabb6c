/**
 * Each HTTP layer of the OCI client on its own (src/oci/http/), against the real registry and the
 * fault proxy: the transport judges no status, the status layer shows the registry's error body, the
 * auth layer answers one challenge and then sends credentials up front, the retry layer retries whole
 * exchanges (body included) and only transient faults.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AuthManager, tokenFetcher, withAuth } from '../src/oci/http/auth';
import { CredentialStore } from '../src/oci/http/credentials';
import { manifestUrl, blobUrl, pullScope } from '../src/oci/http/endpoint';
import type { Exchange, RegistryRequest, RequestKind } from '../src/oci/http/exchange';
import { withRetry } from '../src/oci/http/retry';
import { createRegistryHttp } from '../src/oci/http/stack';
import { withStatusCheck } from '../src/oci/http/status';
import { createTransport, HttpTransport } from '../src/oci/http/transport';
import { RegistryClient } from '../src/oci/registry/client';
import { FaultProxy, startFaultProxy } from './support/fault-proxy';
import { pushWasmArtifact, Pushed, Registry, sha256, startRegistry } from './support/registry';
import { smallWasm } from './support/wasm';

// eslint-disable-next-line no-control-regex -- what the test looks for
const CONTROL_CHARS = /[\u0000-\u001f]/;

let reg: Registry;
let basicReg: Registry;
let proxy: FaultProxy;
let small: Buffer;
let plain: Pushed;
let guarded: Pushed;
let tmp: string;
const transports: HttpTransport[] = [];
const requests: Array<{ kind: RequestKind; url: string }> = [];

beforeAll(async () => {
  [reg, basicReg, small] = await Promise.all([
    startRegistry(),
    startRegistry({ auth: 'htpasswd' }),
    smallWasm().then((p) => fs.readFileSync(p)),
  ]);
  proxy = await startFaultProxy(reg.url);
  plain = await pushWasmArtifact(reg, 'plugins/layers', '1.0.0', small);
  guarded = await pushWasmArtifact(basicReg, 'plugins/guarded', '1.0.0', small);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-layers-'));
});

afterAll(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await proxy?.stop();
  await Promise.all([reg?.stop(), basicReg?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  proxy.clear();
  requests.length = 0;
});

function transport(timeoutMs = 5000): Exchange {
  const t = createTransport({ timeoutMs, onRequest: (kind, url) => requests.push({ kind, url }) });
  transports.push(t);
  return t.exchange;
}

const viaProxy = (p: Pushed) => ({ ...p.ref, registry: proxy.host });
const get = (url: string, registry: string, repository: string, kind: RequestKind = 'manifest'): RegistryRequest => ({
  kind,
  method: 'GET',
  url,
  registry,
  scope: `repository:${repository}:pull`,
  accept: 'application/vnd.oci.image.manifest.v1+json',
});
const text = async (res: { body: AsyncIterable<unknown> }) => {
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as Error & { code: string; transient?: boolean; toLine(): string },
  );

describe('transport', () => {
  test('passes every status to the reader, with the body', async () => {
    const url = manifestUrl(reg.ref('plugins/layers', 'no-such-tag'));
    const got = await transport()(get(url, reg.host, 'plugins/layers'), async (res) => ({
      status: res.status,
      body: await text(res),
    }));
    expect(got.status).toBe(404);
    expect(JSON.parse(got.body)).toMatchObject({ errors: [{ code: 'MANIFEST_UNKNOWN' }] });
    expect(requests).toEqual([{ kind: 'manifest', url }]);
  });

  test('a stalled response becomes E_REGISTRY_TIMEOUT, nothing listening E_REGISTRY_CONNECTION; both transient', async () => {
    proxy.add({ path: /\/manifests\//, delayMs: 5000 });
    const stalled = await failure(
      transport(150)(get(manifestUrl(viaProxy(plain)), proxy.host, 'plugins/layers'), text),
    );
    expect(stalled).toMatchObject({ code: 'E_REGISTRY_TIMEOUT', transient: true });
    const down = await failure(transport()(get('http://127.0.0.1:1/v2/', '127.0.0.1:1', 'x'), text));
    expect(down).toMatchObject({ code: 'E_REGISTRY_CONNECTION' });
  });

  test('a body that breaks off mid-stream fails the reader with a connection error', async () => {
    proxy.add({ path: /\/blobs\//, truncateTo: 100, keepLength: true });
    const url = blobUrl(viaProxy(plain), plain.wasmLayer.digest);
    const err = await failure(transport()(get(url, proxy.host, 'plugins/layers', 'blob'), text));
    expect(err).toMatchObject({ code: 'E_REGISTRY_CONNECTION', transient: true });
  });
});

describe('status layer', () => {
  test("a 404 carries the registry's error body", async () => {
    const url = manifestUrl(reg.ref('plugins/layers', 'no-such-tag'));
    const err = await failure(withStatusCheck(transport())(get(url, reg.host, 'plugins/layers'), text));
    expect(err).toMatchObject({ name: 'RegistryError', code: 'E_REGISTRY_NOT_FOUND', transient: false });
    expect(err.toLine()).toMatch(
      /^manifest not found \(404\) at http:\/\/127\.0\.0\.1:\d+\/v2\/plugins\/layers\/manifests\/no-such-tag: registry says MANIFEST_UNKNOWN: manifest unknown, detail: \{"Tag":"no-such-tag"\} \(check the repository and tag\)$/,
    );
  });

  test('an unknown blob names BLOB_UNKNOWN; a HEAD has no body to show', async () => {
    const url = blobUrl(reg.ref('plugins/layers'), sha256('not pushed'));
    const blob = await failure(withStatusCheck(transport())(get(url, reg.host, 'plugins/layers', 'blob'), text));
    expect(blob.message).toMatch(/blob not found \(404\) .*: registry says BLOB_UNKNOWN: blob unknown to registry/);
    const head = await failure(
      withStatusCheck(transport())({ ...get(url, reg.host, 'plugins/layers', 'blob'), method: 'HEAD' }, text),
    );
    expect(head.message).toBe(`blob not found (404) at ${url}`);
  });

  test('hostile error text stays on one escaped, bounded line', async () => {
    const message = `\u001b[2J\u001b[31mpwned\nerror: everything is fine${'!'.repeat(2000)}`;
    proxy.add({ path: /\/manifests\//, status: 500, body: JSON.stringify({ errors: [{ code: 'UNKNOWN', message }] }) });
    const err = await failure(
      withStatusCheck(transport())(get(manifestUrl(viaProxy(plain)), proxy.host, 'plugins/layers'), text),
    );
    const line = err.toLine();
    expect(line).not.toMatch(CONTROL_CHARS);
    expect(line).toContain('registry says UNKNOWN: \\u001b[2J\\u001b[31mpwned\\nerror: everything is fine!!!');
    expect(line).toMatch(/!… \(the registry is failing: retry later\)$/);
    expect(line.length).toBeLessThan(500);
  });

  test('only 2xx reaches the reader', async () => {
    const read = jest.fn(() => Promise.resolve('read'));
    await failure(
      withStatusCheck(transport())(
        get(manifestUrl(reg.ref('plugins/layers', 'gone')), reg.host, 'plugins/layers'),
        read,
      ),
    );
    expect(read).not.toHaveBeenCalled();
    expect(await withStatusCheck(transport())(get(manifestUrl(plain.ref), reg.host, 'plugins/layers'), read)).toBe(
      'read',
    );
  });
});

describe('auth layer', () => {
  const configFile = (password: string) => {
    const file = path.join(fs.mkdtempSync(path.join(tmp, 'cfg-')), 'config.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        auths: { [basicReg.host]: { auth: Buffer.from(`${basicReg.username}:${password}`).toString('base64') } },
      }),
    );
    return file;
  };
  const authed = (password: string) => {
    const base = transport();
    const manager = new AuthManager(new CredentialStore(configFile(password), {}), [], tokenFetcher(base));
    return withStatusCheck(withAuth(base, manager));
  };
  const req = () => get(manifestUrl(guarded.ref), basicReg.host, 'plugins/guarded');

  test('answers the first 401 with credentials, then sends them up front', async () => {
    const exchange = authed(basicReg.password);
    expect(await exchange(req(), (res) => Promise.resolve(res.status))).toBe(200);
    expect(requests).toHaveLength(2); // challenge + retry with credentials
    expect(await exchange(req(), (res) => Promise.resolve(res.status))).toBe(200);
    expect(requests).toHaveLength(3); // the host's scheme is known now: one request
  });

  test("rejected credentials: one retry, then an auth error with the registry's words", async () => {
    const err = await failure(authed('wrong')(req(), text));
    expect(err).toMatchObject({ code: 'E_REGISTRY_AUTH', transient: false });
    expect(err.toLine()).toMatch(
      /^access denied \(401\) to http:.*manifests\/1\.0\.0: registry says UNAUTHORIZED: authentication required, detail: \[\{"Type":"repository".*"Action":"pull"\}\] \(check credentials in ~\/\.docker\/config\.json/,
    );
    expect(requests).toHaveLength(2);
  });

  test('without credentials: no second request, and the registry says why', async () => {
    const base = transport();
    const manager = new AuthManager(new CredentialStore(path.join(tmp, 'none.json'), {}), [], tokenFetcher(base));
    const err = await failure(withAuth(base, manager)(req(), text));
    expect(err.toLine()).toMatch(
      /^unauthorized: authentication required and no credentials found for .*: registry says UNAUTHORIZED: authentication required/,
    );
    expect(requests).toHaveLength(1);
  });
});

describe('retry layer', () => {
  const retrying = (attempts: number) => withRetry(withStatusCheck(transport()), { attempts, baseMs: 1 });

  test('transient statuses are retried up to the attempt count', async () => {
    proxy.add({ path: /\/manifests\//, status: 503, times: 2 });
    expect(
      await retrying(3)(get(manifestUrl(viaProxy(plain)), proxy.host, 'plugins/layers'), (res) =>
        Promise.resolve(res.status),
      ),
    ).toBe(200);
    expect(requests).toHaveLength(3);
    proxy.add({ path: /\/manifests\//, status: 503 });
    expect(
      await failure(retrying(2)(get(manifestUrl(viaProxy(plain)), proxy.host, 'plugins/layers'), text)),
    ).toMatchObject({ code: 'E_REGISTRY_SERVER' });
    expect(requests).toHaveLength(5);
  });

  test('a permanent failure is not retried', async () => {
    await failure(
      retrying(4)(get(manifestUrl(reg.ref('plugins/layers', 'missing')), reg.host, 'plugins/layers'), text),
    );
    expect(requests).toHaveLength(1);
  });

  test('the whole exchange is retried: a body cut off mid-stream is read again', async () => {
    proxy.add({ path: /\/blobs\//, truncateTo: 100, keepLength: true, times: 1 });
    const url = blobUrl(viaProxy(plain), plain.wasmLayer.digest);
    const bytes = await retrying(2)(get(url, proxy.host, 'plugins/layers', 'blob'), async (res) => {
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    });
    expect(sha256(bytes)).toBe(plain.wasmLayer.digest);
    expect(requests).toHaveLength(2);
  });

  test("an error of the reader's own (not the registry's) passes through unretried", async () => {
    let calls = 0;
    const err = await failure(
      retrying(3)(get(manifestUrl(plain.ref), reg.host, 'plugins/layers'), () => {
        calls++;
        return Promise.reject(new Error('reader bug'));
      }),
    );
    expect(err.message).toBe('reader bug');
    expect(calls).toBe(1);
  });
});

test('the assembled stack and the generic registry client: resolve and a verified manifest, no Wasm knowledge needed', async () => {
  const http = createRegistryHttp({
    insecureHosts: [],
    timeoutMs: 5000,
    attempts: 2,
    retryBaseMs: 1,
    onRequest: (kind, url) => requests.push({ kind, url }),
  });
  const client = new RegistryClient(http.exchange, []);
  proxy.add({ path: /\/manifests\//, status: 502, times: 1 });
  const ref = viaProxy(plain);
  expect((await client.resolve(ref)).digest).toBe(plain.manifestDigest);
  const got = await client.manifest(ref, plain.manifestDigest);
  expect(got.manifest.kind).toBe('manifest');
  expect(requests.map((r) => r.kind)).toEqual(['manifest', 'manifest', 'manifest']);
  expect(pullScope(ref)).toBe('repository:plugins/layers:pull');
  await http.close();
});
