/**
 * The retry layer: an exchange that failed with a transient RegistryError (connection error, timeout,
 * 429, 5xx other than 501/505) is tried again after a full-jitter exponential backoff, or after the
 * registry's Retry-After when that is longer. Anything else, and a caller's abort, fails at once.
 * Each attempt is a whole exchange (request and body), with its own idle timeout.
 */
import { RegistryError } from '../../errors';
import type { Exchange } from './exchange';
import { RegistryStatusError } from './status';

export interface RetryPolicy {
  /** Attempts in all (1 = no retry). */
  attempts: number;
  /** Backoff before the second attempt; doubles each time. */
  baseMs: number;
}

/** Longest we ever wait between attempts, whatever Retry-After says. */
export const MAX_DELAY_MS = 30_000;

/** Full-jitter exponential backoff: uniform in [base·2^(n-1)/2, base·2^(n-1)]. */
export function backoffMs(attempt: number, baseMs: number, random = Math.random): number {
  const ceiling = Math.min(baseMs * 2 ** (attempt - 1), MAX_DELAY_MS);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Decorator: retries transient failures of `next` (see the file comment). */
export function withRetry(next: Exchange, policy: RetryPolicy): Exchange {
  const attempts = Math.max(1, policy.attempts);
  return async (req, read) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req, read);
      } catch (err) {
        if (req.signal?.aborted) throw req.signal.reason ?? err;
        if (!(err instanceof RegistryError) || !err.transient || attempt >= attempts || req.retry === false) throw err;
        const asked = err instanceof RegistryStatusError ? (err.retryAfterMs ?? 0) : 0;
        await sleep(Math.min(Math.max(backoffMs(attempt, policy.baseMs), asked), MAX_DELAY_MS), req.signal);
      }
    }
  };
}
