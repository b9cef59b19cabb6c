/**
 * What a bundle carries besides the plugins: its own lists, snapshot and lock, as the layers of one
 * OCI artifact (`BUNDLE_REF` in the layout's index.json). `airgap/bundle.ts` writes it; `resolve.ts`
 * reads it back.
 */

/** ref.name of the artifact that carries a bundle's inputs. */
export const BUNDLE_REF = 'higress-plugin-bundle';
export const BUNDLE_ARTIFACT_TYPE = 'application/vnd.higress.plugin-bundle.v1+json';
export const LIST_MEDIA_TYPE = 'application/vnd.higress.plugin-list.v1+properties';
export const SNAPSHOT_MEDIA_TYPE = 'application/vnd.higress.plugin-snapshot.v1+json';
export const LOCK_MEDIA_TYPE = 'application/vnd.higress.plugin-lock.v1+json';
export const BUNDLE_LOCK_TITLE = 'plugins.lock.json';

export interface CarriedFile {
  /** File name inside the bundle (org.opencontainers.image.title). */
  title: string;
  mediaType: string;
  bytes: Buffer;
}
