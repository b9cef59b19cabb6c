/**
 * HTTP for the OCI client: one undici dispatcher per client (keep-alive pool per host, or the
 * HTTPS_PROXY/HTTP_PROXY/NO_PROXY proxy for non-loopback hosts), an idle timeout per request, auth
 * challenges, and retries with exponential backoff + jitter for transient faults only (connection
 * errors, timeouts, 429 and 5xx other than 501/505).
 */
import { Agent, Dispatcher, EnvHttpProxyAgent, fetch, Response } from 'undici';
import { PluginServerError, RegistryError } from '../errors';
import { AuthManager } from './auth';
import { isLoopback } from './endpoint';

export type RequestKind = 'manifest' | 'blob' | 'token';

export class RegistryStatusError extends RegistryError {
  constructor(code: string, message: string, url: string, hint: string, transient: boolean, readonly status: number, readonly retryAfterMs?: number) {
    super(code, message, { url }, hint, transient);
    this.name = 'RegistryError'; // callers and messages know the public class, not this detail
  }
}

/**
 * Aborts a request when no byte arrived for `ms` (time to first byte, then between chunks): a slow but
 * steady 256 MiB download is fine, a stalled one is not.
 */
export class IdleTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  timedOut = false;
  readonly signal: AbortSignal;

  constructor(private readonly ms: number, outer?: AbortSignal) {
    this.signal = outer ? AbortSignal.any([this.controller.signal, outer]) : this.controller.signal;
    this.touch();
  }

  touch(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new Error('timeout'));
    }, this.ms);
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

export interface TransportOptions {
  timeoutMs: number;
  retries: number;
  retryBaseMs: number;
  onRequest?: (kind: RequestKind, url: string) => void;
}

/** Longest we ever wait between attempts, whatever Retry-After says. */
const MAX_DELAY_MS = 30_000;

export function statusError(status: number, url: string, what: string, retryAfter: string | null): RegistryStatusError {
  if (status === 404) return new RegistryStatusError('E_REGISTRY_NOT_FOUND', `${what} not found (404) at ${url}`, url, 'check the repository and tag', false, status);
  if (status === 401 || status === 403) {
    return new RegistryStatusError('E_REGISTRY_AUTH', `access denied (${status}) to ${url}`, url,
      'check credentials in ~/.docker/config.json or HIGRESS_REGISTRY_USERNAME/PASSWORD', false, status);
  }
  if (status === 429) {
    return new RegistryStatusError('E_REGISTRY_RATE_LIMIT', `rate limited (429) by ${url}`, url, 'wait and retry, or pull with lower concurrency', true, status, parseRetryAfter(retryAfter));
  }
  if (status >= 500) {
    const transient = status !== 501 && status !== 505;
    return new RegistryStatusError('E_REGISTRY_SERVER', `registry error ${status} for ${url}`, url,
      transient ? 'the registry is failing: retry later' : 'the registry does not support this request', transient, status, parseRetryAfter(retryAfter));
  }
  return new RegistryStatusError('E_REGISTRY_STATUS', `unexpected HTTP ${status} for ${url}`, url, 'check the reference and the registry', false, status);
}

/** Retry-After is seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Full-jitter exponential backoff: uniform in [base·2^(n-1)/2, base·2^(n-1)]. */
export function backoffMs(attempt: number, baseMs: number, random = Math.random): number {
  const ceiling = Math.min(baseMs * 2 ** (attempt - 1), MAX_DELAY_MS);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function causeCode(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_ABORTED') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return '';
}

/** The deepest cause's message: fetch wraps everything in "fetch failed" (e.g. "bad port" inside). */
function innermostMessage(err: unknown): string {
  let e: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    if (e instanceof Error && e.message) message = e.message;
    e = (e as { cause?: unknown }).cause;
  }
  return message;
}

export class Transport {
  private readonly direct: Dispatcher;
  private readonly proxied: Dispatcher | undefined;

  /** Set by the client right after construction (the auth manager fetches tokens through this transport). */
  auth!: AuthManager;

  constructor(private readonly opts: TransportOptions) {
    this.direct = new Agent({ connections: 16, keepAliveTimeout: 10_000, pipelining: 1 });
    const env = process.env;
    const proxy = env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy;
    this.proxied = proxy ? new EnvHttpProxyAgent() : undefined;
  }

  async close(): Promise<void> {
    await Promise.all([this.direct.close(), this.proxied?.close()]);
  }

