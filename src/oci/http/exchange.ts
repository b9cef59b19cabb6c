/**
 * The one shape every HTTP layer of the OCI client has: an `Exchange` sends a request and hands the
 * response to a reader, returning what the reader returns. Reading the body is part of the exchange
 * so that a body that breaks off mid-stream is retried like a request that failed outright.
 *
 * Layers wrap an Exchange and return one (decorators, as go-containerregistry's transports wrap
 * http.RoundTripper), composed in stack.ts:
 *
 *   retry( status( auth( minRate( transport ) ) ) )
 *
 * transport.ts  HTTP itself: connection pool or proxy, idle timeout, network failures → RegistryError
 * min-rate.ts   a response body below the minimum average rate (a trickle) → E_REGISTRY_TOO_SLOW
 * auth.ts       sends known credentials up front, answers a 401 challenge once
 * status.ts     any other non-2xx → RegistryError carrying the registry's error body
 * retry.ts      transient RegistryErrors are tried again with backoff
 */
import type { Readable } from 'stream';

export type RequestKind = 'manifest' | 'blob' | 'token';

export interface RegistryRequest {
  /** What is asked for, for the request hook and messages. */
  kind: RequestKind;
  /** Reads are GET/HEAD; pushes (`mirror`) POST an upload session and PUT blobs and manifests. */
  method: 'GET' | 'HEAD' | 'POST' | 'PUT';
  /** Full URL; endpoint.ts picks the scheme. */
  url: string;
  /** `host[:port]` the credentials and challenges belong to. */
  registry: string;
  /** Token scope, e.g. `repository:plugins/x:pull` (empty for token requests). */
  scope: string;
  accept?: string;
  headers?: Record<string, string>;
  /** The caller's cancellation; aborting it is never retried. */
  signal?: AbortSignal;
  /**
   * A request body (PUT of a blob or manifest), opened anew for every send: an auth challenge or a
   * retry sends it again from the start.
   */
  body?: () => Readable;
  /**
   * False when sending the request twice is wrong (the PUT that closes a blob upload session: the
   * session is gone after the first try); the caller retries the whole operation instead.
   */
  retry?: boolean;
}

export interface RegistryResponse {
  url: string;
  status: number;
  headers: { get(name: string): string | null };
  /**
   * The body as bytes. Every chunk resets the request's idle timeout; a stall or a broken connection
   * surfaces as a RegistryError from the stream. The transport discards whatever the reader leaves.
   */
  body: Readable;
}

export type ResponseReader<T> = (res: RegistryResponse) => Promise<T>;

export interface Exchange {
  <T>(req: RegistryRequest, read: ResponseReader<T>): Promise<T>;
}
