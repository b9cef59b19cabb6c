/**
 * Bench section `reuse`: what a warm `pull` pays per version folder to call it current (and what
 * reusing its `.gz` for another folder costs): plugin.wasm hashed, plus plugin.wasm.gz either hashed
 * against the `gzipSha256` metadata.json records (the current check) or decoded and hashed (the
 * check for trees written before that field existed). Median of 9 runs per module, tree on the
 * local disk, files in the page cache (as on a warm rebuild).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BenchSection } from './section';
import { median } from './stats';
import { publishVersion } from '../src/tree/publish';
import { filesMatchByContent, readMetadata } from '../src/tree/read';
import { VerifiedFiles } from '../src/tree/verified-files';

const RUNS = 9;
const ROOT = path.resolve(__dirname, '..', '..');

async function timeOf(fn: () => Promise<boolean>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    if (!(await fn())) throw new Error('the folder did not check out as current');
    xs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(xs);
}

export async function run(): Promise<BenchSection> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-bench-reuse-'));
  const modules: Array<[string, string]> = [
    [
      'esbuild.wasm (Go, the size class of the largest Higress plugins)',
      require.resolve('esbuild-wasm/esbuild.wasm', { paths: [ROOT] }),
    ],
    ['add-header (AssemblyScript example)', path.join(ROOT, 'examples', 'add-header', 'plugin.wasm')],
  ];
  const rows: string[] = [];
  try {
    for (const [label, wasmPath] of modules) {
      const name = path.basename(wasmPath, '.wasm').replace(/[^a-z0-9-]/gi, '-');
      await publishVersion(dir, {
        name,
        version: '1.0.0',
        wasmPath,
        source: `file:${name}.wasm`,
        manifestDigest: null,
        created: '2025-01-01T00:00:00Z',
      });
      const folder = path.join(dir, 'plugins', name, '1.0.0');
      const meta = await readMetadata(folder);
      if (!meta?.gzipSha256) throw new Error('metadata.json has no gzipSha256');
      const legacy = { ...meta, gzipSha256: undefined };
      // A fresh, empty record each time: every run reads the files, as on a tree no pull has read yet.
      const hashed = await timeOf(() => filesMatchByContent(folder, meta, VerifiedFiles.none(dir)));
      const decoded = await timeOf(() => filesMatchByContent(folder, legacy, VerifiedFiles.none(dir)));
      rows.push(
        `| ${label} | ${(meta.size / 2 ** 20).toFixed(2)} MiB / ${(meta.gzipSize / 2 ** 20).toFixed(2)} MiB | ${hashed.toFixed(1)} ms | ${decoded.toFixed(1)} ms | ${(decoded / hashed).toFixed(1)}x |`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return {
    title: 'Reuse check of a version folder (warm pull)',
    body: [
      'Per version folder, before `pull` calls it current or copies its `.gz` for another folder: `plugin.wasm`',
      'hashed, and `plugin.wasm.gz` hashed against the `gzipSha256` recorded in `metadata.json` (what `pull`',
      'does) or, for a tree written before that field, decoded and hashed (bounded by the recorded size).',
      `Median of ${RUNS} runs, files in the page cache.`,
      '',
      '| module | raw / .gz | hash check (recorded gzipSha256) | decode check (no gzipSha256) | decode / hash |',
      '| --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n'),
  };
}
