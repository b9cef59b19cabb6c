/**
 * What gzip costs the gateway: the gateway's own fetcher (test/gateway-client: Istio's pkg/wasm, which
 * asks for gzip and decodes it) fetches the same modules through the real Nginx on image/nginx.conf,
 * once as the image serves them by default (gzip_static: the .gz) and once with the chart's
 * `gzip.enabled=false` (the image's gzip-static-off config: plugin.wasm itself), on loopback, in ABBA
 * rounds. CPU is what is measured (the client processes' user+sys, Nginx's master and worker), not
 * time, so the shared cores of this machine do not enter the figure. The per-MB costs go to
 * bench/fixtures/gateway-decode.json, from which `npm run docs` renders the table of docs/gzip.md
 * (bench/gzip-table.ts). Environment: BENCH_GZIP_MODULES (default 8 of the plugin set's Go-sized
 * modules), BENCH_GZIP_ROUNDS (default 3).
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { prepareNginx, spawnNginx, stopNginx, waitForHealthy } from '../src/serve/nginx-runtime';
import { DecodeMeasurement, renderGzipSection } from './gzip-table';
import { pluginSet } from './plugin-set';
import type { BenchSection } from './section';
import { abbaOrder, median } from './stats';
import { treeCpuSeconds } from './testbed';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'build', 'src', 'cli.js');
const FETCHER = path.join(ROOT, '.tools', 'bin', 'gateway-client');
export const FIXTURE = path.join(ROOT, 'bench', 'fixtures', 'gateway-decode.json');

type Form = 'gzip' | 'plain';

function exec(cmd: string, args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: 600_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} failed: ${err.message}\n${stderr.slice(-2000)}`)) : resolve({ stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** The fetcher over every request once; its CPU (user+sys, from bash's `times`) and the bytes it verified. */
async function fetchAll(requests: string): Promise<{ cpu: number; bytes: number }> {
  const r = await exec('bash', ['-c', '"$@"; rc=$?; times >&2; exit $rc', 'bash', FETCHER, '-from', '-'], requests);
  const lines = r.stderr.trim().split('\n');
  const m = lines[lines.length - 1].match(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/);
  if (!m) throw new Error(`no CPU times from the fetcher: ${r.stderr.slice(-500)}`);
  const results = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { ok: boolean; bytes: number; error?: string });
  const failed = results.find((x) => !x.ok);
  if (failed) throw new Error(`a fetch failed: ${failed.error}`);
  return {
    cpu: Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]),
    bytes: results.reduce((a, x) => a + x.bytes, 0),
  };
}

export async function run(): Promise<BenchSection> {
  const count = Number(process.env.BENCH_GZIP_MODULES ?? 8);
  const rounds = Number(process.env.BENCH_GZIP_ROUNDS ?? 3);
  const set = pluginSet();
  const goModules = set.filter((p) => p.language === 'go').slice(0, count);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-bench-gzip-'));
  const servers: Array<{ form: Form; stop: () => Promise<void>; url: string; pid: number }> = [];
  try {
    const list = goModules.map((p) => {
      fs.writeFileSync(path.join(dir, `${p.name}.wasm`), p.wasm);
      return `${p.name}=file:${p.name}.wasm@${p.tag}`;
    });
    fs.writeFileSync(path.join(dir, 'list.properties'), `${list.join('\n')}\n`);
    const tree = path.join(dir, 'tree');
    await exec(process.execPath, [CLI, 'pull', path.join(dir, 'list.properties'), '--out', tree]);
    const index = JSON.parse(fs.readFileSync(path.join(tree, 'plugins', 'index.json'), 'utf8')) as {
      plugins: Array<{ path: string; sha256: string; size: number }>;
    };
    const plainBytes = index.plugins.reduce((a, p) => a + p.size, 0);
    const gzipBytes = index.plugins.reduce((a, p) => a + fs.statSync(path.join(tree, `${p.path}.gz`)).size, 0);
    let port = 18700 + Math.floor(Math.random() * 500);
    for (const form of ['gzip', 'plain'] as Form[]) {
      const prepared = prepareNginx({
        root: tree,
        host: '127.0.0.1',
        port: port++,
        workerProcesses: 1,
        accessLog: 'off',
        gzipStatic: form === 'gzip',
      });
      const child = spawnNginx(prepared, ['ignore', 'ignore', 'pipe']);
      const url = `http://127.0.0.1:${port - 1}`;
      servers.push({
        form,
        url,
        pid: child.pid!,
        stop: async () => {
          await stopNginx(child);
          prepared.cleanup();
        },
      });
      await waitForHealthy(`${url}/healthz`, child, 15000, () => '');
    }
    const samples: Record<Form, Array<{ client: number; server: number }>> = { gzip: [], plain: [] };
    for (const form of abbaOrder<Form>('gzip', 'plain', rounds)) {
      const s = servers.find((x) => x.form === form)!;
      const requests = index.plugins.map((p) => `${s.url}${p.path} ${p.sha256}\n`).join('');
      const before = treeCpuSeconds(s.pid);
      const r = await fetchAll(requests);
      if (r.bytes !== plainBytes)
        throw new Error(`the fetcher verified ${r.bytes} bytes, the modules are ${plainBytes}`);
      samples[form].push({ client: r.cpu, server: treeCpuSeconds(s.pid) - before });
    }
    const perMB = (form: Form, k: 'client' | 'server') => median(samples[form].map((x) => x[k])) / (plainBytes / 1e6);
    const setPlain = set.reduce((a, p) => a + p.wasm.length, 0);
    const m: DecodeMeasurement = {
      measured: new Date().toISOString().slice(0, 10),
      command: 'npm run bench -- gzip-decode',
      modules: goModules.length,
      plainBytes,
      gzipBytes,
      rounds,
      plainClientCpuPerMB: perMB('plain', 'client'),
      gzipClientCpuPerMB: perMB('gzip', 'client'),
      plainServerCpuPerMB: perMB('plain', 'server'),
      gzipServerCpuPerMB: perMB('gzip', 'server'),
      set: { plugins: set.length, plainBytes: setPlain, gzipBytes: Math.round((setPlain * gzipBytes) / plainBytes) },
    };
    fs.writeFileSync(FIXTURE, `${JSON.stringify(m, null, 2)}\n`);
    const row = (form: Form) =>
      `| ${form} | ${samples[form].map((x) => x.client.toFixed(2)).join(', ')} | ${samples[form]
        .map((x) => x.server.toFixed(2))
        .join(', ')} |`;
    return {
      title: 'Gzip on the gateway: decode cost and when precompressed serving pays',
      body: [
        `CPU of the gateway's fetcher for ${goModules.length} modules (${(plainBytes / 1e6).toFixed(0)} MB of wasm) per run, and of Nginx serving them:`,
        '',
        '| served as | fetcher CPU-s per run | Nginx CPU-s per run |',
        '| --- | --- | --- |',
        row('gzip'),
        row('plain'),
        '',
        renderGzipSection(m),
        '',
        'Reproduce: `npm run bench -- gzip-decode` (`BENCH_GZIP_MODULES=<n>`, `BENCH_GZIP_ROUNDS=<n>`); then `npm run docs` renders docs/gzip.md from the figures.',
      ].join('\n'),
    };
  } finally {
    for (const s of servers) await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
