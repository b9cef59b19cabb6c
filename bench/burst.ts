/**
 * Rollout burst: G gateways start at once and each fetches every plugin of a default-image-like tree
 * with the gateway's own fetcher (test/gateway-client: Istio's pkg/wasm, which asks for gzip, decodes
 * it and checks the sha256 from index.json), against the upstream plugin-server config
 * (bench/fixtures/upstream-nginx.conf) and image/nginx.conf serving the same tree over the same link:
 *   - in-cluster link: tbf 1 Gbit/s each way (the server's egress) on a veth pair, shaped in the
 *     kernel only (bench/testbed.ts says why there is no added delay), G = 1, 8, 32;
 *   - the fastest link this machine sustains (unshaped veth), one gateway.
 * Measured per cell, in ABBA rounds: time until every gateway verified every plugin, bytes the server
 * sent on the link, server CPU (Nginx master + workers), client CPU (all gateway processes), delay-line
 * CPU. Then the cluster model (bench/model.ts) with those inputs for 2 replicas and 10/50/200 gateways.
 * Environment: BENCH_BURST_ROUNDS (default 1 ABBA round: each server twice per cell; G = 32, which
 * takes minutes per run, once each unless BENCH_BURST_ROUNDS is set),
 * BENCH_BURST_GATEWAYS (default "1,8,32").
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { shippedConfigPath } from '../src/serve/nginx-runtime';
import { barChart, ChartRow } from './charts';
import { clusterTime, ClusterShape, gzipBreakEvenBps, ModelInput } from './model';
import { pluginSet, PluginModule } from './plugin-set';
import type { BenchSection } from './section';
import { NginxInBed, pushToStorage, runIn, runInWithCpu, startNginxIn, startRegistryIn, writeList } from './servers';
import { median } from './stats';
import { LinkProfile, machineCpuTicks, PROFILES, Testbed, treeCpuSeconds } from './testbed';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'build', 'src', 'cli.js');
const UPSTREAM_CONF = path.join(ROOT, 'bench', 'fixtures', 'upstream-nginx.conf');
/** Share of the machine's CPU above which the clients, not the link or the server, set the pace. */
const CPU_BOUND_SHARE = 0.8;

interface Sample {
  seconds: number;
  wireBytes: number;
  serverCpu: number;
  clientCpu: number;
  delayCpu: number;
  /** Share of the whole machine's CPU time that was busy during the run (any process). */
  machineBusy: number;
  /** Fetches that did not end verified (all gateways). */
  failed: number;
}

interface Cell {
  profile: LinkProfile;
  gateways: number;
  samples: Record<'upstream' | 'ours', Sample[]>;
}

interface FetchLine {
  url: string;
  ok: boolean;
  error?: string;
  bytes: number;
  seconds: number;
}

