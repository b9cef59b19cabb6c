/**
 * The bytes around plugin.wasm and plugin.wasm.gz in the OCI view's generated image
 * (src/ociview/image.ts): a one-file ustar archive, and the same as three gzip members. Pure functions
 * of the module's size and time, here in content/ so the CPU worker can frame a file it is reading
 * (`verify` hashes each file once for the tree and for its image).
 */
import { WASM_FILE } from '../contract/tree-format';
import { gzipChunkedSync } from './gzip-format';

const BLOCK = 512;

/** A POSIX ustar header for one regular file, root-owned, mode 0644. */
export function tarHeader(name: string, size: number, mtimeSeconds: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const field = (offset: number, length: number, value: string) => h.write(value, offset, length, 'ascii');
  const octal = (offset: number, length: number, value: number) =>
    field(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, mtimeSeconds);
  field(148, 8, '        '); // checksum is computed with its own field as spaces
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** What follows the file's data: padding to a 512-byte block, then two zero blocks. */
export function tarTrailer(size: number): Buffer {
  return Buffer.alloc(((BLOCK - (size % BLOCK)) % BLOCK) + 2 * BLOCK);
}

/** Bytes before and after plugin.wasm (`a`: the tar) and plugin.wasm.gz (`b`: the tar+gzip layer). */
export interface ImageFrames {
  aHead: Buffer;
  aTail: Buffer;
  bHead: Buffer;
  bTail: Buffer;
}

/**
 * The gzip member of each trailer, by its length: the trailer depends on the size modulo 512 only, so
 * a tree of thousands of modules needs at most 512 of them (`verify` frames every module, and a
 * deflate call costs more than hashing a small module). Shared buffers: read only.
 */
const gzippedTrailers = new Map<number, { tail: Buffer; gz: Buffer }>();

function trailerFrames(size: number): { tail: Buffer; gz: Buffer } {
  const tail = tarTrailer(size);
  let known = gzippedTrailers.get(tail.length);
  if (!known) gzippedTrailers.set(tail.length, (known = { tail, gz: gzipChunkedSync(tail) }));
  return known;
}

/** The frames of a module of `wasmSize` bytes made at `created` (RFC 3339; the tar mtime is its second). Read only. */
export function imageFrames(wasmSize: number, created: string): ImageFrames {
  const mtime = Math.floor(new Date(created).getTime() / 1000);
  const head = tarHeader(WASM_FILE, wasmSize, mtime);
  const tail = trailerFrames(wasmSize);
  return { aHead: head, aTail: tail.tail, bHead: gzipChunkedSync(head), bTail: tail.gz };
}
