/**
 * Runs the real Nginx on the shipped config outside the container: finds the binary, writes the
 * rewritten config into a private temp folder and waits for /healthz. Used by `serve`, the tests and
 * the benchmark so all three start Nginx the same way.
 */
import { ChildProcess, spawn, StdioOptions } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { packageFile } from '../contract/package-layout';
import { GZIP_STATIC_SNIPPET, gzipStaticSnippet } from '../contract/gzip-static';
import { PluginServerError } from '../errors';
import { NginxRewrite, parseListenHost, rewriteNginxConfig } from './nginx-config';

/** The shipped image/nginx.conf (the same file the container image uses). */
export function shippedConfigPath(): string {
  const file = packageFile('image', 'nginx.conf');
  if (!fs.existsSync(file)) {
    throw new PluginServerError({
      code: 'E_NGINX_CONFIG',
      message: `image/nginx.conf not found at ${file}`,
      hint: 'run from a checkout or an installed package that includes image/',
    });
  }
  return file;
}

const MISSING_HINT = 'install it (e.g. `apt-get install nginx`) or serve the folder from the container image';

/** Checks an explicitly given nginx binary. */
export function checkNginx(binary: string): string {
  try {
    fs.accessSync(binary, fs.constants.X_OK);
    return binary;
  } catch {
    throw new PluginServerError({
      code: 'E_NGINX_MISSING',
      message: `nginx binary ${binary} does not exist or is not executable`,
      hint: MISSING_HINT,
    });
  }
}

/** The nginx binary from PATH, else Debian's /usr/sbin/nginx; a clear error when neither exists. */
export function findNginx(env: NodeJS.ProcessEnv = process.env): string {
  const dirs = [...(env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    const candidate = path.join(dir, 'nginx');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  throw new PluginServerError({
    code: 'E_NGINX_MISSING',
    message: 'nginx is not installed (not on PATH nor in /usr/sbin)',
    hint: MISSING_HINT,
  });
}

/**
 * When this process is root, nginx would switch its workers to `nobody`, which cannot read a tree in a
 * private (0700) temp folder; keep the workers as the current user instead. Unprivileged: no change,
 * exactly like the image.
 */
export function workerUserFor(uid: number | undefined = process.getuid?.()): string | undefined {
  return uid === 0 ? 'root' : undefined;
}

export interface PreparedNginx {
  /** Private folder holding nginx.conf, the pid file and temp paths. */
  dir: string;
  confPath: string;
  /** Arguments for the nginx binary: run in the foreground on the written config. */
  args: string[];
  cleanup(): void;
}

/** Writes the rewritten shipped config (or `sourceConfig`) into a new temp folder. */
export function prepareNginx(
  opts: Omit<NginxRewrite, 'runtimeDir' | 'user'> & {
    sourceConfig?: string;
    user?: string;
    /** Send plugin.wasm.gz to gzip clients (the image's default config); false: the gzip-static-off one. */
    gzipStatic?: boolean;
  },
): PreparedNginx {
  const source = opts.sourceConfig ?? shippedConfigPath();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-nginx-'));
  const confPath = path.join(dir, 'nginx.conf');
  try {
    const text = rewriteNginxConfig(
      fs.readFileSync(source, 'utf8'),
      { ...opts, runtimeDir: dir, user: opts.user ?? workerUserFor() },
      source,
    );
    fs.writeFileSync(confPath, text);
    // The include image/nginx.conf makes beside itself, as the image ships it (src/contract/gzip-static.ts).
    const snippet = path.join(dir, GZIP_STATIC_SNIPPET);
    fs.mkdirSync(path.dirname(snippet));
    fs.writeFileSync(snippet, gzipStaticSnippet(opts.gzipStatic ?? true));
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    confPath,
    // -p keeps nginx from touching its compiled-in prefix; -e (1.19.5+) sends startup errors to stderr.
    args: ['-p', dir, '-e', 'stderr', '-c', confPath, '-g', 'daemon off;'],
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export function spawnNginx(prepared: PreparedNginx, stdio: StdioOptions, binary = findNginx()): ChildProcess {
  return spawn(binary, prepared.args, { stdio });
}

/** The error log's last line: the one that says why nginx stopped, for a one-line error. */
function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] || 'no error output';
}

/**
 * Fails when something already listens on host:port. Without this check a health probe could be
 * answered by that other server while our nginx is still retrying its bind.
 */
export function assertPortFree(host: string, port: number): Promise<void> {
  const { bare, bracketed } = parseListenHost(host);
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new PluginServerError({
          code: 'E_PORT_IN_USE',
          message: `cannot listen on ${bracketed}:${port}: ${err.code ?? err.message}`,
          context: { url: `http://${bracketed}:${port}` },
          hint: 'stop what uses that port or pass another --port',
        }),
      ),
    );
    srv.listen(port, bare, () => srv.close(() => resolve()));
  });
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.setTimeout(2000, () => req.destroy(new Error('timeout')));
  });
}

/**
 * Resolves once `url` answers 200; rejects when the process exits first (a config or port error)
 * or after `timeoutMs`. Backs off between attempts instead of spinning.
 */
export async function waitForHealthy(
  url: string,
  child: ChildProcess,
  timeoutMs = 15000,
  stderr: () => string = () => '',
): Promise<void> {
  let exited: string | undefined;
  const onExit = (code: number | null, signal: string | null) => {
    exited = `nginx exited (${signal ?? `code ${code}`}) before answering ${url}: ${lastLine(stderr())}`;
  };
  child.once('exit', onExit);
  try {
    const deadline = Date.now() + timeoutMs;
    let delay = 20;
    for (;;) {
      if (exited) throw new PluginServerError({ code: 'E_NGINX_START', message: exited, context: { url } });
      try {
        if ((await getStatus(url)) === 200) return;
      } catch {
        /* not listening yet */
      }
      if (exited) throw new PluginServerError({ code: 'E_NGINX_START', message: exited, context: { url } });
      if (Date.now() > deadline)
        throw new PluginServerError({
          code: 'E_NGINX_START',
          message: `nginx did not answer ${url} within ${timeoutMs} ms: ${lastLine(stderr())}`,
          context: { url },
        });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 500);
    }
  } finally {
    child.off('exit', onExit);
  }
}

/** Stops nginx gracefully (SIGQUIT lets in-flight downloads finish), then hard after `graceMs`. */
export function stopNginx(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGQUIT');
  });
}
