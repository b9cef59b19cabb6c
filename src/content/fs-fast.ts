/**
 * The file calls of the many small reads of a large tree (every metadata.json, every lstat of a warm
 * pull), made synchronously behind the same promise signatures. An asynchronous call goes through
 * libuv's thread pool: a queue, a wake-up of the main thread, a callback and a promise per call, which
 * costs more than the system call itself when the file is a 500-byte JSON in the page cache. Reading
 * the metadata.json of 5,000 folders took 40–60 ms synchronously on this project's machine against
 * 120–280 ms with the callback API (32 at a time) and 1.5–2.3 s with `fs.promises` (a FileHandle per
 * file); a warm pull of 5,000 versions makes about 100,000 such calls. The CLI's runs block on these
 * for microseconds; downloads and hashing of real content stay on the asynchronous paths
 * (sha256OfFile streams files over 256 KiB). Same calls, same errors (as rejected promises).
 */
import * as fs from 'fs';
import { StringDecoder } from 'string_decoder';

/** Runs a synchronous call as a promise, so a thrown error is a rejection like the async API's. */
function settled<A extends unknown[], R>(call: (...args: A) => R): (...args: A) => Promise<R> {
  // eslint-disable-next-line @typescript-eslint/require-await -- the async wrapper turns a throw into a rejection
  return async (...args: A) => call(...args);
}

export const readFile: {
  (file: string): Promise<Buffer>;
  (file: string, encoding: BufferEncoding): Promise<string>;
} = settled((file: string, encoding?: BufferEncoding) => fs.readFileSync(file, encoding)) as never;

export const lstat: {
  (file: string): Promise<fs.Stats>;
  (file: string, opts: { bigint: true }): Promise<fs.BigIntStats>;
} = settled((file: string, opts?: { bigint: true }) => fs.lstatSync(file, opts)) as never;

export const stat: {
  (file: string): Promise<fs.Stats>;
  (file: string, opts: { bigint: true }): Promise<fs.BigIntStats>;
} = settled((file: string, opts?: { bigint: true }) => fs.statSync(file, opts)) as never;

export const access = settled((file: string, mode?: number) => fs.accessSync(file, mode));
export const open = settled((file: string, flags: string) => fs.openSync(file, flags));
export const fstat = settled((fd: number) => fs.fstatSync(fd));
export const read = settled((fd: number, buffer: Buffer, offset: number, length: number, position: number) => ({
  bytesRead: fs.readSync(fd, buffer, offset, length, position),
}));
export const close = settled((fd: number) => fs.closeSync(fd));

/** A directory's entries with their types (a tree walk's readdir). */
export const readdirTypes = settled((dir: string) => fs.readdirSync(dir, { withFileTypes: true }));

/** Bytes read per step by holdsTextSync. */
const PIECE_BYTES = 256 * 1024;
/**
 * holdsTextSync's read buffer, one for the process (the calls are synchronous, so one at a time): kept,
 * not freed per call, so large reads never move glibc's mmap threshold (see cpu-worker.ts, ReadBuffer).
 */
let pieceBuffer: Buffer | undefined;

/**
 * Whether a regular file, opened without following a symlink, holds exactly the text that `pieces`
 * make one after the other (UTF-8); undefined when it is absent, a symlink or not a regular file. The
 * file is read 256 KiB at a time and compared in place: neither it nor the text is ever whole in
 * memory (at 20,000 versions view.json is 19 MB and an Nginx map 6 MB), and reading stops at the
 * first difference.
 */
export function holdsTextSync(file: string, pieces: Iterable<string>): boolean | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return undefined;
    const buf = (pieceBuffer ??= Buffer.allocUnsafeSlow(PIECE_BYTES));
    const decoder = new StringDecoder('utf8');
    let pending = '';
    let position = 0;
    let ended = false;
    /** Reads on until some text is pending; false at the end of the file. */
    const fill = (): boolean => {
      while (pending.length === 0 && !ended) {
        const n = fs.readSync(fd, buf, 0, buf.length, position);
        position += n;
        if (n === 0) {
          ended = true;
          pending = decoder.end();
        } else pending = decoder.write(buf.subarray(0, n));
      }
      return pending.length > 0;
    };
    for (const piece of pieces) {
      for (let at = 0; at < piece.length;) {
        if (!fill()) return false; // the file is shorter
        const take = Math.min(pending.length, piece.length - at);
        if (!piece.startsWith(take === pending.length ? pending : pending.slice(0, take), at)) return false;
        at += take;
        pending = pending.slice(take);
      }
    }
    return !fill(); // nothing after the text
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
