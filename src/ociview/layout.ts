/**
 * The OCI view of a plugin tree: the same plugins as a read-only OCI registry, laid out for Nginx to
 * serve statically under /v2/ (image/nginx.conf). Written by `pull` and `index` next to plugins/,
 * checked by `verify`. Changing a path here is a change to image/nginx.conf too.
 *
 *   <root>/oci/view.json                       ViewFile below: every tag, its manifest chain and blobs
 *   <root>/oci/blobs/<hex>                     every blob (config, layers), content-addressed; a layer
 *                                              whose bytes are plugin.wasm is a hardlink to it
 *   <root>/oci/manifests/<hex>.<kind>          every manifest, exact bytes; <kind> gives Nginx the
 *                                              Content-Type (MANIFEST_KINDS)
 *   <root>/oci/tags/<name>.json                the body of GET /v2/plugins/<name>/tags/list
 *   <root>/oci/tags/<name>/empty.json          an empty tag list (`n=0`, `last` at or past the end)
 *   <root>/oci/catalog.json                    the body of GET /v2/_catalog
 *   <root>/oci/pages/catalog/<size>-<start>.json
 *   <root>/oci/pages/tags/<name>/<size>-<start>.json
 *                                              pages of `?n=&last=` (pages.ts), and catalog/empty.json
 *   <root>/oci/nginx/{manifests,blobs,repositories,pagestarts,pagelinks}.map
 *                                              `map` entries Nginx includes: request path -> file.
 *                                              Only paths listed here are ever opened, so no request
 *                                              path reaches the filesystem.
 */
import { OCI_REPOSITORY_NAMESPACE } from '../contract/service';
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../oci/registry/media';

export const OCI_DIR = 'oci';
export const VIEW_FILE = 'view.json';
export const BLOBS_DIR = 'blobs';
export const MANIFESTS_DIR = 'manifests';
export const TAGS_DIR = 'tags';
export const CATALOG_FILE = 'catalog.json';
export const PAGES_DIR = 'pages';
/** Under PAGES_DIR. */
export const CATALOG_PAGES = 'catalog';
export const TAG_PAGES = 'tags';
export const MAPS_DIR = 'nginx';
export const VIEW_SCHEMA_VERSION = 1;
/** Repository names mirror the upstream registry (`<registry>/plugins/<name>`), so only the host changes. */
export const REPOSITORY_NAMESPACE = OCI_REPOSITORY_NAMESPACE;

export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

/** Manifest media type -> file extension; image/nginx.conf maps the extensions back (`types` block). */
export const MANIFEST_KINDS: Readonly<Record<string, string>> = {
  [OCI_MANIFEST]: 'oci-manifest',
  [OCI_INDEX]: 'oci-index',
  [DOCKER_MANIFEST]: 'docker-manifest',
  [DOCKER_LIST]: 'docker-list',
};

export interface ViewManifest {
  digest: string;
  mediaType: string;
}
export interface ViewBlob {
  digest: string;
  size: number;
}

export interface ViewTag {
  /** Plugin name and version folder; the repository is `plugins/<name>`, the tag `<version>`. */
  name: string;
  version: string;
  /** Digest of the manifest the tag points at (what `oci://...@sha256:` pins and Istio checks). */
  digest: string;
  /**
   * `original`: the source registry's manifest bytes, kept because its wasm layer is plugin.wasm
   * unchanged, so digests pinned against the source stay valid. `generated`: the plugin server's own
   * image (one tar+gzip layer holding plugin.wasm; see docs/oci-registry.md for why this form).
   */
  form: 'original' | 'generated';
  /** The tag's manifest first, then any manifest it names (an index's chosen entry). */
  manifests: ViewManifest[];
  /** Every blob the manifests name, in manifest order. */
  blobs: ViewBlob[];
  /**
   * Generated images only: the version's bytes and time the image was made from. The image is a
   * function of these, so a later run with the same ones reuses it instead of reading the files again.
   */
  from?: GeneratedFrom;
}

export interface GeneratedFrom {
  sha256: string;
  gzipSha256: string;
  size: number;
  created: string;
}

export interface ViewFile {
  schemaVersion: 1;
  /** Sorted by name, then version (plain code-unit order, like index.json). */
  tags: ViewTag[];
}

export function repositoryName(plugin: string): string {
  return `${REPOSITORY_NAMESPACE}/${plugin}`;
}

export function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

export function manifestFileName(m: ViewManifest): string {
  return `${hexOf(m.digest)}.${MANIFEST_KINDS[m.mediaType]}`;
}
