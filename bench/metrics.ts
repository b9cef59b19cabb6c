/**
 * What /metrics costs (docs/metrics.md): wrk against image/nginx.conf as shipped (the njs log-phase
 * counter on every request) and, in the same run, against the same file with its metrics blocks taken
 * out (`# ---- metrics` ... `# ---- end metrics`: the config as it was before /metrics), both on the
 * real Nginx serving one tree with the ~12 MB esbuild.wasm. Gzip-capable and plain clients, ABBA rounds
 * like the serving section (bench/serve.ts, whose helpers it uses), and the Nginx CPU time per request
 * of each (from /proc), which the machine's other load does not move. Target: metrics on within 5% of off.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { shippedConfigPath } from '../src/serve/nginx-runtime';
import { wasmUrlPath } from '../src/contract/tree-format';
import type { BenchSection } from './section';
import { benchNginx, combine, fmt, oneModuleTree, probe, Server, start, stop, wrk, WrkResult } from './serve';

const ROUNDS = Number(process.env.BENCH_METRICS_ROUNDS ?? 3);
const CONNECTIONS = [64, 1000];
const PLUGIN = { name: 'esbuild', version: '0.25.12' };
/** Allowed cost of metrics: on / off rate at least this. */
const TARGET = 0.95;

/** CPU time (ms) an Nginx master and its workers have used: utime + stime from /proc (USER_HZ 100). */
function nginxCpuMs(masterPid: number): number {
  let ticks = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // Fields after the command (which may hold spaces): state ppid ... utime(14) stime(15).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pid) === masterPid || Number(f[1]) === masterPid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks * 10;
}

/** wrk against one server, with the server's CPU time per request (robust to the machine's other load). */
async function measured(s: Server, url: string, c: number, gzip: boolean): Promise<WrkResult & { cpuMs: number }> {
  const before = nginxCpuMs(s.child.pid!);
  const r = await wrk(url, c, gzip);
  return { ...r, cpuMs: nginxCpuMs(s.child.pid!) - before };
}

