/**
 * Pull benchmark: the shipped list's shape (43 plugins, same names and repository paths) pushed to a
 * local distribution registry, with a real ~12 MB Go-compiled module (esbuild.wasm), in two cases:
 *   distinct  every plugin a distinct copy (esbuild.wasm + a custom section naming the plugin): the
 *             worst case, nothing can be reused, 43 modules to compress;
 *   same      every plugin the same module (same manifest digest): the best case for content reuse.
 * For each case, in one run and side by side:
 *   upstream  sequential `oras cp --to-oci-layout` per plugin, then copy the wasm layer out + MD5
 *             (what Higress' Python script does today);
 *   cold 9    `higress-plugin-server pull` into an empty tree (default gzip level 9);
 *   cold 6    the same with `--gzip-level 6`;
 *   cold 1    the same with `--gzip-level 1`: the floor, nearly no compression CPU;
 *   warm      the level-9 command again on the finished tree (manifest requests only).
 * Environment: BENCH_PULL_RUNS (default 3) runs of each; the median is reported.
 */
import { execFile, spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import type { BenchSection } from './run';
import { wasmVariant } from './wasm-variant';
import { median } from './stats';

const ROOT = path.resolve(__dirname, '..', '..');
const REFERENCE_LIST = path.join(ROOT, 'test', 'fixtures', 'reference', 'plugin-server.plugins.properties');
const LIST_CANDIDATES = [REFERENCE_LIST, path.join(ROOT, 'image', 'plugins.properties')];

interface Entry {
  name: string;
  repository: string;
  tag: string;
}

/** The plain `name=oci://host/repo:tag` lines of a Higress list (extensions are skipped). */
function readList(file: string): Entry[] {
  const out: Entry[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = line.trim().match(/^([A-Za-z0-9][\w.-]*)\s*=\s*oci:\/\/[^/]+\/([^:@\s]+):([\w.-]+)$/);
    if (m && !out.some((e) => e.name === m[1])) out.push({ name: m[1], repository: m[2], tag: m[3] });
  }
  return out;
}



async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function exec(cmd: string, args: string[], cwd = ROOT): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000); });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

/** The upstream way: one `oras cp` to an OCI layout per plugin, in sequence, then extract + MD5. */
async function upstreamPull(oras: string, host: string, entries: Entry[], work: string): Promise<void> {
  const tree = path.join(work, 'plugins');
  for (const e of entries) {
    const layout = path.join(work, 'layouts', e.name);
    await exec(oras, ['cp', '--from-plain-http', `${host}/${e.repository}:${e.tag}`, '--to-oci-layout', `${layout}:${e.tag}`]);
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const blob = (d: string) => path.join(layout, 'blobs', 'sha256', d.replace('sha256:', ''));
    const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0].digest), 'utf8')) as { layers: Array<{ mediaType: string; digest: string }> };
    const layer = manifest.layers.find((l) => l.mediaType === 'application/vnd.module.wasm.content.layer.v1+wasm');
    if (!layer) throw new Error(`upstream: no wasm layer for ${e.name}`);
    const dir = path.join(tree, e.name, e.tag);
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(blob(layer.digest), path.join(dir, 'plugin.wasm'));
    const data = fs.readFileSync(path.join(dir, 'plugin.wasm'));
    const md5 = createHash('md5').update(data).digest('hex');
    fs.writeFileSync(path.join(dir, 'metadata.txt'), `Plugin Name: ${e.name}\nSize: ${data.length} bytes\nMD5: ${md5}\n`);
  }
}

interface Case {
  key: 'distinct' | 'same';
  label: string;
  modules: (e: Entry) => Buffer;
}

interface CaseResult {
  upstream: number[];
  cold9: number[];
  cold6: number[];
  cold1: number[];
  warm: number[];
  ratio9: number;
  ratio6: number;
  ratio1: number;
  totalBytes: number;
  distinctModules: number;
}

/** Sum of gzipSize / sum of size over every metadata.json of a tree. */
function gzipRatio(out: string): number {
  let raw = 0;
  let gz = 0;
  const plugins = path.join(out, 'plugins');
  for (const name of fs.readdirSync(plugins)) {
    const dir = path.join(plugins, name);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const version of fs.readdirSync(dir)) {
      const m = JSON.parse(fs.readFileSync(path.join(dir, version, 'metadata.json'), 'utf8')) as { size: number; gzipSize: number };
      raw += m.size;
      gz += m.gzipSize;
    }
  }
  return gz / raw;
}

