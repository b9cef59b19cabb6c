/**
 * Pure knowledge about OCI / Docker manifests, whatever they carry: media types, the Accept list,
 * descriptors and parsing. What a Wasm plugin looks like inside one is wasm/layers.ts's business.
 */
import { isDigest } from '../../contract/digest';
import { RegistryError } from '../../errors';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** Registries pick the best type they hold from this list; an incomplete list makes some answer 404. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST].join(', ');

/** Manifests are small; distribution itself refuses manifests over 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * Most descriptors a manifest may list. A Wasm plugin has one to a few layers and an index a few
 * platforms; a manifest of 20,000 layers is an attack on our time (each tar layer may be fetched in
 * turn), so it is refused before anything is downloaded.
 */
export const MAX_DESCRIPTORS = 256;

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

/** The media type a manifest declares in its body (covered by the digest), else `fallback` (a header or descriptor). */
export function manifestMediaType(bytes: Buffer, fallback: string): string {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    if (typeof doc.mediaType === 'string' && doc.mediaType) return doc.mediaType;
  } catch {
    /* parseManifest reports bad JSON where it matters */
  }
  return fallback;
}

function isDescriptor(v: unknown): v is Descriptor {
  if (!v || typeof v !== 'object') return false;
  const d = v as Record<string, unknown>;
  return (
    typeof d.mediaType === 'string' &&
    typeof d.digest === 'string' &&
    isDigest(d.digest) &&
    typeof d.size === 'number' &&
    Number.isSafeInteger(d.size) &&
    d.size >= 0
  );
}

/**
 * Parses a manifest body. The media type comes from the body's `mediaType` field when present (it is
 * covered by the digest), else from the Content-Type header.
 */
export function parseManifest(body: Buffer, contentType: string | null, url: string): Manifest {
  const bad = (why: string) =>
    new RegistryError({
      code: 'E_MANIFEST_FORMAT',
      message: `unusable manifest at ${url}: ${why}`,
      context: { url },
      hint: 'check that the reference points at a Wasm plugin image or artifact',
    });
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
  for (const list of ['manifests', 'layers'] as const) {
    const items = m[list];
    if (Array.isArray(items) && items.length > MAX_DESCRIPTORS)
      throw bad(`${items.length} ${list}, more than the ${MAX_DESCRIPTORS} this tool accepts`);
  }
  if (Array.isArray(m.manifests) || mediaType === OCI_INDEX || mediaType === DOCKER_LIST) {
    if (!Array.isArray(m.manifests) || !m.manifests.every(isDescriptor)) throw bad('index without valid manifests[]');
    return { kind: 'index', mediaType: mediaType || OCI_INDEX, manifests: m.manifests };
  }
  if (!Array.isArray(m.layers) || !m.layers.every(isDescriptor)) throw bad('manifest without valid layers[]');
  if (m.config !== undefined && !isDescriptor(m.config)) throw bad('invalid config descriptor');
  return {
    kind: 'manifest',
    mediaType: mediaType || OCI_MANIFEST,
    config: m.config,
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
