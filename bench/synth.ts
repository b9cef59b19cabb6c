/**
 * Bench section `synth`: wall time of the whole `npm run synth` process (`node -r sucrase/register/ts
 * main.ts`: transpiles main.ts, lib/ and imports/ as they load, no type check), median of 5 runs
 * against the 1.5 s target, the node process alone, and the type check it leaves to `npm run lint`.
 * Output goes to a temp dir so the committed charts/ and dist/ are not touched.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BenchSection } from './section';
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

export function run(): Promise<BenchSection> {
  return Promise.resolve(measure());
}

/** Times synth, its parts and the type check, each RUNS times (synchronous child processes). */
function measure(): BenchSection {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-bench-synth-'));
  const tscBin = require.resolve('typescript/bin/tsc');
  try {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const series = (cmd: string, args: string[]) => Array.from({ length: RUNS }, () => timeRun(cmd, args));
    const whole = series(npm, ['run', '--silent', 'synth', '--', out]);
    const node = series(process.execPath, ['-r', 'sucrase/register/ts', 'main.ts', out]);
    const check = series(process.execPath, [tscBin, '-p', 'tsconfig.test.json', '--noEmit']);
    const m = median(whole);
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    const row = (label: string, xs: number[]) => `| ${label} | ${median(xs).toFixed(2)} | ${fmt(xs)} |`;
    return {
      title: 'Synth',
      body: [
        `Whole process \`npm run synth\` (\`node -r sucrase/register/ts main.ts\`), ${RUNS} runs each, output to a temp dir.`,
        'sucrase strips the types of main.ts, lib/ and imports/ as Node loads them (no compile step, no build folder, nothing cached',
        'between runs, so every run is as cold as on a clean clone); the type check is `npm run lint`, which `npm test` runs.',
        '',
        '| measure | median (s) | runs (s) |',
        '| --- | --- | --- |',
        row('`npm run synth`', whole),
        row('the node process alone (no npm)', node),
        row('for comparison: the type check, `tsc -p tsconfig.test.json --noEmit` (`npm run lint`)', check),
        '',
        `Target ${TARGET_S} s (median): ${m <= TARGET_S ? 'met' : '**missed**'} (${(m / TARGET_S).toFixed(2)}× the target).`,
      ].join('\n'),
    };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}
