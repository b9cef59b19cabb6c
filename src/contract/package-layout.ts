/**
 * The one module that knows where the package's files are. Code runs from three places: the sources
 * (`src/`, under jest), the build (`build/src/`, `npm run build`) and an installed package (the
 * image's CLI stage). The package root is found once, by walking up to this project's package.json;
 * everything else is a path below it.
 */
import * as fs from 'fs';
import * as path from 'path';

const PACKAGE_NAME = 'higress-plugin-server';

let root: string | undefined;

/** The folder holding this project's package.json. */
export function packageRoot(): string {
  if (root) return root;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (
      fs.existsSync(manifest) &&
      (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME
    )
      return (root = dir);
    if (path.dirname(dir) === dir) throw new Error(`package.json of ${PACKAGE_NAME} not found above ${__dirname}`);
  }
}

export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** A file shipped with the package, e.g. `packageFile('image', 'nginx.conf')`. */
export function packageFile(...segments: string[]): string {
  return path.join(packageRoot(), ...segments);
}

/**
 * The compiled JavaScript of a module under src/, e.g. `compiledModule('content', 'cpu-worker')`:
 * next to the caller when it runs compiled, else from build/ (what `npm run build` writes). Worker
 * threads need plain JavaScript; production code never starts a TypeScript loader (only the sources
 * under jest do: see startWorker in src/content/cpu-pool.ts).
 */
export function compiledModule(...segments: string[]): string {
  const rel = path.join('src', ...segments) + '.js';
  for (const candidate of [path.join(packageRoot(), rel), path.join(packageRoot(), 'build', rel)])
    if (fs.existsSync(candidate)) return candidate;
  throw new Error(`${rel} is not built: run \`npm run build\` first`);
}
