/**
 * Air-gap benchmark: the shipped list's shape (same names, repository paths and tags) pushed to a
 * local distribution registry A as distinct ~12 MB modules (esbuild.wasm + a custom section naming
 * the plugin: nothing can be shared), then, side by side in one run:
 *   bundle           `bundle` of the list into one OCI layout tar (cold, from A)
 *   oras bundle      the upstream-tool way: `oras cp --to-oci-layout` per plugin in sequence into one
 *                    layout folder, then `tar -cf` of it
 *   pull offline     `pull oci-layout:<bundle>` into an empty tree (A is not asked)
 *   mirror           `mirror oci-layout:<bundle> --to B/higress` into an empty registry B
 *   oras mirror      `oras cp --from-oci-layout` per plugin in sequence into an empty registry B
 *   mirror again     the same `mirror` once more (everything present: HEAD requests only)
 * Environment: BENCH_AIRGAP_RUNS (default 3) runs of each, the median is reported; BENCH_AIRGAP_PLUGINS
 * (default: all) takes only the first n plugins of the list, for a shorter run on a shared machine.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BenchSection } from './section';
import { median } from './stats';
import { wasmVariant } from './wasm-variant';

const ROOT = path.resolve(__dirname, '..', '..');

interface Entry {
  name: string;
  repository: string;
  tag: string;
}

function readList(file: string): Entry[] {
  const out: Entry[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = line.trim().match(/^([A-Za-z0-9][\w.-]*)\s*=\s*oci:\/\/[^/]+\/([^:@\s]+):([\w.-]+)$/);
    if (m && !out.some((e) => e.name === m[1])) out.push({ name: m[1], repository: m[2], tag: m[3] });
  }
  return out;
}

function exec(cmd: string, args: string[], cwd = ROOT): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-2000);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}: ${err}`)),
    );
  });
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function run(): Promise<BenchSection> {
  process.env.PATH = `${path.join(ROOT, '.tools', 'bin')}${path.delimiter}${process.env.PATH ?? ''}`;
  const runs = Math.max(1, Number(process.env.BENCH_AIRGAP_RUNS ?? 3));
  const { startRegistry, pushWasmArtifact } = await import('../test/support/registry');
  const { tool } = await import('../test/support/tools');
  const oras = tool('oras');
  const cli = path.join(ROOT, 'build', 'src', 'cli.js');
  const all = readList(path.join(ROOT, 'image', 'plugins.properties'));
  const entries = all.slice(0, Math.max(1, Number(process.env.BENCH_AIRGAP_PLUGINS ?? all.length)));
  const esbuild = fs.readFileSync(require.resolve('esbuild-wasm/esbuild.wasm'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-airgap-'));
  const A = await startRegistry();
  const r = {
    bundle: [] as number[],
    orasBundle: [] as number[],
    pull: [] as number[],
    mirror: [] as number[],
    orasMirror: [] as number[],
    again: [] as number[],
  };
  let bundleBytes = 0;
  let totalBytes = 0;
  try {
    for (const e of entries) {
      const wasm = wasmVariant(esbuild, `${e.name}:${e.tag}`);
      totalBytes += wasm.length;
      await pushWasmArtifact(A, e.repository, e.tag, wasm, {
        annotations: { 'org.opencontainers.image.created': '2025-01-01T00:00:00Z' },
      });
    }
    const list = path.join(work, 'plugins.properties');
    fs.writeFileSync(list, entries.map((e) => `${e.name}=oci://${A.host}/${e.repository}:${e.tag}`).join('\n') + '\n');
    const ours = (...args: string[]) => exec(process.execPath, [cli, ...args]);
    for (let i = 0; i < runs; i++) {
      const bundle = path.join(work, `bundle-${i}.oci.tar`);
      r.bundle.push(await timed(() => ours('bundle', list, '--out', bundle)));
      bundleBytes = fs.statSync(bundle).size;
      const layout = path.join(work, `oras-layout-${i}`);
      r.orasBundle.push(
        await timed(async () => {
          for (const e of entries)
            await exec(oras, [
              'cp',
              '--from-plain-http',
              `${A.host}/${e.repository}:${e.tag}`,
              '--to-oci-layout',
              `${layout}:${e.name}-${e.tag}`,
            ]);
          await exec('tar', ['-cf', `${layout}.tar`, '-C', layout, '.']);
        }),
      );
      const tree = path.join(work, `tree-${i}`);
      r.pull.push(await timed(() => ours('pull', `oci-layout:${bundle}`, '--out', tree)));
      const B = await startRegistry();
      try {
        r.mirror.push(
          await timed(() =>
            ours(
              'mirror',
              `oci-layout:${bundle}`,
              '--to',
              `${B.host}/higress`,
              '--write-list',
              path.join(work, `mirror-${i}.properties`),
            ),
          ),
        );
        r.again.push(
          await timed(() =>
            ours(
              'mirror',
              `oci-layout:${bundle}`,
              '--to',
              `${B.host}/higress`,
              '--write-list',
              path.join(work, `mirror-${i}.properties`),
            ),
          ),
        );
      } finally {
        await B.stop();
      }
      const B2 = await startRegistry();
      try {
        r.orasMirror.push(
          await timed(async () => {
            for (const e of entries)
              await exec(oras, [
                'cp',
                '--from-oci-layout',
                `${layout}:${e.name}-${e.tag}`,
                '--to-plain-http',
                `${B2.host}/higress/${e.repository}:${e.tag}`,
              ]);
          }),
        );
      } finally {
        await B2.stop();
      }
      for (const p of [bundle, layout, `${layout}.tar`, tree]) fs.rmSync(p, { recursive: true, force: true });
    }
  } finally {
    await A.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  const row = (label: string, xs: number[], vs?: number[]) =>
    `| ${label} | ${median(xs).toFixed(2)} s | ${vs ? `${(median(xs) / median(vs)).toFixed(2)}× the oras time` : ''} | ${xs.map((x) => x.toFixed(2)).join(', ')} |`;
  return {
    title: 'Air gap: bundle, offline pull, mirror',
    body: [
      `${entries.length} plugins (the shipped list's names and paths${entries.length < all.length ? `, the first ${entries.length} of ${all.length}` : ''}), each a distinct ${(totalBytes / entries.length / 2 ** 20).toFixed(1)} MiB module, ${(totalBytes / 2 ** 20).toFixed(0)} MiB in all, in a local distribution registry; the bundle is ${(bundleBytes / 2 ** 20).toFixed(0)} MiB. Median of ${runs} run(s), side by side in one run (\`npm run bench -- airgap\`).`,
      '',
      '| step | median | against oras | runs |',
      '| --- | --- | --- | --- |',
      row('`bundle` list → one OCI layout tar', r.bundle, r.orasBundle),
      row('`oras cp --to-oci-layout` per plugin + `tar`', r.orasBundle),
      row('`pull oci-layout:<bundle>` into an empty tree', r.pull),
      row('`mirror oci-layout:<bundle>` into an empty registry', r.mirror, r.orasMirror),
      row('`oras cp --from-oci-layout` per plugin into an empty registry', r.orasMirror),
      row('`mirror` again (everything present)', r.again),
    ].join('\n'),
  };
}
