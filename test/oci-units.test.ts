/** Pure parts of the OCI client: scheme rules, challenges, credentials, manifest rules, retry maths. */
import * as fs from 'fs';
import * as path from 'path';
import { parseChallenge } from '../src/oci/http/challenge';
import { credentialsFromDockerConfig } from '../src/oci/http/credentials';
import { allowsPlainHttp, baseUrl, hostName, isLoopback } from '../src/oci/http/endpoint';
import { backoffMs } from '../src/oci/http/retry';
import { parseRetryAfter, statusError } from '../src/oci/http/status';
import { parseManifest } from '../src/oci/registry/media';
import { normaliseCreated } from '../src/oci/wasm/created';
import { selectPlatform, selectWasmLayers } from '../src/oci/wasm/layers';

const D = (n: string) => `sha256:${n.repeat(64).slice(0, 64)}`;

describe('endpoint', () => {
  test.each([
    ['127.0.0.1:5000', true],
    ['127.1.2.3', true],
    ['localhost:5000', true],
    ['[::1]:5000', true],
    ['::1', true],
    ['0.0.0.0:5000', false],
    ['10.0.0.1:5000', false],
    ['registry.example.com', false],
    ['localhost.example.com', false],
  ])('isLoopback(%s) = %s', (host, want) => expect(isLoopback(host)).toBe(want));

  test('https by default, http for loopback and listed insecure hosts', () => {
    expect(baseUrl('higress-registry.cn-hangzhou.cr.aliyuncs.com')).toBe(
      'https://higress-registry.cn-hangzhou.cr.aliyuncs.com',
    );
    expect(baseUrl('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
    expect(allowsPlainHttp('mirror.local:5000', ['mirror.local'])).toBe(true);
    expect(allowsPlainHttp('mirror.local:5000', ['mirror.local:5000'])).toBe(true);
    expect(allowsPlainHttp('mirror.local:5000', ['other.local'])).toBe(false);
    expect(hostName('[::1]:5000')).toBe('::1');
  });
});

describe('challenge', () => {
  test('bearer with quoted params', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
      ),
    ).toEqual({
      scheme: 'bearer',
      name: 'Bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
    });
  });
  test('basic, and unknown schemes', () => {
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({
      scheme: 'basic',
      name: 'Basic',
      params: { realm: 'Registry Realm' },
    });
    // Unsupported schemes are returned by name so the error can say which (and no credentials are sent).
    expect(parseChallenge('Negotiate abc')).toMatchObject({ scheme: 'negotiate', name: 'Negotiate' });
    expect(parseChallenge('Negotiate, Basic realm="x"')).toMatchObject({ scheme: 'basic', params: { realm: 'x' } });
    expect(parseChallenge('Digest realm="a", nonce="b", Bearer realm="https://t",service="s"')).toMatchObject({
      scheme: 'bearer',
      params: { realm: 'https://t', service: 's' },
    });
    expect(parseChallenge(null)).toBeUndefined();
  });
});

describe('docker config credentials', () => {
  const auth = Buffer.from('user:pa:ss').toString('base64');
  test('keys with scheme and path match the host; password may contain colons', () => {
    expect(
      credentialsFromDockerConfig(
        { auths: { 'https://reg.example:5000/v1/': { auth } } },
        'reg.example:5000',
        'c.json',
      ),
    ).toEqual({ username: 'user', password: 'pa:ss' });
    expect(
      credentialsFromDockerConfig({ auths: { 'reg.example': { auth } } }, 'other.example', 'c.json'),
    ).toBeUndefined();
  });
  test('a broken auth entry is an input error naming the file', () => {
    expect(() =>
      credentialsFromDockerConfig(
        { auths: { 'reg.example': { auth: Buffer.from('nocolon').toString('base64') } } },
        'reg.example',
        '/x/config.json',
      ),
    ).toThrow(expect.objectContaining({ code: 'E_DOCKER_CONFIG', context: { file: '/x/config.json' } }));
  });
});

