/**
 * The docs keep working: the README's quick start runs as written (only the port is changed to a
 * free one) with the real helm and nginx in a scratch clone, as a user's shell runs it (no `set -e`),
 * and ends with a message when its port is taken; the bin works before a build; every plugin list
 * example in the README and docs/ parses.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { freePort } from './support/nginx';
import { REPO_ROOT, tool } from './support/tools';

const README = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const PKG_VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

function quickstart(): string {
  const m = /<!-- quickstart:start -->\s*```bash\n([\s\S]*?)```\s*<!-- quickstart:end -->/.exec(README);
  if (!m) throw new Error('README.md has no quickstart block');
  return m[1];
}

/** The PATH of a new shell: system folders, never the repository's .tools/bin. */
function ordinaryPath(): string {
  const dirs = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((d) => d && !d.includes(`${path.sep}.tools${path.sep}`));
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'])
    if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(path.delimiter);
}

test('the quick start adds .tools/bin after the PATH (a system helm wins; helm is not on an ordinary PATH here)', () => {
  expect(quickstart().split('\n')[0]).toBe('export PATH="$PATH:$PWD/.tools/bin"');
  const which = spawnSync('bash', ['-c', 'command -v helm || true'], {
    encoding: 'utf8',
    env: { ...process.env, PATH: ordinaryPath() },
  });
  // The assertion the quick start test relies on: without the export line helm would not be found
  // (unless a user installed helm system-wide, which this machine's setup does not do).
  expect(which.stdout.trim()).not.toContain('.tools');
});

/** A clone after the main job: every top-level entry linked, but what the quick start writes, .git and build/. */
function scratchClone(prefix: string, skip: string[] = []): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  for (const entry of fs.readdirSync(REPO_ROOT)) {
    if (['build', '.git', 'rendered.yaml', 'quickstart-tree', 'bin', ...skip].includes(entry)) continue;
    fs.symlinkSync(path.join(REPO_ROOT, entry), path.join(dir, entry));
  }
  // Copied, not linked: Node resolves a linked bin to this repository, whose build/ exists.
  fs.cpSync(path.join(REPO_ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
  return dir;
}

/**
 * Runs the block as a user's shell would: plain bash, no `set -e`, an ordinary PATH (whatever the test
 * runner added for .tools/bin is taken out, so the block's own `export PATH=...` line finds helm).
 * The timeout is a backstop far above the block's own bounds: the test fails if it is ever reached.
 */
function runQuickstart(dir: string, port: number) {
  const run = spawnSync('bash', ['-c', quickstart().replace(/^PORT=8080$/m, `PORT=${port}`)], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 240000,
    env: { ...process.env, PATH: ordinaryPath() },
  });
  expect(run.signal).toBeNull();
  return { status: run.status, output: `${run.stdout}\n${run.stderr}` };
}

describe('the README quick start', () => {
  let dir: string;
  beforeAll(() => {
    // Fail with the install hint, not a confusing shell error, when the tools are missing.
    expect(tool('helm')).toContain(`${path.sep}.tools${path.sep}`);
    tool('nginx');
    dir = scratchClone('hps-quickstart-');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('renders, builds, serves and checks', async () => {
    expect(quickstart()).toMatch(/^PORT=8080$/m);
    const { output } = runQuickstart(dir, await freePort());
    expect(output).not.toMatch(/^error: /m);
    // 1. rendered manifests
    const kinds = parseAllDocuments(fs.readFileSync(path.join(dir, 'rendered.yaml'), 'utf8'))
      .map((d) => d.toJS()?.kind)
      .filter(Boolean);
    expect(kinds).toEqual(expect.arrayContaining(['Deployment', 'Service', 'PodDisruptionBudget']));
    // 2. a built, verified tree with the alias
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'quickstart-tree', 'plugins', 'index.json'), 'utf8'));
    expect(index.plugins.map((p: { name: string; version: string }) => `${p.name}@${p.version}`)).toEqual([
      'add-header@1.0',
      'add-header@1.0.0',
    ]);
    // 3 and 4. served and checked, without Nginx's access log in the terminal
    expect(output).toMatch(/check: 2 ok, 0 failed/);
    expect(output).toMatch(/Plugin Name: add-header/);
    expect(output).toMatch(/kind: WasmPlugin/);
    expect(output).not.toMatch(/"status"/);
  }, 300000);

  test('with its port taken, says so and ends instead of waiting', async () => {
    const port = await freePort();
    // Another program on the port, in its own process (spawnSync blocks this one's event loop).
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `require('http').createServer((q, r) => { r.statusCode = 404; r.end(); }).listen(${port}, '127.0.0.1', () => console.log('up'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((resolve) => holder.stdout.once('data', resolve));
      const { output } = runQuickstart(dir, port);
      expect(output).toMatch(/EADDRINUSE/);
      expect(output).toContain(`error: the server did not come up on port ${port}`);
    } finally {
      holder.kill();
    }
  }, 300000);
});

describe('the bin before a build', () => {
  test('without the compiler it says what to run (exit 7, one line)', () => {
    const dir = scratchClone('hps-nobuild-', ['node_modules']);
    try {
      const r = spawnSync(process.execPath, [path.join(dir, 'bin', 'higress-plugin-server.js'), '--help'], {
        cwd: dir,
        encoding: 'utf8',
      });
      expect(r.status).toBe(7);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('run `npm ci && npm run build`');
      expect(r.stderr).toContain('E_NOT_BUILT');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("npx right after `npm ci && npm run synth` compiles once, and npm's npx cache keeps a working bin", () => {
    const dir = scratchClone('hps-npx-');
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-npx-cache-'));
    try {
      const npx = (...args: string[]) =>
        spawnSync('npx', ['--offline', 'higress-plugin-server', ...args], {
          cwd: dir,
          encoding: 'utf8',
          timeout: 180000,
          env: { ...process.env, PATH: ordinaryPath(), npm_config_cache: cache, npm_config_update_notifier: 'false' },
        });
      const first = npx('--version');
      expect(first.stderr).toContain('compiling the CLI into build/ first');
      expect(first).toMatchObject({ status: 0, stdout: `${PKG_VERSION}\n` });
      const second = npx('--help');
      expect(second.status).toBe(0);
      expect(second.stderr).not.toContain('compiling');
      expect(second.stdout).toContain('Usage: higress-plugin-server');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(cache, { recursive: true, force: true });
    }
  }, 240000);
});

test('the example plugin the quick start serves is the build of its source', async () => {
  const { smallWasm } = await import('./support/wasm');
  const built = fs.readFileSync(await smallWasm());
  const shipped = fs.readFileSync(path.join(REPO_ROOT, 'examples', 'add-header', 'plugin.wasm'));
  expect(shipped.equals(built)).toBe(true);
});

test('every plugin list example in the README and docs/ parses as written', async () => {
  const { parsePluginList } = await import('../src/inputs/properties');
  const files = ['README.md', ...fs.readdirSync(path.join(REPO_ROOT, 'docs')).map((f) => path.join('docs', f))];
  let blocks = 0;
  for (const file of files) {
    for (const m of fs.readFileSync(path.join(REPO_ROOT, file), 'utf8').matchAll(/```properties\n([\s\S]*?)```/g)) {
      blocks++;
      const text = m[1].replace(/<digest>|<64 hex digits>/g, 'a'.repeat(64));
      const { entries, problems } = parsePluginList(text, file);
      expect(problems.map((p) => p.toLine())).toEqual([]);
      expect(entries.length).toBeGreaterThan(0);
    }
  }
  expect(blocks).toBeGreaterThanOrEqual(6);
});
