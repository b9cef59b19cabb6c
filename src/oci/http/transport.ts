/**
 * The innermost layer of the OCI client: HTTP itself. One undici dispatcher per client (keep-alive
 * pool, or the HTTPS_PROXY/HTTP_PROXY/NO_PROXY proxy for non-loopback hosts), an idle timeout per
 * request, and every network failure turned into a RegistryError that says what happened. Statuses
 * are not judged here: auth.ts and status.ts do that.
 */
import { Readable } from 'stream';
import { Agent, Dispatcher, EnvHttpProxyAgent, fetch } from 'undici';
import { PluginServerError, RegistryError } from '../../errors';
import { isLoopback, nextHop } from './endpoint';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
import type { Exchange, RegistryRequest, RequestKind } from './exchange';

/**
 * Aborts a request when no byte arrived for `ms` (time to first byte, then between chunks): a slow but
 * steady 256 MiB download is fine, a stalled one is not.
 */
export class IdleTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly overall: NodeJS.Timeout | undefined;
  timedOut = false;
  /** True when the request's overall deadline (not the idle timeout) stopped it. */
  pastDeadline = false;
  readonly signal: AbortSignal;

  /**
   * `deadlineMs` bounds the whole request whatever arrives: a body trickled one byte a second resets
   * the idle timer forever, the deadline still ends it.
   */
  constructor(
    private readonly ms: number,
    outer?: AbortSignal,
    deadlineMs?: number,
  ) {
    this.signal = outer ? AbortSignal.any([this.controller.signal, outer]) : this.controller.signal;
    this.touch();
    if (deadlineMs !== undefined) {
      this.overall = setTimeout(() => {
        this.timedOut = true;
        this.pastDeadline = true;
        this.controller.abort(new Error('deadline'));
      }, deadlineMs);
    }
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
    if (this.overall) clearTimeout(this.overall);
  }
}

export interface TransportOptions {
  /** Idle timeout per request in ms. */
  timeoutMs: number;
  /**
   * Overall deadline per request in ms, by kind. Manifests and tokens are small: a minute is plenty.
   * Blobs may be 256 MiB on a slow link, so they get the idle timeout only, and the run's --deadline.
   */
  deadlineMs?: Partial<Record<RequestKind, number>>;
  /** Called once per HTTP request actually sent (tests, progress). */
  onRequest?: (kind: RequestKind, url: string) => void;
}

