/**
 * Bench section `scale`: how the cost of each command grows with the number of plugin versions.
 * For N = 50, 500 and 5,000 versions (BENCH_SCALE_N, e.g. `50,500,5000,20000`), the list holds N
 * `file:` plugins: generated Wasm modules of 2–5 KB each, plus one real-size module (a 12 MB Go build,
 * esbuild.wasm with a tag) per 500 versions. In one run, per N:
 *   cold pull     `pull <list> --out <tree>` into an empty folder
 *   warm pull     the same again, nothing changed (only metadata should be read)
 *   verify        `verify <tree>`
 *   index         `index <tree>` (every folder current)
 *   nginx -t      `nginx -t` with image/nginx.conf on the tree (its OCI view maps included)
 *   nginx start   spawn to the first 200 on /v2/ (the OCI view), and the RSS of one worker after it
 *   bundle        `bundle` of the same versions from that Nginx (the OCI view as the source registry)
 *   pull layout   `pull oci-layout:<bundle>` into an empty tree
 *   mirror        `mirror oci-layout:<bundle>` into an empty Debian docker-registry
 * and the machine's own limits beside them: `sha256sum` over every file of the tree, `cp -r` of the
 * tree, and the registry's raw push rate (the bundle's blobs and manifests pushed by a plain HTTP loop
 * with the same concurrency as `mirror`, each blob a POST and one monolithic PUT). Every command of ours runs
 * under /usr/bin/time, which gives its peak RSS.
 */
import { spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BenchSection } from './section';
import { median, spread } from './stats';
import { leb128, wasmVariant } from './wasm-variant';
import { CHART_DIR, renderSvg } from './charts';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'build', 'src', 'cli.js');
/** Rounds of the steps that change nothing (warm pull, verify, index, nginx); one of the others. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_SCALE_ROUNDS ?? 3));
/** `mirror`'s default --concurrency, which the raw push loop uses too. */
const PUSH_CONCURRENCY = 4;
const REAL_EVERY = 500;
/**
 * Bundle, offline pull, mirror and the raw push run for N up to this (BENCH_SCALE_AIRGAP_UP_TO, default
 * every N): on a machine shared with other jobs they are the long part of a 5,000-version run.
 */
const AIRGAP_UP_TO = Number(process.env.BENCH_SCALE_AIRGAP_UP_TO ?? Infinity);
/**
 * `mirror` and the raw push run for N up to this (BENCH_SCALE_MIRROR_UP_TO, default every N): at 20,000
 * versions they take 15 minutes of a registry's own pace, while bundle and the offline pull still run.
 */
const MIRROR_UP_TO = Number(process.env.BENCH_SCALE_MIRROR_UP_TO ?? Infinity);

interface Measured {
  seconds: number;
  rssMiB: number;
}

/** Runs a command to the end under /usr/bin/time: wall seconds and peak RSS of the process tree's largest. */
function timed(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'HPS-TIME %e %M', cmd, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20000)));
    child.on('error', reject);
    child.on('exit', (code) => {
      const m = err.match(/HPS-TIME ([\d.]+) (\d+)\s*$/);
      if (code !== 0 || !m)
        reject(new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} exited ${code}: ${err.slice(-1500)}`));
      else resolve({ seconds: Number(m[1]), rssMiB: Number(m[2]) / 1024 });
    });
  });
}

const ours = (...args: string[]) => timed(process.execPath, [CLI, ...args]);
/**
 * V8 lets a heap grow to several times its live data before a full collection; BENCH_SCALE_HEAP_CAP
 * (MiB) re-runs the tree commands at the largest N with NODE_OPTIONS=--max-old-space-size=<cap>, the
 * cap an operator can set where memory is tight (docs/troubleshooting.md), to show what is live.
 */
const HEAP_CAP = Number(process.env.BENCH_SCALE_HEAP_CAP ?? 0);
const capped = (...args: string[]) =>
  timed(process.execPath, [CLI, ...args], {
    env: { ...process.env, NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP}` },
  });

/** A valid Wasm module of about `size` bytes (a custom section of filler), unique by `tag`. */
function smallModule(size: number, tag: string): Buffer {
  const name = Buffer.from('hps-filler');
  const filler = Buffer.alloc(Math.max(0, size - 24));
  const seed = createHash('sha256').update(tag).digest();
  for (let i = 0; i < filler.length; i += 32)
    createHash('sha256').update(seed).update(String(i)).digest().copy(filler, i);
  const content = Buffer.concat([leb128(name.length), name, filler]);
  return wasmVariant(
    Buffer.concat([Buffer.from('\0asm\x01\0\0\0', 'latin1'), Buffer.from([0]), leb128(content.length), content]),
    tag,
  );
}

