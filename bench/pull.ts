/**
 * Pull benchmark: an image build's pull from a remote-like registry. The 43-plugin set of
 * bench/plugin-set.ts (42 Go-sized modules of 5–15 MB and one Rust-sized one, all distinct) is served by
 * docker-registry in the testbed's server namespace and pulled
 *   - over the WAN profile (200 Mbit/s, 40 ms RTT) from the client namespace, and
 *   - over loopback inside the server namespace (the network is free: only CPU shows),
 * by, interleaved in ABBA rounds:
 *   upstream  what Higress's pull_plugins.py does: one `oras cp` (pinned oras 1.2.3) per plugin, in
 *             sequence, to an OCI layout, then the wasm layer copied out + MD5;
 *   cold      `higress-plugin-server pull` into an empty tree, at the default gzip level;
 *   other     the same at the other gzip level (6 or 9), for the choice of the default;
 *   warm      the default-level command again on its finished tree (manifest requests only).
 * Reported against the link's physical bound: payload bytes / rate + the round trips that cannot be
 * pipelined (connect, manifest, blob).
 * Environment: BENCH_PULL_ROUNDS (default 1 ABBA round, i.e. each variant twice), BENCH_PULL_LINKS
 * (default "wan,loopback").
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_PULL_CONCURRENCY } from '../src/contract/concurrency';
import { barChart, ChartRow } from './charts';
import type { BenchSection } from './section';
import { pluginSet, PluginModule } from './plugin-set';
import { pushToStorage, runIn, runInWithCpu, startRegistryIn, writeList } from './servers';
import { median } from './stats';
import { LinkProfile, PROFILES, Side, Testbed } from './testbed';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'build', 'src', 'cli.js');
const ORAS = path.join(ROOT, '.tools', 'bin', 'oras');
const REGISTRY_PORT = 5000;
const WASM_LAYER = 'application/vnd.module.wasm.content.layer.v1+wasm';
/** Connect, manifest, blob: a pull of one plugin waits for each in turn, however parallel the rest. */
const UNPIPELINABLE_ROUND_TRIPS = 3;

interface Where {
  key: 'wan' | 'loopback';
  label: string;
  side: Side;
  host: string;
  profile?: LinkProfile;
}

interface Sample {
  seconds: number;
  cpuSeconds: number;
  wireBytes: number;
}

type Variant = 'upstream' | 'cold' | 'other' | 'warm' | 'raw';

/** The upstream way: one `oras cp` per plugin, in sequence, then extract + MD5 (as pull_plugins.py). */
async function upstreamPull(
  bed: Testbed,
  where: Where,
  modules: PluginModule[],
  work: string,
): Promise<{ cpuSeconds: number }> {
  let cpuSeconds = 0;
  for (const m of modules) {
    const layout = path.join(work, 'layouts', m.name);
    const r = await runInWithCpu(bed, where.side, ORAS, [
      'cp',
      '--from-plain-http',
      `${where.host}/${m.repository}:${m.tag}`,
      '--to-oci-layout',
      `${layout}:${m.tag}`,
    ]);
    cpuSeconds += r.cpuSeconds;
    const cpu0 = process.cpuUsage();
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    const blob = (d: string) => path.join(layout, 'blobs', 'sha256', d.replace('sha256:', ''));
    const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0].digest), 'utf8')) as {
      layers: Array<{ mediaType: string; digest: string }>;
    };
    const layer = manifest.layers.find((l) => l.mediaType === WASM_LAYER);
    if (!layer) throw new Error(`upstream: no wasm layer for ${m.name}`);
    const dir = path.join(work, 'plugins', m.name, m.tag);
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(blob(layer.digest), path.join(dir, 'plugin.wasm'));
    const data = fs.readFileSync(path.join(dir, 'plugin.wasm'));
    if (createHash('sha256').update(data).digest('hex') !== m.sha256)
      throw new Error(`upstream: ${m.name} has the wrong bytes`);
    const md5 = createHash('md5').update(data).digest('hex');
    fs.writeFileSync(
      path.join(dir, 'metadata.txt'),
      `Plugin Name: ${m.name}\nSize: ${data.length} bytes\nMD5: ${md5}\n`,
    );
    const used = process.cpuUsage(cpu0);
    cpuSeconds += (used.user + used.system) / 1e6;
  }
  return { cpuSeconds };
}

