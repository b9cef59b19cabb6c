/**
 * Docker credential helpers, run the way the Docker CLI runs them: `credHelpers[<host>]` names the
 * helper for one registry, `credsStore` the one for every other registry; the helper is the program
 * `docker-credential-<name>` on PATH, called as `docker-credential-<name> get` with the registry host
 * on stdin, answering `{"ServerURL", "Username", "Secret"}` on stdout, or exiting non-zero with
 * "credentials not found" when it has none (then the registry is tried anonymously).
 *
 * Helpers run synchronously (once per host and run, cached by the caller) with no terminal: one that
 * would prompt (a locked keyring, a gpg passphrase) fails after HELPER_TIMEOUT_MS instead of hanging.
 */
import { spawnSync } from 'child_process';
import { InputError } from '../../errors';

export const HELPER_TIMEOUT_MS = 30_000;
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

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.trim().slice(0, 300) ?? '';
}

/**
 * Runs `docker-credential-<name> get` for `registry`. Returns undefined when the helper has no
 * credentials for it; throws an InputError naming the helper and `configFile` on any other failure.
 */
export function credentialsFromHelper(
  name: string,
  registry: string,
  configFile: string,
  from: string,
  env: NodeJS.ProcessEnv = process.env,
): { username: string; password: string } | undefined {
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
  const run = spawnSync(program, ['get'], {
    input: registry,
    env,
    encoding: 'utf8',
    timeout: HELPER_TIMEOUT_MS,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (run.error) {
    const code = (run.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new InputError({
        code: 'E_CREDENTIAL_HELPER',
        message: `${program} (${where}) is not on PATH`,
        context: { file: configFile },
        hint: `install the helper, or remove ${from} from ${configFile}`,
      });
    }
    const why =
      code === 'ETIMEDOUT'
        ? `gave no answer within ${HELPER_TIMEOUT_MS / 1000} s (is it waiting for a passphrase?)`
        : `could not run (${code ?? run.error.message})`;
    throw new InputError({
      code: 'E_CREDENTIAL_HELPER',
      message: `${program} (${where}) ${why} for ${registry}`,
      context: { file: configFile },
      hint: 'unlock the credential store or check the helper',
    });
  }
  if (run.status !== 0) {
    const said = firstLine(run.stdout) || firstLine(run.stderr);
    if (NOT_FOUND.test(said)) return undefined;
    throw new InputError({
      code: 'E_CREDENTIAL_HELPER',
      message: `${program} (${where}) failed for ${registry} with exit code ${run.status ?? run.signal}: ${said || 'no message'}`,
      context: { file: configFile },
      hint: `check the helper, e.g. echo ${registry} | ${program} get`,
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
