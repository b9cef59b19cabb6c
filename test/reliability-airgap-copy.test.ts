/**
 * Issue 27, classes 2, 3, 4, 5 and 11: the air-gap commands (`bundle`, `mirror`, `pull oci-layout:`)
 * against real Distribution registries and small hostile servers on 127.0.0.1, the CLI run as its own
 * process (build/src/cli.js). Each test fails on the code before the fix.
 *
 *   2   two sources from two registries with the same repository path and tag, mirrored to one target
 *   3   an upload `Location` on another host:port never receives the target's credentials; no downgrade
 *   4   a layout tar whose header claims more bytes than the file holds
 *   5   a FIFO as a blob or as index.json of an `oci-layout:` folder, under --deadline
 *   11  SIGINT during `bundle` / `mirror` / `pull`: exit 130, a `--json` summary, staging gone or swept next run
 */
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import { EXIT } from '../src/errors';
import { nextHop, onRegistryOrigin } from '../src/oci/http/endpoint';
import { runCliProcess } from './support/cli-process';
import { HostileServer, startHostileServer } from './support/hostile-server';
import { ustarHeader } from './support/oci-layout';
import { Pushed, pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { REPO_ROOT } from './support/tools';
import { wasmVariant } from './support/tree-state';
import { smallWasm } from './support/wasm';

let A: Registry;
let B: Registry;
let T: Registry;
let tmp: string;
let base: Buffer;
let fromA: Pushed;
let fromB: Pushed;
let listA: string;
let bundle: string;
let env: NodeJS.ProcessEnv;

const cli = (args: string[], extra: NodeJS.ProcessEnv = {}, timeoutMs = 60_000) =>
  runCliProcess(args, { env: { ...env, ...extra }, timeoutMs });

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error: '));
const failedLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('FAILED '));

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airgap-copy-'));
  fs.mkdirSync(path.join(tmp, 'tmpdir'));
  fs.mkdirSync(path.join(tmp, 'docker'));
  fs.writeFileSync(path.join(tmp, 'docker', 'config.json'), '{}');
  env = {
    DOCKER_CONFIG: path.join(tmp, 'docker'),
    TMPDIR: path.join(tmp, 'tmpdir'),
    HIGRESS_REGISTRY_USERNAME: '',
    HIGRESS_REGISTRY_PASSWORD: '',
    HIGRESS_REGISTRY_HOSTS: '',
  };
  [A, B, T] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  base = fs.readFileSync(await smallWasm());
  fromA = await pushWasmArtifact(A, 'plugins/foo', '1.0.0', wasmVariant(base, 'from-a'));
  fromB = await pushWasmArtifact(B, 'plugins/foo', '1.0.0', wasmVariant(base, 'from-b'));
  listA = path.join(tmp, 'a.properties');
  fs.writeFileSync(listA, `foo=oci://${A.host}/plugins/foo:1.0.0\n`);
  bundle = path.join(tmp, 'a.oci.tar');
  const r = await cli(['bundle', listA, '--out', bundle]);
  expect(r.stderr).toContain('ok: ');
}, 120_000);

