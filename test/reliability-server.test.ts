/**
 * Server abuse and load against the real Nginx running the shipped image/nginx.conf, serving a
 * 43-plugin tree written by the pipeline's own publisher: a gateway rollout burst, 1000 concurrent
 * connections with wrk, slowloris headers and slow readers, oversized headers and URLs, and a corpus
 * (plus a fuzzer) of malicious paths with canary files planted outside the tree. Zero 5xx, zero
 * escapes, and the Nginx processes' memory measured before and after, bounded.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import fc from 'fast-check';
import { parsePluginList } from '../src/inputs/properties';
import { GZ_FILE, PLUGINS_DIR, wasmUrlPath } from '../src/contract/tree-format';
import { publishVersion, writeIndex } from '../src/tree/publish';
import { recordFigures, resetFigures } from './support/figures';
import { rawGet, request } from './support/http';
import { nginxMemory, ProcessMemory, rawRequest, rolloutBurst, runWrk, slowloris, slowReaders } from './support/load';
import { RunningNginx, startNginx } from './support/nginx';
import { largeWasm, smallWasm } from './support/wasm';

const FIGURES = 'server';
const REFERENCE_LIST = path.join(__dirname, 'fixtures', 'reference', 'plugin-server.plugins.properties');
/** The three biggest plugins of the real list get the ~12 MB module; the rest the small filter. */
const LARGE = new Set(['ai-proxy', 'ai-statistics', 'mcp-server']);
const SECRET = `canary-${crypto.randomBytes(8).toString('hex')}`;
/** The chart's memory limit for the plugin-server container. */
const MEMORY_LIMIT_KIB = 256 * 1024;
/** What the Nginx processes may grow by over the whole suite. */
const MEMORY_GROWTH_KIB = 64 * 1024;

let tmp: string;
let root: string;
let nginx: RunningNginx;
let paths: string[];
const expected = new Map<string, string>();
const memory: Record<string, ProcessMemory> = {};
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** Same 43 names the Higress plugin-server image ships, from the reference list. */
function pluginNames(): string[] {
  const text = fs.readFileSync(REFERENCE_LIST, 'utf8');
  return [...new Set(parsePluginList(text, REFERENCE_LIST).entries.map((e) => e.name))];
}

beforeAll(async () => {
  resetFigures(FIGURES);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-server-'));
  root = path.join(tmp, 'root');
  const small = await smallWasm();
  const names = pluginNames();
  expect(names).toHaveLength(43);
  for (const name of names) {
    await publishVersion(root, {
      name,
      version: '2.0.0',
      wasmPath: LARGE.has(name) ? largeWasm() : small,
      source: `oci://registry.invalid/plugins/${name}:2.0.0`,
      manifestDigest: null,
      created: '2025-01-02T03:04:05Z',
    });
  }
  await writeIndex(root);
  paths = names.map((n) => wasmUrlPath(n, '2.0.0'));
  for (const n of names)
    expected.set(wasmUrlPath(n, '2.0.0'), sha256(fs.readFileSync(path.join(root, PLUGINS_DIR, n, '2.0.0', GZ_FILE))));

  // Canaries: outside the tree, inside the Nginx root but outside /plugins/, behind symlinks and in
  // a hidden in-progress folder. None may ever be served.
  fs.writeFileSync(path.join(tmp, 'canary.txt'), SECRET);
  fs.writeFileSync(path.join(root, 'canary.txt'), SECRET);
  fs.mkdirSync(path.join(root, PLUGINS_DIR, 'evil', '1.0.0'), { recursive: true });
  fs.symlinkSync(path.join(tmp, 'canary.txt'), path.join(root, PLUGINS_DIR, 'evil', '1.0.0', 'plugin.wasm'));
  fs.symlinkSync(tmp, path.join(root, PLUGINS_DIR, 'escape'));
  fs.mkdirSync(path.join(root, PLUGINS_DIR, 'key-auth', '.tmp-2.0.0-abc'));
  fs.writeFileSync(path.join(root, PLUGINS_DIR, 'key-auth', '.tmp-2.0.0-abc', 'plugin.wasm'), SECRET);

  nginx = await startNginx(root, { accessLog: 'off' });
  // Warm up once so the baseline includes a worker that has served a file.
  expect((await request(`${nginx.url}${paths[0]}`)).status).toBe(200);
  memory.baseline = nginxMemory(nginx.dir);
}, 120_000);