describe('manifest rules', () => {
  test('index without linux/amd64 and several entries is refused with what it has', () => {
    const index = parseManifest(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: D('a'),
              size: 10,
              platform: { os: 'linux', architecture: 'arm64' },
            },
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: D('b'),
              size: 10,
              platform: { os: 'linux', architecture: 's390x' },
            },
          ],
        }),
      ),
      null,
      'u',
    );
    expect(index.kind).toBe('index');
    expect(() => selectPlatform(index as never, 'u')).toThrow(
      /no linux\/amd64 entry \(has linux\/arm64, linux\/s390x\)/,
    );
  });

  test('schema 1 and non-JSON manifests are refused', () => {
    expect(() => parseManifest(Buffer.from('{"schemaVersion":1}'), null, 'u')).toThrow(
      /schemaVersion 1 is not supported/,
    );
    expect(() => parseManifest(Buffer.from('<html>'), null, 'u')).toThrow(/not JSON/);
  });

  test('raw wasm layer wins over tar layers; tar layers are tried last first', () => {
    const l = (mediaType: string, c: string) => ({ mediaType, digest: D(c), size: 1 });
    const tarA = l('application/vnd.oci.image.layer.v1.tar+gzip', 'a');
    const tarB = l('application/vnd.docker.image.rootfs.diff.tar.gzip', 'b');
    const raw = l('application/vnd.module.wasm.content.layer.v1+wasm', 'c');
    expect(selectWasmLayers({ kind: 'manifest', mediaType: '', layers: [tarA, raw] }, 'u')).toEqual({
      kind: 'raw',
      layer: raw,
    });
    expect(selectWasmLayers({ kind: 'manifest', mediaType: '', layers: [tarA, tarB] }, 'u')).toEqual({
      kind: 'tar',
      layers: [tarB, tarA],
    });
  });

  test.each([
    ['2024-05-06T07:08:09Z', '2024-05-06T07:08:09Z'],
    ['2024-05-06T07:08:09.5+02:00', '2024-05-06T05:08:09.500Z'],
    ['2023-01-02T03:04:05.123456789Z', '2023-01-02T03:04:05.123Z'],
    ['yesterday', undefined],
    [42, undefined],
  ])('normaliseCreated(%p) = %p', (v, want) => expect(normaliseCreated(v)).toBe(want));
});

describe('retry policy', () => {
  test('which statuses are transient', () => {
    expect(statusError(500, 'u', 'blob', null).transient).toBe(true);
    expect(statusError(503, 'u', 'blob', null).transient).toBe(true);
    expect(statusError(501, 'u', 'blob', null).transient).toBe(false);
    expect(statusError(505, 'u', 'blob', null).transient).toBe(false);
    expect(statusError(429, 'u', 'blob', '2').retryAfterMs).toBe(2000);
    expect(statusError(404, 'u', 'manifest', null)).toMatchObject({
      code: 'E_REGISTRY_NOT_FOUND',
      transient: false,
      hint: 'check the repository and tag',
    });
    expect(statusError(400, 'u', 'manifest', null)).toMatchObject({ code: 'E_REGISTRY_STATUS', transient: false });
  });

  test('backoff grows exponentially with jitter in [ceiling/2, ceiling]', () => {
    expect(backoffMs(1, 100, () => 0)).toBe(50);
    expect(backoffMs(1, 100, () => 1)).toBe(100);
    expect(backoffMs(4, 100, () => 1)).toBe(800);
    expect(backoffMs(30, 100, () => 1)).toBe(30_000);
  });

  test('Retry-After as seconds or HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('layering of src/oci', () => {
  // http/ knows nothing of manifests, registry/ nothing of Wasm or layouts, and oci/ nothing of the
  // tree or the pipeline: each folder imports only from folders below it (types.ts, errors and the
  // digest rule of src/contract/digest.ts are the floor). layout/ reads an OCI layout the way registry/ reads a registry; copy/ moves artifacts
  // between the two.
  const OCI = path.join(__dirname, '..', 'src', 'oci');
  const RANK: Record<string, number> = {
    'types.ts': 0,
    http: 1,
    registry: 2,
    wasm: 3,
    layout: 3,
    'client.ts': 4,
    copy: 4,
  };
  const rankOf = (file: string) => RANK[path.relative(OCI, file).split(path.sep)[0]];

  test('every file imports only from its own layer or below, and never from src/ outside errors and the digest rule', () => {
    const files = fs
      .readdirSync(OCI, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => path.join(OCI, f));
    expect(files.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const file of files) {
      expect(rankOf(file)).toBeDefined();
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        const target = path.resolve(path.dirname(file), m[1]);
        const name = path.relative(OCI, file);
        if (!target.startsWith(OCI + path.sep)) {
          const floor = [path.join(OCI, '..', 'errors'), path.join(OCI, '..', 'contract', 'digest')];
          if (!floor.includes(target)) problems.push(`${name} imports ${m[1]}`);
          continue;
        }
        if (rankOf(target + '.ts') > rankOf(file)) problems.push(`${name} imports ${m[1]}, a higher layer`);
      }
    }
    expect(problems).toEqual([]);
  });
});
