/**
 * Byte accounting for a body that must match an OCI descriptor: counts and hashes every chunk while
 * it streams, refuses more bytes than the descriptor (or the size limit) allows as soon as they
 * arrive, and checks the size and sha256 at the end. Nothing unverified is ever reported as done.
 */
import { createHash, Hash } from 'crypto';
import { IntegrityError } from '../../errors';

export interface Expected {
  digest: string;
  size: number;
}

export class DigestCounter {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  /** True once finish() has checked size and digest. */
  finished = false;

  constructor(
    private readonly expected: Expected,
    private readonly maxBytes: number,
    private readonly url: string,
  ) {
    if (expected.size > maxBytes) throw oversize(url, expected.size, maxBytes, 'descriptor says');
  }

  update(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) throw oversize(this.url, this.bytes, this.maxBytes, 'body has at least');
    if (this.bytes > this.expected.size) {
      throw new IntegrityError({
        code: 'E_SIZE_MISMATCH',
        message: `body of ${this.url} is longer than the ${this.expected.size} bytes its descriptor declares`,
        context: { url: this.url },
        hint: 'the registry content does not match its manifest: re-push the artifact',
      });
    }
    this.hash.update(chunk);
  }

  /** Hex sha256 of everything seen; throws when the body was short or the digest differs. */
  finish(): string {
    if (this.bytes < this.expected.size) {
      throw new IntegrityError({
        code: 'E_TRUNCATED',
        message: `truncated body from ${this.url}: got ${this.bytes} of ${this.expected.size} bytes`,
        context: { url: this.url },
        hint: 'retry; if it persists the registry storage is damaged',
      });
    }
    const hex = this.hash.digest('hex');
    if (`sha256:${hex}` !== this.expected.digest) throw digestMismatch(this.url, this.expected.digest, `sha256:${hex}`);
    this.finished = true;
    return hex;
  }
}

export function oversize(url: string, size: number, max: number, what: string): IntegrityError {
  return new IntegrityError({
    code: 'E_OVERSIZE',
    message: `${url}: ${what} ${size} bytes, over the ${max}-byte limit`,
    context: { url },
    hint: 'the gateway refuses plugins over 256 MiB: use a smaller build',
  });
}

export function digestMismatch(url: string, expected: string, actual: string): IntegrityError {
  return new IntegrityError({
    code: 'E_DIGEST_MISMATCH',
    message: `digest mismatch for ${url}: expected ${expected}, got ${actual}`,
    context: { url },
    hint: 'the content changed or was corrupted: check the reference or lock file, then pull again',
  });
}
