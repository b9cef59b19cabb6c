#!/usr/bin/env node
/**
 * The package's bin: a plain JavaScript file that exists in a fresh clone, so `npx higress-plugin-server`
 * (which links the bin into npm's npx cache once and reuses that link) never caches a bin whose target
 * is missing. It runs the compiled CLI (build/src/cli.js). In a clone whose CLI is not compiled yet
 * (`npm ci && npm run synth` does not compile), it compiles it once with the project's TypeScript (what
 * `npm run build` runs) and says so; without TypeScript it says what to run instead.
 */
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

/** Catalogued in src/errors/catalogue.ts (environment, exit 7). */
const CODE = 'E_NOT_BUILT';
const root = path.join(__dirname, '..');
const cli = path.join(root, 'build', 'src', 'cli.js');

if (!fs.existsSync(cli)) {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const tsconfig = path.join(root, 'tsconfig.json');
  if (!fs.existsSync(tsc) || !fs.existsSync(tsconfig)) {
    process.stderr.write(
      `error: the CLI is not compiled (${path.relative(process.cwd(), cli) || cli} is missing): run \`npm ci && npm run build\` in ${root}, then run this again [${CODE}]\n`,
    );
    process.exit(7);
  }
  process.stderr.write(
    'higress-plugin-server: compiling the CLI into build/ first (what `npm run build` does, once, about 30 s)\n',
  );
  const built = spawnSync(process.execPath, [tsc, '-p', tsconfig], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (built.status !== 0 || !fs.existsSync(cli)) {
    process.stderr.write(
      `error: compiling the CLI failed (tsc exit ${built.status}): fix the errors above, or run \`npm ci && npm run build\` in ${root} [${CODE}]\n`,
    );
    process.exit(7);
  }
}
void require(cli).main();
