/**
 * The two jest projects (jest.config.js, lists in test/tiers.js): every test file is in exactly one,
 * and a unit test starts no external program, neither itself nor through a test/support helper
 * (helpers are followed through their own imports). Running node itself (the AssemblyScript compiler
 * in support/wasm.ts) is allowed; helm, nginx, docker-registry, openssl, bash... are not.
 */
import * as fs from 'fs';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the CommonJS list jest.config.js reads
const tiers = require('./tiers') as { unit: string[]; integration: string[] };
const TEST_DIR = __dirname;
const testNames = fs
  .readdirSync(TEST_DIR)
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -'.test.ts'.length))
  .sort();

/** Relative imports of a file in test/ (import ... from, import(), require), resolved to .ts/.js paths. */
function localImports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\(\s*|require\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]);
  return specs.flatMap((spec) => {
    const base = path.resolve(path.dirname(file), spec);
    return ['.ts', '.js', '/index.ts']
      .map((ext) => base + ext)
      .filter((f) => fs.existsSync(f))
      .slice(0, 1);
  });
}

/** Why a file's own code starts an external program, or undefined. */
export function startsProgram(text: string): string | undefined {
  const viaTool = /(?<![\w.])tool\(\s*['"]([\w-]+)/.exec(text);
  if (viaTool) return `runs tool('${viaTool[1]}')`;
  for (const m of text.matchAll(
    /(?<![\w.])(spawn|spawnSync|execFile|execFileSync|exec|execSync|fork)\)?\(\s*([^,)]+)/g,
  )) {
    const program = m[2].trim();
    if (program !== 'process.execPath') return `${m[1]}(${program}, ...)`;
  }
  return undefined;
}

/** The first external program `file` starts, itself or through the test/ files it imports (test/support helpers). */
function programReached(file: string, seen = new Set<string>()): string | undefined {
  if (seen.has(file)) return undefined;
  seen.add(file);
  const own = startsProgram(fs.readFileSync(file, 'utf8'));
  if (own) return `${path.relative(TEST_DIR, file)} ${own}`;
  for (const dep of localImports(file).filter((f) => f.startsWith(TEST_DIR + path.sep))) {
    const found = programReached(dep, seen);
    if (found) return found;
  }
  return undefined;
}

test('every test file is in exactly one project, and every listed file exists', () => {
  const listed = [...tiers.unit, ...tiers.integration];
  const problems = [
    ...testNames
      .filter((n) => listed.filter((l) => l === n).length !== 1)
      .map((n) => `${n}.test.ts is listed ${listed.filter((l) => l === n).length} times in test/tiers.js`),
    ...listed
      .filter((n) => !testNames.includes(n))
      .map((n) => `test/tiers.js lists ${n}, which has no test/${n}.test.ts`),
  ];
  expect(problems).toEqual([]);
});

test('jest.config.js runs exactly the files of test/tiers.js, unit and integration', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- jest's own CommonJS config
  const config = require('../jest.config.js') as {
    projects: Array<{ displayName: string; testMatch: string[]; globalSetup?: string }>;
  };
  const names = (p: { testMatch: string[] }) => p.testMatch.map((m) => path.basename(m, '.test.ts'));
  expect(config.projects.map((p) => p.displayName)).toEqual(['unit', 'integration']);
  expect(names(config.projects[0])).toEqual(tiers.unit);
  expect(names(config.projects[1])).toEqual(tiers.integration);
  // Only integration compiles build/ (its tests start the CLI); the unit tier runs from the sources,
  // the CPU pool's worker included (src/content/cpu-pool.ts), so `npm run test:unit` starts at once.
  expect(config.projects.map((p: { globalSetup?: string }) => p.globalSetup)).toEqual([
    undefined,
    '<rootDir>/test/global-setup.js',
  ]);
});

