/**
 * The status layer: a response that is not 2xx becomes a RegistryError with a stable code, a hint,
 * whether it is worth retrying, and what the registry itself said in its error body (errcode.ts).
 * 401 challenges never reach here unanswered: auth.ts sits below and handles them.
 */
import { isDigest } from '../../contract/digest';
import { ErrorOptions, RegistryError } from '../../errors';
import { AUTH_HINT } from './auth';
import { registrySays } from './errcode';
import type { Exchange } from './exchange';

export class RegistryStatusError extends RegistryError {
  /** The HTTP status the registry answered. */
  readonly status: number;
  /** What the registry's Retry-After asked for, in milliseconds. */
  readonly retryAfterMs?: number;

  constructor(o: ErrorOptions & { transient?: boolean; status: number; retryAfterMs?: number }) {
    super(o);
    this.name = 'RegistryError'; // callers and messages know the public class, not this detail
    this.status = o.status;
    this.retryAfterMs = o.retryAfterMs;
  }
}

/** Retry-After is seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/**
 * What a 404 means depends on what was asked for: a manifest by digest is a `@sha256:` pin that does
 * not exist (the tag is not involved), a blob is one the registry lost, a tag may simply be wrong.
 */
export function notFoundHint(url: string): string {
  const [kind, last] = url.split('/').slice(-2);
  if (kind === 'manifests' && isDigest(last))
    return 'the pinned @sha256: manifest digest does not exist in this repository: fix the pin, or remove it to follow the tag';
  if (kind === 'blobs' && isDigest(last))
    return "the registry does not have a blob its manifest names: tell the registry's owner";
  return 'check the repository and tag';
}

/**
 * The error for an HTTP status. `said` is the registry's own (already made safe) error text, appended
 * so the user sees e.g. `MANIFEST_UNKNOWN: manifest unknown` or a quota message next to the status.
 */
export function statusError(
  status: number,
  url: string,
  what: string,
  retryAfter: string | null,
  said?: string,
  authHint = AUTH_HINT,
): RegistryStatusError {
  const tail = said ? `: registry says ${said}` : '';
  if (status === 404)
    return new RegistryStatusError({
      code: 'E_REGISTRY_NOT_FOUND',
      message: `${what} not found (404) at ${url}${tail}`,
      context: { url },
      hint: notFoundHint(url),
      status,
    });
  if (status === 401 || status === 403) {
    return new RegistryStatusError({
      code: 'E_REGISTRY_AUTH',
      message: `access denied (${status}) to ${url}${tail}`,
      context: { url },
      hint: authHint,
      status,
    });
  }
  if (status === 429) {
    return new RegistryStatusError({
      code: 'E_REGISTRY_RATE_LIMIT',
      message: `rate limited (429) by ${url}${tail}`,
      context: { url },
      hint: 'wait and retry, or pull with lower concurrency',
      transient: true,
      status,
      retryAfterMs: parseRetryAfter(retryAfter),
    });
  }
  if (status >= 500) {
    const transient = status !== 501 && status !== 505;
    return new RegistryStatusError({
      code: 'E_REGISTRY_SERVER',
      message: `registry error ${status} for ${url}${tail}`,
      context: { url },
      hint: transient ? 'the registry is failing: retry later' : 'the registry does not support this request',
      transient,
      status,
      retryAfterMs: parseRetryAfter(retryAfter),
    });
  }
  return new RegistryStatusError({
    code: 'E_REGISTRY_STATUS',
    message: `unexpected HTTP ${status} for ${url}${tail}`,
    context: { url },
    hint: 'check the reference and the registry',
    status,
  });
}

/**
 * Decorator: only 2xx responses reach the reader; anything else throws a RegistryStatusError.
 * `authHint` names, for a 401/403, where the credentials for that URL's host come from.
 */
export function withStatusCheck(next: Exchange, authHint: (url: string) => string = () => AUTH_HINT): Exchange {
  return (req, read) =>
    next(req, async (res) => {
      if (res.status >= 200 && res.status < 300) return read(res);
      const said = req.method === 'HEAD' ? undefined : await registrySays(res.body);
      const hint = res.status === 401 || res.status === 403 ? authHint(res.url) : undefined;
      throw statusError(res.status, res.url, req.kind, res.headers.get('retry-after'), said, hint);
    });
}
