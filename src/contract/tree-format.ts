/**
 * The on-disk contract between the pipeline (writer), the Nginx image (server), `check`,
 * `wasmplugins` and the chart's helm test. Changing a field here is a breaking change.
 *
 *   <root>/plugins/index.json
 *   <root>/plugins/snapshot-inventory.json            only from a Higress release snapshot (upstream's format)
 *   <root>/plugins/<name>/<version>/plugin.wasm       raw module, the bytes the gateway's sha256 is of
 *   <root>/plugins/<name>/<version>/plugin.wasm.gz    gzip (level 6 by default) of plugin.wasm, served with gzip_static
 *   <root>/plugins/<name>/<version>/metadata.txt      upstream text format (+ SHA256 line)
 *   <root>/plugins/<name>/<version>/metadata.json     PluginMetadata below
 *   <root>/plugins/<name>/<version>/spec.yaml         only when the OCI artifact carried one
 *   <root>/build-info.json                            BuildInfo below: the build facts /metrics reports (not served)
 */
export const TREE_SCHEMA_VERSION = 1;
export const PLUGINS_DIR = 'plugins';
export const INDEX_FILE = 'index.json';
export const WASM_FILE = 'plugin.wasm';
export const GZ_FILE = 'plugin.wasm.gz';
export const METADATA_TXT = 'metadata.txt';
export const METADATA_JSON = 'metadata.json';
export const SPEC_FILE = 'spec.yaml';
/**
 * Upstream's inventory of a snapshot build (plugin-server e56a555): an object sorted by key, one
 * `{digest, version, wasmSha256}` per managed inventoryKey and alias. Written by `pull --snapshot`.
 */
export const INVENTORY_FILE = 'snapshot-inventory.json';
/**
 * Names the tree itself uses directly under plugins/: a plugin of that name would turn the file into a
 * folder (index.json) or shadow it through gzip_static (index.json.gz).
 */
export const RESERVED_PLUGIN_NAMES: ReadonlySet<string> = new Set([
  INDEX_FILE,
  `${INDEX_FILE}.gz`,
  INVENTORY_FILE,
  `${INVENTORY_FILE}.gz`,
]);
/** Hidden files the pipeline keeps at the output root while it runs (Nginx never serves dot-files). */
export const LOCK_FILE = '.higress-plugin-server.lock';
export const RUN_JOURNAL = '.higress-plugin-server.runs';
/** What the last pull read and found sound, so the next one need not read it again (src/tree/verified-files.ts). */
export const VERIFIED_FILE = '.higress-plugin-server.verified';
/** The gateway refuses bodies over 256 MiB; so do we. */
export const MAX_WASM_BYTES = 256 * 1024 * 1024;

/** Which input pinned the bytes of a folder that holds its own: see `FolderHolds`. */
export type BytesFrom = 'snapshot' | 'unmanaged-lock' | 'list' | 'lock';
export const BYTES_FROM: readonly BytesFrom[] = ['snapshot', 'unmanaged-lock', 'list', 'lock'];

/**
 * What a version folder holds, for operators and audits (`holds` in metadata.json and index.json):
 *   {"kind": "own", "from": "snapshot" | "unmanaged-lock" | "list" | "lock"}   its own bytes, pinned by
 *       the release snapshot, upstream's unmanaged lock, a plugin list (a tag or file: line, or its
 *       `@sha256:` pin) or a lock file given alone;
 *   {"kind": "alias", "name": "<name>", "version": "<version>"}   a compatibility alias: the same bytes as
 *       plugins/<name>/<version>/ (a list's `#@alias`, a spec.yaml info.version, a snapshot alias name).
 * Absent in folders written before it existed.
 */
export type FolderHolds = { kind: 'own'; from: BytesFrom } | { kind: 'alias'; name: string; version: string };