afterAll(async () => {
  await Promise.all([A?.stop(), B?.stop(), T?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Class 2

async function tagsOf(reg: Registry, repository: string): Promise<number> {
  const res = await fetch(`${reg.url}/v2/${repository}/tags/list`);
  return res.status;
}

describe('class 2: two sources mapped to one target reference', () => {
  test('two registries, same repository path and tag, unpinned: refused before anything is copied', async () => {
    const list = path.join(tmp, 'two.properties');
    fs.writeFileSync(list, `foo=oci://${A.host}/plugins/foo:1.0.0\nbar=oci://${B.host}/plugins/foo:1.0.0\n`);
    const r = await cli(['mirror', list, '--to', `${T.host}/clash`, '--json']);
    expect(r.code).toBe(EXIT.integrity);
    const lines = failedLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`oci://${A.host}/plugins/foo:1.0.0`);
    expect(lines[0]).toContain(`oci://${B.host}/plugins/foo:1.0.0`);
    expect(lines[0]).toContain(`${T.host}/clash/plugins/foo:1.0.0`);
    // Nothing reached the target: the repository does not exist there.
    expect(await tagsOf(T, 'clash/plugins/foo')).toBe(404);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as { event: string; exitCode: number };
    expect(summary).toMatchObject({ event: 'summary', exitCode: EXIT.integrity });
  }, 60_000);

  test('the same clash, both pinned to their own digests: refused the same way', async () => {
    const list = path.join(tmp, 'two-pinned.properties');
    fs.writeFileSync(
      list,
      `foo=oci://${A.host}/plugins/foo:1.0.0@${fromA.manifestDigest}\nbar=oci://${B.host}/plugins/foo:1.0.0@${fromB.manifestDigest}\n`,
    );
    const r = await cli(['mirror', list, '--to', `${T.host}/clash-pinned`]);
    expect(r.code).toBe(EXIT.integrity);
    expect(failedLines(r.stderr)[0]).toMatch(/two sources that both map to/);
    expect(await tagsOf(T, 'clash-pinned/plugins/foo')).toBe(404);
  }, 60_000);

  test('control: one source named twice (unpinned and pinned to its digest) is mirrored', async () => {
    const list = path.join(tmp, 'same.properties');
    fs.writeFileSync(
      list,
      `foo=oci://${A.host}/plugins/foo:1.0.0\nfoo2=oci://${A.host}/plugins/foo:1.0.0@${fromA.manifestDigest}\n`,
    );
    const r = await cli(['mirror', list, '--to', `${T.host}/same`]);
    expect(r.stderr).toContain('ok: ');
    expect(r.code).toBe(EXIT.ok);
    const res = await fetch(`${T.url}/v2/same/plugins/foo/manifests/1.0.0`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.headers.get('docker-content-digest')).toBe(fromA.manifestDigest);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// Class 3

/** A registry that wants Basic credentials and sends every upload session to `uploads`. */
function hostileTarget(
  uploadsAt: () => string,
): Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void> {
  return {
    '/v2/*': (req, res) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="hostile"', 'content-length': 0 }).end();
        return;
      }
      const url = req.url ?? '';
      if (req.method === 'POST' && url.includes('/blobs/uploads/')) {
        req.resume();
        res.writeHead(202, { location: `${uploadsAt()}/upload/session-1`, 'content-length': 0 }).end();
        return;
      }
      if (req.method === 'PUT' && url.includes('/manifests/')) {
        req.resume();
        req.on('end', () => res.writeHead(201, { 'content-length': 0 }).end());
        return;
      }
      res.writeHead(404, { 'content-length': 0 }).end();
    },
  };
}

describe('class 3: credentials stay on the origin they were configured for', () => {
  let target: HostileServer;
  let other: HostileServer;
  let otherStatus = 201;
  beforeAll(async () => {
    other = await startHostileServer({
      '/upload/*': (req, res) => {
        req.resume();
        req.on('end', () => {
          if (otherStatus === 401)
            res.writeHead(401, { 'www-authenticate': 'Basic realm="other"', 'content-length': 0 }).end();
          else res.writeHead(otherStatus, { 'content-length': 0 }).end();
        });
      },
    });
    target = await startHostileServer(hostileTarget(() => other.url));
  });
  afterAll(async () => {
    await Promise.all([target?.close(), other?.close()]);
  });

  const creds = () => ({
    HIGRESS_REGISTRY_USERNAME: 'mirror-user',
    HIGRESS_REGISTRY_PASSWORD: 'target-secret',
    HIGRESS_REGISTRY_HOSTS: target.host,
  });

  test('an upload Location on another port gets the PUT without the target credentials', async () => {
    otherStatus = 201;
    other.requests.length = 0;
    const r = await cli(['mirror', `oci-layout:${bundle}`, '--to', `${target.host}/m`], creds());
    // The target itself was sent its credentials (it asked for them).
    expect(target.requests.some((q) => q.headers.authorization?.startsWith('Basic '))).toBe(true);
    const puts = other.requests.filter((q) => q.method === 'PUT');
    expect(puts.length).toBeGreaterThan(0);
    for (const q of other.requests) expect(q.headers.authorization).toBeUndefined();
    expect(r.stderr).not.toContain('target-secret');
    expect(r.code).toBe(EXIT.ok);
  }, 60_000);

  test('a 401 from the other origin is not answered with the target credentials', async () => {
    otherStatus = 401;
    other.requests.length = 0;
    const r = await cli(['mirror', `oci-layout:${bundle}`, '--to', `${target.host}/m2`], creds());
    expect(r.code).toBe(EXIT.registry);
    expect(r.stderr).toMatch(/E_REGISTRY_AUTH|is not http:\/\/127\.0\.0\.1:\d+, the registry they are configured for/);
    expect(r.stderr).toContain('they were not sent');
    expect(other.requests.length).toBeGreaterThan(0);
    for (const q of other.requests) expect(q.headers.authorization).toBeUndefined();
  }, 60_000);

  test('a blob download redirected to another port is followed, without the credentials', async () => {
    const manifest = await fetch(`${A.url}/v2/plugins/foo/manifests/1.0.0`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    const manifestBytes = Buffer.from(await manifest.arrayBuffer());
    const storage = await startHostileServer({
      '/blob/*': (req, res) => {
        const digest = (req.url ?? '').split('/').pop() ?? '';
        void fetch(`${A.url}/v2/plugins/foo/blobs/${digest}`).then(async (r) => {
          const bytes = Buffer.from(await r.arrayBuffer());
          res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
        });
      },
    });
    const registry = await startHostileServer({
      '/v2/*': (req, res) => {
        if (!req.headers.authorization) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="hostile"', 'content-length': 0 }).end();
          return;
        }
        const url = req.url ?? '';
        if (url.includes('/manifests/')) {
          res.writeHead(200, {
            'content-type': 'application/vnd.oci.image.manifest.v1+json',
            'docker-content-digest': fromA.manifestDigest,
            'content-length': manifestBytes.length,
          });
          res.end(req.method === 'HEAD' ? undefined : manifestBytes);
          return;
        }
        const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url);
        if (blob) {
          res.writeHead(307, { location: `${storage.url}/blob/${blob[1]}`, 'content-length': 0 }).end();
          return;
        }
        res.writeHead(404, { 'content-length': 0 }).end();
      },
    });
    try {
      const list = path.join(tmp, 'redirect.properties');
      fs.writeFileSync(list, `foo=oci://${registry.host}/plugins/foo:1.0.0\n`);
      const r = await cli(['pull', list, '--out', path.join(tmp, 'redirect-out')], {
        HIGRESS_REGISTRY_USERNAME: 'reader',
        HIGRESS_REGISTRY_PASSWORD: 'registry-secret',
        HIGRESS_REGISTRY_HOSTS: registry.host,
      });
      expect(r.stderr).toContain('ok: ');
      expect(r.code).toBe(EXIT.ok);
      expect(registry.requests.some((q) => q.headers.authorization?.startsWith('Basic '))).toBe(true);
      expect(storage.requests.length).toBeGreaterThan(0);
      for (const q of storage.requests) expect(q.headers.authorization).toBeUndefined();
    } finally {
      await Promise.all([registry.close(), storage.close()]);
    }
  }, 60_000);

  test('origins compare scheme, host and port; HTTPS is never left for plain HTTP', () => {
    expect(onRegistryOrigin('http://127.0.0.1:5000/v2/x', '127.0.0.1:5000')).toBe(true);
    expect(onRegistryOrigin('http://127.0.0.1:5001/v2/x', '127.0.0.1:5000')).toBe(false);
    expect(onRegistryOrigin('https://reg.example:443/v2/x', 'reg.example')).toBe(true);
    expect(onRegistryOrigin('http://reg.example/v2/x', 'reg.example')).toBe(false);
    expect(onRegistryOrigin('https://reg.example:8443/v2/x', 'reg.example')).toBe(false);
    expect(onRegistryOrigin('https://evil.example/v2/x', 'reg.example')).toBe(false);
    expect(nextHop('https://reg.example/v2/x/blobs/uploads/', '/upload/1').toString()).toBe(
      'https://reg.example/upload/1',
    );
    expect(() => nextHop('https://reg.example/v2/x/blobs/uploads/', 'http://reg.example/upload/1')).toThrow(
      /never downgraded/,
    );
    expect(() => nextHop('https://reg.example/v2/x/blobs/sha256:1', 'http://cdn.example/b')).toThrow(
      expect.objectContaining({ code: 'E_REGISTRY_INSECURE' }),
    );
    expect(() => nextHop('https://reg.example/v2/', 'file:///etc/passwd')).toThrow(/not HTTP/);
  });
});

// ---------------------------------------------------------------------------------------------
// Class 4

/** A few-KiB tar: a valid `oci-layout`, then `index.json` whose header claims `claimed` bytes. */
function lyingTar(file: string, claimed: string | number): void {
  const marker = Buffer.from('{"imageLayoutVersion":"1.0.0"}');
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
  fs.writeFileSync(
    file,
    Buffer.concat([
      ustarHeader('oci-layout', marker.length),
      pad(marker),
      ustarHeader('index.json', claimed),
      pad(Buffer.from('{"schemaVersion":2,"manifests":[]}')),
      Buffer.alloc(1024),
    ]),
  );
}

describe("class 4: a tar header's size is a claim, checked against the bytes the file holds", () => {
  test.each([
    ['3.5 GiB', 3.5 * 1024 ** 3],
    ['8 GiB (12 octal digits)', '100000000000'],
    ['a base-256 size field', `\x80${'\0'.repeat(7)}\x01\0\0\0`],
  ])(
    'index.json claiming %s: one line, exit 3, no crash',
    async (_label, claimed) => {
      const file = path.join(tmp, `lying-${String(claimed).length}.tar`);
      lyingTar(file, claimed);
      expect(fs.statSync(file).size).toBeLessThan(8192);
      for (const args of [
        ['pull', `oci-layout:${file}`, '--out', path.join(tmp, 'lying-out')],
        ['mirror', `oci-layout:${file}`, '--to', `${T.host}/lying`],
      ]) {
        const r = await cli(args);
        expect(r.code).toBe(EXIT.input);
        const lines = errorLines(r.stderr);
        expect(lines.length).toBeGreaterThanOrEqual(1);
        expect(r.stderr).toMatch(/is not a readable OCI layout tar: .*(claims \d+ bytes|unreadable size field)/);
        expect(r.stderr).not.toMatch(/RangeError|\n\s+at |FATAL|Aborted/);
        expect(r.peakRssMiB).toBeLessThan(200);
      }
    },
    60_000,
  );
});

// ---------------------------------------------------------------------------------------------
// Class 5

describe('class 5: special files in an oci-layout: folder are refused, never opened to block', () => {
  let folder: string;
  beforeAll(() => {
    folder = path.join(tmp, 'layout-folder');
    fs.mkdirSync(folder);
    execFileSync('tar', ['-xf', bundle, '-C', folder]);
  });

  test('a FIFO as the wasm blob: a clear error within the deadline, and the output lock released', async () => {
    const dir = path.join(tmp, 'fifo-blob');
    fs.cpSync(folder, dir, { recursive: true });
    const blob = path.join(dir, 'blobs', 'sha256', fromA.wasmLayer.digest.slice(7));
    fs.rmSync(blob);
    execFileSync('mkfifo', [blob]);
    const out = path.join(tmp, 'fifo-out');
    const r = await cli(['pull', `oci-layout:${dir}`, '--out', out, '--deadline', '10'], {}, 30_000);
    expect(r.code).toBe(EXIT.integrity);
    expect(r.stderr).toContain('is a FIFO (named pipe), not a file');
    expect(fs.existsSync(path.join(out, '.higress-plugin-server.lock'))).toBe(false);
    // The next pull into the same root is not kept waiting.
    const again = await cli(['pull', `oci-layout:${dir}`, '--out', out, '--no-wait'], {}, 30_000);
    expect(again.stderr).not.toContain('E_TREE_LOCKED');
    expect(again.stderr).toContain('is a FIFO (named pipe), not a file');
  }, 90_000);

  test('a FIFO as index.json, and a bundle tar that is a FIFO: refused at once', async () => {
    const dir = path.join(tmp, 'fifo-index');
    fs.cpSync(folder, dir, { recursive: true });
    fs.rmSync(path.join(dir, 'index.json'));
    execFileSync('mkfifo', [path.join(dir, 'index.json')]);
    const r = await cli(['pull', `oci-layout:${dir}`, '--out', path.join(tmp, 'fifo-index-out')], {}, 30_000);
    expect(r.code).toBe(EXIT.input);
    expect(r.stderr).toContain('index.json is a FIFO (named pipe), not a file');
    const fifoTar = path.join(tmp, 'fifo.tar');
    execFileSync('mkfifo', [fifoTar]);
    const m = await cli(['mirror', `oci-layout:${fifoTar}`, '--to', `${T.host}/fifo`], {}, 30_000);
    expect(m.code).toBe(EXIT.input);
    expect(m.stderr).toContain('is a FIFO (named pipe), not a file');
  }, 90_000);

  test('control: the same folder with regular files pulls', async () => {
    const r = await cli(['pull', `oci-layout:${folder}`, '--out', path.join(tmp, 'folder-out')], {}, 30_000);
    expect(r.stderr).toContain('ok: ');
    expect(r.code).toBe(EXIT.ok);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// Class 11

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'build', 'src', 'cli.js'), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const entries = (dir: string, re: RegExp) => fs.readdirSync(dir).filter((n) => re.test(n));

describe('class 11: interrupted bundle and mirror', () => {
  let stall: HostileServer;
  let list: string;
  const held: http.ServerResponse[] = [];
  beforeAll(async () => {
    const manifest = await fetch(`${A.url}/v2/plugins/foo/manifests/1.0.0`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    const bytes = Buffer.from(await manifest.arrayBuffer());
    // The manifest at once, then every blob download stalls: the run is caught mid-copy.
    stall = await startHostileServer({
      '/v2/plugins/foo/manifests/*': (req, res) => {
        res.writeHead(200, {
          'content-type': 'application/vnd.oci.image.manifest.v1+json',
          'docker-content-digest': fromA.manifestDigest,
          'content-length': bytes.length,
        });
        res.end(req.method === 'HEAD' ? undefined : bytes);
      },
      '/v2/plugins/foo/blobs/*': (_req, res) => {
        res.writeHead(200, { 'content-length': 1 << 20 });
        res.write(Buffer.alloc(1024));
        held.push(res);
      },
    });
    list = path.join(tmp, 'stall.properties');
    fs.writeFileSync(list, `foo=oci://${stall.host}/plugins/foo:1.0.0\n`);
  });
  afterAll(async () => {
    for (const r of held) r.destroy();
    await stall?.close();
  });

  const blobAsked = () => stall.requests.some((q) => q.url.includes('/blobs/'));

  test('SIGINT during bundle: exit 130, a --json summary, no staging and no bundle left', async () => {
    const dir = path.join(tmp, 'int-bundle');
    fs.mkdirSync(dir);
    const out = path.join(dir, 'b.tar');
    stall.requests.length = 0;
    const run = start(['bundle', list, '--out', out, '--json']);
    await until('the blob download', () => blobAsked() && entries(dir, /\.partial-/).length > 0);
    expect(entries(path.join(tmp, 'tmpdir'), /^hps-staging-/)).toHaveLength(1);
    run.child.kill('SIGINT');
    const { code } = await run.exit;
    expect(code).toBe(EXIT.interrupted);
    const events = run
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.find((e) => e.event === 'problem')).toMatchObject({ code: 'E_INTERRUPTED' });
    expect(events.at(-1)).toMatchObject({ event: 'summary', command: 'bundle', ok: false, exitCode: 130 });
    expect(run.stderr()).toContain('interrupted: no bundle was written');
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(entries(path.join(tmp, 'tmpdir'), /^hps-staging-/)).toHaveLength(0);
  }, 60_000);

  test('SIGINT during mirror: exit 130, a --json summary, no $TMPDIR/hps-mirror-* left', async () => {
    stall.requests.length = 0;
    const tmpdir = path.join(tmp, 'tmpdir');
    const run = start(['mirror', list, '--to', `${T.host}/interrupted`, '--json']);
    await until('the blob download', () => blobAsked() && entries(tmpdir, /^hps-mirror-/).length > 0);
    run.child.kill('SIGINT');
    const { code } = await run.exit;
    expect(code).toBe(EXIT.interrupted);
    const last = JSON.parse(run.stdout().trim().split('\n').at(-1) as string) as Record<string, unknown>;
    expect(last).toMatchObject({ event: 'summary', command: 'mirror', ok: false, exitCode: 130 });
    expect(entries(tmpdir, /^hps-mirror-/)).toEqual([]);
  }, 60_000);

  test('SIGINT during pull: exit 130, a --json summary, the tree as it was and the lock released', async () => {
    const out = path.join(tmp, 'int-pull');
    stall.requests.length = 0;
    const run = start(['pull', list, '--out', out, '--json']);
    await until('the blob download', () => blobAsked());
    run.child.kill('SIGINT');
    const { code } = await run.exit;
    expect(code).toBe(EXIT.interrupted);
    const last = JSON.parse(run.stdout().trim().split('\n').at(-1) as string) as Record<string, unknown>;
    expect(last).toMatchObject({ event: 'summary', command: 'pull', ok: false, exitCode: 130 });
    expect(run.stdout()).toContain('"code":"E_INTERRUPTED"');
    const left = fs.existsSync(out) ? fs.readdirSync(out, { recursive: true }).map(String) : [];
    expect(left.filter((n) => /\.tmp-|\.old-|\.lock$|foo/.test(n))).toEqual([]);
  }, 60_000);

  test('staging of killed runs is removed by the next run of any command; live and foreign entries are kept', async () => {
    const dir = path.join(tmp, 'killed-bundle');
    fs.mkdirSync(dir);
    const tmpdir = path.join(tmp, 'tmpdir');
    stall.requests.length = 0;
    // Both at once: every run starts with a sweep, so one started after the other was killed would
    // already remove the other's leftovers (which is the point, below).
    const b = start(['bundle', list, '--out', path.join(dir, 'b.tar')]);
    const m = start(['mirror', list, '--to', `${T.host}/killed`]);
    const asked = () => stall.requests.filter((q) => q.url.includes('/blobs/')).length;
    await until(
      'both blob downloads',
      () => asked() >= 2 && entries(dir, /\.partial-/).length > 0 && entries(tmpdir, /^hps-mirror-/).length > 0,
    );
    b.child.kill('SIGKILL');
    m.child.kill('SIGKILL');
    await Promise.all([b.exit, m.exit]);
    expect(entries(dir, /\.partial-/)).toHaveLength(1);
    expect(entries(tmpdir, /^hps-mirror-/)).toHaveLength(1);
    // Entries that must survive: a live process's staging (this test's own pid) and look-alikes.
    const liveStart = fs.readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const startTicks = liveStart.slice(liveStart.lastIndexOf(')') + 2).split(' ')[19];
    const keep = [
      path.join(tmpdir, `hps-mirror-${process.pid}-${startTicks}-0123456789ab`),
      path.join(tmpdir, 'hps-mirror-notes'),
      path.join(dir, 'b.tar.partial-mine'),
    ];
    for (const k of keep) fs.mkdirSync(k);
    // A dead owner's name that is a symlink to someone's folder: never followed, never removed.
    const precious = path.join(tmp, 'precious');
    fs.mkdirSync(precious);
    fs.writeFileSync(path.join(precious, 'keep.txt'), 'x');
    const linked = path.join(tmpdir, `hps-mirror-${b.child.pid}-x-abcdefabcdef`);
    fs.symlinkSync(precious, linked);
    // Any command: here `verify` of a folder that does not exist.
    const next = await cli(['verify', path.join(tmp, 'no-such-tree')]);
    expect(next.code).not.toBe(EXIT.ok);
    // Exactly what must stay is left: the killed runs' staging (whatever it is named) is gone.
    expect(entries(dir, /\.partial-/)).toEqual(['b.tar.partial-mine']);
    expect(
      entries(tmpdir, /^hps-mirror-/)
        .map((n) => path.join(tmpdir, n))
        .sort(),
    ).toEqual([keep[0], keep[1], linked].sort());
    expect(fs.readFileSync(path.join(precious, 'keep.txt'), 'utf8')).toBe('x');
    fs.rmSync(linked);
    expect(entries(tmpdir, /^hps-staging-/)).toEqual([]);
    for (const k of keep) expect(fs.existsSync(k)).toBe(true);
    for (const k of keep) fs.rmSync(k, { recursive: true });
  }, 90_000);
});