test('unit tests start no external program and do not run the CLI', () => {
  const problems: string[] = [];
  for (const name of tiers.unit) {
    const file = path.join(TEST_DIR, `${name}.test.ts`);
    const text = fs.readFileSync(file, 'utf8');
    if (/^import[^\n]*from 'child_process'|require\('child_process'\)/m.test(text))
      problems.push(`${name}: imports child_process`);
    // The CLI's serve command starts nginx; tests that run the CLI are integration tests.
    // Importing src/cli to inspect the program (its --version, its options) runs nothing; the
    // cli-run helper and src/serve start processes.
    if (/'\.\/support\/cli-run'|'\.\.\/src\/serve\/[^']*'/.test(text))
      problems.push(`${name}: runs the CLI or the server`);
    const program = programReached(file);
    if (program) problems.push(`${name}: ${program}`);
  }
  expect(problems).toEqual([]);
});

test('the detector recognises the helpers that start tools, and lets node itself through', () => {
  const support = (f: string) => path.join(TEST_DIR, 'support', f);
  expect(programReached(support('registry.ts'))).toMatch(/runs tool\('docker-registry'\)|execFile\('openssl'/);
  expect(programReached(support('helm.ts'))).toMatch(/tool\('helm'\)/);
  expect(programReached(support('nginx.ts'))).toMatch(/tool\('nginx'\)/);
  expect(programReached(support('wasm.ts'))).toBeUndefined();
  // Sample calls are assembled at run time, so this file's own text stays free of them (it is a unit test too).
  const call = (fn: string, args: string) => `${fn}(${args})`;
  expect(startsProgram(call('spawn' + 'Sync', "'bash', ['-c', x]"))).toBe(call('spawn' + 'Sync', "'bash', ..."));
  expect(startsProgram(`await promisify${call('(execFile)', 'process.execPath, [asc]')}`)).toBeUndefined();
  expect(startsProgram(`const run = promisify${call('(execFile)', "'openssl', []")}`)).toBe(
    call('exec' + 'File', "'openssl', ..."),
  );
  expect(startsProgram(`/^HTTP/.${call('exec', 'text')}`)).toBeUndefined(); // RegExp#exec is not child_process.exec
  // Integration files really do reach tools: the split is not vacuous.
  expect(
    tiers.integration.filter(
      (n) =>
        programReached(path.join(TEST_DIR, `${n}.test.ts`)) === undefined &&
        !/cli-run|child_process/.test(fs.readFileSync(path.join(TEST_DIR, `${n}.test.ts`), 'utf8')),
    ),
  ).toEqual([]);
});

/**
 * A test file is named after the room it covers: `<room>[-<topic>]`, the room being a folder of src/
 * (`src/tree` → `tree-…`), `lib` (the chart generator), `image`, `release` (scripts/release),
 * `scripts`, `bench`; or one of the suites that span rooms on purpose (`reliability-…`, `docs…`,
 * `airgap`, `repository`, `test-tiers`). CONTRIBUTING.md lists them.
 */
const SPANNING = ['reliability', 'docs', 'airgap', 'repository', 'test-tiers'];
export function roomOf(testName: string, srcRooms: readonly string[]): string | undefined {
  const rooms = [...srcRooms, 'lib', 'image', 'release', 'scripts', 'bench', ...SPANNING].sort(
    (a, b) => b.length - a.length,
  );
  return rooms.find((r) => testName === r || testName.startsWith(`${r}-`));
}

describe('test files are named after the rooms they cover', () => {
  const srcRooms = fs
    .readdirSync(path.join(TEST_DIR, '..', 'src'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);

  test('every test file starts with its room', () => {
    expect(testNames.filter((n) => roomOf(n, srcRooms) === undefined)).toEqual([]);
  });

  test('the rule can fail: an area name that is no room is refused', () => {
    expect(roomOf('serving-nginx', srcRooms)).toBeUndefined();
    expect(roomOf('integration-check', srcRooms)).toBeUndefined();
    expect(roomOf('treehouse', srcRooms)).toBeUndefined();
    expect(roomOf('tree-publish', srcRooms)).toBe('tree');
    expect(roomOf('ociview', srcRooms)).toBe('ociview');
  });

  test("CONTRIBUTING.md's table lists every test file", () => {
    const contributing = fs.readFileSync(path.join(TEST_DIR, '..', 'CONTRIBUTING.md'), 'utf8');
    expect(testNames.filter((n) => !contributing.includes(`\`${n}\``))).toEqual([]);
  });
});
