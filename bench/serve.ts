/**
 * Serving benchmark: wrk against image/nginx.conf and, in the same run, against the upstream Higress
 * plugin-server config (bench/fixtures/upstream-nginx.conf), both on the real Nginx, serving one tree
 * written by the pipeline with the ~12 MB Go-compiled esbuild.wasm. Gzip-capable and plain clients,
 * 64 and 1000 connections, the same worker count for both servers.
 */
import { ChildProcess, execFile } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import {
  findNginx,
  prepareNginx,
  PreparedNginx,
  shippedConfigPath,
  spawnNginx,
  stopNginx,
  waitForHealthy,
} from '../src/serve/nginx-runtime';
import { publishVersion, writeIndex } from '../src/tree/publish';
import { wasmUrlPath } from '../src/contract/tree-format';
import { freePort } from '../test/support/ports';
import type { BenchSection } from './section';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');
const UPSTREAM_CONF = path.join(ROOT, 'bench', 'fixtures', 'upstream-nginx.conf');
const DURATION_S = Number(process.env.BENCH_SERVE_SECONDS ?? 10);
/**
 * ABBA rounds per cell: wrk shares the 2 cores with both servers, so one round is noisy (±10%). Plain
 * clients get more rounds: their target (at least upstream's rate) is a comparison of near-equals.
 */
const ROUNDS = {
  gzip: Number(process.env.BENCH_SERVE_ROUNDS ?? 2),
  plain: Number(process.env.BENCH_SERVE_ROUNDS ?? 4),
};
/** `BENCH_SERVE_CLIENTS=plain` (or `gzip`) measures one kind of client only, for quick comparisons. */
const CLIENTS = [true, false].filter(
  (gzip) => !process.env.BENCH_SERVE_CLIENTS || process.env.BENCH_SERVE_CLIENTS === (gzip ? 'gzip' : 'plain'),
);
const CONNECTIONS = [64, 1000];
const PLUGIN = { name: 'esbuild', version: '0.25.12' };

export interface Server {
  label: string;
  url: string;
  child: ChildProcess;
  prepared: PreparedNginx;
}

export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  bytesPerSec: number;
  errors: number;
  detail: string;
}

/**
 * The nginx both servers run: the first on PATH that can run image/nginx.conf (njs >= 0.8.0 for
 * /metrics), looking in .tools/bin first (scripts/install-test-tools.sh puts Debian trixie's there).
 */
export function benchNginx(): string {
  return findNginx({ ...process.env, PATH: [path.join(ROOT, '.tools', 'bin'), process.env.PATH].join(path.delimiter) });
}

export async function start(
  label: string,
  root: string,
  sourceConfig: string,
  workers: number,
  readyPath: string,
): Promise<Server> {
  const port = await freePort();
  const binary = benchNginx();
  const prepared = prepareNginx({
    root,
    host: '127.0.0.1',
    port,
    sourceConfig,
    workerProcesses: workers,
    accessLog: 'access.log',
    binary,
  });
  const child = spawnNginx(prepared, ['ignore', 'ignore', 'pipe'], binary);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitForHealthy(`${url}${readyPath}`, child, 15000, () => err);
  return { label, url, child, prepared };
}

export async function stop(s: Server): Promise<void> {
  await stopNginx(s.child);
  s.prepared.cleanup();
}

/** Bytes of one download's body as sent on the wire (Content-Length) and its Content-Encoding. */
export function probe(url: string, gzip: boolean): Promise<{ bytes: number; encoding: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: gzip ? { 'Accept-Encoding': 'gzip' } : {} }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ bytes, encoding: String(res.headers['content-encoding'] ?? 'identity') }));
    });
    req.on('error', reject);
  });
}

const UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const transfer = /Transfer\/sec:\s+([\d.]+)([KMGT]?B)/.exec(out);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/) || 0;
  const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    bytesPerSec: transfer ? Number(transfer[1]) * UNITS[transfer[2]] : NaN,
    errors: non2xx + socketErrors,
    detail: [socket ? socket[0] : '', non2xx ? `Non-2xx: ${non2xx}` : ''].filter(Boolean).join('; '),
  };
}