async function burst(
  gatewayClient: string,
  bed: Testbed,
  server: NginxInBed,
  profile: LinkProfile,
  gateways: number,
  listFile: string,
  modules: PluginModule[],
  cacheRoot: string,
): Promise<Sample> {
  await bed.shape(profile);
  const wire0 = await bed.serverTxBytes(profile);
  const server0 = treeCpuSeconds(server.child.pid!);
  const delay0 = bed.delayLineCpu();
  const ticks0 = machineCpuTicks();
  const t0 = process.hrtime.bigint();
  const runs = await Promise.all(
    Array.from({ length: gateways }, (_, i) => {
      const cache = path.join(cacheRoot, `g${i}`);
      fs.mkdirSync(cache, { recursive: true });
      return runInWithCpu(bed, 'client', gatewayClient, ['-from', listFile, '-cache-dir', cache], { allowFail: true });
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const ticks1 = machineCpuTicks();
  // A failed fetch (Istio's own timeout or checksum error) is counted and shown, not hidden: the time
  // until all verified then does not stand for a successful rollout.
  let failed = 0;
  for (const r of runs) {
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as FetchLine);
    const bad = lines.filter((l) => !l.ok);
    failed += bad.length + Math.max(0, modules.length - lines.length);
    if (bad.length)
      process.stderr.write(
        `bench burst: ${server.label}: ${bad.length} failed fetch(es), e.g. ${bad[0].url}: ${bad[0].error}\n`,
      );
    if (!lines.length)
      throw new Error(
        `gateway-client against ${server.label} gave no result (exit ${r.code}): ${r.stderr.slice(-500)}`,
      );
  }
  return {
    seconds,
    wireBytes: (await bed.serverTxBytes(profile)) - wire0,
    serverCpu: treeCpuSeconds(server.child.pid!) - server0,
    clientCpu: runs.reduce((a, r) => a + r.cpuSeconds, 0),
    delayCpu: bed.delayLineCpu() - delay0,
    machineBusy: (ticks1.busy - ticks0.busy) / Math.max(1, ticks1.total - ticks0.total),
    failed,
  };
}

/** Median of each measure over the samples of one server in one cell. */
function med(samples: Sample[]): Sample {
  const m = (f: (s: Sample) => number) => median(samples.map(f));
  return {
    seconds: m((s) => s.seconds),
    wireBytes: m((s) => s.wireBytes),
    serverCpu: m((s) => s.serverCpu),
    clientCpu: m((s) => s.clientCpu),
    delayCpu: m((s) => s.delayCpu),
    machineBusy: m((s) => s.machineBusy),
    failed: samples.reduce((a, s) => a + s.failed, 0),
  };
}

/** Single-flow throughput of a link: a plain download of the largest module, best of three. */
async function linkGbps(bed: Testbed, url: string): Promise<number> {
  const speeds: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await runIn(bed, 'client', 'curl', ['-s', '-o', '/dev/null', '-w', '%{speed_download}', url]);
    speeds.push((Number(r.stdout) * 8) / 1e9);
  }
  return Math.max(...speeds);
}

/** Median TCP connect time (one round trip) from the client namespace, in ms. */
async function rttMs(bed: Testbed, url: string): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await runIn(bed, 'client', 'curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{time_connect}',
      url.replace(/plugin\.wasm$/, 'metadata.txt'),
    ]);
    xs.push(Number(r.stdout) * 1000);
  }
  return median(xs);
}