function countPlugins(out: string): number {
  return fs.readdirSync(path.join(out, 'plugins')).filter((n) => fs.statSync(path.join(out, 'plugins', n)).isDirectory()).length;
}

async function runCase(c: Case, entries: Entry[], runs: number, oras: string, cli: string, work: string): Promise<CaseResult> {
  const { startRegistry, pushWasmArtifact } = await import('../test/support/registry');
  const reg = await startRegistry();
  const dir = path.join(work, c.key);
  fs.mkdirSync(dir);
  try {
    let totalBytes = 0;
    const seen = new Set<string>();
    for (const e of entries) {
      const wasm = c.modules(e);
      totalBytes += wasm.length;
      seen.add(createHash('sha256').update(wasm).digest('hex'));
      await pushWasmArtifact(reg, e.repository, e.tag, wasm, { annotations: { 'org.opencontainers.image.created': '2025-01-01T00:00:00Z' } });
    }
    const list = path.join(dir, 'plugins.properties');
    fs.writeFileSync(list, entries.map((e) => `${e.name}=oci://${reg.host}/${e.repository}:${e.tag}`).join('\n') + '\n');
    const r: CaseResult = { upstream: [], cold9: [], cold6: [], cold1: [], warm: [], ratio9: 0, ratio6: 0, ratio1: 0, totalBytes, distinctModules: seen.size };
    const pull = (out: string, ...extra: string[]) => exec(process.execPath, [cli, 'pull', list, '--out', out, ...extra]);
    for (let i = 0; i < runs; i++) {
      const up = path.join(dir, `upstream-${i}`);
      r.upstream.push(await timed(() => upstreamPull(oras, reg.host, entries, up)));
      fs.rmSync(up, { recursive: true, force: true });
      const out9 = path.join(dir, `ours9-${i}`);
      r.cold9.push(await timed(() => pull(out9)));
      r.warm.push(await timed(() => pull(out9)));
      if (countPlugins(out9) !== entries.length) throw new Error(`our pull produced ${countPlugins(out9)} plugin folders, expected ${entries.length}`);
      r.ratio9 = gzipRatio(out9);
      fs.rmSync(out9, { recursive: true, force: true });
      const out6 = path.join(dir, `ours6-${i}`);
      r.cold6.push(await timed(() => pull(out6, '--gzip-level', '6')));
      r.ratio6 = gzipRatio(out6);
      fs.rmSync(out6, { recursive: true, force: true });
      const out1 = path.join(dir, `ours1-${i}`);
      r.cold1.push(await timed(() => pull(out1, '--gzip-level', '1')));
      r.ratio1 = gzipRatio(out1);
      fs.rmSync(out1, { recursive: true, force: true });
    }
    return r;
  } finally {
    await reg.stop();
  }
}

