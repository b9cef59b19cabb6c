/**
 * Docker credential helpers, run the way the Docker CLI runs them: `credHelpers[<host>]` names the
 * helper for one registry, `credsStore` the one for every other registry; the helper is the program
 * `docker-credential-<name>` on PATH, called as `docker-credential-<name> get` with the registry host
 * on stdin, answering `{"ServerURL", "Username", "Secret"}` on stdout, or exiting non-zero with
 * "credentials not found" when it has none (then the registry is tried anonymously).
 *
 * Helpers run asynchronously (once per host and run, cached by the caller), in a session of their own
 * with no terminal, under the same cancellation as the network (the run's --deadline, Ctrl-C): one that
 * would prompt (a locked keyring, a gpg passphrase) is stopped after HELPER_TIMEOUT_MS, or when the run
 * is, with SIGTERM and then SIGKILL for its whole process group, instead of blocking the run.
 */
import { spawn } from 'child_process';
import { InputError, safeText } from '../../errors';

export const HELPER_TIMEOUT_MS = 30_000;
/** How long a stopped helper gets between SIGTERM and SIGKILL. */
export const HELPER_KILL_GRACE_MS = 1_000;
/** The message every helper of docker-credential-helpers prints when it holds nothing for a host. */
const NOT_FOUND = /credentials not found/i;

/** Normalises a docker config key (`https://host/v1/`, `host:5000`) to `host[:port]`. */
function keyHost(key: string): string {
  return key
    .toLowerCase()
    .replace(/^[a-z]+:\/\//, '')
    .replace(/\/.*$/, '');
}

/** Pure: which helper the docker config names for `registry` (credHelpers first, then credsStore). */
export function helperFor(
  config: unknown,
  registry: string,
): { name: string; from: 'credHelpers' | 'credsStore' } | undefined {
  if (!config || typeof config !== 'object') return undefined;
  const c = config as { credHelpers?: unknown; credsStore?: unknown };
  const want = registry.toLowerCase();
  if (c.credHelpers && typeof c.credHelpers === 'object') {
    for (const [key, name] of Object.entries(c.credHelpers as Record<string, unknown>)) {
      if (keyHost(key) === want && typeof name === 'string' && name) return { name, from: 'credHelpers' };
    }
  }
  if (typeof c.credsStore === 'string' && c.credsStore) return { name: c.credsStore, from: 'credsStore' };
  return undefined;
}

/**
 * What a failing helper said, fit to print: its stderr's first line, escaped and bounded. Never its
 * stdout: that is where a helper writes its answer, so a helper that printed the secret and then
 * failed would put the secret on the terminal, in CI logs and in `--json` events.
 */
export function helperSaid(stderr: string): string {
  return safeText(stderr.trim().split('\n')[0]?.trim() ?? '', 300);
}

interface HelperRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Why the run was stopped (the deadline's or Ctrl-C's error), as an Error. */
function stopReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('the run was stopped');
}

/**
 * Process groups of the helpers running now. A helper runs in a session of its own, so the terminal's
 * Ctrl-C does not reach it: while one runs, a fatal signal to this process (SIGINT, SIGTERM, SIGHUP)
 * first SIGKILLs every running helper's group, then, unless someone else listens for that signal, is
 * raised again so the process ends as it would have (exit 130 for Ctrl-C).
 */
const running = new Set<number>();
const FATAL: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function killRunning(sig: NodeJS.Signals): void {
  for (const group of running) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  running.clear();
  for (const s of FATAL) process.off(s, killRunning);
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function track(pid: number): void {
  if (running.size === 0) for (const s of FATAL) process.on(s, killRunning);
  running.add(pid);
}

function untrack(pid: number): void {
  if (!running.delete(pid) || running.size > 0) return;
  for (const s of FATAL) process.off(s, killRunning);
}

/** A helper's answer is a small JSON document: more than this of either stream is dropped. */
const MAX_HELPER_OUTPUT = 64 * 1024;

/**
 * Runs `program get` with `input` on stdin, asynchronously, in a process group of its own (a new
 * session: no terminal to prompt on). On `signal` (the run's deadline, Ctrl-C, a closed stdout) or
 * after HELPER_TIMEOUT_MS the whole group gets SIGTERM, then SIGKILL after HELPER_KILL_GRACE_MS, so a
 * helper that ignores SIGTERM, or a child it started, never outlives the run. Settles only once the
 * helper is gone: rejects with the signal's reason when aborted, resolves `timedOut` after a timeout.
 */
function runHelper(
  program: string,
  input: string,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal | undefined,
): Promise<HelperRun & { timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(stopReason(signal));
      return;
    }
    const child = spawn(program, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    if (child.pid !== undefined) track(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      if (into.reduce((n, b) => n + b.length, 0) < MAX_HELPER_OUTPUT) into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    child.stdin.on('error', () => undefined); // a helper that does not read stdin
    child.stdin.end(input);
    let stopped: 'timeout' | 'abort' | undefined;
    let grace: NodeJS.Timeout | undefined;
    let done = false;
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        /* the group is gone already */
      }
    };
    const stop = (why: 'timeout' | 'abort') => {
      if (stopped || done) return;
      stopped = why;
      killGroup('SIGTERM');
      grace = setTimeout(() => killGroup('SIGKILL'), HELPER_KILL_GRACE_MS);
    };
    const timer = setTimeout(() => stop('timeout'), HELPER_TIMEOUT_MS);
    const onAbort = () => stop('abort');
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (grace) clearTimeout(grace);
      signal?.removeEventListener('abort', onAbort);
      if (child.pid !== undefined) untrack(child.pid);
      fn();
    };
    child.on('error', (e) => settle(() => reject(e)));
    // A stopped helper's children may hold its pipes open: once the helper itself is gone, kill the rest.
    child.on('exit', () => {
      if (stopped) killGroup('SIGKILL');
    });
    child.on('close', (status, sig) =>
      settle(() => {
        if (stopped === 'abort') reject(stopReason(signal));
        else
          resolve({
            status,
            signal: sig,
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
            timedOut: stopped === 'timeout',
          });
      }),
    );
  });
}

