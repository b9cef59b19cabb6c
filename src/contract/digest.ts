/** A content digest as the OCI spec and the lock file write it: `sha256:<64 lowercase hex>`. */
export type Digest = string & { readonly __digest: unique symbol };

const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;
/** What to tell a user whose digest isDigest refuses. */
export const DIGEST_HINT = 'want sha256:<64 lowercase hex>';

/** The one rule for a digest, everywhere (lock files, references, manifests, layouts, registry headers). */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_PATTERN.test(value);
}