/** Writes the N modules and their list; returns the list's path and the bytes written. */
export function writeInputs(dir: string, n: number, esbuild: Buffer): { list: string; bytes: number; real: number } {
  fs.mkdirSync(path.join(dir, 'wasm'), { recursive: true });
  const real = Math.max(1, Math.floor(n / REAL_EVERY));
  const lines: string[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const name = `p${String(i).padStart(5, '0')}`;
    // Real-size modules spread through the list, so no one slice of it holds them all.
    const isReal = i % Math.floor(n / real) === 0 && i / Math.floor(n / real) < real;
    const wasm = isReal ? wasmVariant(esbuild, name) : smallModule(2048 + ((i * 7919) % 3072), name);
    fs.writeFileSync(path.join(dir, 'wasm', `${name}.wasm`), wasm);
    bytes += wasm.length;
    lines.push(`${name}=file:wasm/${name}.wasm@1.0.0`);
  }
  const list = path.join(dir, 'plugins.properties');
  fs.writeFileSync(list, lines.join('\n') + '\n');
  return { list, bytes, real };
}

/** Every regular file under `dir`. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** `sha256sum` over every file of the tree (one process per 2,000 files, one at a time, as xargs does). */
async function sha256sumTree(tree: string, work: string): Promise<Measured> {
  const listFile = path.join(work, 'files.nul');
  fs.writeFileSync(listFile, filesUnder(tree).join('\0') + '\0');
  return timed('sh', ['-c', `xargs -0 -n 2000 sha256sum < '${listFile}' > /dev/null`]);
}

interface PushItem {
  repository: string;
  tag: string;
  manifest: Buffer;
  mediaType: string;
  blobs: string[];
}

/** What the raw push loop sends: every tag of the tree's OCI view, its blobs and manifest. */
function pushItems(tree: string): PushItem[] {
  const view = JSON.parse(fs.readFileSync(path.join(tree, 'oci', 'view.json'), 'utf8')) as {
    tags: Array<{
      name: string;
      version: string;
      manifests: Array<{ digest: string; mediaType: string }>;
      blobs: Array<{ digest: string }>;
    }>;
  };
  const kinds: Record<string, string> = {
    'application/vnd.oci.image.manifest.v1+json': 'oci-manifest',
  };
  return view.tags.map((t) => {
    const m = t.manifests[0];
    return {
      repository: `higress/plugins/${t.name}`,
      tag: t.version,
      mediaType: m.mediaType,
      manifest: fs.readFileSync(path.join(tree, 'oci', 'manifests', `${m.digest.slice(7)}.${kinds[m.mediaType]}`)),
      blobs: t.blobs.map((b) => path.join(tree, 'oci', 'blobs', b.digest.slice(7))),
    };
  });
}

/**
 * The registry's raw push rate: each blob a HEAD, then `POST /v2/<repo>/blobs/uploads/` and one
 * monolithic `PUT <location>?digest=` with the bytes, then the manifest PUT; PUSH_CONCURRENCY tags at once.
 */
async function rawPush(url: string, items: PushItem[]): Promise<number> {
  const { mapLimit } = await import('../src/content/pool');
  const t0 = process.hrtime.bigint();
  await mapLimit(items, PUSH_CONCURRENCY, async (it) => {
    for (const file of it.blobs) {
      const digest = `sha256:${path.basename(file)}`;
      const head = await fetch(`${url}/v2/${it.repository}/blobs/${digest}`, { method: 'HEAD' });
      if (head.ok) continue;
      const body = new Uint8Array(fs.readFileSync(file));
      const start = await fetch(`${url}/v2/${it.repository}/blobs/uploads/`, { method: 'POST' });
      await start.arrayBuffer();
      const location = new URL(start.headers.get('location') ?? '', url);
      location.searchParams.set('digest', digest);
      const r = await fetch(location, {
        method: 'PUT',
        body,
        headers: { 'content-type': 'application/octet-stream' },
      });
      await r.arrayBuffer();
      if (r.status !== 201) throw new Error(`blob push ${it.repository} ${digest}: HTTP ${r.status}`);
    }
    const r = await fetch(`${url}/v2/${it.repository}/manifests/${it.tag}`, {
      method: 'PUT',
      body: new Uint8Array(it.manifest),
      headers: { 'content-type': it.mediaType },
    });
    await r.arrayBuffer();
    if (r.status !== 201) throw new Error(`manifest push ${it.repository}:${it.tag}: HTTP ${r.status}`);
  });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** RSS (MiB) of each worker process of an nginx master. */
function workerRss(masterPid: number): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      if (Number(status.match(/^PPid:\s+(\d+)/m)?.[1]) !== masterPid) continue;
      out.push(Number(status.match(/^VmRSS:\s+(\d+)/m)?.[1] ?? 0) / 1024);
    } catch {
      /* gone */
    }
  }
  return out;
}