/** Sum of gzipSize / sum of size over every metadata.json of a tree, checking every plugin is there. */
function gzipRatio(out: string, modules: PluginModule[]): number {
  let raw = 0;
  let gz = 0;
  for (const m of modules) {
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'plugins', m.name, m.tag, 'metadata.json'), 'utf8')) as {
      size: number;
      gzipSize: number;
      sha256: string;
    };
    if (meta.sha256 !== m.sha256) throw new Error(`ours: ${m.name} has sha256 ${meta.sha256}, expected ${m.sha256}`);
    raw += meta.size;
    gz += meta.gzipSize;
  }
  return gz / raw;
}

/** The gzip level `pull` uses when none is given, as its --help states it: what users get. */
async function cliDefaultGzipLevel(): Promise<number> {
  const { execFileSync } = await import('child_process');
  const help = execFileSync(process.execPath, [CLI, 'pull', '--help'], { encoding: 'utf8' }).replace(/\s+/g, ' ');
  const m = help.match(/--gzip-level <1-9>.*?\(default: (\d)\)/);
  if (!m) throw new Error('cannot read the default gzip level from `pull --help`');
  return Number(m[1]);
}

export async function run(): Promise<BenchSection> {
  if (!fs.existsSync(ORAS)) throw new Error(`${ORAS} is missing: run bash scripts/install-test-tools.sh first`);
  const rounds = Math.max(1, Number(process.env.BENCH_PULL_ROUNDS ?? 1));
  const DEFAULT_GZIP_LEVEL = await cliDefaultGzipLevel();
  const otherLevel = DEFAULT_GZIP_LEVEL === 9 ? 6 : 9;
  const modules = pluginSet();
  const payload = modules.reduce((a, m) => a + m.wasm.length, 0);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-bench-pull-'));
  const bed = await Testbed.create();
  const loadBefore = os.loadavg();
  const results = new Map<string, Sample[]>();
  const ratios: Record<string, number> = {};
  let orasVersion: string;
  try {
    const storage = path.join(work, 'registry');
    await pushToStorage(modules, storage);
    const registry = await startRegistryIn(bed, storage, REGISTRY_PORT, work);
    try {
      orasVersion = (await runIn(bed, 'server', ORAS, ['version'])).stdout.match(/Version:\s*(\S+)/)?.[1] ?? '?';
      const places: Where[] = [
        {
          key: 'wan',
          label: PROFILES.wan.label,
          side: 'client',
          host: `${bed.address(PROFILES.wan, 'server')}:${REGISTRY_PORT}`,
          profile: PROFILES.wan,
        },
        {
          key: 'loopback',
          label: 'loopback (client and registry in one namespace, 127.0.0.1)',
          side: 'server',
          host: `127.0.0.1:${REGISTRY_PORT}`,
        },
      ];
      // BENCH_PULL_LINKS=wan (or loopback) measures one link only, for quick comparisons.
      const links = (process.env.BENCH_PULL_LINKS ?? 'wan,loopback').split(',');
      for (const where of places.filter((p) => links.includes(p.key))) {
        if (where.profile) await bed.shape(where.profile);
        const list = path.join(work, `${where.key}.properties`);
        writeList(list, modules, where.host);
        const wire = async () => (where.profile ? bed.serverTxBytes(where.profile) : 0);
        const record = (variant: Variant, s: Sample) => {
          const key = `${where.key}/${variant}`;
          results.set(key, [...(results.get(key) ?? []), s]);
        };
        let n = 0;
        const ours = async (level: number, variant: 'cold' | 'other') => {
          const out = path.join(work, `out-${where.key}-${n++}`);
          const args = [
            CLI,
            'pull',
            list,
            '--out',
            out,
            '--gzip-level',
            String(level),
            '--insecure-registry',
            where.host,
          ];
          process.stderr.write(`bench pull: ${where.key} ${variant} (level ${level})...\n`);
          let w0 = await wire();
          const cold = await runInWithCpu(bed, where.side, process.execPath, args);
          record(variant, { seconds: cold.seconds, cpuSeconds: cold.cpuSeconds, wireBytes: (await wire()) - w0 });
          ratios[`${where.key}/${level}`] = gzipRatio(out, modules);
          if (variant === 'cold') {
            w0 = await wire();
            const warm = await runInWithCpu(bed, where.side, process.execPath, args);
            record('warm', { seconds: warm.seconds, cpuSeconds: warm.cpuSeconds, wireBytes: (await wire()) - w0 });
          }
          fs.rmSync(out, { recursive: true, force: true });
        };
        const upstream = async () => {
          process.stderr.write(`bench pull: ${where.key} upstream...\n`);
          const dir = path.join(work, `upstream-${where.key}-${n++}`);
          const w0 = await wire();
          const t0 = process.hrtime.bigint();
          const r = await upstreamPull(bed, where, modules, dir);
          record('upstream', {
            seconds: Number(process.hrtime.bigint() - t0) / 1e9,
            cpuSeconds: r.cpuSeconds,
            wireBytes: (await wire()) - w0,
          });
          fs.rmSync(dir, { recursive: true, force: true });
        };
        /**
         * The blobs alone, as many at once as our default concurrency, by curl to /dev/null: no
         * manifest, no check, no disk. What this emulated link really carries, next to its bound.
         */
        const raw = async () => {
          process.stderr.write(`bench pull: ${where.key} raw transfer (curl)...\n`);
          const urls = path.join(work, 'blob-urls.txt');
          fs.writeFileSync(
            urls,
            modules.map((m) => `http://${where.host}/v2/${m.repository}/blobs/sha256:${m.sha256}`).join('\n') + '\n',
          );
          const w0 = await wire();
          const r = await runInWithCpu(bed, where.side, 'bash', [
            '-c',
            `xargs -P ${DEFAULT_PULL_CONCURRENCY} -n 1 curl -sf -o /dev/null < '${urls}'`,
          ]);
          record('raw', { seconds: r.seconds, cpuSeconds: r.cpuSeconds, wireBytes: (await wire()) - w0 });
        };
        // ABBA with the other level in the middle: upstream, ours, other, ours, upstream.
        for (let r = 0; r < rounds; r++) {
          if (where.profile) await raw();
          await upstream();
          await ours(DEFAULT_GZIP_LEVEL, 'cold');
          await ours(otherLevel, 'other');
          await ours(DEFAULT_GZIP_LEVEL, 'cold');
          await upstream();
        }
      }
    } finally {
      await registry.stop();
    }
  } finally {
    await bed.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
  const loadAfter = os.loadavg();

  const get = (key: string) => results.get(key) ?? [];
  const med = (key: string, f: (s: Sample) => number = (s) => s.seconds) => median(get(key).map(f));
  const runsOf = (key: string) =>
    get(key)
      .map((s) => s.seconds.toFixed(2))
      .join(', ');
  const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
  const wan = PROFILES.wan;
  const bound = (payload * 8) / (wan.rateMbit * 1e6) + (UNPIPELINABLE_ROUND_TRIPS * wan.rttMs) / 1000;
  const rows: string[] = [];
  const chart: ChartRow[] = [];
  const variants: Array<[Variant, string]> = [
    ['upstream', `upstream: sequential \`oras cp\` (oras ${orasVersion}) + extract + MD5`],
    ['cold', `ours, cold, gzip level ${DEFAULT_GZIP_LEVEL} (default)`],
    ['other', `ours, cold, \`--gzip-level ${otherLevel}\``],
    ['warm', 'ours, warm (re-run on the finished tree)'],
    ['raw', 'for reference: the blobs alone, 8 `curl` at a time to /dev/null'],
  ];
  for (const where of ['wan', 'loopback'] as const) {
    for (const [v, label] of variants) {
      const key = `${where}/${v}`;
      if (!get(key).length) continue;
      const wire = where === 'wan' ? mb(med(key, (s) => s.wireBytes)) : '–';
      rows.push(
        `| ${where === 'wan' ? 'WAN 200 Mbit/s, 40 ms' : 'loopback'} | ${label} | ${med(key).toFixed(2)} s | ${runsOf(key)} | ${med(key, (s) => s.cpuSeconds).toFixed(1)} s | ${wire} |`,
      );
      chart.push({
        group: where === 'wan' ? 'WAN (200 Mbit/s, 40 ms RTT)' : 'loopback',
        series: label.replace(/`/g, '').replace(/ \(oras.*?\)/, ''),
        value: med(key),
      });
    }
    if (where === 'wan')
      chart.push({ group: 'WAN (200 Mbit/s, 40 ms RTT)', series: 'physical bound of the link', value: bound });
  }
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  const up = med('wan/upstream');
  const cold = med('wan/cold');
  const other = med('wan/other');
  const warm = med('wan/warm');
  /** Why the default level is what it is, from this run's numbers. */
  const gzipChoice = (): string[] => {
    const level = (l: number) => (l === DEFAULT_GZIP_LEVEL ? 'cold' : 'other');
    const [t9, t6] = [med(`wan/${level(9)}`), med(`wan/${level(6)}`)];
    const [c9, c6] = [med(`wan/${level(9)}`, (s) => s.cpuSeconds), med(`wan/${level(6)}`, (s) => s.cpuSeconds)];
    const [r9, r6] = [ratios['wan/9'] ?? NaN, ratios['wan/6'] ?? NaN];
    const overlaps = t9 <= t6 * 1.05;
    return [
      `**The gzip level default.** Level 6 writes ${((r6 / r9 - 1) * 100).toFixed(2)}% more \`.gz\` bytes than level 9 (${r6.toFixed(4)} vs ${r9.toFixed(4)} of the wasm), bytes`,
      `every gateway downloads in every rollout; at pull time the whole pull needs ${c6.toFixed(1)} CPU-s at level 6 against ${c9.toFixed(1)} at level 9 (${((1 - c6 / c9) * 100).toFixed(0)}% less).`,
      `Over the WAN link the cold pull took ${t9.toFixed(2)} s at level 9 and ${t6.toFixed(2)} s at level 6 (${(t9 / bound).toFixed(2)}× and ${(t6 / bound).toFixed(2)}× the physical bound):`,
      overlaps
        ? 'compression overlaps the downloads fully at either level (the worker pool compresses finished plugins while the others download), so the link sets the pace.'
        : `level 9's compression does **not** overlap the downloads fully on ${os.availableParallelism()} cores (shared here with the registry and the link emulator): the pull waits for CPU, not for the link.`,
      `On loopback, where the network is free, compression is the whole difference (${med(`loopback/${level(9)}`).toFixed(2)} s at level 9, ${med(`loopback/${level(6)}`).toFixed(2)} s at level 6).`,
      `The default is therefore **level ${DEFAULT_GZIP_LEVEL}**: under 1% more bytes buys a cold pull that keeps up with the link on a small builder;`,
      '`pull --gzip-level 9` gives the smallest files where the builder has cores to spare (and lets a later pull reuse a `.gz` already in the tree).',
    ];
  };
  const svg = await barChart(
    'pull',
    `Pull of ${modules.length} distinct plugins: seconds (lower is better)`,
    'seconds',
    chart,
  );
  const body = [
    `![pull chart](${svg})`,
    '',
    `${modules.length} plugins with the names and repositories of \`image/plugins.properties\`: ${modules.length - 1} Go-sized modules of 5–15 MB and one`,
    `Rust-sized module of 1.5 MB, all distinct (slices of esbuild.wasm, a Go build, in valid Wasm modules; see \`bench/plugin-set.ts\`),`,
    `${mb(payload)} in all, served by docker-registry (distribution) in the bench's server namespace. WAN: the client namespace`,
    `reaches it over the TUN link (tbf 200 Mbit/s each way, 20 ms added each way by \`bench/delayline\`); loopback: the client runs in`,
    `the registry's namespace on 127.0.0.1. ${rounds} ABBA round(s) per link (upstream, ours, other level, ours, upstream);`,
    `CPU = user + system seconds of the pulling processes (bash \`times\`); wire = bytes the registry sent on the link.`,
    `Ours = \`node build/src/cli.js pull <list> --out <dir> --gzip-level <n> --insecure-registry <host>\` (default concurrency ${DEFAULT_PULL_CONCURRENCY}).`,
    `Load average (1/5/15 min) before: ${loadBefore.map((x) => x.toFixed(2)).join(' / ')}, after: ${loadAfter.map((x) => x.toFixed(2)).join(' / ')}.`,
    '',
    '| link | approach | median | runs (s) | CPU (median) | wire |',
    '| --- | --- | ---: | --- | ---: | ---: |',
    ...rows,
    '',
    `- Physical bound of the WAN link: ${mb(payload)} × 8 / 200 Mbit/s + ${UNPIPELINABLE_ROUND_TRIPS} round trips = **${bound.toFixed(2)} s** (TCP/IP headers add ~3.5% on the wire on top).`,
    `- Cold pull over WAN vs upstream: **${(up / cold).toFixed(2)}×** faster (target ≥ 2×: ${verdict(up / cold >= 2)}).`,
    `- Cold pull over WAN vs the physical bound: **${(cold / bound).toFixed(2)}×** the bound (target ≤ 1.25×: ${verdict(cold / bound <= 1.25)}); level ${otherLevel}: ${(other / bound).toFixed(2)}×.`,
    ...(get('wan/raw').length
      ? [
          `  The emulated link itself carries the blobs alone (8 \`curl\` at a time, nothing checked or written) in ${med('wan/raw').toFixed(2)} s, ${(med('wan/raw') / bound).toFixed(2)}× the bound: against that, the cold pull takes ${(cold / med('wan/raw')).toFixed(2)}×.`,
        ]
      : []),
    `- Warm re-pull vs cold over WAN: **${(cold / warm).toFixed(1)}×** faster (target ≥ 20×: ${verdict(cold / warm >= 20)}).`,
    `- Loopback: cold ${(med('loopback/upstream') / med('loopback/cold')).toFixed(2)}× upstream's speed, level ${otherLevel} ${(med('loopback/upstream') / med('loopback/other')).toFixed(2)}×: with a free network only CPU shows.`,
    `- .gz / wasm: level ${DEFAULT_GZIP_LEVEL} ${ratios[`wan/${DEFAULT_GZIP_LEVEL}`]?.toFixed(4)}, level ${otherLevel} ${ratios[`wan/${otherLevel}`]?.toFixed(4)} (${(((ratios['wan/6'] ?? 0) / (ratios['wan/9'] ?? 1) - 1) * 100).toFixed(2)}% more bytes at level 6).`,
    '',
    ...gzipChoice(),
    '',
    'Reproduce: `npm run bench -- pull` (`BENCH_PULL_ROUNDS=<n>` for more rounds).',
  ].join('\n');
  return { title: 'Pull: upstream oras vs ours, over WAN and loopback', body };
}
