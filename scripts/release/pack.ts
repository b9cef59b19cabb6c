/**
 * The CLI tarball: `npm pack` (its prepack compiles src/ into a clean build/) in a scratch copy of
 * the tracked sources, so the package never picks up a stale or partial build/ and packing does not
 * wipe the build/ a developer or a running test uses.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { REPO_ROOT } from '../../main';
import { ReleaseError } from './errors';
import { runTool } from './run';

/**
 * What `npm pack` needs: the package metadata, the compiler config and every source src/ imports
 * (src/ and the WasmPlugin types in imports/; the CLI never imports lib/, the layer test keeps it so).
 */
export const PACK_INPUTS = [
  'package.json',
  'bin',
  'tsconfig.json',
  'tsconfig.pack.json',
  'src',
  'imports',
  'image/nginx.conf',
  'image/njs',
  'README.md',
  'LICENSE',
  'CHANGELOG.md',
];

export function tarballName(root = REPO_ROOT): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  return `${pkg.name}-${pkg.version}.tgz`;
}

/** Packs into `outDir` and returns the tarball path. Uses the repository's installed node_modules. */
export function packCli(outDir: string, root = REPO_ROOT): string {
  if (!fs.existsSync(path.join(root, 'node_modules', '.bin', 'tsc'))) {
    throw new ReleaseError({
      code: 'E_RELEASE_INPUT',
      message: 'node_modules has no TypeScript compiler',
      context: { file: path.join(root, 'node_modules') },
      hint: 'run npm ci first',
    });
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-release-pack-'));
  try {
    for (const rel of PACK_INPUTS) fs.cpSync(path.join(root, rel), path.join(work, rel), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'));
    fs.mkdirSync(outDir, { recursive: true });
    runTool('cli', 'npm', ['pack', '--pack-destination', path.resolve(outDir)], { cwd: work });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const tgz = path.join(outDir, tarballName(root));
  if (!fs.existsSync(tgz))
    throw new ReleaseError({
      code: 'E_RELEASE_TOOL',
      message: `npm pack did not write ${tgz}`,
      hint: 'see the npm output above',
    });
  return tgz;
}
