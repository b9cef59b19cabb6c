/**
 * Bench section `synth`: wall time of the whole `npm run synth` process (tsc + node build/main.js),
 * median of 5 runs against the 3 s target, plus the tsc / node split. Output goes to a temp dir so
 * the committed charts/ and dist/ are not touched.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BenchSection } from './run';

const ROOT = path.resolve(__dirname, '..', '..');
const RUNS = 5;
const TARGET_S = 3;

function timeRun(cmd: string, args: string[]): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return seconds;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function run(): Promise<BenchSection> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-bench-synth-'));
  try {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const whole: number[] = [];
    const tsc: number[] = [];
    const node: number[] = [];
    const chartOnly: number[] = [];
    // What a chart-only tsconfig would cost (main.ts, lib/, imports/): tsc checks less than the whole CLI.
    const tsconfig = path.join(out, 'tsconfig.synth.json');
    fs.writeFileSync(tsconfig, JSON.stringify({
      extends: path.join(ROOT, 'tsconfig.json'),
      compilerOptions: { outDir: path.join(out, 'build'), rootDir: ROOT, typeRoots: [path.join(ROOT, 'node_modules', '@types')], types: ['node'] },
      include: ['main.ts', 'lib/**/*.ts', 'imports/**/*.ts'].map((p) => path.join(ROOT, p)),
    }));
    for (let i = 0; i < RUNS; i++) whole.push(timeRun(npm, ['run', '--silent', 'synth', '--', out]));
    for (let i = 0; i < RUNS; i++) tsc.push(timeRun(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json']));
    for (let i = 0; i < RUNS; i++) chartOnly.push(timeRun(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', tsconfig]));
    for (let i = 0; i < RUNS; i++) node.push(timeRun(process.execPath, ['build/main.js', out]));
    const m = median(whole);
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    return {
      title: 'Synth',
      body: [
        `Whole process \`npm run synth\` (\`tsc -p tsconfig.json && node build/main.js\`), ${RUNS} runs, output to a temp dir.`,
        '',
        '| measure | median (s) | runs (s) |',
        '| --- | --- | --- |',
        `| \`npm run synth\` | ${m.toFixed(2)} | ${fmt(whole)} |`,
        `| \`tsc -p tsconfig.json\` alone | ${median(tsc).toFixed(2)} | ${fmt(tsc)} |`,
        `| \`tsc\` of main.ts, lib/, imports/ only | ${median(chartOnly).toFixed(2)} | ${fmt(chartOnly)} |`,
        `| \`node build/main.js\` alone | ${median(node).toFixed(2)} | ${fmt(node)} |`,
        '',
        `Target ${TARGET_S} s: ${m <= TARGET_S ? 'met' : 'missed'} (${(m / TARGET_S).toFixed(2)}× the target). ` +
          `tsc is ${((median(tsc) / m) * 100).toFixed(0)}% of the whole; it compiles the whole project (src/, bench/ too), not just the chart.`,
      ].join('\n'),
    };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}