/** The contract's key order, so the same facts always render to the same bytes. */
export function normalizeHolds(h: FolderHolds): FolderHolds {
  return h.kind === 'own' ? { kind: 'own', from: h.from } : { kind: 'alias', name: h.name, version: h.version };
}

/** Same facts (a missing `holds` equals only another missing one). */
export function sameHolds(a: FolderHolds | undefined, b: FolderHolds | undefined): boolean {
  return JSON.stringify(a && normalizeHolds(a)) === JSON.stringify(b && normalizeHolds(b));
}

export interface PluginMetadata {
  schemaVersion: 1;
  name: string;
  version: string;
  /** Size of the raw wasm in bytes. */
  size: number;
  md5: string;
  /** Hex sha256 of the raw wasm (what a WasmPlugin's `sha256` must be). */
  sha256: string;
  /** Size of plugin.wasm.gz in bytes. */
  gzipSize: number;
  /**
   * Hex sha256 of plugin.wasm.gz as published. A later pull reuses the .gz (or calls the folder
   * current) after hashing it against this, instead of decoding it; absent in trees written before it
   * existed (those are decoded). `verify` still decodes every .gz.
   */
  gzipSha256?: string;
  /**
   * The gzip level plugin.wasm.gz was written at. A later pull copies a .gz only when it was made at
   * the level asked for, so an incrementally built tree stays byte-identical to a fresh one; absent in
   * trees written before it existed (only level 9, which the gzip header records, is reused there).
   */
  gzipLevel?: number;
  /** Where the bytes came from: `oci://host/repo:tag[@sha256:...]` or `file:<path as written in the list>`. */
  source: string;
  /** Digest of the OCI manifest that was resolved from `source` (top-level, before platform selection); null for file: sources. */
  manifestDigest: string | null;
  /** RFC 3339 UTC; from OCI annotations/config, else SOURCE_DATE_EPOCH, else the file's mtime. */
  created: string;
  /** When this folder is a version alias, the version folder whose bytes it serves. */
  aliasOf?: string;
  /** Own bytes (from which input) or a compatibility alias (of which folder): see FolderHolds. */
  holds?: FolderHolds;
  /** From spec.yaml when the artifact carried one. */
  phase?: string;
  priority?: number;
}

export interface IndexEntry {
  name: string;
  version: string;
  sha256: string;
  size: number;
  md5: string;
  /** URL path on the server: `/plugins/<name>/<version>/plugin.wasm`. */
  path: string;
  source: string;
  manifestDigest: string | null;
  aliasOf?: string;
  holds?: FolderHolds;
  phase?: string;
  priority?: number;
}

/** index.json's record of `plugins/snapshot-inventory.json`, when the tree has one. */
export interface PluginIndexInventory {
  /** URL path on the server: `/plugins/snapshot-inventory.json`. */
  path: string;
  /** Hex sha256 of the file. */
  sha256: string;
  size: number;
}

export interface PluginIndex {
  schemaVersion: 1;
  /** Newest `created` of all entries (deterministic: never the wall clock). */
  generated: string;
  /** Only in a tree built from a Higress release snapshot. */
  inventory?: PluginIndexInventory;
  /** Sorted by name, then version. */
  plugins: IndexEntry[];
}

/**
 * The build facts `pull` writes next to plugins/ (not served: Nginx answers only /plugins/ and /v2/);
 * image/njs/metrics.js reports them as higress_plugin_server_build_info (docs/metrics.md).
 */
export const BUILD_INFO_FILE = 'build-info.json';
export interface BuildInfo {
  schemaVersion: 1;
  /** The plugin server version that wrote the tree (the image is built from the same commit). */
  version: string;
  /** Hex sha256 of the Higress release snapshot the tree was pulled from (`pull --snapshot`), else null. */
  snapshotSha256: string | null;
}

export function wasmUrlPath(name: string, version: string): string {
  return `/${PLUGINS_DIR}/${name}/${version}/${WASM_FILE}`;
}
