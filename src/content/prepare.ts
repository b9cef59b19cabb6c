/**
 * Turning a staged wasm file into what a version folder needs (facts for metadata + plugin.wasm.gz),
 * off the main thread, and at most once per distinct content:
 *   - `analyzeWasm`: validation, md5, sha256 and CRC-32 in a pool worker;
 *   - `gzipFile`: the chunks of one module deflated in parallel by the pool (see gzip-format.ts);
 * Reuse of that work across plugins and with the tree is the pipeline's `ContentStore`
 * (src/pipeline/content-store.ts): this module knows bytes, not trees.
 */
import * as fs from 'fs';
import { CpuPool, cpuPool } from './cpu-pool';
import type { WasmFacts } from './cpu-worker';
import { DEFAULT_GZIP_LEVEL, GzipLevel } from '../contract/gzip-level';
import { gzipHeader, gzipTrailer, planChunks } from './gzip-format';
import { checkWasmSize, WasmWhere } from './wasm';

export type { WasmFacts };

/** A wasm ready to publish: its facts and a finished .gz next to it. */
export interface PreparedWasm extends WasmFacts {
  wasmPath: string;
  gzPath: string;
  gzipSize: number;
  /** Hex sha256 of the .gz file: recorded in metadata.json so a later run can reuse it after one hash. */
  gzipSha256: string;
  /** The level the .gz was written at (recorded in metadata so a later run reuses only its own level). */
  gzipLevel: GzipLevel;
  /** How the .gz was obtained (for progress and tests). */
  gz: 'compressed' | 'reused-tree' | 'reused-run';
}

/**
 * A PreparedWasm as one object literal. A pull keeps one per version until its OCI view is written,
 * and objects made by spreading the worker's facts got a hidden class each (about 0.5 KB per version,
 * 10 MB at 20,000 in a heap snapshot); built from a literal, they all share one.
 */
export function preparedWasm(facts: WasmFacts, gz: Omit<PreparedWasm, keyof WasmFacts>): PreparedWasm {
  return {
    size: facts.size,
    md5: facts.md5,
    sha256: facts.sha256,
    crc32: facts.crc32,
    wasmPath: gz.wasmPath,
    gzPath: gz.gzPath,
    gzipSize: gz.gzipSize,
    gzipSha256: gz.gzipSha256,
    gzipLevel: gz.gzipLevel,
    gz: gz.gz,
  };
}

/**
 * Validation and hashes of the wasm at `file`. `where` names the plugin a failed check belongs to;
 * content shared by several plugins is analysed without it (the caller records who failed).
 */
export async function analyzeWasm(
  file: string,
  opts: { fsync?: boolean; pool?: CpuPool; where?: WasmWhere } = {},
): Promise<WasmFacts> {
  const st = await fs.promises.stat(file);
  checkWasmSize(st.size, opts.where);
  return (opts.pool ?? cpuPool()).analyze(file, opts.fsync ?? false, opts.where);
}

/** The deflate chunks of a `size`-byte file, compressed in parallel by the pool (needs no facts yet). */
export function deflateFile(
  file: string,
  size: number,
  level = DEFAULT_GZIP_LEVEL,
  pool: CpuPool = cpuPool(),
): Promise<Uint8Array[]> {
  return Promise.all(
    planChunks(size).map((plan) => pool.run({ kind: 'deflate', file, plan, level }) as Promise<Uint8Array>),
  );
}

/** The parts of the .gz, in order: header, the deflated chunks, trailer (written as they are, see writeFileDurable). */
export function gzipParts(chunks: Uint8Array[], facts: WasmFacts, level: GzipLevel): Uint8Array[] {
  return [gzipHeader(level), ...chunks, gzipTrailer(facts.crc32, facts.size)];
}

export function assembleGzip(chunks: Uint8Array[], facts: WasmFacts, level: GzipLevel): Buffer {
  return Buffer.concat(gzipParts(chunks, facts, level));
}

/** The .gz bytes of `file` (whose facts are known), compressed chunk-parallel by the pool. */
export async function gzipFile(
  file: string,
  facts: WasmFacts,
  level = DEFAULT_GZIP_LEVEL,
  pool: CpuPool = cpuPool(),
): Promise<Buffer> {
  return assembleGzip(await deflateFile(file, facts.size, level, pool), facts, level);
}
