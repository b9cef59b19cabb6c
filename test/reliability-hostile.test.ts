/**
 * Hostile registries and plugin servers (issue 12, items 11, 12, 15, 16, 18, 20): every case runs the
 * real CLI (or the real OCI client) against test/support/hostile-server.ts on 127.0.0.1, bounded in
 * time, and the memory cases measure the CLI process's peak RSS. Figures go to
 * build/reliability/hostile.json for RELIABILITY.md.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createOciClient } from '../src/oci/client';
import { rewriteNginxConfig } from '../src/serve/nginx-config';
import { runCliProcess } from './support/cli-process';
import { recordFigures } from './support/figures';
import {
  gzipBomb,
  HostileServer,
  HostileServers,
  hostileList,
  Route,
  sendGzip,
  sendJson,
  trickle,
} from './support/hostile-server';

/** The CLI at rest is ~60 MiB; every hostile case must stay under this (the old code reached 1.3-2.1 GB). */
const RSS_BOUND_MIB = 200;
const figures: Record<string, unknown> = {};
let dir: string;
const hostile = new HostileServers();

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-hostile-'));
});
afterAll(async () => {
  await hostile.close();
  fs.rmSync(dir, { recursive: true, force: true });
  recordFigures('hostile', figures);
});

const server = (routes: Record<string, Route>): Promise<HostileServer> => hostile.start(routes);
const list = (host: string, name?: string): string => hostileList(dir, host, name);

function entry(name: string, i = 0): Record<string, unknown> {
  return { name, version: '1.0.0', sha256: 'a'.repeat(64), size: 10 + i, path: `/plugins/${name}/1.0.0/plugin.wasm` };
}