/**
 * Runs `docker-credential-<name> get` for `registry` under `signal` (see runHelper). Returns undefined
 * when the helper has no credentials for it; throws an InputError naming the helper and `configFile`
 * on any other failure, and the signal's reason when the run was stopped.
 */
export async function credentialsFromHelper(
  name: string,
  registry: string,
  configFile: string,
  from: string,
  env: NodeJS.ProcessEnv = process.env,
  signal?: AbortSignal,
): Promise<{ username: string; password: string } | undefined> {
  const program = `docker-credential-${name}`;
  const where = `${from} "${name}" in ${configFile}`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new InputError({
      code: 'E_CREDENTIAL_HELPER',
      message: `${where} is not a helper name`,
      context: { file: configFile },
      hint: 'name a helper such as "pass" or "secretservice"',
    });
  }
  let run: HelperRun & { timedOut: boolean };
  try {
    run = await runHelper(program, registry, env, signal);
  } catch (e) {
    if (signal?.aborted) throw signal.reason ?? e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new InputError({
        code: 'E_CREDENTIAL_HELPER',
        message: `${program} (${where}) is not on PATH`,
        context: { file: configFile },
        hint: `install the helper, or remove ${from} from ${configFile}`,
      });
    }
    throw new InputError({
      code: 'E_CREDENTIAL_HELPER',
      message: `${program} (${where}) could not run (${code ?? (e as Error).message}) for ${registry}`,
      context: { file: configFile },
      hint: 'unlock the credential store or check the helper',
    });
  }
  if (run.timedOut) {
    throw new InputError({
      code: 'E_CREDENTIAL_HELPER',
      message: `${program} (${where}) gave no answer within ${HELPER_TIMEOUT_MS / 1000} s (is it waiting for a passphrase?) for ${registry}; it was stopped`,
      context: { file: configFile },
      hint: 'unlock the credential store or check the helper',
    });
  }
  if (run.status !== 0) {
    // docker-credential-helpers print "credentials not found" on stdout: test it there, never quote it.
    if (NOT_FOUND.test(run.stdout) || NOT_FOUND.test(run.stderr)) return undefined;
    const said = helperSaid(run.stderr);
    throw new InputError({
      code: 'E_CREDENTIAL_HELPER',
      message: `${program} (${where}) failed for ${registry} with exit code ${run.status ?? run.signal}: ${said ? `stderr: ${said}` : 'nothing on stderr'} (its stdout is never shown: it may hold a secret)`,
      context: { file: configFile },
      hint: `check the helper, e.g. echo ${registry} | ${program} get >/dev/null`,
    });
  }
  let doc: { Username?: unknown; Secret?: unknown };
  try {
    doc = JSON.parse(run.stdout) as typeof doc;
  } catch {
    throw new InputError({
      code: 'E_CREDENTIAL_HELPER',
      message: `${program} (${where}) answered something that is not JSON for ${registry}`,
      context: { file: configFile },
      hint: 'check the helper',
    });
  }
  if (typeof doc.Username !== 'string' || typeof doc.Secret !== 'string') {
    throw new InputError({
      code: 'E_CREDENTIAL_HELPER',
      message: `${program} (${where}) answered without Username and Secret for ${registry}`,
      context: { file: configFile },
      hint: 'log in again',
    });
  }
  if (doc.Username === '<token>') {
    throw new InputError({
      code: 'E_CREDENTIAL_HELPER',
      message: `${program} (${where}) holds an identity token for ${registry}, which this client cannot exchange`,
      context: { file: configFile },
      hint: 'log in with a user name and password (or a robot account) for this registry',
    });
  }
  return { username: doc.Username, password: doc.Secret };
}

/**
 * HIGRESS_REGISTRY_HOSTS (comma or space separated `host[:port]`) limits where the
 * HIGRESS_REGISTRY_USERNAME/PASSWORD credentials may be sent; unset means every registry.
 */
export function envCredentialsAllowed(registry: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const list = env.HIGRESS_REGISTRY_HOSTS;
  if (list === undefined || list.trim() === '') return true;
  const want = registry.toLowerCase();
  return list
    .split(/[\s,]+/)
    .filter(Boolean)
    .some((h) => keyHost(h) === want);
}
