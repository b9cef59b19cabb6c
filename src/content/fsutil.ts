/** Small durable-write helpers shared by the publisher and the index writer. */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as fastFs from './fs-fast';

export function randomSuffix(): string {
  return crypto.randomBytes(6).toString('hex');
}

/**
 * This process's run id: every temp or old entry it creates is named `.tmp-<RUN_ID>-…` / `.old-<RUN_ID>-…`,
 * and the output root's run journal records the id, so a later run removes only what a recorded run
 * created (src/tree/run-journal.ts), never a `.tmp-` folder that belongs to someone else.
 */
export const RUN_ID = randomSuffix();
/** `.tmp-<run>-<label>-<random>` or `.old-…`: a unique name this run owns. */
export function runTempName(kind: 'tmp' | 'old', label: string): string {
  return `.${kind}-${RUN_ID}-${label ? `${label}-` : ''}${randomSuffix()}`;
}
/** The run id in a temp/old entry's name, if it is one of ours. */
export function runIdOf(name: string): string | undefined {
  return /^\.(?:tmp|old)-([0-9a-f]{12})-/.exec(name)?.[1];
}

/**
 * Writes, fsyncs and (when given) sets the mtime of one file (mtime drives Nginx's Last-Modified and
 * ETag).
 */
export async function writeFileDurable(
  file: string,
  data: string | Uint8Array | readonly Uint8Array[],
  mtime?: Date,
): Promise<void> {
  const fh = await fs.promises.open(file, 'w', 0o644);
  try {
    // Parts are written as they are (a .gz's header, deflated chunks and trailer), never joined first.
    if (Array.isArray(data)) await writeAllParts(fh, data);
    else await fh.writeFile(data as string | Uint8Array);
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (mtime) await fs.promises.utimes(file, mtime, mtime);
}

/** Every byte of `parts`, in order (writev may write less than asked). */
async function writeAllParts(fh: fs.promises.FileHandle, parts: readonly Uint8Array[]): Promise<void> {
  let rest = parts.filter((p) => p.byteLength > 0);
  while (rest.length) {
    let { bytesWritten } = await fh.writev(rest.slice(0, 1024));
    while (rest.length && bytesWritten >= rest[0].byteLength) {
      bytesWritten -= rest[0].byteLength;
      rest = rest.slice(1);
    }
    if (bytesWritten > 0) rest = [rest[0].subarray(bytesWritten), ...rest.slice(1)];
  }
}

/** Pieces of text are written in batches of about this many characters. */
const CHUNK_BATCH = 256 * 1024;

/**
 * writeFileDurable of a text given in pieces (a generator): written in batches as they come, so a large
 * file (view.json of 20,000 versions, about 20 MB) is never one string in memory.
 */
export async function writeChunksDurable(file: string, chunks: Iterable<string>, mtime?: Date): Promise<void> {
  const fh = await fs.promises.open(file, 'w', 0o644);
  try {
    let batch: string[] = [];
    let length = 0;
    for (const c of chunks) {
      batch.push(c);
      length += c.length;
      if (length >= CHUNK_BATCH) {
        // A handle's writeFile writes all of it from the current position: the batches follow each other.
        await fh.writeFile(batch.join(''));
        batch = [];
        length = 0;
      }
    }
    if (batch.length) await fh.writeFile(batch.join(''));
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (mtime) await fs.promises.utimes(file, mtime, mtime);
}

/** fsync a directory so a rename inside it survives a crash. Best effort where unsupported. */
export async function syncDir(dir: string): Promise<void> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(dir, 'r');
    await fh.sync();
  } catch {
    /* some filesystems refuse fsync on directories; the rename is still atomic */
  } finally {
    await fh?.close();
  }
}

/**
 * Atomic file replace: temp file in the same folder, fsync, rename over the target. A text may come as
 * pieces (written as writeChunksDurable does), so a large one is never joined into one string.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array | Iterable<string>,
  mtime: Date,
): Promise<void> {
  const tmp = path.join(path.dirname(file), runTempName('tmp', path.basename(file)));
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) await writeFileDurable(tmp, data, mtime);
    else await writeChunksDurable(tmp, data, mtime);
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await syncDir(path.dirname(file));
}

/** Hex sha256 of bytes in memory (a .gz just assembled: a third of the module, hashed in milliseconds). */
export function sha256Hex(...parts: Uint8Array[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** Hex sha256 of a file, streamed (modules can be hundreds of MB). */
export async function sha256OfFile(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  // A small file (a generated module, a manifest) in one read: a stream's setup costs more than its bytes.
  const small = await readIfSmall(file);
  if (small) return h.update(small).digest('hex');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Files up to this size are hashed from one read (sha256OfFile). */
const ONE_READ_BYTES = 256 * 1024;

/** The whole file when it is at most ONE_READ_BYTES, read through one descriptor; otherwise undefined. */
async function readIfSmall(file: string): Promise<Buffer | undefined> {
  const fd = await fastFs.open(file, 'r');
  try {
    const st = await fastFs.fstat(fd);
    if (st.size > ONE_READ_BYTES) return undefined;
    const buf = Buffer.allocUnsafe(st.size + 1);
    let off = 0;
    for (;;) {
      const { bytesRead } = await fastFs.read(fd, buf, off, buf.length - off, off);
      if (bytesRead === 0) return buf.subarray(0, off);
      off += bytesRead;
      if (off === buf.length) return undefined; // it grew while being read: stream it
    }
  } finally {
    await fastFs.close(fd);
  }
}
