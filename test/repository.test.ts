/**
 * The repository is the whole project: what a user clones is everything the code, tests, benches and
 * cdk8s.yaml read. Two checks: no tracked file names a path outside the repository, and the tests that
 * read reference data pass in a copy of the tracked files that has nothing beside it.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { envWithTools, REPO_ROOT } from './support/tools';

function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f && fs.existsSync(path.join(REPO_ROOT, f)));
}

// Built from parts so this file does not match itself.
const OUTSIDE = [
  ['..', '/shared'].join(''),
  ['/', 'work/'].join(''),
  ['/', 'home/'].join(''),
  ['/', 'Users/'].join(''),
];

test('no tracked file refers to a path outside the repository', () => {
  const hits: string[] = [];
  for (const file of trackedFiles()) {
    const bytes = fs.readFileSync(path.join(REPO_ROOT, file));
    if (bytes.includes(0)) continue; // binary (wasm, gz)
    const lines = bytes.toString('utf8').split('\n');
    lines.forEach((line, i) => {
      for (const needle of OUTSIDE)
        if (line.includes(needle)) hits.push(`${file}:${i + 1}: ${line.trim().slice(0, 120)}`);
    });
  }
  expect(hits).toEqual([]);
});

// The suites that read reference data (plugin lists, snapshot, CRD, OpenAPI definitions).
const REFERENCE_SUITES = [
  'test/inputs-properties.test.ts',
  'test/inputs-snapshot.test.ts',
  'test/inputs-shipped.test.ts',
  'test/higress-wasmplugins.test.ts',
];

test('a copy of the tracked files with nothing beside it passes the suites that read reference data', () => {
  // <tmp>/hps-clone-*/repo: the parent folder holds nothing else, so any read of ../something fails.
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-clone-'));
  const clone = path.join(parent, 'repo');
  try {
    for (const file of trackedFiles()) {
      const to = path.join(clone, file);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.copyFileSync(path.join(REPO_ROOT, file), to);
    }
    // Installed dependencies are what `npm ci` would put there; linking them keeps the test offline.
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(clone, 'node_modules'));
    expect(fs.readdirSync(parent)).toEqual(['repo']);
    const run = spawnSync(
      process.execPath,
      [path.join(clone, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', '--maxWorkers=1', ...REFERENCE_SUITES],
      {
        cwd: clone,
        encoding: 'utf8',
        timeout: 240000,
        // The copy builds its own build/: the marker our own global setup left must not reach it.
        // The copy has no .tools of its own: the tools this checkout installed come first on PATH.
        env: envWithTools({ ...process.env, JEST_WORKER_ID: undefined, HPS_TEST_BUILT: undefined }),
      },
    );
    const output = `${run.stdout}\n${run.stderr}`;
    if (run.status !== 0)
      throw new Error(`suites failed in the clean copy (exit ${run.status}):\n${output.slice(-4000)}`);
    expect(output).toMatch(new RegExp(`Test Suites: ${REFERENCE_SUITES.length} passed`));
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
}, 300000);
