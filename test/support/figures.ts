/**
 * Reliability tests write the numbers they measured (requests, errors, faults, memory) to
 * build/reliability/<name>.json, so RELIABILITY.md can quote the figures of a real run.
 */
import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT } from './tools';

export const FIGURES_DIR = path.join(REPO_ROOT, 'build', 'reliability');

/** Merges `figures` into build/reliability/<name>.json (each test of a file adds its own key). */
export function recordFigures(name: string, figures: Record<string, unknown>): void {
  fs.mkdirSync(FIGURES_DIR, { recursive: true });
  const file = path.join(FIGURES_DIR, `${name}.json`);
  let current: Record<string, unknown> = {};
  try {
    current = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    /* first figures of this run */
  }
  fs.writeFileSync(
    file,
    `${JSON.stringify({ ...current, ...figures, recordedAt: new Date().toISOString() }, null, 2)}\n`,
  );
}

/** Starts a fresh figures file at the beginning of a suite, so stale keys of an older run do not linger. */
export function resetFigures(name: string): void {
  fs.rmSync(path.join(FIGURES_DIR, `${name}.json`), { force: true });
}
