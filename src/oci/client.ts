/**
 * The OCI client the pull orchestration uses (OciClient in types.ts), assembled from its parts:
 *
 *   http/       the layered Exchange: transport → auth → status → retry (http/stack.ts)
 *   registry/   a generic Distribution client: resolve, verified manifests, verified blob streams
 *   wasm/       the Higress Wasm artifact on top: platform, layer choice, tar extraction, spec.yaml
 *   layout/     OCI image layouts (a bundle) read like a registry, and written as deterministic tars
 *   copy/       byte-for-byte copies between registries and layouts (`bundle`, `mirror`)
 */
import { createRegistryHttp } from './http/stack';
import { OciLayout } from './layout/layout';
import { LayoutStore } from './layout/store';
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
  const { registry, close } = createRegistryClient(opts);
  const wasm = new WasmArtifactFetcher(registry, opts.maxBytes ?? DEFAULT_MAX_BYTES);
  return {
    resolve: (ref, signal) => registry.resolve(ref, signal),
    fetch: (ref, tmpDir, fetchOpts) => wasm.fetch(ref, tmpDir, fetchOpts),
    close,
  };
}

/**
 * The generic registry client alone (no Wasm logic), for copies (`bundle`, `mirror`): exact manifest
 * bytes, blobs to files, existence checks and pushes, through the same layered HTTP stack.
 */
export function createRegistryClient(opts: OciClientOptions = {}): {
  registry: RegistryClient;
  close: () => Promise<void>;
} {
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
  return { registry: new RegistryClient(http.exchange, insecureHosts), close: () => http.close() };
}

/**
 * An OciClient that reads plugins from an OCI image layout (a bundle) instead of a registry, so
 * `pull oci-layout:<bundle>` runs the same pipeline offline with the same checks. The tree records
 * the entries' own `oci://` sources, so it is byte-identical to one pulled from the registry.
 */
export function createLayoutClient(
  layout: OciLayout,
  maxBytes = DEFAULT_MAX_BYTES,
): OciClient & { close(): Promise<void> } {
  const store = new LayoutStore(layout);
  const wasm = new WasmArtifactFetcher(store, maxBytes);
  return {
    resolve: (ref) => store.resolve(ref),
    fetch: (ref, tmpDir, fetchOpts) => wasm.fetch(ref, tmpDir, fetchOpts),
    close: () => Promise.resolve(), // reads open and close their own file handles
  };
}
