/**
 * Turns the shipped image/nginx.conf into one that runs outside the container. Only paths and the
 * listen address change, so `serve`, the tests and the benchmark all run the config the image ships.
 * Pure: text in, text out; the caller does the file and process work.
 */
import * as net from 'net';
import * as path from 'path';
import { InputError, UsageError } from '../errors';

/**
 * A listen address as the user wrote it, in the two forms it is needed in: `bare` for the socket
 * calls (Node's `listen`, `connect`) and `bracketed` for Nginx's `listen` and URLs, where an IPv6
 * address must be written `[::1]` (Nginx reads `::1:8080` as host `:` and port `:1:8080`).
 */
export interface ListenHost {
  bare: string;
  bracketed: string;
  family: 'ipv4' | 'ipv6' | 'name';
}

/** Parses `127.0.0.1`, `localhost`, `::1` or `[::1]` once, at the edge; anything else is refused here. */
export function parseListenHost(value: string): ListenHost {
  const inner = /^\[(.*)\]$/.exec(value)?.[1];
  const bare = inner ?? value;
  if (net.isIPv6(bare)) return { bare, bracketed: `[${bare}]`, family: 'ipv6' };
  if (inner === undefined && net.isIPv4(bare)) return { bare, bracketed: bare, family: 'ipv4' };
  if (
    inner === undefined &&
    /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
      bare,
    )
  )
    return { bare, bracketed: bare, family: 'name' };
  throw new InputError({
    code: 'E_SERVE_HOST',
    message: `--host ${JSON.stringify(value)} is not an IPv4 address, an IPv6 address (::1 or [::1]) or a host name`,
    hint: 'pass e.g. --host 127.0.0.1 or --host ::1',
  });
}

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/** Loopback addresses (127.0.0.0/8, ::1 in any spelling) and `localhost`. */
export function isLoopback(host: ListenHost): boolean {
  if (host.family === 'name') return host.bare.toLowerCase() === 'localhost';
  return LOOPBACK.check(host.bare, host.family);
}

export interface NginxRewrite {
  /** Folder that holds `plugins/` (the tree root); replaces the `root` directive. */
  root: string;
  /** Loopback address (`127.0.0.1`, `::1`, `[::1]`) and port to listen on; replaces every `listen` directive. */
  host: string;
  port: number;
  /** Writable folder for the pid file and temp paths (what /tmp is in the container). */
  runtimeDir: string;
  /** Access log target: a file path, or `off`. Default: keep the shipped `/dev/stdout`. */
  accessLog?: string;
  /** Adds a `user` directive: needed only when the master runs as root and the tree is private to root. */
  user?: string;
  /** Overrides `worker_processes` (the benchmark pins it so both servers get the same count). */
  workerProcesses?: number;
  /**
   * The dynamic modules folder of the nginx that will run the config (its `--modules-path`): a relative
   * `load_module modules/<file>.so` becomes `<modulesDir>/<file>.so`, since `-p` moves the prefix.
   * `null`: the modules are built into that nginx, so `load_module` lines are dropped.
   */
  modulesDir?: string | null;
  /** Folder holding the njs modules (image/njs); replaces `js_path`, which names /etc/nginx/njs in the image. */
  njsDir?: string;
}

/** The image's tree root (the `root` directive); `include`s of files under it follow `root`. */
const IMAGE_ROOT = '/usr/share/nginx/html';

/** Directives whose single argument is a path under /tmp in the image. */
const RUNTIME_PATH_DIRECTIVES = [
  'pid',
  'client_body_temp_path',
  'proxy_temp_path',
  'fastcgi_temp_path',
  'uwsgi_temp_path',
  'scgi_temp_path',
];

