/**
 * The image's RUN steps run natively (`npm run build` is jest's global setup; `node build/src/cli.js pull`, `verify`), then
 * `serve` on the tree they wrote: the built CLI starts the real Nginx, answers, and stops cleanly on
 * Ctrl-C (SIGINT) leaving no process and no temp folder behind.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { PluginMetadata } from '../src/contract/tree-format';
import { request } from './support/http';
import { freePort } from './support/nginx';
import { envWithTools, REPO_ROOT } from './support/tools';
import { smallWasm } from './support/wasm';

const run = promisify(execFile);
const CLI = path.join(REPO_ROOT, 'build', 'src', 'cli.js');
let work: string;
let tree: string;

/** Runs the built CLI; resolves with the exit code and output instead of throwing. */
async function cli(args: string[], env = envWithTools()): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { cwd: work, env });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

beforeAll(async () => {
  // build/ is the Dockerfile's build stage output: jest's global setup runs the same compile once
  // (image-dockerfile.test.ts replays that stage from exactly the files it COPYs).
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-cli-'));
  fs.copyFileSync(await smallWasm(), path.join(work, 'add-header.wasm'));
  fs.writeFileSync(
    path.join(work, 'plugins.properties'),
    'add-header=file:add-header.wasm@1.0.0\n#@alias add-header 2.0.0=1.0.0\n',
  );
  tree = path.join(work, 'tree');
}, 180000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('the tree stage: pull then verify, as image/Dockerfile runs them', async () => {
  const pull = await cli(['pull', 'plugins.properties', '--out', tree]);
  expect(pull.stderr + pull.stdout).not.toMatch(/error/i);
  expect(pull.code).toBe(0);
  const verify = await cli(['verify', tree]);
  expect(verify.code).toBe(0);
  expect(fs.existsSync(path.join(tree, 'plugins', 'add-header', '2.0.0', 'plugin.wasm.gz'))).toBe(true);
});

describe('serve', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  const waitForLine = (c: ChildProcess, re: RegExp): Promise<string> =>
    new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (re.test(out)) resolve(out);
      });
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      c.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });

  test('serves the tree on 127.0.0.1 and stops cleanly on SIGINT', async () => {
    const port = await freePort();
    child = spawn(process.execPath, [CLI, 'serve', tree, '--port', String(port)], {
      cwd: work,
      env: envWithTools(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = await waitForLine(child, /serving .* at http:\/\/127\.0\.0\.1:\d+\/plugins\//);
    expect(out).toContain(`http://127.0.0.1:${port}/plugins/`);

    const url = `http://127.0.0.1:${port}`;
    expect((await request(`${url}/healthz`)).body.toString()).toBe('ok');
    const meta = JSON.parse(
      (await request(`${url}/plugins/add-header/2.0.0/metadata.json`)).body.toString(),
    ) as PluginMetadata;
    const wasm = await request(`${url}/plugins/add-header/2.0.0/plugin.wasm`);
    expect(crypto.createHash('sha256').update(wasm.body).digest('hex')).toBe(meta.sha256);
    expect((await request(`${url}/plugins/add-header/1.0.0/metadata.txt`)).status).toBe(200);

    // The nginx temp folder serve made is the one whose config listens on our port.
    const ours = () =>
      fs
        .readdirSync(os.tmpdir())
        .filter((d) => d.startsWith('hps-nginx-'))
        .filter((d) => {
          try {
            return fs.readFileSync(path.join(os.tmpdir(), d, 'nginx.conf'), 'utf8').includes(`127.0.0.1:${port}`);
          } catch {
            return false;
          }
        });
    expect(ours()).toHaveLength(1);

    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(ours()).toEqual([]);
    // Nothing listens any more (nginx stopped with serve).
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(false)));
      s.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  test("--no-gzip-static serves plugin.wasm as is to a gzip client, as the chart's gzip.enabled=false", async () => {
    const port = await freePort();
    const c = spawn(process.execPath, [CLI, 'serve', tree, '--port', String(port), '--no-gzip-static'], {
      cwd: work,
      env: envWithTools(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await waitForLine(c, /serving .* at http:\/\/127\.0\.0\.1:\d+\/plugins\//);
      const meta = JSON.parse(
        (await request(`http://127.0.0.1:${port}/plugins/add-header/2.0.0/metadata.json`)).body.toString(),
      ) as PluginMetadata;
      const r = await request(`http://127.0.0.1:${port}/plugins/add-header/2.0.0/plugin.wasm`, {
        headers: { 'accept-encoding': 'gzip' },
      });
      expect([r.status, r.headers['content-encoding'], r.body.length]).toEqual([200, undefined, meta.size]);
      expect(crypto.createHash('sha256').update(r.body).digest('hex')).toBe(meta.sha256);
    } finally {
      const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
      if (c.exitCode === null) c.kill('SIGINT');
      expect(await exited).toBe(0);
    }
  });

  test.each(['::1', '[::1]'])(
    'issue 27 class 10: --host %s serves on the IPv6 loopback and stops cleanly',
    async (host) => {
      const port = await freePort();
      const c = spawn(process.execPath, [CLI, 'serve', tree, '--port', String(port), '--host', host], {
        cwd: work,
        env: envWithTools(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        const out = await waitForLine(c, /serving .* at http:\/\/\S+\/plugins\//);
        expect(out).toContain(`http://[::1]:${port}/plugins/`);
        expect((await request(`http://[::1]:${port}/healthz`)).body.toString()).toBe('ok');
        expect((await request(`http://[::1]:${port}/plugins/add-header/2.0.0/metadata.txt`)).status).toBe(200);
      } finally {
        const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
        if (c.exitCode === null) c.kill('SIGINT');
        expect(await exited).toBe(0);
      }
    },
  );

  test('issue 27 class 10: a host that is no address is refused up front; a busy IPv6 port says EADDRINUSE', async () => {
    const bad = await cli(['serve', tree, '--host', '[127.0.0.1]']);
    expect(bad.code).toBe(3);
    expect(bad.stderr.trim()).toMatch(/E_SERVE_HOST|is not an IPv4 address, an IPv6 address/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const busy = net.createServer();
    const port = await new Promise<number>((resolve) =>
      busy.listen(0, '::1', () => resolve((busy.address() as net.AddressInfo).port)),
    );
    try {
      const r = await cli(['serve', tree, '--port', String(port), '--host', '[::1]']);
      expect(r.stderr.trim()).toMatch(new RegExp(`cannot listen on \\[::1\\]:${port}: EADDRINUSE`));
    } finally {
      busy.close();
    }
  });

  test('bad input: a missing folder, a busy port, a missing nginx (one line, non-zero exit)', async () => {
    const missing = await cli(['serve', path.join(work, 'nope')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim()).toMatch(/^error: .*nope: .*nope is not a folder \(pass the folder/);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);

    const noTree = await cli(['serve', work]);
    expect(noTree.stderr.trim()).toMatch(/has no plugins\/ folder \(run `higress-plugin-server pull` first/);

    const busy = net.createServer();
    const port = await new Promise<number>((resolve) =>
      busy.listen(0, '127.0.0.1', () => resolve((busy.address() as net.AddressInfo).port)),
    );
    try {
      const r = await cli(['serve', tree, '--port', String(port)]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toMatch(
        new RegExp(
          `cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE \\(stop what uses that port or pass another --port\\)`,
        ),
      );
    } finally {
      busy.close();
    }

    const noNginx = await cli(['serve', tree, '--nginx', path.join(work, 'no-nginx')]);
    expect(noNginx.code).not.toBe(0);
    expect(noNginx.stderr.trim()).toMatch(/nginx binary .*no-nginx does not exist or is not executable \(install it/);

    // Debian bookworm's nginx (the Debian package install-test-tools.sh installs) has no njs module:
    // one line naming what to install, given explicitly or as the only nginx on PATH.
    const njsHint =
      /njs\) >= 0\.8\.0: .*\(install njs >= 0\.8\.0 for it \(Debian trixie: `apt-get install nginx libnginx-mod-http-js`.*\[E_NGINX_NJS\]$/;
    const noNjs = await cli(['serve', tree, '--nginx', '/usr/sbin/nginx']);
    expect(noNjs.code).not.toBe(0);
    expect(noNjs.stderr.trim().split('\n')).toHaveLength(1);
    expect(noNjs.stderr.trim()).toMatch(/^error: nginx \/usr\/sbin\/nginx cannot run image\/nginx\.conf/);
    expect(noNjs.stderr.trim()).toMatch(njsHint);
    const onPath = await cli(['serve', tree], { ...process.env, PATH: '/usr/bin:/bin' });
    expect(onPath.code).not.toBe(0);
    expect(onPath.stderr.trim()).toMatch(njsHint);
  });
});