interface NginxRun {
  checkSeconds: number;
  startSeconds: number;
  workerRssMiB: number;
  masterRssMiB: number;
}

/** `nginx -t`, then nginx started to its first 200 on /v2/; stopped before returning unless `keep`. */
async function nginxRound(
  tree: string,
  port: number,
  keep: boolean,
): Promise<NginxRun & { stop?: () => Promise<void>; host: string }> {
  const { findNginx, prepareNginx, stopNginx } = await import('../src/serve/nginx-runtime');
  const nginx = findNginx();
  const prepared = prepareNginx({ root: tree, host: '127.0.0.1', port, accessLog: 'off', workerProcesses: 2 });
  try {
    const check = await timed(nginx, [...prepared.args.filter((a) => a !== '-g' && a !== 'daemon off;'), '-t']);
    const t0 = process.hrtime.bigint();
    const child = spawn(nginx, prepared.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${err}`);
      const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(
        (r) => r.arrayBuffer().then(() => r.status === 200),
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`nginx did not answer: ${err}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const startSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    // A few requests through each worker so the maps it loaded are touched.
    for (let i = 0; i < 20; i++) await fetch(`http://127.0.0.1:${port}/v2/_catalog`).then((r) => r.arrayBuffer());
    const workers = workerRss(child.pid as number);
    const master = Number(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m)?.[1] ?? 0);
    const stop = async () => {
      await stopNginx(child);
      prepared.cleanup();
    };
    const run = {
      checkSeconds: check.seconds,
      startSeconds,
      workerRssMiB: Math.max(...workers, 0),
      masterRssMiB: master / 1024,
      host: `127.0.0.1:${port}`,
    };
    if (keep) return { ...run, stop };
    await stop();
    return run;
  } catch (e) {
    prepared.cleanup();
    throw e;
  }
}

type Step =
  | 'cold pull'
  | 'warm pull'
  | 'verify'
  | 'index'
  | 'nginx -t'
  | 'nginx start'
  | 'bundle'
  | 'pull oci-layout'
  | 'mirror'
  | 'sha256sum'
  | 'cp -r'
  | 'raw push'
  | 'cold pull, heap cap'
  | 'warm pull, heap cap'
  | 'verify, heap cap'
  | 'index, heap cap';

interface Row {
  n: number;
  step: Step;
  runs: number[];
  rss?: number;
}

/** bundle from the served OCI view, pull oci-layout, mirror, and the raw push baseline. */
async function airgapSteps(
  n: number,
  dir: string,
  tree: string,
  served: { host: string; stop?: () => Promise<void> },
  add: (step: Step, ms: Measured[]) => void,
  rows: Row[],
): Promise<void> {
  const { startRegistry } = await import('../test/support/registry');
  const bundle = path.join(dir, 'bundle.oci.tar');
  try {
    const remoteList = path.join(dir, 'remote.properties');
    const names = fs.readdirSync(path.join(tree, 'plugins')).filter((x) => /^p\d+$/.test(x));
    fs.writeFileSync(remoteList, names.map((x) => `${x}=oci://${served.host}/plugins/${x}:1.0.0`).join('\n') + '\n');
    add('bundle', [await ours('bundle', remoteList, '--out', bundle)]);
  } finally {
    await served.stop?.();
  }
  add('pull oci-layout', [await ours('pull', `oci-layout:${bundle}`, '--out', path.join(dir, 'tree-offline'))]);
  fs.rmSync(path.join(dir, 'tree-offline'), { recursive: true, force: true });
  if (n > MIRROR_UP_TO) return;
  const A = await startRegistry();
  try {
    add('mirror', [
      await ours(
        'mirror',
        `oci-layout:${bundle}`,
        '--to',
        `${A.host}/higress`,
        '--write-list',
        path.join(dir, 'mirror.properties'),
      ),
    ]);
  } finally {
    await A.stop();
  }
  const B = await startRegistry();
  try {
    const seconds = await rawPush(B.url, pushItems(tree));
    rows.push({ n, step: 'raw push', runs: [seconds] });
  } finally {
    await B.stop();
  }
}

