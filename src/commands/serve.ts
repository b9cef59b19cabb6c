/**
 * `serve [root]`: runs the installed Nginx with the image's own config on 127.0.0.1, for local
 * development with Higress standalone. Ctrl-C stops Nginx and removes its temp folder.
 */
import { Command, InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import { exitCodesHelp, InputError, UsageError } from '../errors';
import {
  assertPortFree,
  checkNginx,
  findNginx,
  prepareNginx,
  spawnNginx,
  stopNginx,
  waitForHealthy,
} from '../serve/nginx-runtime';
import { PLUGINS_DIR } from '../contract/tree-format';
import { isLoopback, ListenHost, parseListenHost } from '../serve/nginx-config';

interface ServeOptions {
  port: number;
  host: string;
  nginx?: string;
  allowRemote?: boolean;
  /** `-` (stdout, as in the image), `off`, or a file. */
  accessLog: string;
  /** false (`--no-gzip-static`): the image's gzip-static-off config, as the chart's gzip.enabled=false. */
  gzipStatic: boolean;
}

/**
 * `serve` is a development server: refuse to expose it unless the user says so. The address is
 * parsed once here (an IPv6 address with or without brackets; anything else refused up front).
 */
export function assertServeHost(host: string, allowRemote: boolean | undefined): ListenHost {
  const parsed = parseListenHost(host);
  if (isLoopback(parsed) || allowRemote) return parsed;
  throw new UsageError({
    code: 'E_SERVE_REMOTE',
    message: `--host ${host} is not a loopback address; serve would expose the tree to the network`,
    hint: 'add --allow-remote if that is what you want, or use --host 127.0.0.1',
  });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535)
    throw new InvalidArgumentError('expected a TCP port between 1 and 65535');
  return port;
}

/** Which folder to serve: a tree root holding plugins/, or the plugins/ folder itself. */
export function resolveTreeRoot(arg: string): string {
  const abs = path.resolve(arg);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) {
    throw new InputError({
      code: 'E_SERVE_ROOT',
      message: `${arg} is not a folder`,
      context: { file: arg },
      hint: 'pass the folder `pull` wrote (the one that holds plugins/)',
    });
  }
  if (fs.existsSync(path.join(abs, PLUGINS_DIR))) return abs;
  if (path.basename(abs) === PLUGINS_DIR) return path.dirname(abs);
  throw new InputError({
    code: 'E_SERVE_ROOT',
    message: `${arg} has no ${PLUGINS_DIR}/ folder`,
    context: { file: arg },
    hint: 'run `higress-plugin-server pull` first, or pass the folder that holds plugins/',
  });
}

/**
 * The shipped config logs to /dev/stdout, which nginx cannot open when our stdout is a socket (as
 * when a Node process spawned us). Then the log goes to access.log in the temp folder instead.
 */
function accessLogTarget(option = '-'): string | undefined {
  if (option === 'off') return 'off';
  if (option !== '-') return path.resolve(option);
  try {
    return fs.fstatSync(1).isSocket() ? 'access.log' : undefined;
  } catch {
    return 'access.log';
  }
}

async function serve(rootArg: string, opts: ServeOptions): Promise<void> {
  const host = assertServeHost(opts.host, opts.allowRemote);
  const root = resolveTreeRoot(rootArg);
  const binary = opts.nginx ? checkNginx(opts.nginx) : findNginx();
  await assertPortFree(opts.host, opts.port);
  const prepared = prepareNginx({
    root,
    host: opts.host,
    port: opts.port,
    accessLog: accessLogTarget(opts.accessLog),
    gzipStatic: opts.gzipStatic,
    binary,
  });
  const child = spawnNginx(prepared, ['ignore', 'inherit', 'pipe'], binary);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    process.stderr.write(d);
  });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(orphanWatch);
    await stopNginx(child);
    prepared.cleanup();
  };
  // Ctrl-C reaches nginx through the process group too; stopping it ourselves makes the order
  // deterministic (graceful quit, then the temp folder goes).
  const onSignal = () => void stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `npx higress-plugin-server serve &` and a later `kill %1` end npm's wrapper process, not this
  // one: stop when the parent goes away too, so no Nginx is left behind holding the port.
  const parent = process.ppid;
  const orphanWatch = setInterval(() => {
    if (process.ppid !== parent) void stop();
  }, 250);
  orphanWatch.unref();
  try {
    const url = `http://${host.bracketed}:${opts.port}`;
    await waitForHealthy(`${url}/healthz`, child, 15000, () => stderr);
    process.stdout.write(`serving ${root} at ${url}/${PLUGINS_DIR}/ (Ctrl-C to stop)\n`);
    const code = await new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once('exit', (c) => resolve(c));
    });
    if (!stopping && code !== 0) process.exitCode = code ?? 1;
  } finally {
    await stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function register(program: Command): void {
  program
    .command('serve')
    .description(
      "serve a plugin tree with the image's Nginx config on 127.0.0.1 (needs nginx installed; Ctrl-C stops it)",
    )
    .argument('[root]', 'folder that holds plugins/ (what `pull` wrote)', '.')
    .option('-p, --port <port>', 'port to listen on', parsePort, 8080)
    .option('--host <address>', 'address to listen on (loopback unless --allow-remote)', '127.0.0.1')
    .option('--allow-remote', 'allow a --host that is not loopback (exposes the tree to the network)')
    .option(
      '--access-log <file>',
      "where Nginx writes its JSON access log: `-` is stdout (as in the image), `off` writes none (the quick start's choice, so the terminal stays readable), else a file",
      '-',
    )
    .option(
      '--no-gzip-static',
      "send plugin.wasm as is, never plugin.wasm.gz: the image as the chart's gzip.enabled=false runs it (docs/gzip.md)",
    )
    .option('--nginx <path>', 'nginx binary (default: from PATH, else /usr/sbin/nginx)')
    .addHelpText('after', `\n${exitCodesHelp()}`)
    .action((root: string, opts: ServeOptions) => serve(root, opts));
}