describe('item 11: responses read into memory are bounded (after decoding)', () => {
  test('a gzip-bomb index.json (1.2 MB compressed, 1 GiB decoded) fails check and wasmplugins quickly, RSS bounded', async () => {
    const bomb = gzipBomb(1024 * 1024 * 1024);
    const s = await server({ '/plugins/index.json': sendGzip(bomb) });
    const check = await runCliProcess(['check', s.url], { timeoutMs: 60_000 });
    const wp = await runCliProcess(['wasmplugins', '--index', s.url], { timeoutMs: 60_000 });
    figures.indexBomb = {
      compressedBytes: bomb.length,
      check: { code: check.code, peakRssMiB: check.peakRssMiB, ms: check.ms },
      wasmplugins: { code: wp.code, peakRssMiB: wp.peakRssMiB, ms: wp.ms },
    };
    for (const r of [check, wp]) {
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/larger than 16777216 bytes \(after decoding\)/);
      expect(r.peakRssMiB).toBeLessThan(RSS_BOUND_MIB);
    }
  }, 120_000);

  test('a gzip-bomb token response (1 GiB decoded) fails the pull with an auth error, RSS bounded', async () => {
    const bomb = gzipBomb(1024 * 1024 * 1024);
    let host = '';
    const s = await server({
      '/v2/*': (_req, res) => {
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="http://${host}/token",service="hostile"`,
          'content-type': 'application/json',
        });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}');
      },
      '/token': sendGzip(bomb),
    });
    host = s.host;
    const r = await runCliProcess(['pull', list(s.host), '--out', path.join(dir, 'token-out')], { timeoutMs: 60_000 });
    figures.tokenBomb = { compressedBytes: bomb.length, code: r.code, peakRssMiB: r.peakRssMiB, ms: r.ms };
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/E_REGISTRY_AUTH|token server sent over 1048576 bytes/);
    expect(r.peakRssMiB).toBeLessThan(RSS_BOUND_MIB);
  }, 120_000);
});

describe('item 12: deadlines and bounded work per request', () => {
  test('a manifest trickled at one byte per 100 ms is stopped by the per-request deadline', async () => {
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }).padEnd(
        4000,
        ' ',
      ),
    );
    const s = await server({
      '/v2/*': trickle(manifest, 100, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }),
    });
    const client = createOciClient({ timeoutMs: 1000, requestDeadlineMs: 1500, retries: 1 });
    const started = Date.now();
    const err = await client
      .resolve({ registry: s.host, repository: 'plugins/x', tag: '1.0.0' })
      .catch((e: unknown) => e);
    await client.close();
    const ms = Date.now() - started;
    figures.trickle = { ms, deadlineMs: 1500 };
    expect(err).toMatchObject({ code: 'E_REGISTRY_TIMEOUT' });
    expect((err as Error).message).toMatch(/per-request deadline/);
    expect(ms).toBeLessThan(10_000); // 4000 bytes at 10 B/s would take 400 s
  }, 20_000);

  test('a manifest with 20,000 layers is refused after one manifest request, no blob fetched', async () => {
    const layer = (i: number) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: `sha256:${i.toString(16).padStart(64, '0')}`,
      size: 100,
    });
    const doc = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      layers: Array.from({ length: 20_000 }, (_, i) => layer(i)),
    };
    const s = await server({
      '/v2/plugins/x/manifests/1.0.0': sendJson(doc, 200, {
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
      }),
    });
    const client = createOciClient({ retries: 1 });
    const out = fs.mkdtempSync(path.join(dir, 'layers-'));
    const err = await client
      .fetch({ registry: s.host, repository: 'plugins/x', tag: '1.0.0' }, out)
      .catch((e: unknown) => e);
    await client.close();
    figures.manyLayers = { requests: s.requests.length };
    expect(err).toMatchObject({ code: 'E_MANIFEST_FORMAT' });
    expect((err as Error).message).toMatch(/20000 layers, more than the 256/);
    expect(s.requests.filter((q) => q.url.includes('/blobs/'))).toHaveLength(0);
  }, 20_000);
});

describe('item 15: server text cannot forge or flood output', () => {
  test('an index entry named with a newline and ANSI escapes cannot print an ok line', async () => {
    const forged = 'x\n\u001b[32mok     forged@1.0.0 10 bytes, sha256 ok\u001b[0m';
    const s = await server({
      '/plugins/index.json': sendJson({ schemaVersion: 1, plugins: [{ ...entry('a'), name: forged }] }),
    });
    const r = await runCliProcess(['check', s.url]);
    const lines = `${r.stdout}${r.stderr}`.split('\n');
    expect(r.code).toBe(3);
    expect(lines.filter((l) => /^\s*ok\b/.test(l))).toEqual([]);
    expect(`${r.stdout}${r.stderr}`).not.toContain('\u001b');
  }, 30_000);

  test('a 10k-entry invalid index gives one short line, RSS bounded', async () => {
    const plugins = Array.from({ length: 10_000 }, (_, i) => ({ ...entry(`p${i}`, i), sha256: 'not-a-digest' }));
    const s = await server({ '/plugins/index.json': sendJson({ schemaVersion: 1, plugins }) });
    const r = await runCliProcess(['check', s.url]);
    const longest = Math.max(...`${r.stdout}${r.stderr}`.split('\n').map((l) => l.length));
    figures.hugeIndex = { entries: 10_000, longestLine: longest, peakRssMiB: r.peakRssMiB };
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/and 9990 more problem/);
    expect(longest).toBeLessThanOrEqual(2000);
    expect(r.peakRssMiB).toBeLessThan(RSS_BOUND_MIB);
  }, 30_000);
});

describe('item 16: unsupported auth challenges', () => {
  test('a Negotiate challenge gets no credentials and an error naming the scheme', async () => {
    const s = await server({
      '/v2/*': (_req, res) => {
        res.writeHead(401, { 'www-authenticate': 'Negotiate' });
        res.end();
      },
    });
    const r = await runCliProcess(['pull', list(s.host), '--out', path.join(dir, 'negotiate-out')], {
      env: { HIGRESS_REGISTRY_USERNAME: 'alice', HIGRESS_REGISTRY_PASSWORD: 's3cret-pw' },
    });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/asks for "Negotiate" authentication, which this tool does not support/);
    expect(s.requests.filter((q) => q.headers.authorization)).toEqual([]);
    expect(r.stderr).not.toContain('s3cret-pw');
  }, 30_000);
});

describe('item 18: check on an empty server', () => {
  test('zero plugins fails (exit 6) unless --allow-empty', async () => {
    const s = await server({ '/plugins/index.json': sendJson({ schemaVersion: 1, plugins: [] }) });
    const strict = await runCliProcess(['check', s.url]);
    expect(strict.code).toBe(6);
    expect(strict.stderr).toMatch(/E_CHECK_EMPTY|lists no plugin/);
    const allowed = await runCliProcess(['check', s.url, '--allow-empty']);
    expect(allowed.code).toBe(0);
  }, 30_000);
});

describe('item 20: misleading errors', () => {
  test('a FIFO or a folder given as the list says what it is, without blocking', async () => {
    const fifo = path.join(dir, 'list.fifo');
    execFileSync('mkfifo', [fifo]);
    const r = await runCliProcess(['pull', fifo, '--out', path.join(dir, 'fifo-out')], { timeoutMs: 20_000 });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/is a FIFO \(named pipe\), not a file/);
    const folder = await runCliProcess(['pull', dir, '--out', path.join(dir, 'folder-out')]);
    expect(folder.code).toBe(3);
    expect(folder.stderr).toMatch(/is a folder, not a file/);
  }, 30_000);

  test('a "$" in the served path is refused before Nginx could read it as a variable', () => {
    const conf = fs.readFileSync(path.join(__dirname, '..', 'image', 'nginx.conf'), 'utf8');
    const base = { host: '127.0.0.1', port: 8080, runtimeDir: '/tmp/rt' };
    expect(() => rewriteNginxConfig(conf, { ...base, root: '/srv/tree$uri' })).toThrow(
      expect.objectContaining({
        code: 'E_NGINX_PATH',
        message: expect.stringMatching(/contains "\$", which Nginx reads as a variable/),
      }),
    );
    expect(() => rewriteNginxConfig(conf, { ...base, root: '/srv/tree' })).not.toThrow();
  });
});
