/**
 * Builds the HTTP stack of one OCI client from its layers (see exchange.ts):
 *
 *   retry( status( auth( transport ) ) )      token requests: transport only
 *
 * Each layer only knows the Exchange it wraps; the auth manager gets the bare transport for its token
 * requests, so nothing is assigned back after construction.
 */
import { AuthManager, tokenFetcher, withAuth } from './auth';
import { CredentialStore, defaultDockerConfigPath } from './credentials';
import type { Exchange, RequestKind } from './exchange';
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
  const creds = new CredentialStore(opts.dockerConfigPath ?? defaultDockerConfigPath());
  const auth = new AuthManager(creds, opts.insecureHosts, tokenFetcher(transport.exchange));
  const exchange = withRetry(
    withStatusCheck(withAuth(transport.exchange, auth), (url) => auth.hint(url)),
    { attempts: opts.attempts, baseMs: opts.retryBaseMs },
  );
  return { exchange, close: () => transport.close() };
}
