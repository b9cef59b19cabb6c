/**
 * The installable CLI: the tarball the release attaches (`release.js cli`, i.e. `npm pack`) holds
 * runtime files only, installs with `npm install -g` into a fresh prefix and runs with `npx` in an
 * empty folder, offline once the dependencies are in the npm cache (`--prefer-offline`), and every
 * command works from the installed copy: --help, --version, pull, verify, serve, check, wasmplugins.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tar from 'tar';
import { waitForHealthy } from '../src/serve/nginx-runtime';
import { freePort } from './support/ports';
import { envWithTools, REPO_ROOT } from './support/tools';

const PKG = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  bin: Record<string, string>;
};
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

let dir: string;
let tgz: string;
let bin: string;
let files: string[];

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'release-cli-'));
  const packed = run(
    process.execPath,
    [path.join(REPO_ROOT, 'build', 'scripts', 'release', 'cli.js'), 'cli', '--out', path.join(dir, 'dist')],
    REPO_ROOT,
  );
  expect(packed.code).toBe(0);
  tgz = packed.stdout.trim();
  files = [];
  await tar.t({ file: tgz, onReadEntry: (e) => void files.push(e.path.replace(/^package\//, '')) });
  // npm install -g into a private prefix: nothing outside the temp folder changes.
  const prefix = path.join(dir, 'prefix');
  const installed = run('npm', ['install', '-g', '--prefix', prefix, ...NPM_FLAGS, tgz], dir);
  expect(installed.stderr).toBe('');
  expect(installed.code).toBe(0);
  bin = path.join(prefix, 'bin', 'higress-plugin-server');
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the tarball', () => {
  test('is named after package.json and holds only runtime files', () => {
    expect(path.basename(tgz)).toBe(`${PKG.name}-${PKG.version}.tgz`);
    for (const f of files)
      expect(
        /^(bin\/higress-plugin-server\.js|build\/.+\.js|image\/nginx\.conf|image\/njs\/metrics\.js|package\.json|README\.md|LICENSE|CHANGELOG\.md)$/.test(
          f,
        )
          ? f
          : `not a runtime file: ${f}`,
      ).toBe(f);
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'LICENSE',
        'image/nginx.conf',
        'image/njs/metrics.js',
        PKG.bin['higress-plugin-server'],
      ]),
    );
    // The chart generator (lib/, main.ts), benchmarks and tests stay out: the CLI imports none of them.
    expect(files.filter((f) => /^build\/(bench|test|main\.js|lib\/|imports\/k8s\.js)/.test(f))).toEqual([]);
  });

  test('declares runtime dependencies only: each is required by the package or is a peer of one that is', () => {
    const root = path.join(dir, 'prefix', 'lib', 'node_modules', PKG.name);
    const sources = files
      .filter((f) => f.endsWith('.js'))
      .map((f) => fs.readFileSync(path.join(root, f), 'utf8'))
      .join('\n');
    // Either quote: imports compile to require("x"), a lazy require in the source keeps its own quotes.
    const required = Object.keys(PKG.dependencies).filter((d) =>
      [`require("${d}")`, `require("${d}/`, `require('${d}')`, `require('${d}/`].some((r) => sources.includes(r)),
    );
    // e.g. constructs: never required by our code, but cdk8s (the WasmPlugin types) needs it as a peer.
    const peers = required.flatMap((d) =>
      Object.keys(
        (
          JSON.parse(fs.readFileSync(path.join(root, 'node_modules', d, 'package.json'), 'utf8')) as {
            peerDependencies?: object;
          }
        ).peerDependencies ?? {},
      ),
    );
    for (const dep of Object.keys(PKG.dependencies)) {
      expect(required.includes(dep) || peers.includes(dep) ? dep : `${dep} is not needed at run time`).toBe(dep);
    }
    expect(Object.keys(PKG.dependencies)).not.toContain('cdk8s-plus-28');
  });
});

describe('npm install -g <tarball>', () => {
  test("--help lists every command and --version is package.json's", () => {
    const help = run(bin, ['--help'], dir);
    expect(help.code).toBe(0);
    for (const cmd of ['pull', 'index', 'verify', 'serve', 'wasmplugins', 'check'])
      expect(help.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
    expect(run(bin, ['--version'], dir)).toMatchObject({ code: 0, stdout: `${PKG.version}\n` });
  });

  describe('pull, verify, serve, check, wasmplugins from the installed copy', () => {
    let work: string;
    let server: ChildProcess | undefined;
    let port: number;
    /** Ctrl-C, as an operator stops `serve`; resolves with its exit code. */
    const interrupt = (c: ChildProcess) =>
      new Promise<number | null>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve(c.exitCode);
        c.once('exit', (code) => resolve(code));
        c.kill('SIGINT');
      });
    afterAll(async () => {
      if (server) await interrupt(server);
    });

    test('pull the quick start list and verify the tree', () => {
      // An empty folder with only the quick start list and its plugin: nothing from the checkout's build/.
      work = path.join(dir, 'work');
      fs.cpSync(path.join(REPO_ROOT, 'examples'), path.join(work, 'examples'), { recursive: true });
      const pulled = run(bin, ['pull', 'examples/quickstart.properties', '--out', 'tree'], work);
      expect(pulled.stderr).not.toMatch(/^error/m);
      expect(pulled.code).toBe(0);
      expect(fs.existsSync(path.join(work, 'tree', 'plugins', 'add-header', '1.0.0', 'plugin.wasm'))).toBe(true);
      const verified = run(bin, ['verify', 'tree'], work);
      expect(verified.code).toBe(0);
      // verify really checks: one flipped byte fails it.
      const copy = path.join(dir, 'tampered');
      fs.cpSync(path.join(work, 'tree'), copy, { recursive: true });
      const wasm = path.join(copy, 'plugins', 'add-header', '1.0.0', 'plugin.wasm');
      const bytes = fs.readFileSync(wasm);
      bytes[bytes.length - 1] ^= 0xff;
      fs.writeFileSync(wasm, bytes);
      expect(run(bin, ['verify', copy], work).code).not.toBe(0);
    });

    test('serve it with the packaged nginx.conf, check it and write WasmPlugins against it', async () => {
      port = await freePort();
      let stderr = '';
      server = spawn(bin, ['serve', 'tree', '--port', String(port)], {
        cwd: work,
        env: envWithTools(),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      server.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      const base = `http://127.0.0.1:${port}`;
      await waitForHealthy(`${base}/healthz`, server, 15000, () => stderr);
      const checked = run(bin, ['check', base], work);
      expect(checked.stderr).not.toMatch(/^error/m);
      expect(checked.code).toBe(0);
      const wp = run(bin, ['wasmplugins', '--index', 'tree', '--base-url', base], work);
      expect(wp.code).toBe(0);
      expect(wp.stdout).toMatch(/kind: WasmPlugin/);
      expect(wp.stdout).toContain(`url: ${base}/plugins/add-header/1.0.0/plugin.wasm`);
      expect(await interrupt(server)).toBe(0);
    });
  });
});

test('npx <tarball> in an empty folder runs the CLI', () => {
  const empty = path.join(dir, 'empty');
  fs.mkdirSync(empty);
  // --package: a bare path argument would be taken as the command to run, not as the package.
  const r = run('npx', ['--yes', ...NPM_FLAGS, `--package=${tgz}`, 'higress-plugin-server', '--version'], empty);
  expect(r.stderr).not.toMatch(/ERR/);
  expect(r).toMatchObject({ code: 0, stdout: `${PKG.version}\n` });
  expect(fs.readdirSync(empty)).toEqual([]);
});
