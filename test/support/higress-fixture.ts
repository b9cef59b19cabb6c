/**
 * The Higress chart fixtures (test/fixtures/higress: the umbrella; higress-core; higress-console), copied
 * into a scratch folder and, where a test wants it, with the plugin server embedded into the core chart
 * exactly as docs/installing.md says ("Inside the Higress core chart").
 */
import * as fs from 'fs';
import * as path from 'path';
import { CHART_PATH, helm } from './helm';
import { REPO_ROOT } from './tools';

export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
/** The Higress release the fixtures stand in for. */
export const HIGRESS_VERSION = '2.2.4';
/** The core chart's own plugin-server templates that the subchart replaces. */
export const OLD_TEMPLATES = ['plugin-server-deployment.yaml', 'plugin-server-service.yaml'];

export function helmOk(args: string[]): string {
  const r = helm(args);
  if (r.status !== 0) throw new Error(`helm ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Copies the three fixture charts into `<dir>/{higress,higress-core,higress-console}`. */
export function copyHigressFixtures(dir: string): { umbrella: string; core: string } {
  for (const c of ['higress', 'higress-core', 'higress-console'])
    fs.cpSync(path.join(FIXTURES, c), path.join(dir, c), { recursive: true });
  return { umbrella: path.join(dir, 'higress'), core: path.join(dir, 'higress-core') };
}

/** docs/installing.md, "Inside the Higress core chart", step by step. */
export function embedIntoCore(coreDir: string): void {
  for (const t of OLD_TEMPLATES) fs.rmSync(path.join(coreDir, 'templates', t));
  fs.appendFileSync(
    path.join(coreDir, 'Chart.yaml'),
    `dependencies:\n  - name: higress-plugin-server\n    alias: pluginServer\n    version: ${HIGRESS_VERSION}\n    condition: global.enablePluginServer\n`,
  );
  helmOk([
    'package',
    CHART_PATH,
    '--version',
    HIGRESS_VERSION,
    '--app-version',
    HIGRESS_VERSION,
    '-d',
    path.join(coreDir, 'charts'),
  ]);
}
