// Compiles the project once before the integration suites run: tests that start the CLI as a separate
// process (the README quick start, kill-and-resume) run the same build/ that `npm run build` makes.
// The unit project has no global setup: it needs no build/ (see jest.config.js).
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

module.exports = async function globalSetup() {
  // One build per run.
  if (process.env.HPS_TEST_BUILT === '1') return;
  const root = path.resolve(__dirname, '..');
  // A clean build: a module that became a folder (src/errors.ts -> src/errors/) would otherwise leave
  // its old .js beside the new folder, and Node resolves the stale file first.
  fs.rmSync(path.join(root, 'build'), { recursive: true, force: true });
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  process.env.HPS_TEST_BUILT = '1';
};
