/**
 * Reading registry bodies with limits: small ones (manifests, configs) into memory, big ones as a
 * stream. Every byte of a blob goes through a DigestCounter, so a blob is only accepted when size and
 * sha256 match its descriptor. Idle timeouts and broken connections are the transport's business.
 */
import { Readable } from 'stream';
import type { RegistryResponse } from '../http/exchange';
import { DigestCounter, Expected, oversize } from './verify-stream';

/** Refuses a body whose Content-Length already says it is over the limit, before reading it. */
export function checkContentLength(res: RegistryResponse, maxBytes: number): void {
  const length = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(length) && length > maxBytes) throw oversize(res.url, length, maxBytes, 'Content-Length says');
}

/** Reads a body of at most `limit` bytes into memory and checks it against `expected`. */
export async function readVerified(res: RegistryResponse, expected: Expected, limit: number): Promise<Buffer> {
  const counter = new DigestCounter(expected, limit, res.url);
  checkContentLength(res, limit);
  const chunks: Buffer[] = [];
  for await (const chunk of res.body) {
    counter.update(chunk as Buffer);
    chunks.push(chunk as Buffer);
  }
  counter.finish();
  return Buffer.concat(chunks);
}

/** Reads a body whose digest is not known in advance (a manifest by tag), refusing more than `limit`. */
export async function readLimited(res: RegistryResponse, limit: number): Promise<Buffer> {
  checkContentLength(res, limit);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body) {
    n += (chunk as Buffer).length;
    if (n > limit) throw oversize(res.url, n, limit, 'body has at least');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The body as a stream that checks itself: it fails as soon as more bytes arrive than the descriptor
 * (or `limit`) allows, and at its end when the size or sha256 is wrong. A consumer that reads it to
 * the end has seen only bytes that belong to the blob, and learns of any mismatch before finishing.
 */
export function verifiedStream(
  res: RegistryResponse,
  expected: Expected,
  limit: number,
): { stream: Readable; counter: DigestCounter } {
  const counter = new DigestCounter(expected, limit, res.url);
  checkContentLength(res, limit);
  const stream = Readable.from(
    (async function* () {
      let parts: Buffer[] = [];
      let gathered = 0;
      const take = (): Buffer => {
        const batch = parts.length === 1 ? parts[0] : Buffer.concat(parts, gathered);
        parts = [];
        gathered = 0;
        counter.update(batch);
        return batch;
      };
      for await (const chunk of res.body) {
        parts.push(chunk as Buffer);
        gathered += (chunk as Buffer).length;
        if (gathered >= BATCH_BYTES) yield take();
      }
      if (gathered > 0) yield take();
      counter.finish();
    })(),
    { objectMode: false },
  );
  return { stream, counter };
}

/**
 * Body chunks are gathered up to this size before they are hashed and passed on. Over a real link a
 * body arrives about one TCP segment (1.4 KB) per read, and then the work per chunk (a hash call, a
 * file write through the thread pool) costs more CPU than the bytes: measured on the bench's 200 Mbit/s
 * link, 4 CPU-s of file-write calls alone for 422 MB (BENCHMARKS.md, pull). A batch is at most this
 * much memory per download, and an oversized body is still refused within one batch of the limit.
 */
const BATCH_BYTES = 1 << 20;