export interface HttpTransport {
  exchange: Exchange;
  /** Closes pooled keep-alive connections. */
  close(): Promise<void>;
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

function ownCause(err: unknown): PluginServerError | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    if (e instanceof PluginServerError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Turns a low-level failure into a RegistryError; our own errors and local file-system errors pass through. */
export function classifyFailure(
  err: unknown,
  url: string,
  timer: IdleTimer,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): unknown {
  if (signal?.aborted) return signal.reason ?? err; // the caller cancelled: not ours to retry
  if (timer.pastDeadline) {
    return new RegistryError({
      code: 'E_REGISTRY_TIMEOUT',
      message: `${url} did not finish within the per-request deadline`,
      context: { url },
      hint: 'the registry answers too slowly: check the network or the registry',
      transient: true,
      cause: err,
    });
  }
  if (timer.timedOut) {
    return new RegistryError({
      code: 'E_REGISTRY_TIMEOUT',
      message: `no response from ${url} within ${timeoutMs} ms`,
      context: { url },
      hint: 'check the network or raise the timeout',
      transient: true,
      cause: err,
    });
  }
  if (err instanceof PluginServerError) return err;
  // An upload body that failed its own digest check surfaces inside fetch's "fetch failed": it is
  // the content's fault, not the network's, and must not be retried as a connection error.
  const ours = ownCause(err);
  if (ours) return ours;
  // Local file-system failures (disk full, permissions) are not the registry's fault: pass them on.
  if (err && typeof err === 'object' && 'syscall' in err && !(err instanceof TypeError)) return err;
  const code = causeCode(err);
  if (
    url.startsWith('https:') &&
    (code.startsWith('ERR_SSL') || code === 'EPROTO' || /wrong version number|packet length/i.test(causeText(err)))
  ) {
    return new RegistryError({
      code: 'E_REGISTRY_TLS',
      message: `TLS handshake failed for ${url} (${code || 'protocol error'})`,
      context: { url },
      hint: `if ${new URL(url).host} only speaks plain HTTP and you trust the network, list it as an insecure host`,
      cause: err,
    });
  }
  const detail = code || innermostMessage(err);
  if (detail === 'bad port') {
    // The fetch standard refuses some ports outright (e.g. 1, 9, 6000): no retry helps.
    return new RegistryError({
      code: 'E_REGISTRY_CONNECTION',
      message: `connection to ${url} refused by the HTTP client: port ${new URL(url).port} is on the fetch standard's list of blocked ports`,
      context: { url },
      hint: 'serve the registry on another port (5000, 443, ...)',
      cause: err,
    });
  }
  return new RegistryError({
    code: 'E_REGISTRY_CONNECTION',
    message: `connection to ${url} failed (${detail})`,
    context: { url },
    hint: 'check the registry address and the network',
    transient: true,
    cause: err,
  });
}

/** Wraps the raw body so every chunk resets the idle timer and a broken stream fails as a RegistryError. */
function timedBody(source: Readable, onChunk: () => void, fail: (err: unknown) => unknown): Readable {
  return Readable.from(
    (async function* () {
      try {
        for await (const chunk of source) {
          onChunk();
          yield chunk as Buffer;
        }
      } catch (err) {
        throw fail(err);
      }
    })(),
    { objectMode: false },
  );
}

export function createTransport(opts: TransportOptions): HttpTransport {
  const direct = new Agent({ connections: 16, keepAliveTimeout: 10_000, pipelining: 1 });
  const env = process.env;
  const proxy = env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy;
  const proxied: Dispatcher | undefined = proxy ? new EnvHttpProxyAgent() : undefined;
  // Like Go's ProxyFromEnvironment: loopback never goes through a proxy.
  const dispatcherFor = (url: string): Dispatcher => (proxied && !isLoopback(new URL(url).host) ? proxied : direct);

  const exchange: Exchange = async (req: RegistryRequest, read) => {
    const timer = new IdleTimer(opts.timeoutMs, req.signal, opts.deadlineMs?.[req.kind]);
    const fail = (err: unknown) => classifyFailure(err, req.url, timer, opts.timeoutMs, req.signal);
    let source: Readable | undefined;
    try {
      const headers: Record<string, string> = { ...req.headers };
      if (req.accept) headers.accept = req.accept;
      opts.onRequest?.(req.kind, req.url);
      // An upload counts as activity too: a big blob going out slowly is not a stalled request.
      const upload = req.body
        ? timedBody(
            req.body(),
            () => timer.touch(),
            (err) => err,
          )
        : undefined;
      // Redirects are followed here, not by fetch: fetch would follow HTTPS to plain HTTP. Only reads
      // are followed (registries redirect blob downloads to storage); credentials never leave the
      // origin they were sent to, and a downgrade is refused before anything is sent (nextHop).
      let url = req.url;
      let res: Awaited<ReturnType<typeof fetch>>;
      for (let hop = 0; ; hop++) {
        const init = {
          method: req.method,
          headers,
          signal: timer.signal,
          redirect: 'manual' as const,
          dispatcher: dispatcherFor(url),
          ...(upload ? { body: upload, duplex: 'half' as const } : {}),
        };
        res = await fetch(url, init as Parameters<typeof fetch>[1]).catch((err: unknown) => {
          throw fail(err);
        });
        const location = REDIRECTS.has(res.status) ? res.headers.get('location') : null;
        if (!location || (req.method !== 'GET' && req.method !== 'HEAD')) break;
        await res.body?.cancel().catch(() => undefined);
        if (hop >= MAX_REDIRECTS)
          throw new RegistryError({
            code: 'E_REGISTRY_STATUS',
            message: `${req.url} redirected more than ${MAX_REDIRECTS} times`,
            context: { url: req.url },
            hint: 'check the registry',
          });
        const next = nextHop(url, location);
        if (next.origin !== new URL(url).origin) {
          delete headers.authorization;
          delete headers.cookie;
        }
        url = next.toString();
        opts.onRequest?.(req.kind, url);
      }
      timer.touch();
      source = res.body
        ? Readable.fromWeb(res.body as import('stream/web').ReadableStream<Uint8Array>)
        : Readable.from([]);
      const body = timedBody(source, () => timer.touch(), fail);
      try {
        return await read({ url: req.url, status: res.status, headers: res.headers, body });
      } catch (err) {
        // The body classifies its own failures; anything else the reader throws is the reader's
        // (an integrity error, a full disk) and passes through, unless the request was cut short.
        if (req.signal?.aborted || timer.timedOut) throw fail(err);
        throw err;
      }
    } finally {
      timer.clear();
      // Whatever the reader left unread is dropped, so a stalled body never holds a connection.
      if (source && !source.readableEnded) source.destroy();
    }
  };

  return {
    exchange,
    close: async () => {
      await Promise.all([direct.close(), proxied?.close()]);
    },
  };
}

/** The text of an error's cause, for matching TLS failures that Node reports only there. */
function causeText(err: unknown): string {
  const cause = (err as Error | undefined)?.cause;
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : typeof cause === 'string' ? cause : '';
}