/** Quotes an argument for nginx so paths with spaces or `;` survive. */
function quote(value: string): string {
  if (value.includes('$')) {
    // Nginx expands variables inside quoted strings too ("/srv/a$uri" would serve other folders) and
    // has no escape for "$": refuse rather than serve from a path the operator did not give.
    throw new InputError({
      code: 'E_NGINX_PATH',
      message: `path ${JSON.stringify(value)} contains "$", which Nginx reads as a variable`,
      context: { path: value },
      hint: 'move or copy the tree to a folder whose path has no "$"',
    });
  }
  if (/["\\\n]/.test(value)) {
    throw new InputError({
      code: 'E_NGINX_PATH',
      message: `path ${JSON.stringify(value)} cannot be written into an nginx config`,
      hint: 'use a folder whose path has no quotes, backslashes or newlines',
    });
  }
  return `"${value}"`;
}

/**
 * Rewrites the shipped config. Fails (InputError naming `file` and the line) when a directive it must
 * rewrite is missing or appears in an unexpected form, so drift in image/nginx.conf breaks loudly here
 * instead of silently serving from the wrong place.
 */
export function rewriteNginxConfig(text: string, opts: NginxRewrite, file = 'image/nginx.conf'): string {
  if (!path.isAbsolute(opts.root) || !path.isAbsolute(opts.runtimeDir)) {
    throw new InputError({
      code: 'E_NGINX_PATH',
      message: 'root and runtime folders must be absolute paths',
      context: { file },
    });
  }
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
    throw new UsageError({
      code: 'E_NGINX_PORT',
      message: `port ${opts.port} is not a TCP port`,
      context: { file },
      hint: 'pass a port between 1 and 65535',
    });
  }
  const listen = `${parseListenHost(opts.host).bracketed}:${opts.port}`;
  const counts = { root: 0, listen: 0, pid: 0, access_log: 0, worker_processes: 0 };
  const metricsLog = /^\s*access_log\s+\/dev\/null\s/m.test(text);
  const lines = text.split('\n').map((line, i) => {
    const m = /^(\s*)([a-z_]+)\s+([^;]*);(.*)$/.exec(line);
    if (!m) return line;
    const [, indent, directive, args, rest] = m;
    const where = { file, line: i + 1 };
    const emit = (value: string) => `${indent}${directive} ${value};${rest}`;
    if (directive === 'root') {
      counts.root++;
      return emit(quote(opts.root));
    }
    if (directive === 'listen') {
      counts.listen++;
      // Keep the flags (default_server, ...): only the address changes.
      const flags = args.trim().split(/\s+/).slice(1);
      return emit([listen, ...flags].join(' '));
    }
    if (RUNTIME_PATH_DIRECTIVES.includes(directive)) {
      const target = args.trim();
      if (!target.startsWith('/tmp/')) {
        throw new InputError({
          code: 'E_NGINX_CONFIG',
          message: `${directive} must point under /tmp (the only writable folder in the image), found ${target}`,
          context: where,
        });
      }
      if (directive === 'pid') counts.pid++;
      return emit(quote(path.join(opts.runtimeDir, target.slice('/tmp/'.length))));
    }
    if (directive === 'load_module' && opts.modulesDir !== undefined) {
      const file = args.trim();
      if (path.isAbsolute(file)) return line;
      if (opts.modulesDir === null) return `${indent}# ${directive} ${args}; (built into this nginx)`;
      return emit(quote(path.join(opts.modulesDir, file.replace(/^modules\//, ''))));
    }
    if (directive === 'js_path' && opts.njsDir !== undefined) return emit(quote(opts.njsDir));
    // The metrics log (image/nginx.conf) writes nothing: its target stays /dev/null.
    if (directive === 'access_log' && args.trim().startsWith('/dev/null ')) return line;
    if (directive === 'access_log' && args.trim() !== 'off') {
      counts.access_log++;
      if (opts.accessLog === undefined) return line;
      // `access_log off` would switch off every log of its level, the metrics log included: leave the
      // JSON log out instead where the metrics log (to /dev/null) keeps Nginx from opening its default.
      if (opts.accessLog === 'off')
        return metricsLog ? `${indent}# access_log ${args.trim()}; (off: --access-log off)${rest}` : emit('off');
      const format = args.trim().split(/\s+/).slice(1);
      return emit([quote(opts.accessLog), ...format].join(' '));
    }
    if (directive === 'include' && args.trim().startsWith(`${IMAGE_ROOT}/`)) {
      // Files of the served tree (the OCI view's maps) move with the root.
      return emit(quote(path.join(opts.root, args.trim().slice(IMAGE_ROOT.length))));
    }
    if (directive === 'worker_processes') {
      counts.worker_processes++;
      return opts.workerProcesses === undefined ? line : emit(String(opts.workerProcesses));
    }
    if (directive === 'user') {
      throw new InputError({
        code: 'E_NGINX_CONFIG',
        message: 'the shipped config must not set `user`: the image runs unprivileged as UID 101',
        context: where,
        hint: 'remove the user directive',
      });
    }
    return line;
  });
  for (const [directive, n] of Object.entries(counts)) {
    if (directive === 'access_log' && opts.accessLog === undefined) continue;
    if (directive === 'worker_processes' && opts.workerProcesses === undefined) continue;
    if (n === 0 || (directive !== 'listen' && directive !== 'access_log' && n > 1)) {
      throw new InputError({
        code: 'E_NGINX_CONFIG',
        message: `expected ${directive === 'listen' || directive === 'access_log' ? 'at least one' : 'exactly one'} \`${directive}\` directive, found ${n}`,
        context: { file },
        hint: 'keep image/nginx.conf in the shape src/serve/nginx-config.ts rewrites',
      });
    }
  }
  const out = lines.join('\n');
  return opts.user ? `user ${opts.user};\n${out}` : out;
}