/** Mean rates of several runs of the same cell; errors add up. */
export function combine(runs: WrkResult[]): WrkResult {
  const mean = (f: (r: WrkResult) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
  return {
    requestsPerSec: mean((r) => r.requestsPerSec),
    requests: runs.reduce((a, r) => a + r.requests, 0),
    bytesPerSec: mean((r) => r.bytesPerSec),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    detail: runs
      .map((r) => r.detail)
      .filter(Boolean)
      .join('; '),
  };
}

export async function wrk(url: string, connections: number, gzip: boolean): Promise<WrkResult> {
  const threads = Math.min(os.cpus().length, 4);
  const header = gzip ? "-H 'Accept-Encoding: gzip'" : '';
  // 1000 connections need more descriptors than a default shell allows; long responses under that
  // load are expected, so the timeout is long: only real failures count as errors.
  const cmd = `ulimit -n 65536 2>/dev/null || ulimit -n 8192; exec wrk -t${threads} -c${connections} -d${DURATION_S / 2}s --timeout 60s ${header} '${url}'`;
  const { stdout } = await exec('bash', ['-c', cmd], { maxBuffer: 1 << 20 });
  return parseWrk(stdout);
}

export const fmt = (n: number, d = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a';
const mark = (ok: boolean) => (ok ? 'met' : '**missed**');

/** The serving sections' tree: one real 12 MB module (esbuild's), in a new temp folder. */
export async function oneModuleTree(prefix: string): Promise<string> {
  const tree = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  await publishVersion(tree, {
    ...PLUGIN,
    wasmPath: require.resolve('esbuild-wasm/esbuild.wasm'),
    source: `file:esbuild.wasm@${PLUGIN.version}`,
    manifestDigest: null,
    created: '2024-05-01T00:00:00Z',
  });
  await writeIndex(tree);
  return tree;
}

export async function run(): Promise<BenchSection> {
  const wasm = require.resolve('esbuild-wasm/esbuild.wasm');
  const tree = await oneModuleTree('hps-bench-serve-');
  const workers = os.cpus().length;
  const servers: Server[] = [];
  try {
    const upstream = await start('upstream', tree, UPSTREAM_CONF, workers, '/plugins/index.json');
    servers.push(upstream);
    const ours = await start('image/nginx.conf', tree, shippedConfigPath(), workers, '/healthz');
    servers.push(ours);
    const urlPath = wasmUrlPath(PLUGIN.name, PLUGIN.version);

    const rows: string[] = [];
    const verdicts: string[] = [];
    let totalErrors = 0;
    const spreads: string[] = [];
    for (const gzip of CLIENTS) {
      const up = await probe(upstream.url + urlPath, gzip);
      const me = await probe(ours.url + urlPath, gzip);
      const bytesRatio = me.bytes / up.bytes;
      for (const c of CONNECTIONS) {
        process.stderr.write(`bench serve: ${gzip ? 'gzip' : 'plain'} client, ${c} connections...\n`);
        // ABBA order, half the duration each: the two servers share the machine with wrk (and
        // whatever else runs), so a load drift during the run hits both alike.
        const ups: WrkResult[] = [];
        const mine: WrkResult[] = [];
        const roundRatios: number[] = [];
        for (let r = 0; r < ROUNDS[gzip ? 'gzip' : 'plain']; r++) {
          const u1 = await wrk(upstream.url + urlPath, c, gzip);
          const o1 = await wrk(ours.url + urlPath, c, gzip);
          const o2 = await wrk(ours.url + urlPath, c, gzip);
          const u2 = await wrk(upstream.url + urlPath, c, gzip);
          ups.push(u1, u2);
          mine.push(o1, o2);
          roundRatios.push((o1.requestsPerSec + o2.requestsPerSec) / (u1.requestsPerSec + u2.requestsPerSec));
        }
        const u = combine(ups);
        const o = combine(mine);
        const ratio = o.requestsPerSec / u.requestsPerSec;
        spreads.push(`${gzip ? 'gzip' : 'plain'}/${c}: ${roundRatios.map((x) => `${fmt(x, 2)}x`).join(', ')}`);
        totalErrors += u.errors + o.errors;
        const target = gzip ? 3.5 : 1;
        // Plain clients: a miss smaller than the round-to-round spread is reported as such.
        const withinSpread =
          !gzip && ratio < target && Math.max(...roundRatios) >= target ? ', within the spread of the rounds' : '';
        rows.push(
          `| ${gzip ? 'gzip' : 'plain'} | ${c} | ${fmt(u.requestsPerSec, 1)} | ${fmt(o.requestsPerSec, 1)} | ${fmt(ratio, 2)}x (≥${target}x: ${mark(ratio >= target)}${withinSpread}) | ${fmt(up.bytes)} (${up.encoding}) | ${fmt(me.bytes)} (${me.encoding}) | ${fmt(bytesRatio, 3)}x | ${u.errors} / ${o.errors}${u.detail || o.detail ? ` (${[u.detail, o.detail].filter(Boolean).join(' | ')})` : ''} |`,
        );
        if (gzip && c === CONNECTIONS[0])
          verdicts.push(
            `- Gzip client bytes per download: ${fmt(bytesRatio, 3)}x upstream (target ≤0.3x: ${mark(bytesRatio <= 0.3)}); ceiling for req/s when bandwidth-bound ≈ ${fmt(1 / bytesRatio, 2)}x.`,
          );
      }
    }
    verdicts.push(
      `- Failed requests (non-2xx/3xx or socket errors) across all runs: ${totalErrors} (target 0: ${mark(totalErrors === 0)}).`,
    );
    const size = fs.statSync(wasm).size;
    const body = [
      `Real Nginx (${(await exec(benchNginx(), ['-v'])).stderr.trim()}) on 127.0.0.1, ${workers} worker processes for both servers,`,
      `serving \`esbuild.wasm\` from esbuild-wasm (Go-compiled, ${fmt(size)} bytes ≈ ${fmt(size / 2 ** 20, 1)} MiB; the largest Higress plugins are ~14 MB)`,
      'from one tree written by the pipeline (`publishVersion`, gzip -9 `plugin.wasm.gz`).',
      `Load: \`wrk -t${Math.min(os.cpus().length, 4)} -c<N> -d${DURATION_S / 2}s --timeout 60s [-H 'Accept-Encoding: gzip'] <url>\` in ABBA rounds (${ROUNDS.gzip} for gzip clients, ${ROUNDS.plain} for plain ones; ${DURATION_S} s per server and round, rates averaged), wrk and Nginx on the same ${os.cpus().length} cores (load average at start: ${os.loadavg()[0].toFixed(1)}).`,
      'Upstream: `bench/fixtures/upstream-nginx.conf` (stock nginx.conf, `listen 8080`, `autoindex on`, `sendfile on`, no gzip);',
      'ours: `image/nginx.conf` (gzip_static, no dynamic gzip). Only paths and the listen address are rewritten (`src/serve/nginx-config.ts`).',
      '',
      '| client | connections | upstream req/s | ours req/s | ours / upstream | upstream bytes/download | ours bytes/download | bytes ratio | errors (upstream / ours) |',
      '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |',
      ...rows,
      '',
      ...verdicts,
      `- Ratio per ABBA round (the spread is the noise of sharing 2 cores with wrk): ${spreads.join('; ')}.`,
    ];
    return { title: 'Serving: image/nginx.conf vs upstream plugin-server config', body: body.join('\n') };
  } finally {
    for (const s of servers.reverse()) await stop(s);
    fs.rmSync(tree, { recursive: true, force: true });
  }
}
