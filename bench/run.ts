/**
 * `npm run bench`: runs every benchmark section side by side in one process run and writes
 * BENCHMARKS.md with the machine, the command and the numbers. Sections live in bench/<name>.ts and
 * export `run(): Promise<BenchSection>`. `npm run bench -- <name> ...` runs only the named sections and
 * keeps the other sections of BENCHMARKS.md as they were.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface BenchSection {
  /** Heading, e.g. `Synth`. */
  title: string;
  /** Markdown body: what was measured, the command, a table of numbers, ratios against targets. */
  body: string;
}

const SECTIONS: Record<string, () => Promise<{ run(): Promise<BenchSection> }>> = {
  // BENCH-LIST (keep one line per section)
  pull: () => import('./pull'),
  synth: () => import('./synth'),
  serve: () => import('./serve'),
  airgap: () => import('./airgap'),
};

const ROOT = path.resolve(__dirname, '..', '..');
const OUT = path.join(ROOT, 'BENCHMARKS.md');
const MARK = (name: string) => [`<!-- bench:${name}:start -->`, `<!-- bench:${name}:end -->`];

function machine(): string {
  const cpus = os.cpus();
  return [
    `- Machine: ${os.type()} ${os.release()} ${os.arch()}, ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM`,
    `- Node ${process.version}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = wanted.length ? wanted : Object.keys(SECTIONS);
  let existing = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '';
  const blocks: Record<string, string> = {};
  for (const name of Object.keys(SECTIONS)) {
    const [start, end] = MARK(name);
    const m = existing.match(new RegExp(`${start}[\\s\\S]*?${end}`));
    if (m) blocks[name] = m[0];
  }
  for (const name of names) {
    const load = SECTIONS[name];
    if (!load) throw new Error(`unknown benchmark section "${name}" (known: ${Object.keys(SECTIONS).join(', ')})`);
    process.stderr.write(`bench: ${name}...\n`);
    const section = await (await load()).run();
    const [start, end] = MARK(name);
    blocks[name] = `${start}\n## ${section.title}\n\n_Run ${new Date().toISOString().slice(0, 10)}_\n\n${section.body.trim()}\n${end}`;
  }
  existing = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (see `bench/`). Each section was measured side by side in one run on:',
    '',
    machine(),
    '',
    ...Object.keys(SECTIONS).filter((n) => blocks[n]).map((n) => blocks[n] + '\n'),
  ].join('\n');
  fs.writeFileSync(OUT, existing);
  process.stderr.write(`bench: wrote ${path.relative(process.cwd(), OUT)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
