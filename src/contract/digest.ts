/** A content digest as the OCI spec and the lock file write it: `sha256:<64 lowercase hex>`. */
export type Digest = string & { readonly __digest: unique symbol };

export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;
/** What to tell a user whose digest does not match DIGEST_PATTERN. */
export const DIGEST_HINT = 'want sha256:<64 lowercase hex>';

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_PATTERN.test(value);
}
