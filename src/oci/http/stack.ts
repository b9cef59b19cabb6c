/**
 * Builds the HTTP stack of one OCI client from its layers (see exchange.ts):
 *
 *   retry( status( auth( minRate( transport ) ) ) )      token requests: minRate( transport )
 *
 * Each layer only knows the Exchange it wraps; the auth manager gets the bare transport for its token
 * requests, so nothing is assigned back after construction.
 */
import { AuthManager, tokenFetcher, withAuth } from './auth';
import { CredentialStore, defaultDockerConfigPath } from './credentials';
import type { Exchange, RequestKind } from './exchange';
import { DEFAULT_MIN_RATE, withMinRate } from './min-rate';
import { withRetry } from './retry';
import { withStatusCheck } from './status';
import { createTransport } from './transport';

export interface RegistryHttpOptions {
  /** Hosts (host or host:port) that may be reached over plain HTTP; loopback always may. */
  insecureHosts: readonly string[];
  timeoutMs: number;
  /** Overall deadline of one manifest or token request in ms (default 60000). */
  requestDeadlineMs?: number;
  /** Attempts in all for transient faults. */
  attempts: number;
  retryBaseMs: number;
  /** Least average rate of a response body (default 1024 bytes/s over 30 s; 0 bytes/s: off). */
  minRate?: { bytesPerSecond: number; windowMs?: number };
  dockerConfigPath?: string;
  onRequest?: (kind: RequestKind, url: string) => void;
}

export interface RegistryHttp {
  exchange: Exchange;
  close(): Promise<void>;
}

export function createRegistryHttp(opts: RegistryHttpOptions): RegistryHttp {
  const transport = createTransport({
    timeoutMs: opts.timeoutMs,
    deadlineMs: { manifest: opts.requestDeadlineMs ?? 60_000, token: opts.requestDeadlineMs ?? 60_000 },
    onRequest: opts.onRequest,
  });
  const rated = withMinRate(transport.exchange, { ...DEFAULT_MIN_RATE, ...opts.minRate });
  const creds = new CredentialStore(opts.dockerConfigPath ?? defaultDockerConfigPath());
  const auth = new AuthManager(creds, opts.insecureHosts, tokenFetcher(rated));
  const exchange = withRetry(
    withStatusCheck(withAuth(rated, auth), (url) => auth.hint(url)),
    { attempts: opts.attempts, baseMs: opts.retryBaseMs },
  );
  return { exchange, close: () => transport.close() };
}
