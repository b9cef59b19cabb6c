/** Option parsers and byte formatting shared by the commands that copy plugins (`bundle`, `mirror`). */
import { InvalidArgumentError } from 'commander';

export function concurrency(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError(`--concurrency must be an integer from 1 to 64, got "${v}"`);
  return n;
}

export function repeatable(v: string, acc: string[]): string[] {
  return [...acc, v];
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
