/**
 * The auth layer. `withAuth` wraps an Exchange: it sends the header the host is known to want, and
 * answers one 401 challenge with a fresh token or basic credentials before giving up (a second 401
 * reaches the status layer above, which reports it with the registry's error text).
 * `AuthManager` holds the state: each host's challenge, and bearer tokens fetched from the realm the
 * registry names (with basic credentials when we have them), cached per realm/service/scope until
 * shortly before they expire. Concurrent pulls of one repository share one token request.
 * Tokens are fetched through the plain transport handed in, so there is no cycle between layers.
 */
import type { Readable } from 'stream';
import { RegistryError } from '../../errors';
import { parseChallenge } from './challenge';
import type { Credentials, CredentialStore } from './credentials';
import { allowsPlainHttp, onRegistryOrigin, registryOrigin } from './endpoint';
import { describeDiagnostics, parseErrorBody, registrySays, safeText } from './errcode';
import type { Exchange, RegistryRequest, ResponseReader } from './exchange';

export const AUTH_HINT = 'check credentials in ~/.docker/config.json or HIGRESS_REGISTRY_USERNAME/PASSWORD';

type HostAuth = { scheme: 'bearer'; realm: string; service?: string } | { scheme: 'basic' };

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface TokenFetcher {
  (url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<{ status: number; body: string }>;
}

/** A token answer is a small JSON document; refuse to buffer anything bigger. */
const MAX_TOKEN_BODY_BYTES = 1024 * 1024;

/** Token requests go straight to the transport: same pool, timeout and request hook, no auth or status layer. */
export function tokenFetcher(transport: Exchange): TokenFetcher {
  return (url, headers, signal) =>
    transport(
      { kind: 'token', method: 'GET', url, registry: new URL(url).host, scope: '', headers, signal },
      async (res) => ({
        status: res.status,
        body: (await readCapped(res.body, MAX_TOKEN_BODY_BYTES, url)).toString('utf8'),
      }),
    );
}

async function readCapped(body: Readable, limit: number, url: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    n += (chunk as Buffer).length;
    if (n > limit)
      throw new RegistryError({
        code: 'E_REGISTRY_AUTH',
        message: `token server sent over ${limit} bytes from ${url}`,
        context: { url },
        hint: 'check the registry',
      });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

type AuthOutcome<T> = { value: T } | { challenge: string | null; said?: string };

/**
 * Decorator: authenticates requests (see the file comment). Credentials are bound to the origin of
 * the registry they were configured for (scheme, host and port): a request whose URL is elsewhere (an
 * upload `Location` on another host:port, say) is sent without them, and its 401 is never answered
 * with them. Redirects are the transport's (it drops them across origins and refuses downgrades).
 */
export function withAuth(next: Exchange, auth: AuthManager): Exchange {
  return async <T>(req: RegistryRequest, read: ResponseReader<T>): Promise<T> => {
    const own = auth.owns(req.url, req.registry);
    let authorization = own ? await auth.header(req.registry, req.scope, req.signal) : undefined;
    for (let round = 0; ; round++) {
      const headers = authorization ? { ...req.headers, authorization } : req.headers;
      const outcome = await next<AuthOutcome<T>>({ ...req, headers }, async (res) => {
        if (res.status === 401 && !own) throw auth.foreign(req.url, req.registry);
        if (res.status !== 401 || round > 0) return { value: await read(res) };
        return {
          challenge: res.headers.get('www-authenticate'),
          said: req.method === 'HEAD' ? undefined : await registrySays(res.body),
        };
      });
      if ('value' in outcome) return outcome.value;
      authorization = await auth.challenged(
        req.registry,
        req.scope,
        outcome.challenge,
        req.url,
        authorization,
        outcome.said,
        req.signal,
      );
    }
  };
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

  /** Whether `url` is on the origin `registry`'s credentials belong to. */
  owns(url: string, registry: string): boolean {
    return onRegistryOrigin(url, registry, this.insecureHosts);
  }

  /** A 401 from a URL outside the registry's origin: its credentials are not offered there. */
  foreign(url: string, registry: string): RegistryError {
    let origin = url;
    try {
      origin = new URL(url).origin;
    } catch {
      // keep the URL as it is
    }
    return new RegistryError({
      code: 'E_REGISTRY_AUTH',
      message: `unauthorized: ${origin} asked for credentials for ${url}, but it is not ${registryOrigin(registry, this.insecureHosts)}, the registry they are configured for; they were not sent`,
      context: { url },
      hint: 'the registry sends uploads to another host: configure it to keep them on its own address',
    });
  }

  /** Authorization header to send up front, when the host's challenge is already known. */
  async header(registry: string, scope: string, signal?: AbortSignal): Promise<string | undefined> {
    const auth = this.hosts.get(registry);
    if (!auth) return undefined;
    if (auth.scheme === 'basic') {
      const c = await this.creds.get(registry, signal);
      return c ? basicHeader(c) : undefined;
    }
    return `Bearer ${await this.token(registry, auth, scope, false, signal)}`;
  }

  /**
   * Handles a 401: records the challenge and returns the header to retry with, or throws an auth error
   * when there is nothing better to send.
   */
  async challenged(
    registry: string,
    scope: string,
    wwwAuthenticate: string | null,
    url: string,
    sent: string | undefined,
    said?: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const ch = parseChallenge(wwwAuthenticate);
    if (ch?.scheme === 'bearer' && ch.params.realm) {
      const auth: HostAuth = { scheme: 'bearer', realm: ch.params.realm, service: ch.params.service };
      this.hosts.set(registry, auth);
      const header = `Bearer ${await this.token(registry, auth, scope, true, signal)}`;
      if (header === sent) throw this.denied(url, 'the registry refused a fresh token', said);
      return header;
    }
    if (ch?.scheme === 'bearer') throw this.denied(url, 'the Bearer challenge names no token realm', said);
    if (ch && ch.scheme !== 'basic') {
      // Negotiate, NTLM, Digest...: never answer them with Basic credentials (they would go to a
      // server that did not ask for them, and the error would then blame the credentials).
      const scheme = safeText(ch.name, 40);
      throw new RegistryError({
        code: 'E_REGISTRY_AUTH',
        message: `unauthorized: the registry asks for "${scheme}" authentication, which this tool does not support (only Bearer tokens and Basic) for ${url}; no credentials were sent`,
        context: { url },
        hint: 'use a registry or mirror that accepts Bearer or Basic authentication',
      });
    }
    // Basic, or a 401 with no challenge at all (some registries behind proxies): Basic is the only guess.
    this.hosts.set(registry, { scheme: 'basic' });
    const c = await this.creds.get(registry, signal);
    if (!c) throw this.denied(url, 'authentication required and no credentials found', said);
    const header = basicHeader(c);
    if (header === sent) throw this.denied(url, 'credentials rejected', said);
    return header;
  }

  /** `registry` defaults to the URL's host; a token server's URL names the registry it speaks for. */
  denied(url: string, why: string, said?: string, registry?: string): RegistryError {
    return new RegistryError({
      code: 'E_REGISTRY_AUTH',
      message: `unauthorized: ${why} for ${url}${said ? `: registry says ${said}` : ''}`,
      context: { url },
      hint: this.hint(registry ?? url),
    });
  }

  /**
   * What to check when a registry refuses us (`registry` is a host or a URL): names the docker config
   * actually read (DOCKER_CONFIG honoured) and the credential helper it names for the host.
   */
  hint(registry: string): string {
    try {
      return this.creds.hint(registry.includes('://') ? new URL(registry).host : registry);
    } catch {
      return AUTH_HINT;
    }
  }

  private async token(
    registry: string,
    auth: { realm: string; service?: string },
    scope: string,
    refresh: boolean,
    signal?: AbortSignal,
  ): Promise<string> {
    const key = `${auth.realm}|${auth.service ?? ''}|${scope}`;
    const cached = this.tokens.get(key);
    if (!refresh && cached && cached.expiresAt > this.now()) return cached.token;
    const inflight = this.pending.get(key);
    if (inflight) return inflight;
    const p = this.requestToken(registry, auth, scope, key, signal).finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  private async requestToken(
    registry: string,
    auth: { realm: string; service?: string },
    scope: string,
    key: string,
    signal?: AbortSignal,
  ): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(auth.realm);
    } catch {
      throw new RegistryError({
        code: 'E_REGISTRY_AUTH',
        message: `registry ${registry} named an invalid token realm "${safeText(auth.realm, 200)}"`,
        context: { url: auth.realm },
        hint: 'check the registry configuration',
      });
    }
    if (realm.protocol === 'http:' && !allowsPlainHttp(realm.host, this.insecureHosts)) {
      throw new RegistryError({
        code: 'E_REGISTRY_INSECURE',
        message: `token realm ${safeText(auth.realm, 200)} is plain HTTP`,
        context: { url: auth.realm },
        hint: `list ${realm.host} in the insecure hosts only if you trust the network`,
      });
    }
    if (auth.service) realm.searchParams.set('service', auth.service);
    realm.searchParams.set('scope', scope);
    const c = await this.creds.get(registry, signal);
    const headers: Record<string, string> = c ? { authorization: basicHeader(c) } : {};
    const url = realm.toString();
    const res = await this.fetchToken(url, headers, signal);
    const said = res.status === 200 ? undefined : describeDiagnostics(parseErrorBody(Buffer.from(res.body)));
    if (res.status === 401 || res.status === 403)
      throw this.denied(url, `token server answered ${res.status}`, said, registry);
    if (res.status !== 200) {
      throw new RegistryError({
        code: 'E_REGISTRY_AUTH',
        message: `token server answered ${res.status} for ${url}${said ? `: registry says ${said}` : ''}`,
        context: { url },
        hint: 'retry later or check the registry',
        transient: res.status >= 500,
      });
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(res.body) as typeof doc;
    } catch {
      throw new RegistryError({
        code: 'E_REGISTRY_AUTH',
        message: `token server sent invalid JSON from ${url}`,
        context: { url },
        hint: 'check the registry',
      });
    }
    const token =
      typeof doc.token === 'string' && doc.token
        ? doc.token
        : typeof doc.access_token === 'string'
          ? doc.access_token
          : '';
    if (!token)
      throw new RegistryError({
        code: 'E_REGISTRY_AUTH',
        message: `token server sent no token from ${url}`,
        context: { url },
        hint: 'check the registry',
      });
    // The spec's default lifetime is 60 s; renew 10 s early so a long pull never sends a dead token.
    const lifetime = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60;
    this.tokens.set(key, { token, expiresAt: this.now() + Math.max(lifetime - 10, 1) * 1000 });
    return token;
  }
}
