/**
 * The gzip level of plugin.wasm.gz, parsed once where it enters (the --gzip-level option, a bench
 * setting) and passed on as a GzipLevel, so no lower layer checks the range again.
 */
import { UsageError } from '../errors';

export type GzipLevel = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
/**
 * Level 6, chosen from the benchmarks (BENCHMARKS.md, "Pull"): on the 43-plugin set it writes 0.79%
 * more bytes than level 9 for 2.5x less CPU (0.42 s against 1.05 s per 12 MB module), which lets
 * compression hide under the download on a 200 Mbit/s link instead of doubling the pull's time.
 * Level 9 stays one flag away for trees built once and served to very many gateways.
 */
export const DEFAULT_GZIP_LEVEL: GzipLevel = 6;

export function parseGzipLevel(value: string | number): GzipLevel {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 9) {
    throw new UsageError({
      code: 'E_GZIP_LEVEL',
      message: `gzip level ${JSON.stringify(value)} is not an integer from 1 to 9`,
      hint: 'use --gzip-level 1..9 (6 is the default)',
    });
  }
  return n as GzipLevel;
}
