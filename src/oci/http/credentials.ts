/**
 * Basic credentials for a registry. Sources, first match wins:
 *  1. HIGRESS_REGISTRY_USERNAME / HIGRESS_REGISTRY_PASSWORD, for the hosts in HIGRESS_REGISTRY_HOSTS
 *     (or, when that is unset, for any registry that challenges for credentials);
 *  2. the credential helper the docker config names for the host (`credHelpers`, then `credsStore`;
 *     see credential-helpers.ts), as `docker login` / `oras login` store them;
 *  3. `auths[<host>].auth` (base64 `user:password`) in the docker config: `dockerConfigPath`, else
 *     `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. Keys may carry a scheme or path
 *     (`https://host/v1/`), as `docker login` writes them.
 * Credentials are only ever sent after a registry asks for them (401 challenge).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InputError } from '../../errors';
import { credentialsFromHelper, envCredentialsAllowed, helperFor } from './credential-helpers';

export interface Credentials {
  username: string;
  password: string;
}

export function defaultDockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG
    ? path.join(env.DOCKER_CONFIG, 'config.json')
    : path.join(os.homedir(), '.docker', 'config.json');
}

/** Normalises a docker config `auths` key to `host[:port]`. */
export function authKeyHost(key: string): string {
  return key
    .toLowerCase()
    .replace(/^[a-z]+:\/\//, '')
    .replace(/\/.*$/, '');
}

/** Pure: finds credentials for `registry` in a parsed docker config. */
export function credentialsFromDockerConfig(config: unknown, registry: string, file: string): Credentials | undefined {
  if (!config || typeof config !== 'object') return undefined;
  const auths = (config as { auths?: unknown }).auths;
  if (!auths || typeof auths !== 'object') return undefined;
  const want = registry.toLowerCase();
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    if (authKeyHost(key) !== want || !entry || typeof entry !== 'object') continue;
    const e = entry as { auth?: unknown; username?: unknown; password?: unknown };
    if (typeof e.username === 'string' && typeof e.password === 'string')
      return { username: e.username, password: e.password };
    if (typeof e.auth !== 'string' || !e.auth) continue;
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new InputError({
        code: 'E_DOCKER_CONFIG',
        message: `auths["${key}"].auth in ${file} is not base64 of user:password`,
        context: { file },
        hint: 'run docker login again or fix the entry',
      });
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

export class CredentialStore {
  private config: unknown;
  private loaded = false;
  /** Per host: a helper runs once per run, not once per request. */
  private readonly found = new Map<string, Credentials | undefined>();

  constructor(
    private readonly configPath: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  get(registry: string): Credentials | undefined {
    if (this.found.has(registry)) return this.found.get(registry);
    const creds = this.lookup(registry);
    this.found.set(registry, creds);
    return creds;
  }

  /** What to check when a registry refuses us: names the config file actually read, and its helper. */
  hint(registry: string): string {
    let config: unknown;
    try {
      config = this.load();
    } catch {
      config = undefined;
    }
    const helper = helperFor(config, registry);
    const file = `${this.configPath}${config === undefined ? ' (not found)' : ''}`;
    const via = helper ? ` (${helper.from} "${helper.name}")` : '';
    return `check the credentials for ${registry} in ${file}${via} or HIGRESS_REGISTRY_USERNAME/PASSWORD`;
  }

  private lookup(registry: string): Credentials | undefined {
    const username = this.env.HIGRESS_REGISTRY_USERNAME;
    const password = this.env.HIGRESS_REGISTRY_PASSWORD;
    if (username && password !== undefined && envCredentialsAllowed(registry, this.env)) return { username, password };
    const config = this.load();
    const helper = helperFor(config, registry);
    if (helper) {
      const creds = credentialsFromHelper(helper.name, registry, this.configPath, helper.from, this.env);
      if (creds) return creds;
    }
    return credentialsFromDockerConfig(config, registry, this.configPath);
  }

  private load(): unknown {
    if (this.loaded) return this.config;
    this.loaded = true;
    let text: string;
    try {
      text = fs.readFileSync(this.configPath, 'utf8');
    } catch {
      return undefined; // no docker config: anonymous pulls only
    }
    try {
      this.config = JSON.parse(text);
    } catch {
      throw new InputError({
        code: 'E_DOCKER_CONFIG',
        message: `${this.configPath} is not valid JSON`,
        context: { file: this.configPath },
        hint: 'fix or remove the docker config',
      });
    }
    return this.config;
  }
}