afterAll(async () => {
  await nginx?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('rollout burst: 50 gateways each download all 43 plugins with Accept-Encoding: gzip', async () => {
  const r = await rolloutBurst(nginx.url, paths, expected, 50);
  memory.afterBurst = nginxMemory(nginx.dir);
  recordFigures(FIGURES, {
    burst: { clients: 50, plugins: paths.length, ...r, errors: r.errors.slice(0, 5), rssKiB: memory.afterBurst.rssKiB },
  });
  expect(r.errors).toEqual([]);
  expect(r.statuses).toEqual({ 200: 50 * 43 });
  expect(r.wrongBodies).toBe(0);
  expect(r.notGzip).toBe(0);
});

test('1000 concurrent connections (wrk): every response 2xx, no connect error', async () => {
  const target = `${nginx.url}${wasmUrlPath('key-auth', '2.0.0')}`;
  const r = await runWrk(target, { connections: 1000, threads: 2, seconds: 4, headers: ['Accept-Encoding: gzip'] });
  memory.afterWrk = nginxMemory(nginx.dir);
  recordFigures(FIGURES, {
    wrk: {
      connections: 1000,
      threads: 2,
      seconds: 4,
      requests: r.requests,
      requestsPerSec: r.requestsPerSec,
      non2xx3xx: r.non2xx3xx,
      socketErrors: r.socketErrors,
      latencyP99: r.latencyP99,
      rssKiB: memory.afterWrk.rssKiB,
    },
  });
  expect(r.requests).toBeGreaterThan(1000);
  expect(r.non2xx3xx).toBe(0);
  expect(r.socketErrors.connect).toBe(0);
  expect(r.socketErrors.timeout).toBe(0);
});

test('slowloris headers and stalled readers do not keep the server from serving a burst', async () => {
  const loris = await slowloris(nginx.port, 300, 1000);
  const readers = await slowReaders(nginx.port, wasmUrlPath('ai-proxy', '2.0.0'), 50);
  try {
    const r = await rolloutBurst(nginx.url, paths, expected, 5);
    memory.duringSlowClients = nginxMemory(nginx.dir);
    recordFigures(FIGURES, {
      slowClients: {
        slowlorisConnections: 300,
        stalledReaders: 50,
        burstWhileHeld: { requests: r.requests, statuses: r.statuses, wrongBodies: r.wrongBodies },
        rssKiB: memory.duringSlowClients.rssKiB,
      },
    });
    expect(readers.received()).toBeGreaterThan(0);
    expect(r.statuses).toEqual({ 200: 5 * 43 });
    expect(r.wrongBodies).toBe(0);
    expect((await request(`${nginx.url}/healthz`)).status).toBe(200);
  } finally {
    loris.stop();
    readers.stop();
  }
});

describe('oversized and odd requests get 4xx, never 5xx', () => {
  const big = (n: number) => 'a'.repeat(n);
  const cases: Array<[string, () => string, number[]]> = [
    [
      'a 16 KiB header',
      () => `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${big(16 * 1024)}\r\nConnection: close\r\n\r\n`,
      [400, 431],
    ],
    [
      'a 1 MiB header',
      () => `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${big(1024 * 1024)}\r\nConnection: close\r\n\r\n`,
      [400, 431],
    ],
    [
      '2000 headers of 100 bytes',
      () =>
        `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 2000 }, (_, i) => `X-H${i}: ${big(100)}\r\n`).join('')}Connection: close\r\n\r\n`,
      [400, 431],
    ],
    [
      'a 16 KiB URL',
      () => `GET /plugins/${big(16 * 1024)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      [400, 404, 414],
    ],
    [
      'a 1 MiB URL',
      () => `GET /plugins/${big(1024 * 1024)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      [400, 414],
    ],
    [
      'a 1 MiB cookie',
      () => `GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: c=${big(1024 * 1024)}\r\nConnection: close\r\n\r\n`,
      [400, 431],
    ],
    ['a non-HTTP request line', () => `\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 garbage\r\n\r\n`, [0, 400]],
    ['HTTP/2 preface on the HTTP/1 port', () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', [0, 400, 405]],
    [
      'POST with a 2 MiB body',
      () =>
        `POST /plugins/index.json HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * 1024 * 1024}\r\nConnection: close\r\n\r\n${big(2 * 1024 * 1024)}`,
      [405, 413],
    ],
    [
      'GET with a 2 MiB body',
      () =>
        `GET /plugins/index.json HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * 1024 * 1024}\r\nConnection: close\r\n\r\n${big(2 * 1024 * 1024)}`,
      [200, 400, 413],
    ],
    [
      'a bad Content-Length',
      () => 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n',
      [400],
    ],
    [
      'chunked and Content-Length together (request smuggling)',
      () =>
        'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n',
      [200, 400],
    ],
    [
      'a Range past the end',
      () =>
        `GET ${wasmUrlPath('key-auth', '2.0.0')} HTTP/1.1\r\nHost: x\r\nRange: bytes=99999999-\r\nConnection: close\r\n\r\n`,
      [416],
    ],
    [
      '1000 overlapping ranges',
      () =>
        `GET ${wasmUrlPath('ai-proxy', '2.0.0')} HTTP/1.1\r\nHost: x\r\nRange: bytes=${Array.from({ length: 1000 }, (_, i) => `${i}-${i + 100000}`).join(',')}\r\nConnection: close\r\n\r\n`,
      [200, 206, 400, 416],
    ],
  ];
  const seen: Record<string, number> = {};
  afterAll(() => recordFigures(FIGURES, { oddRequests: seen }));

  test.each(cases)('%s', async (what, text, allowed) => {
    const r = await rawRequest(nginx.port, text());
    seen[what] = r.status;
    expect(r.status).not.toBeGreaterThanOrEqual(500);
    expect(allowed).toContain(r.status);
  });

  test('a request body is never buffered to disk (the /tmp emptyDir stays empty)', () => {
    const temp = fs.readdirSync(nginx.dir, { recursive: true }) as string[];
    const bodies = temp.filter((f) => /client-body\/./.test(f));
    expect(bodies).toEqual([]);
  });
});

describe('malicious paths', () => {
  const corpus = [
    '/../canary.txt',
    '/plugins/../canary.txt',
    '/plugins/../../canary.txt',
    '/plugins/%2e%2e/canary.txt',
    '/plugins/%2e%2e/%2e%2e/canary.txt',
    '/plugins/%2E%2E%2Fcanary.txt',
    '/plugins/..%2f..%2fcanary.txt',
    '/plugins/..%252f..%252fcanary.txt',
    '/plugins/%252e%252e/canary.txt',
    '/plugins/..\\..\\canary.txt',
    '/plugins/..%5c..%5ccanary.txt',
    '/plugins/.%2e/.%2e/canary.txt',
    '/plugins/%c0%ae%c0%ae/canary.txt',
    '/plugins/%c0%af../canary.txt',
    '/plugins/..;/canary.txt',
    '/plugins/key-auth/2.0.0/../../../canary.txt',
    '//canary.txt',
    '/./canary.txt',
    '/canary.txt',
    '/plugins//../canary.txt',
    '/plugins/%00/../canary.txt',
    '/plugins/canary.txt%00.wasm',
    '/plugins/evil/1.0.0/plugin.wasm',
    '/plugins/escape/canary.txt',
    '/plugins/escape/',
    '/plugins/escape/root/canary.txt',
    '/plugins/key-auth/.tmp-2.0.0-abc/plugin.wasm',
    '/plugins/key-auth/%2etmp-2.0.0-abc/plugin.wasm',
    '/plugins/key-auth/.tmp-2.0.0-abc/',
    '/plugins/../../../../../../etc/passwd',
    '/plugins/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/etc/passwd',
    '/proc/self/environ',
    '/plugins/../../../../proc/self/environ',
    'http://127.0.0.1/../canary.txt',
    'http://evil.example/plugins/../canary.txt',
    '*',
    '/plugins/%ff%fe/',
    '/plugins/\u00e9/..',
    '/plugins/key-auth/2.0.0/plugin.wasm/..%2f..%2f..%2f..%2fcanary.txt',
    '/plugins/key-auth/2.0.0/plugin.wasm?../../canary.txt',
    '/plugins/key-auth/2.0.0/plugin.wasm#/../../canary.txt',
    '/healthz/../canary.txt',
    '/plugins/?format=json&x=../../canary.txt',
  ];
  /** These resolve inside the tree (query, fragment, `é/..` = /plugins/): a 200 of tree content is right. */
  const inside = new Set([
    '/plugins/\u00e9/..',
    '/plugins/key-auth/2.0.0/plugin.wasm?../../canary.txt',
    '/plugins/key-auth/2.0.0/plugin.wasm#/../../canary.txt',
    '/plugins/?format=json&x=../../canary.txt',
  ]);
  const outcomes: Record<string, number> = {};
  let fuzzed = 0;
  let escapes = 0;
  afterAll(() =>
    recordFigures(FIGURES, {
      maliciousPaths: { corpus: corpus.length, fuzzed, statuses: countBy(Object.values(outcomes)), escapes },
    }),
  );

  const leaked = (text: string) => {
    const bad = text.includes(SECRET) || /root:.*:0:0:/.test(text) || /PATH=/.test(text);
    if (bad) escapes++;
    return bad;
  };

  test.each(corpus)('%s: no escape, no 5xx', async (target) => {
    const r = await rawGet(nginx.port, target);
    outcomes[target] = r.status;
    expect(leaked(r.text)).toBe(false);
    expect(r.status).not.toBeGreaterThanOrEqual(500);
    if (!inside.has(target)) expect(r.status).toBeGreaterThanOrEqual(400);
  });

  test('fuzzed paths built from traversal fragments never reach a canary', async () => {
    const fragment = fc.constantFrom(
      '..',
      '.',
      '%2e%2e',
      '%2e',
      '%2f',
      '%5c',
      '\\',
      '%00',
      '%252e%252e',
      '%c0%ae',
      'canary.txt',
      'plugins',
      'evil',
      'escape',
      '.tmp-2.0.0-abc',
      'key-auth',
      '2.0.0',
      'plugin.wasm',
      '',
      ';',
      '%3b',
      'etc',
      'passwd',
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fragment, { minLength: 1, maxLength: 10 }),
        fc.constantFrom('/', '/plugins/'),
        async (parts, prefix) => {
          const target = prefix + parts.join('/');
          const r = await rawGet(nginx.port, target);
          fuzzed++;
          outcomes[`fuzz:${target}`] = r.status;
          return !leaked(r.text) && r.status !== 0 && r.status < 500;
        },
      ),
      { numRuns: 400, seed: 20250102 },
    );
  });
});

test('memory of the Nginx processes stays bounded', () => {
  memory.end = nginxMemory(nginx.dir);
  const figures = Object.fromEntries(
    Object.entries(memory).map(([k, m]) => [k, { processes: m.pids.length, rssKiB: m.rssKiB }]),
  );
  recordFigures(FIGURES, {
    memory: figures,
    nginxWarnings: nginx
      .stderr()
      .split('\n')
      .filter((l) => /\[(alert|crit|emerg)\]/.test(l))
      .slice(0, 5),
  });
  for (const m of Object.values(memory)) expect(m.rssKiB).toBeLessThan(MEMORY_LIMIT_KIB);
  expect(Math.max(...Object.values(memory).map((m) => m.rssKiB)) - memory.baseline.rssKiB).toBeLessThan(
    MEMORY_GROWTH_KIB,
  );
  expect(nginx.stderr()).not.toMatch(/\[(alert|crit|emerg)\]/);
});

function countBy(values: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}
