/**
 * Pull benchmark: the shipped list's shape (43 plugins, same names and repository paths) pushed to a
 * local distribution registry, each plugin a distinct copy of a real ~12 MB Go-compiled module
 * (esbuild.wasm + a custom section naming the plugin, so no two plugins share a blob). In one run:
 *   upstream  sequential `oras cp --to-oci-layout` per plugin, then copy the wasm layer out + MD5
 *             (what Higress' Python script does today);
 *   cold      `higress-plugin-server pull` into an empty tree;
 *   warm      the same command again on the finished tree (manifest requests only).
 * Environment: BENCH_PULL_RUNS (default 3) runs of each; the median is reported.
 */
import { execFile, spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import type { BenchSection } from './run';

const ROOT = path.resolve(__dirname, '..', '..');
const REFERENCE_LIST = '/work/shared/reference/plugin-server.plugins.properties';
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

/** Appends a wasm custom section (id 0): the module stays valid, its bytes become unique. */
function withCustomSection(wasm: Buffer, label: string): Buffer {
  const leb = (n: number): number[] => {
    const bytes: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      bytes.push(b);
    } while (n);
    return bytes;
  };
  const name = Buffer.from('bench');
  const payload = Buffer.from(label);
  const body = Buffer.concat([Buffer.from(leb(name.length)), name, payload]);
  return Buffer.concat([wasm, Buffer.from([0, ...leb(body.length)]), body]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
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

export async function run(): Promise<BenchSection> {
  // Built files live in build/; the test-support tools resolver looks in .tools/bin via PATH too.
  process.env.PATH = `${path.join(ROOT, '.tools', 'bin')}${path.delimiter}${process.env.PATH ?? ''}`;
  const { startRegistry, pushWasmArtifact } = await import('../test/support/registry');
  const runs = Math.max(1, Number(process.env.BENCH_PULL_RUNS ?? 3));
  const listFile = LIST_CANDIDATES.find((f) => fs.existsSync(f));
  if (!listFile) throw new Error(`no plugin list found (looked at ${LIST_CANDIDATES.join(', ')})`);
  const entries = readList(listFile);
  const esbuild = fs.readFileSync(require.resolve('esbuild-wasm/esbuild.wasm'));
  const oras = path.join(ROOT, '.tools', 'bin', 'oras');
  const cli = path.join(ROOT, 'build', 'src', 'cli.js');
  const orasVersion = (await promisify(execFile)(oras, ['version'])).stdout.match(/Version:\s*(\S+)/)?.[1] ?? '?';
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-pull-'));
  const reg = await startRegistry();
  try {
    let totalBytes = 0;
    for (const e of entries) {
      const wasm = withCustomSection(esbuild, `${e.name}:${e.tag}`);
      totalBytes += wasm.length;
      await pushWasmArtifact(reg, e.repository, e.tag, wasm, { annotations: { 'org.opencontainers.image.created': '2025-01-01T00:00:00Z' } });
    }
    const list = path.join(work, 'plugins.properties');
    fs.writeFileSync(list, entries.map((e) => `${e.name}=oci://${reg.host}/${e.repository}:${e.tag}`).join('\n') + '\n');

    const upstream: number[] = [];
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < runs; i++) {
      const up = path.join(work, `upstream-${i}`);
      upstream.push(await timed(() => upstreamPull(oras, reg.host, entries, up)));
      fs.rmSync(up, { recursive: true, force: true });
      const out = path.join(work, `ours-${i}`);
      cold.push(await timed(() => exec(process.execPath, [cli, 'pull', list, '--out', out])));
      warm.push(await timed(() => exec(process.execPath, [cli, 'pull', list, '--out', out])));
      const count = fs.readdirSync(path.join(out, 'plugins')).filter((n) => fs.statSync(path.join(out, 'plugins', n)).isDirectory()).length;
      if (count !== entries.length) throw new Error(`our pull produced ${count} plugin folders, expected ${entries.length}`);
      fs.rmSync(out, { recursive: true, force: true });
    }
    const mU = median(upstream);
    const mC = median(cold);
    const mW = median(warm);
    const s = (x: number) => `${x.toFixed(2)} s`;
    const all = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    const coldRatio = mU / mC;
    const warmRatio = mC / mW;
    const body = [
      `${entries.length} plugins with the names and repository paths of \`${path.relative(ROOT, listFile) || listFile}\`, pushed to a local`,
      `distribution registry (docker-registry on 127.0.0.1); each is a distinct ${(esbuild.length / 1e6).toFixed(1)} MB real Go-compiled module`,
      `(esbuild.wasm + a custom section), ${(totalBytes / 1e6).toFixed(0)} MB in all. Median of ${runs} run(s), measured side by side in one run.`,
      '',
      '| approach | command | median | runs |',
      '| --- | --- | ---: | --- |',
      `| upstream | sequential \`oras cp --from-plain-http <ref> --to-oci-layout <dir>:<tag>\` (oras ${orasVersion}), copy wasm layer out, MD5 | ${s(mU)} | ${all(upstream)} |`,
      `| ours, cold | \`node build/src/cli.js pull <list> --out <empty dir>\` (default concurrency) | ${s(mC)} | ${all(cold)} |`,
      `| ours, warm | same command again on the finished tree | ${s(mW)} | ${all(warm)} |`,
      '',
      `- Cold vs upstream: **${coldRatio.toFixed(1)}x** faster (target ≥ 4x: ${coldRatio >= 4 ? 'met' : 'NOT met'}).`,
      `- Warm vs cold: **${warmRatio.toFixed(1)}x** faster (target ≥ 20x: ${warmRatio >= 20 ? 'met' : 'NOT met'}).`,
      `- Ours does more per plugin than upstream: sha256 of every manifest and blob, wasm validation, gzip -9 \`plugin.wasm.gz\`,`,
      '  metadata.json and index.json, atomic publish.',
      '',
      'Reproduce: `npm run bench -- pull` (`BENCH_PULL_RUNS=<n>` for more runs).',
    ].join('\n');
    return { title: 'Pull: upstream oras vs cold vs warm', body };
  } finally {
    await reg.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}
