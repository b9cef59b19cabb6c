/**
 * Pure knowledge about OCI / Docker manifests: media types, the Accept list, parsing, platform and
 * layer selection. No I/O here, so every rule is unit-testable.
 */
import { IntegrityError, RegistryError } from '../errors';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** Registries pick the best type they hold from this list; an incomplete list makes some answer 404. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST].join(', ');

export const WASM_LAYER = 'application/vnd.module.wasm.content.layer.v1+wasm';
export const DOCKER_TAR_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const OCI_TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** Higress plugin releases push their spec.yaml with this type (and oras adds a title annotation). */
export const HIGRESS_SPEC_LAYER = 'application/vnd.module.wasm.spec.v1+yaml';
export const TITLE_ANNOTATION = 'org.opencontainers.image.title';
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';
/** Manifests are small; distribution itself refuses manifests over 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Image configs are small JSON documents; anything bigger is not one we want to read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config?: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface IndexManifest {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

export type Manifest = ImageManifest | IndexManifest;

function isDescriptor(v: unknown): v is Descriptor {
  if (!v || typeof v !== 'object') return false;
  const d = v as Record<string, unknown>;
  return typeof d.mediaType === 'string' && typeof d.digest === 'string' && DIGEST_RE.test(d.digest) &&
    typeof d.size === 'number' && Number.isSafeInteger(d.size) && d.size >= 0;
}

/**
 * Parses a manifest body. The media type comes from the body's `mediaType` field when present (it is
 * covered by the digest), else from the Content-Type header.
 */
export function parseManifest(body: Buffer, contentType: string | null, url: string): Manifest {
  const bad = (why: string) =>
    new RegistryError('E_MANIFEST_FORMAT', `unusable manifest at ${url}: ${why}`, { url }, 'check that the reference points at a Wasm plugin image or artifact');
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  if (!doc || typeof doc !== 'object') throw bad('not a JSON object');
  const m = doc as Record<string, unknown>;
  const mediaType = typeof m.mediaType === 'string' ? m.mediaType : (contentType ?? '').split(';')[0].trim();
  if (m.schemaVersion !== 2) throw bad(`schemaVersion ${String(m.schemaVersion)} is not supported (need 2)`);
  if (Array.isArray(m.manifests) || mediaType === OCI_INDEX || mediaType === DOCKER_LIST) {
    if (!Array.isArray(m.manifests) || !m.manifests.every(isDescriptor)) throw bad('index without valid manifests[]');
    return { kind: 'index', mediaType: mediaType || OCI_INDEX, manifests: m.manifests };
  }
  if (!Array.isArray(m.layers) || !m.layers.every(isDescriptor)) throw bad('manifest without valid layers[]');
  if (m.config !== undefined && !isDescriptor(m.config)) throw bad('invalid config descriptor');
  return {
    kind: 'manifest',
    mediaType: mediaType || OCI_MANIFEST,
    config: m.config as Descriptor | undefined,
    layers: m.layers,
    annotations: stringRecord(m.annotations),
  };
}

function stringRecord(v: unknown): Record<string, string> | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

/** The gateway runs linux/amd64; an index with a single entry is taken as is (plugins are arch-neutral). */
export function selectPlatform(index: IndexManifest, url: string): Descriptor {
  const entries = index.manifests.filter((d) => d.platform?.os !== 'unknown'); // skip attestation manifests
  const amd64 = entries.find((d) => d.platform?.os === 'linux' && d.platform?.architecture === 'amd64');
  if (amd64) return amd64;
  if (entries.length === 1) return entries[0];
  const seen = entries.map((d) => `${d.platform?.os ?? '?'}/${d.platform?.architecture ?? '?'}`).join(', ');
  throw new RegistryError('E_MANIFEST_PLATFORM', `index at ${url} has no linux/amd64 entry (has ${seen || 'nothing'})`, { url },
    'pin the reference to one manifest digest or push a linux/amd64 entry');
}

export type WasmSource = { kind: 'raw'; layer: Descriptor } | { kind: 'tar'; layers: Descriptor[] };

/**
 * Which layer(s) may hold the wasm: a raw wasm layer wins; otherwise the tar+gzip layers, last first
 * (in a Docker image the last layer is the one that adds plugin.wasm).
 */
export function selectWasmLayers(manifest: ImageManifest, url: string): WasmSource {
  const raw = manifest.layers.find((l) => l.mediaType === WASM_LAYER);
  if (raw) return { kind: 'raw', layer: raw };
  const tars = manifest.layers.filter((l) => l.mediaType === DOCKER_TAR_GZIP || l.mediaType === OCI_TAR_GZIP).reverse();
  if (tars.length) return { kind: 'tar', layers: tars };
  const types = [...new Set(manifest.layers.map((l) => l.mediaType))].join(', ');
  throw new IntegrityError('E_ARTIFACT_NO_WASM', `no Wasm layer in ${url} (layer types: ${types || 'none'})`, { url },
    `push the plugin with a ${WASM_LAYER} layer or a tar+gzip layer holding plugin.wasm`);
}

/** A Higress release's spec.yaml layer, by media type or by its file-name annotation. */
export function selectSpecLayer(manifest: ImageManifest): Descriptor | undefined {
  return manifest.layers.find((l) => l.mediaType === HIGRESS_SPEC_LAYER) ??
    manifest.layers.find((l) => l.annotations?.[TITLE_ANNOTATION] === 'spec.yaml');
}

/** Normalises a creation time to RFC 3339 UTC (second precision when the fraction is zero); undefined if unparsable. */
export function normaliseCreated(value: unknown): string | undefined {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(value)) return undefined;
  // Docker writes nanoseconds; Date keeps milliseconds, which is all the tree records.
  const trimmed = value.replace(/(\.\d{3})\d+/, '$1');
  const t = Date.parse(trimmed);
  if (Number.isNaN(t)) return undefined;
  return new Date(t).toISOString().replace('.000Z', 'Z');
}

/** Config media types whose JSON may carry a `created` field worth one small blob request. */
export function configMayHaveCreated(config: Descriptor | undefined): boolean {
  if (!config || config.size <= 2 || config.size > MAX_CONFIG_BYTES) return false;
  return config.mediaType === 'application/vnd.oci.image.config.v1+json' ||
    config.mediaType === 'application/vnd.docker.container.image.v1+json' ||
    config.mediaType === 'application/vnd.module.wasm.config.v1+json';
}
