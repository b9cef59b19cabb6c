/**
 * Interface between the pull orchestration (src/pipeline) and the OCI client (src/oci).
 * The orchestration owns inputs, concurrency, temp folders and publishing; the client owns HTTP,
 * auth, manifests, layer selection and digest checks.
 */
export interface OciReference {
  /** Registry host with optional port, e.g. `higress-registry.cn-hangzhou.cr.aliyuncs.com`, `127.0.0.1:5000`. */
  registry: string;
  /** Repository path, may be nested: `plugins/ai-proxy`, `plugins/mcp-server/all-in-one`. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>` when pinned. */
  digest?: string;
}

export function formatReference(ref: OciReference): string {
  return `oci://${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

export interface ResolvedManifest {
  /** Digest of the top-level manifest (or index) the reference points at. */
  digest: string;
  mediaType: string;
}

export interface FetchedArtifact {
  /** Digest of the top-level manifest (same as `resolve()` returns). */
  manifestDigest: string;
  /** The raw wasm, streamed to a file inside the temp folder passed to `fetch()`, already digest-checked against its layer descriptor. */
  wasmPath: string;
  size: number;
  /** Hex sha256 of the raw wasm bytes. */
  sha256: string;
  /** RFC 3339 creation time from `org.opencontainers.image.created` (manifest annotation) or the image config, when present. */
  created?: string;
  /** Text of a spec.yaml layer (Higress release artifacts), when present. */
  specYaml?: string;
  /**
   * The source's own manifests and side blobs, asked for with `keepOriginal` and returned only when
   * the wasm layer is the raw module (so the stored plugin.wasm is that layer unchanged) and the
   * manifest is in a form the gateway loads.
   */
  original?: OriginalArtifact;
}

/** Exact manifest bytes (top-level first, then the chosen index entry) and every other blob they name, saved in the fetch's folder. */
export interface OriginalArtifact {
  manifests: Array<{ digest: string; mediaType: string; bytes: Buffer }>;
  /** Config and side layers (spec.yaml, ...); never the wasm layer. */
  blobs: Array<{ digest: string; size: number; path: string }>;
  /** Digest of the raw wasm layer: its bytes are `wasmPath`. */
  wasmLayer: string;
}

export interface FetchOptions {
  /** The top-level manifest must have this digest (lock files, pinned references) or an IntegrityError is thrown. */
  expectDigest?: string;
  signal?: AbortSignal;
  /** Also return `original` when the source can be served unchanged (see FetchedArtifact.original). */
  keepOriginal?: boolean;
}

export interface OciClientOptions {
  /** Hosts (host or host:port) that may be reached over plain HTTP; loopback always may. */
  insecureHosts?: string[];
  /** Per-request idle timeout in ms (default 30000): the longest wait for the next byte. */
  timeoutMs?: number;
  /**
   * Overall deadline of one manifest or token request in ms (default 60000, at least `timeoutMs`):
   * a registry trickling bytes cannot hold a request forever. Blobs are bounded by the idle timeout
   * and the run's deadline.
   */
  requestDeadlineMs?: number;
  /**
   * Least average rate of a response body over a sliding window (default 1024 bytes/s over 30 s; a
   * bytesPerSecond of 0 turns it off): a registry trickling bytes fails E_REGISTRY_TOO_SLOW instead of
   * holding a request for as long as it likes (see http/min-rate.ts).
   */
  minRate?: { bytesPerSecond: number; windowMs?: number };
  /** Attempts for transient faults (default 4) with exponential backoff from `retryBaseMs` (default 250). */
  retries?: number;
  retryBaseMs?: number;
  /** Refuse Wasm modules and layers bigger than this (default 256 MiB, the gateway's limit). */
  maxBytes?: number;
  /** Path of a docker config.json for basic credentials (default ~/.docker/config.json, or $DOCKER_CONFIG/config.json). */
  dockerConfigPath?: string;
  /** Called once per HTTP request, for tests and progress (`manifest` or `blob`). */
  onRequest?: (kind: 'manifest' | 'blob' | 'token', url: string) => void;
}

export interface OciClient {
  /** Manifest request(s) only: HEAD (falling back to GET) of the manifest; no blob is downloaded. */
  resolve(ref: OciReference, signal?: AbortSignal): Promise<ResolvedManifest>;
  /**
   * Downloads the wasm of `ref` into `tmpDir`. When `expectDigest` is set the top-level manifest must have
   * that digest (lock files, pinned references) or an IntegrityError is thrown.
   */
  fetch(ref: OciReference, tmpDir: string, opts?: FetchOptions): Promise<FetchedArtifact>;
  /** Closes pooled keep-alive connections; call once when every pull is done (optional). */
  close?(): Promise<void>;
}
