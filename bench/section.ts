/**
 * What a benchmark section returns. Its own module, so the sections (bench/<name>.ts) and the runner
 * (bench/run.ts, which imports every section) share it without an import loop.
 */
export interface BenchSection {
  /** Heading, e.g. `Synth`. */
  title: string;
  /** Markdown body: what was measured, the command, a table of numbers, ratios against targets. */
  body: string;
}