export async function run(): Promise<BenchSection> {
  // The gateway's fetcher (test/gateway-client), built into .tools/bin by scripts/install-test-tools.sh.
  // (Resolved here: compiled into build/, the test resolver's repository root is build/.)
  const installed = path.join(ROOT, '.tools', 'bin', 'gateway-client');
  const gatewayClient = fs.existsSync(installed)
    ? installed
    : (await import('../test/support/tools')).tool('gateway-client');
  const rounds = Math.max(1, Number(process.env.BENCH_BURST_ROUNDS ?? 1));
  const gatewayCounts = (process.env.BENCH_BURST_GATEWAYS ?? '1,8,32').split(',').map(Number);
  const cores = os.cpus().length;
  const modules = pluginSet();
  const largest = modules.reduce((a, m) => (m.wasm.length > a.wasm.length ? m : a));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-bench-burst-'));
  // Gateway module caches in memory: on a cluster each gateway writes to its own node's disk, here 32
  // of them would share one.
  const cacheRoot = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'hps-bench-gw-'));
  const bed = await Testbed.create();
  const cells: Cell[] = [];
  const loadBefore = os.loadavg();
  let fastestGbps = 0;
  const rtts: Record<string, number> = {};
  let gzipBytes = 0;
  try {
    // The tree: our pull of the set from a registry, as the image build does (default gzip level).
    const storage = path.join(work, 'registry');
    await pushToStorage(modules, storage);
    const registry = await startRegistryIn(bed, storage, 5000, work);
    const tree = path.join(work, 'tree');
    try {
      const list = path.join(work, 'plugins.properties');
      writeList(list, modules, '127.0.0.1:5000');
      process.stderr.write('bench burst: pulling the tree...\n');
      await runIn(bed, 'server', process.execPath, [CLI, 'pull', list, '--out', tree]);
    } finally {
      await registry.stop();
    }
    const index = JSON.parse(fs.readFileSync(path.join(tree, 'plugins', 'index.json'), 'utf8')) as unknown;
    const shaFromIndex = indexSha256(index);
    for (const m of modules) {
      if (shaFromIndex.get(`${m.name}/${m.tag}`) !== m.sha256)
        throw new Error(`index.json has no sha256 ${m.sha256} for ${m.name}/${m.tag}`);
      gzipBytes += fs.statSync(path.join(tree, 'plugins', m.name, m.tag, 'plugin.wasm.gz')).size;
    }
    const servers = {
      upstream: await startNginxIn(bed, 'upstream', tree, UPSTREAM_CONF, 8080, cores, '/plugins/index.json'),
      ours: await startNginxIn(bed, 'image/nginx.conf', tree, shippedConfigPath(), 8081, cores, '/healthz'),
    };
    try {
      const lists = new Map<string, string>();
      const listFor = (profile: LinkProfile, which: 'upstream' | 'ours') => {
        const key = `${profile.key}/${which}`;
        if (!lists.has(key)) {
          const file = path.join(work, `gateways-${key.replace('/', '-')}.txt`);
          const base = `http://${bed.address(profile, 'server')}:${servers[which].port}`;
          // The sha256 each WasmPlugin would carry: the one index.json lists.
          fs.writeFileSync(
            file,
            modules
              .map((m) => `${base}/plugins/${m.name}/${m.tag}/plugin.wasm ${shaFromIndex.get(`${m.name}/${m.tag}`)}`)
              .join('\n') + '\n',
          );
          lists.set(key, file);
        }
        return lists.get(key)!;
      };
      const plan: Array<[LinkProfile, number]> = [
        ...gatewayCounts.map((g): [LinkProfile, number] => [PROFILES.cluster1g, g]),
        [PROFILES.fastest, 1],
      ];
      for (const [profile, gateways] of plan) {
        await bed.shape(profile);
        const probeUrl = `http://${bed.address(profile, 'server')}:${servers.upstream.port}/plugins/${largest.name}/${largest.tag}/plugin.wasm`;
        if (rtts[profile.key] === undefined) rtts[profile.key] = await rttMs(bed, probeUrl);
        if (profile === PROFILES.fastest && !fastestGbps) fastestGbps = await linkGbps(bed, probeUrl);
        const cell: Cell = { profile, gateways, samples: { upstream: [], ours: [] } };
        // ABBA rounds; the largest burst (minutes per run) is measured interleaved once, A then B.
        const order: Array<'upstream' | 'ours'> =
          gateways >= 32 && !process.env.BENCH_BURST_ROUNDS
            ? ['upstream', 'ours']
            : Array.from({ length: rounds }, () => ['upstream', 'ours', 'ours', 'upstream'] as const).flat();
        for (const which of order) {
          process.stderr.write(`bench burst: ${profile.key}, G=${gateways}, ${which}...\n`);
          cell.samples[which].push(
            await burst(
              gatewayClient,
              bed,
              servers[which],
              profile,
              gateways,
              listFor(profile, which),
              modules,
              cacheRoot,
            ),
          );
        }
        cells.push(cell);
      }
    } finally {
      await servers.upstream.stop();
      await servers.ours.stop();
    }
  } finally {
    await bed.destroy();
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(cacheRoot, { recursive: true, force: true });
  }
  return report({ cells, modules, cores, rounds, fastestGbps, rtts, gzipBytes, loadBefore, loadAfter: os.loadavg() });
}