/** image/nginx.conf without its metrics blocks (the delimited `# ---- metrics` sections). */
export function withoutMetrics(conf: string): string {
  const out: string[] = [];
  let inBlock = false;
  for (const line of conf.split('\n')) {
    if (/^\s*# ---- metrics\b/.test(line)) inBlock = true;
    if (!inBlock) out.push(line);
    if (/^\s*# ---- end metrics\b/.test(line)) inBlock = false;
  }
  return out.join('\n');
}

export async function run(): Promise<BenchSection> {
  const wasm = require.resolve('esbuild-wasm/esbuild.wasm');
  const tree = await oneModuleTree('hps-bench-metrics-');
  const workers = os.cpus().length;
  const servers: Server[] = [];
  try {
    const offConf = path.join(tree, 'nginx-no-metrics.conf');
    const shipped = fs.readFileSync(shippedConfigPath(), 'utf8');
    fs.writeFileSync(offConf, withoutMetrics(shipped));
    const off = await start('metrics off', tree, offConf, workers, '/healthz');
    servers.push(off);
    const on = await start('metrics on', tree, shippedConfigPath(), workers, '/healthz');
    servers.push(on);
    const urlPath = wasmUrlPath(PLUGIN.name, PLUGIN.version);
    const rows: string[] = [];
    const spreads: string[] = [];
    let worst = Infinity;
    let errors = 0;
    for (const gzip of [true, false]) {
      const bytes = await probe(on.url + urlPath, gzip);
      for (const c of CONNECTIONS) {
        process.stderr.write(`bench metrics: ${gzip ? 'gzip' : 'plain'} client, ${c} connections...\n`);
        const offs: (WrkResult & { cpuMs: number })[] = [];
        const ons: (WrkResult & { cpuMs: number })[] = [];
        const ratios: number[] = [];
        for (let r = 0; r < ROUNDS; r++) {
          const a1 = await measured(off, off.url + urlPath, c, gzip);
          const b1 = await measured(on, on.url + urlPath, c, gzip);
          const b2 = await measured(on, on.url + urlPath, c, gzip);
          const a2 = await measured(off, off.url + urlPath, c, gzip);
          offs.push(a1, a2);
          ons.push(b1, b2);
          ratios.push((b1.requestsPerSec + b2.requestsPerSec) / (a1.requestsPerSec + a2.requestsPerSec));
        }
        const a = combine(offs);
        const b = combine(ons);
        const ratio = b.requestsPerSec / a.requestsPerSec;
        const cpuPer = (runs: { cpuMs: number; requests: number }[]) =>
          runs.reduce((n, x) => n + x.cpuMs, 0) / runs.reduce((n, x) => n + x.requests, 0);
        const cpuOff = cpuPer(offs);
        const cpuOn = cpuPer(ons);
        // The verdict is on CPU per request: the rate of one server on 2 cores shared with wrk and
        // other work swings by ±50% from round to round, its CPU cost per request does not.
        const cost = cpuOff / cpuOn;
        worst = Math.min(worst, cost);
        errors += a.errors + b.errors;
        spreads.push(`${gzip ? 'gzip' : 'plain'}/${c}: ${ratios.map((x) => `${fmt(x, 3)}x`).join(', ')}`);
        rows.push(
          `| ${gzip ? 'gzip' : 'plain'} | ${c} | ${fmt(a.requestsPerSec, 1)} | ${fmt(b.requestsPerSec, 1)} | ${fmt(ratio, 3)}x | ${fmt(cpuOff, 3)} | ${fmt(cpuOn, 3)} | ${fmt(cost, 3)}x (≥${TARGET}x: ${cost >= TARGET ? 'met' : '**missed**'}) | ${fmt(bytes.bytes)} (${bytes.encoding}) | ${a.errors} / ${b.errors} |`,
        );
      }
    }
    // The counters the run left: every request of the "on" server was counted.
    const scraped = execFileSync('curl', ['-s', `${on.url}/metrics`], { encoding: 'utf8' });
    const counted = scraped
      .split('\n')
      .filter((l) => l.startsWith('higress_plugin_server_requests_total{'))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    const body = [
      `Real Nginx (${spawnSync(benchNginx(), ['-v'], { encoding: 'utf8' }).stderr.trim()}) on 127.0.0.1, ${workers} worker processes for both servers, serving \`esbuild.wasm\` (${fmt(fs.statSync(wasm).size)} bytes).`,
      '"off" is `image/nginx.conf` without its `# ---- metrics` blocks (no njs module loaded, no log-phase counter), "on" is the file as shipped.',
      `Load: \`wrk -c<N> --timeout 60s\` in ABBA rounds (${ROUNDS} per cell, rates averaged), wrk and Nginx on the same ${os.cpus().length} cores (load average at start: ${os.loadavg()[0].toFixed(1)}).`,
      '',
      '| client | connections | metrics off req/s | metrics on req/s | rate on / off | off: Nginx CPU ms/request | on: Nginx CPU ms/request | off / on CPU per request | bytes/download | errors (off / on) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |',
      ...rows,
      '',
      '- Nginx CPU per request: utime + stime of the master and its workers from /proc, across the wrk runs of the cell, divided by the requests they answered.',
      `- Worst cell by CPU per request: ${fmt(worst, 3)}x (target ≥${TARGET}x, i.e. metrics cost at most 5%: ${worst >= TARGET ? 'met' : '**missed**'}); failed requests: ${errors}.`,
      `- Ratio per ABBA round (the noise of sharing ${os.cpus().length} cores with wrk): ${spreads.join('; ')}.`,
      `- Requests the "on" server counted in \`higress_plugin_server_requests_total\` during the run: ${fmt(counted)}.`,
    ];
    return { title: 'Metrics: the cost of /metrics on serving', body: body.join('\n') };
  } finally {
    for (const s of servers.reverse()) await stop(s);
    fs.rmSync(tree, { recursive: true, force: true });
  }
}
