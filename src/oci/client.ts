/**
 * The OCI client the pull orchestration uses (OciClient in types.ts), assembled from its parts:
 *
 *   http/       the layered Exchange: transport → auth → status → retry (http/stack.ts)
 *   registry/   a generic Distribution client: resolve, verified manifests, verified blob streams
 *   wasm/       the Higress Wasm artifact on top: platform, layer choice, tar extraction, spec.yaml
 */
import { createRegistryHttp } from './http/stack';
import { RegistryClient } from './registry/client';
import type { OciClient, OciClientOptions } from './types';
import { WasmArtifactFetcher } from './wasm/artifact';

/**
 * Default for `maxBytes`: the gateway refuses Wasm modules over 256 MiB. The same number is the tree
 * contract's MAX_WASM_BYTES (a unit test keeps them equal); oci/ does not import the tree.
 */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

/** Creates a client; call `close()` (optional) to drop pooled connections when done. */
export function createOciClient(opts: OciClientOptions = {}): OciClient & { close(): Promise<void> } {
  const insecureHosts = opts.insecureHosts ?? [];
  const http = createRegistryHttp({
    insecureHosts,
    timeoutMs: opts.timeoutMs ?? 30_000,
    requestDeadlineMs: opts.requestDeadlineMs ?? Math.max(60_000, opts.timeoutMs ?? 0),
    attempts: Math.max(1, opts.retries ?? 4),
    retryBaseMs: opts.retryBaseMs ?? 250,
    dockerConfigPath: opts.dockerConfigPath,
    onRequest: opts.onRequest,
  });
  const registry = new RegistryClient(http.exchange, insecureHosts);
  const wasm = new WasmArtifactFetcher(registry, opts.maxBytes ?? DEFAULT_MAX_BYTES);
  return {
    resolve: (ref, signal) => registry.resolve(ref, signal),
    fetch: (ref, tmpDir, fetchOpts) => wasm.fetch(ref, tmpDir, fetchOpts),
    close: () => http.close(),
  };
}
