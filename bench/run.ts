/**
 * `npm run bench`: runs every benchmark section side by side in one process run and writes
 * BENCHMARKS.md with the machine, the command and the numbers. Sections live in bench/<name>.ts and
 * export `run(): Promise<BenchSection>` (bench/section.ts). `npm run bench -- <name> ...` runs only
 * the named sections and keeps the other sections of BENCHMARKS.md as they were.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BenchSection } from './section';

const SECTIONS: Record<string, () => Promise<{ run(): Promise<BenchSection> }>> = {
  // BENCH-LIST (keep one line per section)
  synth: () => import('./synth'),
  serve: () => import('./serve'),
  metrics: () => import('./metrics'),
  burst: () => import('./burst'),
  pull: () => import('./pull'),
  reuse: () => import('./reuse'),
  airgap: () => import('./airgap'),
  'oci-forms': () => import('./oci-forms'),
  'gzip-decode': () => import('./gzip-decode'),
  scale: () => import('./scale'),
  'cluster-scale': () => import('./cluster-scale'),
};

const ROOT = path.resolve(__dirname, '..', '..');
const OUT = path.join(ROOT, 'BENCHMARKS.md');
const MARK = (name: string) => [`<!-- bench:${name}:start -->`, `<!-- bench:${name}:end -->`];

function machine(names: string[], seconds: number, loadAtStart: number[]): string {
  const cpus = os.cpus();
  return [
    `- Machine: ${os.type()} ${os.release()} ${os.arch()}, ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM.`,
    `  **A ${cpus.length}-core machine**: in every section the servers, the clients, the registry and the link emulator share these ${cpus.length} cores,`,
    '  which is why the rollout section also gives a cluster model with one node per gateway.',
    `- Node ${process.version}; load average (1/5/15 min) at the start: ${loadAtStart.map((x) => x.toFixed(2)).join(' / ')}.`,
    `- Command: \`npm run bench\` (\`tsc -p tsconfig.json && node build/bench/run.js\`), sections ${names.map((n) => `\`${n}\``).join(', ')} in ${(seconds / 60).toFixed(1)} min;`,
    '  `npm run bench -- <section>` re-runs one section and keeps the others.',
  ].join('\n');
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = wanted.length ? wanted : Object.keys(SECTIONS);
  const started = process.hrtime.bigint();
  const loadAtStart = os.loadavg();
  const existing = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '';
  const blocks: Record<string, string> = {};
  // How each section's figures were recorded (which run, which machine load): written by hand when a
  // section is re-run alone, kept as it is by every run.
  const [notesStart, notesEnd] = MARK('notes');
  const notes = existing.match(new RegExp(`${notesStart}[\\s\\S]*?${notesEnd}`))?.[0];
  for (const name of Object.keys(SECTIONS)) {
    const [start, end] = MARK(name);
    const m = existing.match(new RegExp(`${start}[\\s\\S]*?${end}`));
    if (m) blocks[name] = m[0];
  }
  const write = () => {
    const text = [
      '# Benchmarks',
      '',
      'Written by `npm run bench` (see `bench/`). Each section was measured side by side in one run on:',
      '',
      machine(names, Number(process.hrtime.bigint() - started) / 1e9, loadAtStart),
      '',
      ...(notes ? [notes, ''] : []),
      ...Object.keys(SECTIONS)
        .filter((n) => blocks[n])
        .map((n) => blocks[n] + '\n'),
    ].join('\n');
    fs.writeFileSync(OUT, text);
  };
  const failed: string[] = [];
  for (const name of names) {
    const load = SECTIONS[name];
    if (!load) throw new Error(`unknown benchmark section "${name}" (known: ${Object.keys(SECTIONS).join(', ')})`);
    process.stderr.write(`bench: ${name}...\n`);
    const [start, end] = MARK(name);
    const date = new Date().toISOString().slice(0, 10);
    try {
      const section = await (await load()).run();
      blocks[name] = `${start}\n## ${section.title}\n\n_Run ${date}_\n\n${section.body.trim()}\n${end}`;
    } catch (err) {
      // One broken section must not throw away the others' numbers: it is recorded as failed.
      failed.push(name);
      process.stderr.write(`bench: ${name} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      blocks[name] =
        `${start}\n## ${name}\n\n_Run ${date}_\n\n**Failed**: ${String(err instanceof Error ? err.message : err).split('\n')[0]}\n${end}`;
    }
    // Written after every section, so a long run that stops part-way keeps what it measured.
    write();
  }
  if (failed.length) {
    process.stderr.write(`bench: failed sections: ${failed.join(', ')}\n`);
    process.exitCode = 1;
  }
  process.stderr.write(`bench: wrote ${path.relative(process.cwd(), OUT)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