/** `plugins/<name>/<version>` → sha256 from index.json, whatever its exact layout (a list or a map of versions). */
function indexSha256(index: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (typeof o.name === 'string' && typeof o.version === 'string' && typeof o.sha256 === 'string')
      out.set(`${o.name}/${o.version}`, o.sha256);
    Object.values(o).forEach(visit);
  };
  visit(index);
  return out;
}

interface ReportInput {
  cells: Cell[];
  modules: PluginModule[];
  cores: number;
  rounds: number;
  fastestGbps: number;
  rtts: Record<string, number>;
  gzipBytes: number;
  loadBefore: number[];
  loadAfter: number[];
}

async function report(r: ReportInput): Promise<BenchSection> {
  const fetches = r.modules.length;
  const plainBytes = r.modules.reduce((a, m) => a + m.wasm.length, 0);
  const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  const rows: string[] = [];
  const chart: ChartRow[] = [];
  const bytesChart: ChartRow[] = [];
  const share = (s: Sample) => (s.clientCpu + s.serverCpu + s.delayCpu) / (s.seconds * r.cores);
  for (const c of r.cells) {
    const u = med(c.samples.upstream);
    const o = med(c.samples.ours);
    const where =
      c.profile === PROFILES.fastest ? `fastest (veth, ${r.fastestGbps.toFixed(1)} Gbit/s)` : '1 Gbit/s (tbf)';
    const runs = (xs: Sample[]) => xs.map((s) => s.seconds.toFixed(2)).join(', ');
    for (const [label, s, xs] of [
      ['upstream', u, c.samples.upstream],
      ['image/nginx.conf', o, c.samples.ours],
    ] as Array<[string, Sample, Sample[]]>) {
      rows.push(
        `| ${where} | ${c.gateways} | ${label} | ${s.seconds.toFixed(2)} s${s.failed ? ` (**${s.failed} fetches failed**)` : ''} | ${runs(xs)} | ${mb(s.wireBytes)} | ${s.serverCpu.toFixed(2)} s | ${((s.clientCpu / (c.gateways * fetches)) * 1000).toFixed(0)} ms | ${s.delayCpu.toFixed(1)} s | ${(share(s) * 100).toFixed(0)}% | ${(s.machineBusy * 100).toFixed(0)}% |`,
      );
    }
    rows.push(
      `| | | ours / upstream | **${(o.seconds / u.seconds).toFixed(2)}×** time | | **${(o.wireBytes / u.wireBytes).toFixed(3)}×** bytes | | | | | |`,
    );
    const group =
      c.profile === PROFILES.fastest
        ? `1 gateway, fastest link (${r.fastestGbps.toFixed(1)} Gbit/s)`
        : `G = ${c.gateways}, 1 Gbit/s server egress`;
    chart.push(
      { group, series: 'upstream config', value: u.seconds },
      { group, series: 'image/nginx.conf', value: o.seconds },
    );
    bytesChart.push(
      { group, series: 'upstream config', value: u.wireBytes / 1e6 },
      { group, series: 'image/nginx.conf', value: o.wireBytes / 1e6 },
    );
  }
  const inCluster = r.cells.filter((c) => c.profile === PROFILES.cluster1g);
  // The largest G where neither server's run used more than CPU_BOUND_SHARE of the machine's cores.
  // Other work on the machine counts too: a run during which the whole machine was busy is CPU-bound.
  const unbound = inCluster.filter((c) =>
    [med(c.samples.upstream), med(c.samples.ours)].every((s) => share(s) <= CPU_BOUND_SHARE && s.machineBusy <= 0.9),
  );
  const chosen = unbound[unbound.length - 1] ?? inCluster[0];
  const cu = med(chosen.samples.upstream);
  const co = med(chosen.samples.ours);
  const fastest = r.cells.find((c) => c.profile === PROFILES.fastest);

  // Model inputs: per gateway, from the in-cluster cell with the most gateways the cores did not bound.
  const input = (s: Sample): ModelInput => ({
    bytesPerGateway: s.wireBytes / chosen.gateways,
    serverCpuPerGateway: s.serverCpu / chosen.gateways,
    clientCpuPerGateway: s.clientCpu / chosen.gateways,
  });
  const shape = (gateways: number): ClusterShape => ({
    gateways,
    replicas: 2,
    serverEgressBps: 1e9,
    serverCoresPerReplica: 0.5,
    gatewayLinkBps: 1e9,
  });
  const modelRows: string[] = [];
  const modelChart: ChartRow[] = [];
  let model50 = NaN;
  for (const g of [10, 50, 200]) {
    const mu = clusterTime(input(cu), shape(g));
    const mo = clusterTime(input(co), shape(g));
    if (g === 50) model50 = mo.seconds / mu.seconds;
    modelRows.push(
      `| ${g} | ${mu.seconds.toFixed(1)} s (${mu.bound}) | ${mo.seconds.toFixed(1)} s (${mo.bound}) | ${(mo.seconds / mu.seconds).toFixed(2)}× |`,
    );
    modelChart.push(
      { group: `${g} gateways, 2 replicas`, series: 'upstream config', value: mu.seconds },
      { group: `${g} gateways, 2 replicas`, series: 'image/nginx.conf', value: mo.seconds },
    );
  }
  const burstSvg = await barChart(
    'burst',
    `Rollout burst: seconds until every gateway verified all ${fetches} plugins`,
    'seconds',
    chart,
  );
  const bytesSvg = await barChart('burst-bytes', 'Rollout burst: MB the server sent on the link', 'MB', bytesChart);
  const modelSvg = await barChart(
    'burst-model',
    'Cluster model (own node per gateway): seconds to finish a rollout',
    'seconds',
    modelChart,
  );

  const singleLines: string[] = [];
  if (fastest) {
    const fu = med(fastest.samples.upstream);
    const fo = med(fastest.samples.ours);
    const speed = fu.seconds / fo.seconds;
    const extraCpu = fo.clientCpu - fu.clientCpu;
    const breakEven = gzipBreakEvenBps(plainBytes, r.gzipBytes, extraCpu);
    singleLines.push(
      `- Single gateway on the fastest link (${r.fastestGbps.toFixed(1)} Gbit/s single flow, unshaped veth): ours runs at **${speed.toFixed(2)}×** upstream's speed (target ≥ 0.9×: ${verdict(speed >= 0.9)}).`,
      `  Decoding gzip costs this client ${extraCpu.toFixed(2)} CPU-s more for the ${mb(plainBytes)} set (${((extraCpu / plainBytes) * 14e6 * 1000).toFixed(0)} ms per 14 MB) and saves ${mb(plainBytes - r.gzipBytes)}:`,
      `  gzip pays off for one gateway on links below **${Number.isFinite(breakEven) ? `${(breakEven / 1e9).toFixed(2)} Gbit/s` : 'any speed'}** (saved bits / added decode time), and at any speed once gateways share the server's egress.`,
    );
  }
  const body = [
    `![burst chart](${burstSvg})`,
    '',
    `![burst bytes chart](${bytesSvg})`,
    '',
    `![cluster model chart](${modelSvg})`,
    '',
    `Each gateway is one \`gateway-client\` process (test/gateway-client: Istio's \`pkg/wasm\`, as Higress's pilot-agent fetches: asks for gzip,`,
    `decodes, checks the sha256) fetching all ${fetches} plugins of the tree in turn, each with the sha256 from \`index.json\` and an empty cache.`,
    `The tree: \`higress-plugin-server pull\` of the ${fetches}-plugin set of the pull section (${mb(plainBytes)} of wasm, ${mb(r.gzipBytes)} of .gz at the default level).`,
    `Both servers run on the real Nginx with ${r.cores} workers, side by side in the server namespace, over the same link; all gateways run in the client namespace.`,
    `In-cluster link: a veth pair with tbf 1 Gbit/s each way, shaped in the kernel only (measured TCP connect ${r.rtts.cluster1g?.toFixed(2)} ms, the veth's own round trip);`,
    'the 0.1 ms each way of a 0.2 ms in-cluster round trip would need the userspace delay line, whose CPU comes out of the cores the gateways decode on and grows with the bytes sent,',
    'while 0.2 ms at 1 Gbit/s is 25 KB in flight, far below one TCP window (bench/testbed.ts). Fastest: the unshaped veth (connect ' +
      `${r.rtts.fastest?.toFixed(2)} ms).`,
    `${r.rounds} ABBA round(s) per cell (upstream, ours, ours, upstream), G = 32 once interleaved (upstream, ours); medians; "runs" lists every run. Wire = bytes the server sent on the link (IP, per run).`,
    `Server CPU = Nginx master + workers; client CPU per fetch = CPU of all gateway processes / fetches; CPU share (bench) = (client + server + delay line) / (wall × ${r.cores} cores); machine busy = all processes (/proc/stat), other work included.`,
    `This is a ${r.cores}-core machine shared by server, clients and the link emulator. Load average before: ${r.loadBefore.map((x) => x.toFixed(2)).join(' / ')}, after: ${r.loadAfter.map((x) => x.toFixed(2)).join(' / ')}.`,
    '',
    '| link | G | server config | all verified (median) | runs (s) | wire | server CPU | client CPU / fetch | delay line CPU | CPU share (bench) | machine busy |',
    '| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `- Largest G where the machine's cores do not bound the clients (CPU share of the bench ≤ ${CPU_BOUND_SHARE * 100}% and machine busy ≤ 90% for both servers): **G = ${chosen.gateways}**${unbound.length ? '' : ' (none qualified: G = 1 shown)'}.`,
    `  There, all gateways done in **${(co.seconds / cu.seconds).toFixed(2)}×** upstream's time (target ≤ 0.4×: ${verdict(co.seconds / cu.seconds <= 0.4)}); bytes **${(co.wireBytes / cu.wireBytes).toFixed(3)}×** (target ≤ 0.27×: ${verdict(co.wireBytes / cu.wireBytes <= 0.27)}).`,
    ...singleLines,
    `- Gateway fetches that did not end verified, all runs: ${r.cells.reduce((a, c) => a + med(c.samples.upstream).failed + med(c.samples.ours).failed, 0)} (target 0).`,
    '',
    '**Cluster model** (every gateway on its own node; `bench/model.ts`): time ≈ max(G · bytes per gateway / (2 replicas × 1 Gbit/s egress),',
    "G · server CPU per gateway / (2 × 0.5 core, the chart's CPU limit), bytes per gateway / 1 Gbit/s gateway link + client CPU per gateway),",
    `with per-gateway inputs measured at G = ${chosen.gateways} above: upstream ${mb(cu.wireBytes / chosen.gateways)}, ${(cu.serverCpu / chosen.gateways).toFixed(2)} server CPU-s, ${(cu.clientCpu / chosen.gateways).toFixed(2)} client CPU-s;`,
    `ours ${mb(co.wireBytes / chosen.gateways)}, ${(co.serverCpu / chosen.gateways).toFixed(2)} server CPU-s, ${(co.clientCpu / chosen.gateways).toFixed(2)} client CPU-s.`,
    '',
    '| gateways (2 replicas) | upstream | image/nginx.conf | ours / upstream |',
    '| ---: | ---: | ---: | ---: |',
    ...modelRows,
    '',
    `- Model, 50 gateways and 2 replicas: **${model50.toFixed(2)}×** upstream's time (target ≤ 0.4×: ${verdict(model50 <= 0.4)}).`,
    '',
    'Reproduce: `npm run bench -- burst` (`BENCH_BURST_ROUNDS=<n>`, `BENCH_BURST_GATEWAYS=1,8,32`).',
  ];
  return { title: 'Rollout burst: real gateway fetcher over shaped links', body: body.join('\n') };
}