  /** Runs `fn` with a fresh idle timer per attempt, retrying transient registry faults. */
  async retrying<T>(url: string, signal: AbortSignal | undefined, fn: (timer: IdleTimer) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const timer = new IdleTimer(this.opts.timeoutMs, signal);
      let err: unknown;
      try {
        return await fn(timer);
      } catch (e) {
        err = this.classify(e, url, timer, signal);
      } finally {
        timer.clear();
      }
      if (!(err instanceof RegistryError) || !err.transient || attempt >= this.opts.retries) throw err;
      const wait = Math.min(Math.max(backoffMs(attempt, this.opts.retryBaseMs), err instanceof RegistryStatusError ? err.retryAfterMs ?? 0 : 0), MAX_DELAY_MS);
      await sleep(wait, signal);
    }
  }

  /** Turns low-level failures into RegistryErrors; our own errors pass through. */
  private classify(err: unknown, url: string, timer: IdleTimer, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason ?? err; // the caller cancelled: not ours to retry
    if (timer.timedOut) {
      return new RegistryError('E_REGISTRY_TIMEOUT', `no response from ${url} within ${this.opts.timeoutMs} ms`, { url }, 'check the network or raise the timeout', true, { cause: err });
    }
    if (err instanceof PluginServerError) return err;
    // Local file-system failures (disk full, permissions) are not the registry's fault: pass them on.
    if (err && typeof err === 'object' && 'syscall' in err && !(err instanceof TypeError)) return err;
    const code = causeCode(err);
    if (url.startsWith('https:') && (code.startsWith('ERR_SSL') || code === 'EPROTO' || /wrong version number|packet length/i.test(String((err as Error)?.cause ?? '')))) {
      return new RegistryError('E_REGISTRY_TLS', `TLS handshake failed for ${url} (${code || 'protocol error'})`, { url },
        `if ${new URL(url).host} only speaks plain HTTP and you trust the network, list it as an insecure host`, false, { cause: err });
    }
    const detail = code || innermostMessage(err);
    if (detail === 'bad port') {
      // The fetch standard refuses some ports outright (e.g. 1, 9, 6000): no retry helps.
      return new RegistryError('E_REGISTRY_CONNECTION', `connection to ${url} refused by the HTTP client: port ${new URL(url).port} is on the fetch standard's list of blocked ports`, { url },
        'serve the registry on another port (5000, 443, ...)', false, { cause: err });
    }
    return new RegistryError('E_REGISTRY_CONNECTION', `connection to ${url} failed (${detail})`, { url }, 'check the registry address and the network', true, { cause: err });
  }

  /**
   * One HTTP request with auth: sends a known token/credential up front, answers one 401 challenge,
   * and returns the response when it is 2xx; other statuses become RegistryStatusErrors.
   */
  async send(kind: RequestKind, method: 'GET' | 'HEAD', url: string, registry: string, scope: string, timer: IdleTimer, accept?: string): Promise<Response> {
    const auth = this.auth;
    let authorization = await auth.header(registry, scope);
    for (let round = 0; ; round++) {
      const headers: Record<string, string> = {};
      if (accept) headers.accept = accept;
      if (authorization) headers.authorization = authorization;
      this.opts.onRequest?.(kind, url);
      const res = await fetch(url, { method, headers, signal: timer.signal, dispatcher: this.dispatcherFor(registry) });
      timer.touch();
      if (res.status === 401 && round === 0) {
        await res.body?.cancel();
        authorization = await auth.challenged(registry, scope, res.headers.get('www-authenticate'), url, authorization);
        continue;
      }
      if (res.status >= 200 && res.status < 300) return res;
      await res.body?.cancel();
      if (res.status === 401 || res.status === 403) throw auth.denied(url, res.status === 401 ? 'credentials rejected' : 'access denied (403)', registry);
      throw statusError(res.status, url, kind, res.headers.get('retry-after'));
    }
  }

  /** Token requests go through the same pool, timeout and request hook. */
  readonly tokenFetch = async (url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> => {
    const timer = new IdleTimer(this.opts.timeoutMs);
    try {
      this.opts.onRequest?.('token', url);
      const res = await fetch(url, { headers, signal: timer.signal, dispatcher: this.dispatcherFor(new URL(url).host) });
      return { status: res.status, body: await res.text() };
    } catch (err) {
      throw this.classify(err, url, timer, undefined);
    } finally {
      timer.clear();
    }
  };

  private dispatcherFor(registry: string): Dispatcher {
    // Like Go's ProxyFromEnvironment: loopback never goes through a proxy.
    return this.proxied && !isLoopback(registry) ? this.proxied : this.direct;
  }
}
