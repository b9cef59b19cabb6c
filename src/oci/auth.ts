/**
 * Registry authentication: remembers each host's challenge, fetches bearer tokens from the realm the
 * registry names (with basic credentials when we have them), and caches tokens per realm/service/scope
 * until shortly before they expire. Concurrent pulls of one repository share one token request.
 */
import { RegistryError } from '../errors';
import { parseChallenge } from './challenge';
import type { Credentials, CredentialStore } from './credentials';
import { allowsPlainHttp } from './endpoint';

export const AUTH_HINT = 'check credentials in ~/.docker/config.json or HIGRESS_REGISTRY_USERNAME/PASSWORD';

type HostAuth = { scheme: 'bearer'; realm: string; service?: string } | { scheme: 'basic' };

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface TokenFetcher {
  (url: string, headers: Record<string, string>): Promise<{ status: number; body: string }>;
}

function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

export class AuthManager {
  private readonly hosts = new Map<string, HostAuth>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly creds: CredentialStore,
    private readonly insecureHosts: readonly string[],
    private readonly fetchToken: TokenFetcher,
    private readonly now: () => number = Date.now,
  ) {}

  /** Authorization header to send up front, when the host's challenge is already known. */
  async header(registry: string, scope: string): Promise<string | undefined> {
    const auth = this.hosts.get(registry);
    if (!auth) return undefined;
    if (auth.scheme === 'basic') {
      const c = this.creds.get(registry);
      return c ? basicHeader(c) : undefined;
    }
    return `Bearer ${await this.token(registry, auth, scope, false)}`;
  }

  /**
   * Handles a 401: records the challenge and returns the header to retry with, or throws an auth error
   * when there is nothing better to send.
   */
  async challenged(registry: string, scope: string, wwwAuthenticate: string | null, url: string, sent: string | undefined): Promise<string> {
    const ch = parseChallenge(wwwAuthenticate);
    if (ch?.scheme === 'bearer' && ch.params.realm) {
      const auth: HostAuth = { scheme: 'bearer', realm: ch.params.realm, service: ch.params.service };
      this.hosts.set(registry, auth);
      const header = `Bearer ${await this.token(registry, auth, scope, true)}`;
      if (header === sent) throw this.denied(url, 'the registry refused a fresh token', registry);
      return header;
    }
    const c = this.creds.get(registry);
    if (ch?.scheme === 'basic' || !ch) {
      this.hosts.set(registry, { scheme: 'basic' });
      if (!c) throw this.denied(url, 'authentication required and no credentials found', registry);
      const header = basicHeader(c);
      if (header === sent) throw this.denied(url, 'credentials rejected', registry);
      return header;
    }
    throw this.denied(url, `unsupported authentication challenge "${wwwAuthenticate}"`, registry);
  }

  denied(url: string, why: string, registry?: string): RegistryError {
    return new RegistryError('E_REGISTRY_AUTH', `unauthorized: ${why} for ${url}`, { url }, this.hintFor(registry ?? url));
  }

  /** The hint names the docker config actually read (DOCKER_CONFIG honoured) and any credential helper. */
  private hintFor(registryOrUrl: string): string {
    try {
      return this.creds.hint(registryOrUrl.includes('://') ? new URL(registryOrUrl).host : registryOrUrl);
    } catch {
      return AUTH_HINT;
    }
  }

  private async token(registry: string, auth: { realm: string; service?: string }, scope: string, refresh: boolean): Promise<string> {
    const key = `${auth.realm}|${auth.service ?? ''}|${scope}`;
    const cached = this.tokens.get(key);
    if (!refresh && cached && cached.expiresAt > this.now()) return cached.token;
    const inflight = this.pending.get(key);
    if (inflight) return inflight;
    const p = this.requestToken(registry, auth, scope, key).finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  private async requestToken(registry: string, auth: { realm: string; service?: string }, scope: string, key: string): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(auth.realm);
    } catch {
      throw new RegistryError('E_REGISTRY_AUTH', `registry ${registry} named an invalid token realm "${auth.realm}"`, { url: auth.realm }, 'check the registry configuration');
    }
    if (realm.protocol === 'http:' && !allowsPlainHttp(realm.host, this.insecureHosts)) {
      throw new RegistryError('E_REGISTRY_INSECURE', `token realm ${auth.realm} is plain HTTP`, { url: auth.realm },
        `list ${realm.host} in the insecure hosts only if you trust the network`);
    }
    if (auth.service) realm.searchParams.set('service', auth.service);
    realm.searchParams.set('scope', scope);
    const c = this.creds.get(registry);
    const headers: Record<string, string> = c ? { authorization: basicHeader(c) } : {};
    const url = realm.toString();
    const res = await this.fetchToken(url, headers);
    if (res.status === 401 || res.status === 403) throw this.denied(url, `token server answered ${res.status}`, registry);
    if (res.status !== 200) {
      throw new RegistryError('E_REGISTRY_AUTH', `token server answered ${res.status} for ${url}`, { url }, 'retry later or check the registry', res.status >= 500);
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(res.body) as typeof doc;
    } catch {
      throw new RegistryError('E_REGISTRY_AUTH', `token server sent invalid JSON from ${url}`, { url }, 'check the registry');
    }
    const token = typeof doc.token === 'string' && doc.token ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : '';
    if (!token) throw new RegistryError('E_REGISTRY_AUTH', `token server sent no token from ${url}`, { url }, 'check the registry');
    // The spec's default lifetime is 60 s; renew 10 s early so a long pull never sends a dead token.
    const lifetime = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60;
    this.tokens.set(key, { token, expiresAt: this.now() + Math.max(lifetime - 10, 1) * 1000 });
    return token;
  }
}
