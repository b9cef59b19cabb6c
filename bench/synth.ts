/**
 * Bench section `synth`: wall time of the whole `npm run synth` process (tsc + node build/main.js),
 * median of 5 cold runs against the 3 s target, plus warm runs and the tsc / node split. Output goes to a temp dir so
 * the committed charts/ and dist/ are not touched.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BenchSection } from './run';
import { median } from './stats';

const ROOT = path.resolve(__dirname, '..', '..');
const RUNS = 5;
const TARGET_S = 1.5;

function timeRun(cmd: string, args: string[]): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return seconds;
}


export async function run(): Promise<BenchSection> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-bench-synth-'));
  // `npm run synth` compiles incrementally (tsconfig.synth.json); removing its build info makes a run
  // as cold as on a clean clone.
  const buildInfo = path.join(ROOT, 'build', '.tsbuildinfo-synth');
  const cold = () => fs.rmSync(buildInfo, { force: true });
  const tscBin = require.resolve('typescript/bin/tsc');
  try {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const series = (n: number, before: () => void, cmd: string, args: string[]) =>
      Array.from({ length: n }, () => {
        before();
        return timeRun(cmd, args);
      });
    const none = () => undefined;
    const wholeCold = series(RUNS, cold, npm, ['run', '--silent', 'synth', '--', out]);
    const wholeWarm = series(RUNS, none, npm, ['run', '--silent', 'synth', '--', out]);
    const tscCold = series(RUNS, cold, process.execPath, [tscBin, '-p', 'tsconfig.synth.json']);
    const node = series(RUNS, none, process.execPath, ['build/main.js', out]);
    const tscAll = series(RUNS, none, process.execPath, [tscBin, '-p', 'tsconfig.json']);
    const m = median(wholeCold);
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    const row = (label: string, xs: number[]) => `| ${label} | ${median(xs).toFixed(2)} | ${fmt(xs)} |`;
    return {
      title: 'Synth',
      body: [
        `Whole process \`npm run synth\` (\`tsc -p tsconfig.synth.json && node build/main.js\`: compiles main.ts, lib/ and imports/ only), ${RUNS} runs each, output to a temp dir.`,
        'Cold: no TypeScript build info, as on a clean clone; warm: a re-run with nothing changed.',
        '',
        '| measure | median (s) | runs (s) |',
        '| --- | --- | --- |',
        row('`npm run synth`, cold', wholeCold),
        row('`npm run synth`, warm', wholeWarm),
        row('`tsc -p tsconfig.synth.json` alone, cold', tscCold),
        row('`node build/main.js` alone', node),
        row('for comparison: `tsc -p tsconfig.json` (whole project)', tscAll),
        '',
        `Target ${TARGET_S} s (cold, median): ${m <= TARGET_S ? 'met' : '**missed**'} (${(m / TARGET_S).toFixed(2)}× the target).`,
      ].join('\n'),
    };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}
