/**
 * Prometheus's own `promtool check metrics` (.tools/bin/promtool, Prometheus 3.16.0 built by
 * scripts/install-test-tools.sh) on a text exposition given on stdin: what Prometheus's tooling says of
 * the server's /metrics. Exit 0 and no output when the exposition is clean; 3 and one line per lint
 * problem (`<metric> <problem>`); 1 when the text does not parse.
 */
import { spawnSync } from 'child_process';
import { tool } from './tools';

export interface PromtoolResult {
  status: number | null;
  /** stdout then stderr, as a terminal would show them. */
  out: string;
}

/** `promtool check metrics [flags...] < exposition`. */
export function promtoolCheckMetrics(exposition: string, ...flags: string[]): PromtoolResult {
  const r = spawnSync(tool('promtool'), ['check', 'metrics', ...flags], { input: exposition, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/**
 * Series per metric family, from `promtool check metrics --extended`'s cardinality table (its own text
 * parser, not ours); throws with promtool's output when the check fails.
 */
export function promtoolCardinality(exposition: string): Record<string, number> {
  const r = spawnSync(tool('promtool'), ['check', 'metrics', '--extended'], { input: exposition, encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0 || r.stderr !== '')
    throw new Error(`promtool check metrics --extended: ${r.status}\n${r.stdout}${r.stderr}`);
  const out: Record<string, number> = {};
  for (const line of r.stdout.split('\n').slice(1)) {
    const [name, cardinality] = line.trim().split(/\s+/);
    if (name && name !== 'Total') out[name] = Number(cardinality);
  }
  return out;
}
