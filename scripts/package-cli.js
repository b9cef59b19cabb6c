#!/usr/bin/env node
/**
 * `npm run package`: the CLI as a folder that needs only Node.js 20 (no npm ci, no node_modules), for
 * carrying into a private network (docs/air-gapped.md). esbuild (the esbuild-wasm dev dependency, no
 * native binary) bundles the CLI and the CPU worker; the folder mirrors the package layout the code
 * expects (src/contract/package-layout.ts): a package.json at its root, the worker at
 * src/content/cpu-worker.js, image/nginx.conf for `serve`.
 *
 *   build/higress-plugin-server/{package.json, src/cli.js, src/content/cpu-worker.js, image/nginx.conf}
 */
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

// npm runs scripts in the package folder; __dirname would follow a symlinked scripts/ elsewhere.
const root = process.cwd();
if (!fs.existsSync(path.join(root, 'package.json')))
  throw new Error(`run it as \`npm run package\` in the package folder, not from ${root}`);
const out = path.join(root, 'build', 'higress-plugin-server');
fs.rmSync(out, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    path.join(root, 'node_modules', 'esbuild-wasm', 'bin', 'esbuild'),
    'src/cli.ts',
    'src/content/cpu-worker.ts',
    '--bundle',
    '--platform=node',
    '--target=node20',
    '--outbase=.',
    `--outdir=${out}`,
    '--log-level=warning',
  ],
  { cwd: root, stdio: 'inherit' },
);
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
fs.writeFileSync(
  path.join(out, 'package.json'),
  `${JSON.stringify({ name: pkg.name, version: pkg.version, license: pkg.license, private: true, bin: { [pkg.name]: 'src/cli.js' } }, null, 2)}\n`,
);
fs.mkdirSync(path.join(out, 'image'));
fs.copyFileSync(path.join(root, 'image', 'nginx.conf'), path.join(out, 'image', 'nginx.conf'));
process.stderr.write(
  `packaged ${path.relative(root, out)}/ (run: node ${path.relative(root, out)}/src/cli.js --help)\n`,
);