async function measureN(
  n: number,
  work: string,
  esbuild: Buffer,
  rows: Row[],
  notes: string[],
  withCap = false,
): Promise<void> {
  const { freePort } = await import('../test/support/registry');
  const dir = path.join(work, `n${n}`);
  const { list, bytes, real } = writeInputs(dir, n, esbuild);
  const tree = path.join(dir, 'tree');
  const add = (step: Step, ms: Measured[]) =>
    rows.push({ n, step, runs: ms.map((m) => m.seconds), rss: Math.max(...ms.map((m) => m.rssMiB)) });
  const repeat = async (fn: () => Promise<Measured>) => {
    const out: Measured[] = [];
    for (let r = 0; r < ROUNDS; r++) out.push(await fn());
    return out;
  };
  add('cold pull', [await ours('pull', list, '--out', tree)]);
  add('warm pull', await repeat(() => ours('pull', list, '--out', tree)));
  add('verify', await repeat(() => ours('verify', tree)));
  add('index', await repeat(() => ours('index', tree)));
  if (withCap) {
    const capTree = path.join(dir, 'tree-capped');
    add('cold pull, heap cap', [await capped('pull', list, '--out', capTree)]);
    add('warm pull, heap cap', await repeat(() => capped('pull', list, '--out', capTree)));
    add('verify, heap cap', await repeat(() => capped('verify', capTree)));
    add('index, heap cap', await repeat(() => capped('index', capTree)));
    fs.rmSync(capTree, { recursive: true, force: true });
    notes.push(
      `N = ${n}: the rows "…, heap cap" ran with NODE_OPTIONS=--max-old-space-size=${HEAP_CAP} (BENCH_SCALE_HEAP_CAP), into a tree of their own.`,
    );
  }
  const treeFiles = filesUnder(tree);
  const treeBytes = treeFiles.reduce((s, f) => s + fs.statSync(f).size, 0);
  add('sha256sum', await repeat(() => sha256sumTree(tree, dir)));
  add(
    'cp -r',
    await repeat(async () => {
      const copy = path.join(dir, 'copy');
      const m = await timed('cp', ['-r', tree, copy]);
      fs.rmSync(copy, { recursive: true, force: true });
      return m;
    }),
  );
  const nginxRuns: NginxRun[] = [];
  for (let r = 0; r < ROUNDS - 1; r++) nginxRuns.push(await nginxRound(tree, await freePort(), false));
  const served = await nginxRound(tree, await freePort(), true);
  nginxRuns.push(served);
  rows.push({ n, step: 'nginx -t', runs: nginxRuns.map((x) => x.checkSeconds) });
  rows.push({ n, step: 'nginx start', runs: nginxRuns.map((x) => x.startSeconds) });
  notes.push(
    `N = ${n}: ${real} real-size module(s), ${(bytes / 2 ** 20).toFixed(1)} MiB of input; the tree is ${treeFiles.length} files, ${(treeBytes / 2 ** 20).toFixed(0)} MiB; one Nginx worker ${median(nginxRuns.map((x) => x.workerRssMiB)).toFixed(1)} MiB RSS (master ${median(nginxRuns.map((x) => x.masterRssMiB)).toFixed(1)} MiB) after 20 requests.`,
  );
  if (n > AIRGAP_UP_TO) {
    await served.stop?.();
    notes.push(
      `N = ${n}: bundle, pull oci-layout, mirror and the raw push not run (BENCH_SCALE_AIRGAP_UP_TO=${AIRGAP_UP_TO}).`,
    );
  } else {
    await airgapSteps(n, dir, tree, served, add, rows);
    if (n > MIRROR_UP_TO)
      notes.push(`N = ${n}: mirror and the raw push not run (BENCH_SCALE_MIRROR_UP_TO=${MIRROR_UP_TO}).`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Ratios: ours against the machine's own limit for the same work. */
const AGAINST: Partial<Record<Step, Step>> = { verify: 'sha256sum', 'cold pull': 'cp -r', mirror: 'raw push' };

function lineChartSpec(rows: Row[]): object {
  const values = rows.map((r) => ({ n: r.n, step: r.step, perVersion: (median(r.runs) * 1000) / r.n }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Cost per plugin version against the number of versions (log-log)', anchor: 'start' },
    width: 520,
    height: 360,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'n', type: 'quantitative', scale: { type: 'log' }, title: 'plugin versions (N)' },
      y: { field: 'perVersion', type: 'quantitative', scale: { type: 'log' }, title: 'ms per version (median)' },
      color: { field: 'step', type: 'nominal', title: null },
    },
    config: { font: 'sans-serif' },
  };
}

export async function run(): Promise<BenchSection> {
  process.env.PATH = `${path.join(ROOT, '.tools', 'bin')}${path.delimiter}${process.env.PATH ?? ''}`;
  const ns = (process.env.BENCH_SCALE_N ?? '50,500,5000').split(',').map(Number);
  const esbuild = fs.readFileSync(require.resolve('esbuild-wasm/esbuild.wasm'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-bench-scale-'));
  const rows: Row[] = [];
  const notes: string[] = [];
  const load: string[] = [];
  const t0 = Date.now();
  try {
    for (const n of ns) {
      process.stderr.write(`bench: scale N=${n}...\n`);
      load.push(`${n}: ${os.loadavg()[0].toFixed(1)}`);
      await measureN(n, work, esbuild, rows, notes, HEAP_CAP > 0 && n === ns[ns.length - 1]);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const minutes = (Date.now() - t0) / 60000;
  const steps = [...new Set(rows.map((r) => r.step))];
  const get = (n: number, step: Step) => rows.find((r) => r.n === n && r.step === step);
  const perVersion = (r: Row | undefined) => (r ? (median(r.runs) * 1000) / r.n : NaN);
  // The growth of the per-version cost between each N and the next (the issue's target: at most 1.3×).
  const pairs = ns.slice(1).map((b, i) => [ns[i], b] as const);
  const table = [
    `| step | ${ns.map((n) => `N = ${n}: median s (spread) · ms/version · peak RSS`).join(' | ')} | ${pairs.map(([a, b]) => `ms/version at ${b} ÷ at ${a}`).join(' | ')} | against |`,
    `| --- | ${ns.map(() => '---').join(' | ')} | ${pairs.map(() => '---:').join(' | ')} | --- |`,
    ...steps.map((step) => {
      const cells = ns.map((n) => {
        const r = get(n, step);
        if (!r) return '';
        const s = spread(r.runs);
        return `${median(r.runs).toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)}) · ${perVersion(r).toFixed(3)}${r.rss ? ` · ${r.rss.toFixed(0)} MiB` : ''}`;
      });
      const growth = pairs.map(([a, b]) => {
        const g = perVersion(get(b, step)) / perVersion(get(a, step));
        return Number.isFinite(g) ? `${g.toFixed(2)}×` : '';
      });
      const vs = AGAINST[step];
      const against = vs
        ? ns
            .filter((n) => get(n, step) && get(n, vs))
            .map(
              (n) =>
                `${(median(get(n, step)?.runs ?? [NaN]) / median(get(n, vs)?.runs ?? [NaN])).toFixed(1)}× ${vs} at ${n}`,
            )
            .join(', ')
        : '';
      return `| ${step} | ${cells.join(' | ')} | ${growth.join(' | ')} | ${against} |`;
    }),
  ];
  fs.mkdirSync(CHART_DIR, { recursive: true });
  fs.writeFileSync(path.join(CHART_DIR, 'scale.svg'), (await renderSvg(lineChartSpec(rows))) + '\n');
  return {
    title: 'Scale: cost per plugin version from 50 to thousands of versions',
    body: [
      `\`npm run bench -- scale\` (N from \`BENCH_SCALE_N\`, default \`50,500,5000\`; rounds from \`BENCH_SCALE_ROUNDS\`, default ${ROUNDS}): per N, a list of N \`file:\` plugins, generated Wasm modules of 2–5 KB plus one real-size module (esbuild.wasm, 12 MB, Go) per ${REAL_EVERY} versions. Cold pull, bundle, pull oci-layout, mirror and the raw push ran once per N (bundle and the offline pull for N up to \`BENCH_SCALE_AIRGAP_UP_TO\`, mirror and the raw push up to \`BENCH_SCALE_MIRROR_UP_TO\`, default every N); the others ${ROUNDS} times (median, spread min–max). Peak RSS from \`/usr/bin/time -v\`'s maximum resident set size (the largest of the rounds). Nginx: image/nginx.conf with 2 workers, start = spawn to the first 200 on \`/v2/\`. The machine's limits beside ours: \`sha256sum\` over every file of the tree (xargs, one process per 2,000 files), \`cp -r\` of the tree, and the registry's raw push (HEAD, then a POST and one monolithic PUT per blob, then the manifest PUT, ${PUSH_CONCURRENCY} tags at once, as \`mirror\`'s default concurrency). Load average (1 min) when each N started: ${load.join(', ')} (the machine is shared: ratios measured side by side are what count). ${minutes.toFixed(1)} min in all.`,
      '',
      ...table,
      '',
      ...notes.map((x) => `- ${x}`),
      '',
      '![cost per version, log-log](bench/charts/scale.svg)',
    ].join('\n'),
  };
}
