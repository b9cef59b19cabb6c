/**
 * The gzip level of plugin.wasm.gz, parsed once where it enters (the --gzip-level option, a bench
 * setting) and passed on as a GzipLevel, so no lower layer checks the range again.
 */
import { InputError } from '../errors';

export type GzipLevel = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
/** What the issue ships: the smallest file, compressed once at build time. */
export const DEFAULT_GZIP_LEVEL: GzipLevel = 9;

export function parseGzipLevel(value: string | number): GzipLevel {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 9) {
    throw new InputError({ code: 'E_GZIP_LEVEL', message: `gzip level ${JSON.stringify(value)} is not an integer from 1 to 9`, hint: 'use --gzip-level 1..9 (9 is the default)' });
  }
  return n as GzipLevel;
}