export async function run(): Promise<BenchSection> {
  // Built files live in build/; the test-support tools resolver looks in .tools/bin via PATH too.
  process.env.PATH = `${path.join(ROOT, '.tools', 'bin')}${path.delimiter}${process.env.PATH ?? ''}`;
  const runs = Math.max(1, Number(process.env.BENCH_PULL_RUNS ?? 3));
  const listFile = LIST_CANDIDATES.find((f) => fs.existsSync(f));
  if (!listFile) throw new Error(`no plugin list found (looked at ${LIST_CANDIDATES.join(', ')})`);
  const entries = readList(listFile);
  const esbuild = fs.readFileSync(require.resolve('esbuild-wasm/esbuild.wasm'));
  const oras = path.join(ROOT, '.tools', 'bin', 'oras');
  const cli = path.join(ROOT, 'build', 'src', 'cli.js');
  const orasVersion = (await promisify(execFile)(oras, ['version'])).stdout.match(/Version:\s*(\S+)/)?.[1] ?? '?';
  const cases: Case[] = [
    { key: 'distinct', label: `(a) ${entries.length} distinct modules (worst case)`, modules: (e) => wasmVariant(esbuild, `${e.name}:${e.tag}`) },
    { key: 'same', label: `(b) ${entries.length} × the same module (best case for reuse)`, modules: () => esbuild },
  ];
  const loadBefore = os.loadavg();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-pull-'));
  const results: Array<[Case, CaseResult]> = [];
  try {
    for (const c of cases) results.push([c, await runCase(c, entries, runs, oras, cli, work)]);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const loadAfter = os.loadavg();

  const s = (x: number) => `${x.toFixed(2)} s`;
  const all = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
  const verdict = (ratio: number, target: number) => `**${ratio.toFixed(2)}x** (target ≥ ${target}x: ${ratio >= target ? 'met' : '**NOT met**'})`;
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  const rows: string[] = [];
  const ratios: string[] = [];
  for (const [c, r] of results) {
    const [u, c9, c6, c1, w] = [median(r.upstream), median(r.cold9), median(r.cold6), median(r.cold1), median(r.warm)];
    rows.push(
      `| ${c.label} | upstream: sequential \`oras cp\` (oras ${orasVersion}) + extract + MD5 | ${s(u)} | – | ${all(r.upstream)} |`,
      `| | ours, cold, gzip level 9 (default) | ${s(c9)} | ${r.ratio9.toFixed(4)} | ${all(r.cold9)} |`,
      `| | ours, cold, \`--gzip-level 6\` | ${s(c6)} | ${r.ratio6.toFixed(4)} | ${all(r.cold6)} |`,
      `| | ours, cold, \`--gzip-level 1\` (floor: least compression CPU) | ${s(c1)} | ${r.ratio1.toFixed(4)} | ${all(r.cold1)} |`,
      `| | ours, warm (re-run on the level-9 tree) | ${s(w)} | – | ${all(r.warm)} |`,
    );
    ratios.push(
      `- ${c.label}, ${r.distinctModules} distinct module(s), ${(r.totalBytes / 1e6).toFixed(0)} MB listed:`,
      `  cold level 9 vs upstream ${verdict(u / c9, 4)}; cold level 6 vs upstream ${verdict(u / c6, 4)} (level 1: ${(u / c1).toFixed(2)}x);`,
      `  warm vs cold level 9 ${verdict(c9 / w, 20)}.`,
    );
  }
  const body = [
    `${entries.length} plugins with the names and repository paths of \`${path.relative(ROOT, listFile) || listFile}\`, pushed to a local`,
    `distribution registry (docker-registry on 127.0.0.1), payload a real ${(esbuild.length / 1e6).toFixed(1)} MB Go-compiled module (esbuild.wasm).`,
    `Median of ${runs} run(s) of each, all measured side by side in one run. Load average (1/5/15 min) before: ${load(loadBefore)}, after: ${load(loadAfter)}`,
    `on ${os.availableParallelism()} core(s). Ours = \`node build/src/cli.js pull <list> --out <dir>\` (default concurrency 8).`,
    '',
    '| case | approach | median | .gz / wasm | runs |',
    '| --- | --- | ---: | ---: | --- |',
    ...rows,
    '',
    ...ratios,
    '',
    '**What bounds the cold pull.** Against a loopback registry the network is nearly free, but not the bytes:',
    'fetching and sha256-checking the 530 MB with our OCI client alone takes ~1.7 s on the two cores (the registry serving them',
    'competes for the same cores), already above the ~0.8 s a 4x win over upstream allows for 43 *distinct* modules.',
    'On top, ours writes `plugin.wasm.gz` (served with `gzip_static`): gzip level 9 of one 12 MB module costs ~0.7 s',
    'of CPU (level 6 ~0.24 s, level 1 ~0.08 s) and validation + md5 + sha256 ~0.05 s, i.e. ~33 CPU-seconds for 43',
    'distinct modules at level 9 (~12 at level 6). A worker-thread pool sized to the cores does it off the event',
    'loop (each module as 512 KiB chunks compressed in parallel, downloads of other plugins going on meanwhile), so',
    'the cold pull of distinct modules is bound by compression CPU / core count, not by the registry; upstream does',
    'no compression and no validation. The 4x target is therefore **not met for distinct modules at any level on 2',
    'cores**. Content reuse is what makes the shipped list cheap when modules repeat: a manifest digest is fetched',
    'once, a sha256 is validated and compressed once, a level-9 `.gz` already in the tree is copied instead of',
    'recompressed, and identical files are hardlinked between version folders, so case (b) does one download and',
    'one compression. A warm re-run sends manifest requests only; about half of its time is Node start-up and',
    'loading the CLI, so in case (b), where the cold pull is itself well under a second, 20x is out of reach.',
    '',
    'Reproduce: `npm run bench -- pull` (`BENCH_PULL_RUNS=<n>` for more runs).',
  ].join('\n');
  return { title: 'Pull: upstream oras vs cold (gzip 9 and 6) vs warm', body };
}
