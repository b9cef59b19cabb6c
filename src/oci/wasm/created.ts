/**
 * The creation time of a plugin image: the `org.opencontainers.image.created` manifest annotation, or
 * the `created` field of the image config. Pure.
 */
import type { Descriptor } from '../registry/media';

export const CREATED_ANNOTATION = 'org.opencontainers.image.created';
/** Image configs are small JSON documents; anything bigger is not one we want to read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

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
  return (
    config.mediaType === 'application/vnd.oci.image.config.v1+json' ||
    config.mediaType === 'application/vnd.docker.container.image.v1+json' ||
    config.mediaType === 'application/vnd.module.wasm.config.v1+json'
  );
}
