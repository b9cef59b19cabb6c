/**
 * The cdk8s app: `npm run synth` writes charts/higress-plugin-server/ and dist/. The output root is
 * the repository root, or the first argument / HPS_SYNTH_ROOT (the drift test synthesises into a
 * temp dir and compares byte for byte).
 */
import * as fs from 'fs';
import * as path from 'path';
import { changesFor } from './lib/changelog';
import { TARGET_HIGRESS_VERSION } from './lib/chart-files';
import { ChartInfo, CHART_NAME } from './lib/helpers';
import { CHART_DIR, synthesize } from './lib/synth';

/** Repository root whether run from main.ts (jest) or build/main.js (tsc never emits tsconfig.json into build/). */
export const REPO_ROOT = fs.existsSync(path.join(__dirname, 'tsconfig.json'))
  ? __dirname
  : path.resolve(__dirname, '..');

export function chartInfo(root = REPO_ROOT): ChartInfo {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  // The chart lists the changes of the project version it was generated from (CHANGELOG.md).
  const changes = changesFor(fs.readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8'), pkg.version);
  // appVersion is the Higress release the chart targets: the default image tag must be one Higress publishes.
  return { name: CHART_NAME, version: pkg.version, appVersion: TARGET_HIGRESS_VERSION, changes };
}

/** Writes every generated file under `outRoot`, replacing the generated folders wholesale. */
export function writeSynth(outRoot: string, files = synthesize(chartInfo())): string[] {
  for (const dir of [CHART_DIR, 'dist']) fs.rmSync(path.join(outRoot, dir), { recursive: true, force: true });
  const written: string[] = [];
  for (const [rel, content] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    const target = path.join(outRoot, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
    written.push(rel);
  }
  return written;
}

if (require.main === module) {
  const outRoot = path.resolve(process.argv[2] ?? process.env.HPS_SYNTH_ROOT ?? REPO_ROOT);
  const written = writeSynth(outRoot);
  process.stdout.write(`synth: wrote ${written.length} files under ${path.relative(process.cwd(), outRoot) || '.'}\n`);
}
