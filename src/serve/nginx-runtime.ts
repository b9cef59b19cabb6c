/**
 * Runs the real Nginx on the shipped config outside the container: finds the binary, writes the
 * rewritten config into a private temp folder and waits for /healthz. Used by `serve`, the tests and
 * the benchmark so all three start Nginx the same way.
 */
import { ChildProcess, spawn, spawnSync, StdioOptions } from 'child_process';
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

/** The njs modules of the shipped config (image/njs; /etc/nginx/njs in the image). */
export function shippedNjsDir(): string {
  return packageFile('image', 'njs');
}

/** The dynamic module image/nginx.conf loads for /metrics (njs >= 0.8.0: js_shared_dict_zone). */
export const NJS_MODULE_FILE = 'ngx_http_js_module.so';
const NJS_HINT =
  'install njs >= 0.8.0 for it (Debian trixie: `apt-get install nginx libnginx-mod-http-js`; nginx.org packages: nginx-module-njs; in a checkout, scripts/install-test-tools.sh puts one in .tools/bin), or pass --nginx <binary> of one that has it';
const MISSING_HINT = 'install it (e.g. `apt-get install nginx`) or serve the folder from the container image';

/** What the nginx at a path offers image/nginx.conf: its modules folder (null: njs built in), or why not. */
type NjsProbe = { ok: true; modulesDir: string | null } | { ok: false; error: PluginServerError };
const probes = new Map<string, NjsProbe>();

/**
 * Where the nginx at `binary` keeps its dynamic modules (`nginx -V`: --modules-path, else
 * <prefix>/modules), checked by `nginx -t` on a two-line config that loads the njs module and declares a
 * js_shared_dict_zone (njs >= 0.8.0). Cached per binary.
 */
export function probeNjs(binary: string): NjsProbe {
  const known = probes.get(binary);
  if (known) return known;
  const r = spawnSync(binary, ['-V'], { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  let probe: NjsProbe;
  if (r.error || !/nginx version:/.test(text)) {
    probe = {
      ok: false,
      error: new PluginServerError({
        code: 'E_NGINX_MISSING',
        message: `${binary} -V did not print an nginx version${r.error ? ` (${r.error.message})` : ''}`,
        hint: MISSING_HINT,
      }),
    };
  } else {
    const builtIn = /--add-module=\S*njs/.test(text);
    const prefix = /--prefix=(\S+)/.exec(text)?.[1] ?? '/usr/local/nginx';
    const modulesDir = builtIn ? null : (/--modules-path=(\S+)/.exec(text)?.[1] ?? path.join(prefix, 'modules'));
    const module = modulesDir === null ? undefined : path.join(modulesDir, NJS_MODULE_FILE);
    const why = module && !fs.existsSync(module) ? `${module} does not exist` : njsTestFails(binary, module);
    probe = why
      ? {
          ok: false,
          error: new PluginServerError({
            code: 'E_NGINX_NJS',
            message: `nginx ${binary} cannot run image/nginx.conf, whose /metrics needs the JavaScript module (njs) >= 0.8.0: ${why}`,
            hint: NJS_HINT,
          }),
        }
      : { ok: true, modulesDir };
  }
  probes.set(binary, probe);
  return probe;
}

/** `nginx -t` on the smallest config using njs 0.8: undefined when it passes, else why not (one line). */
function njsTestFails(binary: string, module: string | undefined): string | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-njs-probe-'));
  try {
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(
      conf,
      `${module ? `load_module "${module}";\n` : ''}pid "${dir}/nginx.pid";\nevents {}\nhttp { js_shared_dict_zone zone=probe:64k type=number; }\n`,
    );
    const r = spawnSync(binary, ['-t', '-q', '-p', dir, '-e', 'stderr', '-c', conf], { encoding: 'utf8' });
    if (r.status === 0) return undefined;
    if (/unknown directive "js_shared_dict_zone"/.test(r.stderr ?? '')) return 'its njs is older than 0.8.0';
    return lastLine(r.stderr ?? '').replace(/^.*\[emerg\] [0-9#]+: /, '');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The modules folder image/nginx.conf's `load_module` needs with the nginx at `binary`; one line when it has no njs 0.8. */
export function nginxModulesDir(binary: string): string | null {
  const probe = probeNjs(binary);
  if (!probe.ok) throw probe.error;
  return probe.modulesDir;
}

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

/**
 * The first nginx on PATH (then /usr/sbin, /usr/local/sbin) that can run image/nginx.conf (njs >= 0.8.0);
 * when nginx binaries exist but none can, the first one's reason; when none exists, that.
 */
export function findNginx(env: NodeJS.ProcessEnv = process.env): string {
  const dirs = [...(env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin'];
  let firstError: PluginServerError | undefined;
  for (const dir of dirs) {
    const candidate = path.join(dir, 'nginx');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
    } catch {
      continue;
    }
    const probe = probeNjs(candidate);
    if (probe.ok) return candidate;
    firstError ??= probe.error;
  }
  throw (
    firstError ??
    new PluginServerError({
      code: 'E_NGINX_MISSING',
      message: 'nginx is not installed (not on PATH nor in /usr/sbin)',
      hint: MISSING_HINT,
    })
  );
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

/**
 * Writes the rewritten shipped config (or `sourceConfig`) into a new temp folder, for the nginx at
 * `binary` (default: findNginx()): its modules folder replaces the image's relative `load_module`.
 */
export function prepareNginx(
  opts: Omit<NginxRewrite, 'runtimeDir' | 'user' | 'modulesDir' | 'njsDir'> & {
    sourceConfig?: string;
    user?: string;
    binary?: string;
    /** Send plugin.wasm.gz to gzip clients (the image's default config); false: the gzip-static-off one. */
    gzipStatic?: boolean;
  },
): PreparedNginx {
  const source = opts.sourceConfig ?? shippedConfigPath();
  const sourceText = fs.readFileSync(source, 'utf8');
  const loadsModules = /^\s*load_module\s/m.test(sourceText);
  const modulesDir = loadsModules ? nginxModulesDir(opts.binary ?? findNginx()) : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-nginx-'));
  const confPath = path.join(dir, 'nginx.conf');
  try {
    const text = rewriteNginxConfig(
      sourceText,
      { ...opts, runtimeDir: dir, user: opts.user ?? workerUserFor(), modulesDir, njsDir: shippedNjsDir() },
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
  const failed = (message: string) => new PluginServerError({ code: 'E_NGINX_START', message, context: { url } });
  child.once('exit', onExit);
  try {
    const deadline = Date.now() + timeoutMs;
    let delay = 20;
    for (;;) {
      if (exited) throw failed(exited);
      try {
        if ((await getStatus(url)) === 200) return;
      } catch {
        /* not listening yet */
      }
      if (exited) throw failed(exited);
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
