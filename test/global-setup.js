// Compiles the project once before the suites run: tests that start the CLI as a separate process
// (the README quick start, kill-and-resume) run the same build/ that `npm run build` makes.
const { execFileSync } = require('child_process');
const path = require('path');

module.exports = async function globalSetup() {
  const root = path.resolve(__dirname, '..');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
};
