/**
 * Worker-thread side of the CPU pool: the CPU-heavy steps of publishing a module (validation,
 * hashing, deflate) run here so the main thread keeps downloading other plugins meanwhile.
 * The worker reads the bytes itself from the path it is given, so no 12 MB buffer crosses threads.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { parentPort } from 'worker_threads';
import * as zlib from 'zlib';
import type { GzipLevel } from '../contract/gzip-level';
import { ErrorCode, ErrorContext, PluginServerError } from '../errors';
import { checkWasm, WasmWhere } from './wasm';
import { sha256Hex } from './fsutil';
import { ChunkPlan, deflateChunk } from './gzip-format';
import { ImageFrames, imageFrames } from './tar-frame';
import { GZ_FILE, MAX_WASM_BYTES, METADATA_JSON, METADATA_TXT, WASM_FILE } from '../contract/tree-format';

export type CpuTask =
  | { kind: 'analyze'; file: string; fsync: boolean; where?: WasmWhere }
  | { kind: 'deflate'; file: string; plan: ChunkPlan; level: GzipLevel }
  | FramedHashTask
  | { kind: 'lstat'; files: string[] }
  | { kind: 'folder-facts'; dirs: string[] }
  | {
      kind: 'file-digests';
      files: string[];
      textUpTo: number;
      /** A file with other links is not read: its `inode` comes back instead (see FileDigest). */
      skipLinked?: boolean;
    };

/**
 * The hashes of an OCI image made of two files with bytes around each (src/ociview/image.ts):
 * sha256 of `aHead ‖ a ‖ aTail`, of `bHead ‖ b ‖ bTail`, and of each file alone, each file read once.
 * With `writeB`, `bHead ‖ b ‖ bTail` is also written (new file, fsynced, mtime `mtimeMs`) to
 * `<writeB>/<its hex sha256>` unless that file exists: the layer is copied while its bytes are at hand.
 */
export interface FramedHashTask {
  kind: 'framed-hash';
  a: string;
  aHead: Uint8Array;
  aTail: Uint8Array;
  b: string;
  bHead: Uint8Array;
  bTail: Uint8Array;
  writeB?: { dir: string; mtimeMs: number };
}

export interface FramedHashes {
  /** Hex sha256 of the framed bytes, of the file alone; sizes of the framed bytes. */
  aFramed: string;
  aFile: string;
  bFramed: string;
  bFile: string;
  bFramedSize: number;
}

export interface WasmFacts {
  size: number;
  md5: string;
  sha256: string;
  crc32: number;
}

export type CpuResult = WasmFacts | Uint8Array | FramedHashes | Array<FileId | null> | FolderFacts[] | FileDigest[];

/** A file's identity from lstat (or fstat of a handle opened without following a symlink). */
export interface FileId {
  dev: number;
  ino: number;
  nlink: number;
  size: number;
  /** A regular file (not a folder or a device); symlinks are never followed. */
  file: boolean;
  symlink: boolean;
}

/** Why a file of a version folder could not be read: absent, a symlink, not a regular file, over the size limit. */
export type Unreadable = 'missing' | 'symlink' | 'not-file' | 'too-big';

/**
 * A version folder as `verify` needs it (src/tree/read.ts), read in one pass: the metadata texts, and
 * plugin.wasm and plugin.wasm.gz each opened without following a symlink and read once for every
 * hash taken of them: sha256 and md5 of the wasm, sha256 of the .gz, both framed as the OCI view's
 * generated image frames them (tar-frame.ts, from the metadata's size and time), and the .gz decoded,
 * bounded by the metadata's size (a gzip bomb stops there).
 */
export interface FolderFacts {
  /** metadata.json as read (through a symlink, as readMetadata does; undefined when unreadable) and whether it is one. */
  metadataJson?: string;
  metadataJsonIsLink: boolean;
  metadataTxt: { text: string } | Unreadable;
  wasm: (FileId & { sha256: string; md5: string; framedSha256?: string }) | Unreadable;
  gz:
    | (FileId & {
        sha256?: string;
        framedSha256?: string;
        framedSize?: number;
        decoded?: { size: number; sha256: string } | 'corrupt' | 'oversize';
      })
    | Exclude<Unreadable, 'not-file' | 'too-big'>;
}

/** A file's size and sha256 (hex), and its text when it is at most `textUpTo` bytes; undefined fields when unreadable. */
export interface FileDigest {
  size?: number;
  sha256?: string;
  text?: string;
  /**
   * `dev:ino` of a file not read because it has other links (`skipLinked`): the caller may know its
   * hashes from another of its paths (`verify`: a kept image's wasm layer is plugin.wasm's inode).
   */
  inode?: string;
}

export type CpuReply =
  | { id: number; ok: true; value: CpuResult }
  | { id: number; ok: false; error: { code?: ErrorCode; message: string; context?: ErrorContext; hint?: string } };

/**
 * Buffers a worker reads whole files into, kept from task to task and grown to the largest file read.
 * A fresh buffer per file is a large malloc and free per file; after the first large free glibc raises
 * its mmap threshold, later large buffers come from the thread's heap arena, and small allocations
 * between them keep the arena from shrinking: at 20,000 versions that held about 90 MiB more RSS (the
 * scale bench). A task uses each buffer for one file at a time and returns only what it derived (hashes,
 * texts, a deflated chunk), never a view of a buffer.
 */
class ReadBuffer {
  private buf = Buffer.alloc(0);

  /**
   * `size` bytes of this buffer (their contents are those of an earlier read until overwritten). It
   * starts at 16 MiB, larger than most plugins: a buffer replaced by a larger one is a large free too,
   * and pages never read into cost no memory.
   */
  take(size: number): Buffer {
    if (this.buf.length < size) this.buf = Buffer.allocUnsafeSlow(Math.max(size, 16 * 1024 * 1024));
    return this.buf.subarray(0, size);
  }
}

/** One per file a task holds at the same time: plugin.wasm and its .gz; a deflate task's range. */
const firstFile = new ReadBuffer();
const secondFile = new ReadBuffer();

function readRange(file: string, start: number, end: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = readFd(fd, end - start, firstFile, start);
    if (buf.length < end - start) throw new Error(`${file} is shorter than expected (changed while being read)`);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A piece of a file being hashed or copied, kept from task to task: a framed hash needs no whole file,
 * so the OCI view of a pull (one task per generated image) never touches a buffer the size of a module.
 */
const piece = Buffer.allocUnsafeSlow(1024 * 1024);

/** Calls `each` with every piece of `file` in order (a piece is overwritten by the next); returns its size. */
function forEachPiece(file: string, each: (bytes: Buffer) => void): number {
  const fd = fs.openSync(file, 'r');
  try {
    for (let at = 0; ;) {
      const n = fs.readSync(fd, piece, 0, piece.length, at);
      if (n === 0) return at;
      each(piece.subarray(0, n));
      at += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function framedHashes(t: FramedHashTask): FramedHashes {
  const aFramed = crypto.createHash('sha256').update(t.aHead);
  const aFile = crypto.createHash('sha256');
  forEachPiece(t.a, (p) => {
    aFramed.update(p);
    aFile.update(p);
  });
  const bFramed = crypto.createHash('sha256').update(t.bHead);
  const bFile = crypto.createHash('sha256');
  const bSize = forEachPiece(t.b, (p) => {
    bFramed.update(p);
    bFile.update(p);
  });
  const framed = bFramed.update(t.bTail).digest('hex');
  if (t.writeB) writeFramedOnce(t.b, t.bHead, t.bTail, t.writeB, framed);
  return {
    aFramed: aFramed.update(t.aTail).digest('hex'),
    aFile: aFile.digest('hex'),
    bFramed: framed,
    bFile: bFile.digest('hex'),
    bFramedSize: t.bHead.length + bSize + t.bTail.length,
  };
}

/**
 * `head ‖ b ‖ tail` written to `<to.dir>/<framed>` unless that file exists (content-addressed: another
 * version wrote it), copied piece by piece and hashed again as it is written: a `b` that changed since
 * it was hashed leaves no file under a name its bytes do not have.
 */
function writeFramedOnce(
  b: string,
  head: Uint8Array,
  tail: Uint8Array,
  to: { dir: string; mtimeMs: number },
  framed: string,
): void {
  const dest = `${to.dir}/${framed}`;
  let fd: number;
  try {
    fd = fs.openSync(dest, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw err;
  }
  try {
    const again = crypto.createHash('sha256');
    const write = (bytes: Uint8Array) => {
      again.update(bytes);
      for (let off = 0; off < bytes.length;) off += fs.writeSync(fd, bytes, off);
    };
    write(head);
    forEachPiece(b, write);
    write(tail);
    if (again.digest('hex') !== framed) throw new Error(`${b} changed while being read`);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(dest, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  const when = new Date(to.mtimeMs);
  fs.utimesSync(dest, when, when);
}

const MAX_METADATA_BYTES = 1024 * 1024;

function fileId(st: fs.Stats): FileId {
  return { dev: st.dev, ino: st.ino, nlink: st.nlink, size: st.size, file: st.isFile(), symlink: st.isSymbolicLink() };
}

function unreadable(err: unknown): 'missing' | 'symlink' {
  return (err as NodeJS.ErrnoException).code === 'ELOOP' ? 'symlink' : 'missing';
}

/** Opens without following a symlink; the handle, its fstat, or why not. */
function openNoFollow(file: string): { fd: number; st: fs.Stats } | 'missing' | 'symlink' {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    return unreadable(err);
  }
  try {
    return { fd, st: fs.fstatSync(fd) };
  } catch (err) {
    fs.closeSync(fd);
    return unreadable(err);
  }
}

/** `size` bytes of `fd` from `from` (fewer if it is shorter now) into `into`, or a fresh buffer. */
function readFd(fd: number, size: number, into?: ReadBuffer, from = 0): Buffer {
  const buf = into ? into.take(size) : Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const n = fs.readSync(fd, buf, off, size - off, from + off);
    if (n === 0) break;
    off += n;
  }
  return off === size ? buf : buf.subarray(0, off);
}

/** The size and time a metadata.json gives the image frames, when it has them. */
function framingOf(json: string): { size: number; created: string } | undefined {
  try {
    const m = JSON.parse(json) as { size?: unknown; created?: unknown };
    if (typeof m.size === 'number' && typeof m.created === 'string' && !Number.isNaN(new Date(m.created).getTime()))
      return { size: m.size, created: m.created };
  } catch {
    /* an invalid metadata.json: verify reports it and reads nothing else */
  }
  return undefined;
}

/**
 * Each folder of the task (folders that share a plugin.wasm or .gz inode come in one task: each inode
 * is read once, its facts shared by every folder that holds it).
 */
async function folderFacts(dirs: string[]): Promise<FolderFacts[]> {
  const wasmByInode = new Map<string, FolderFacts['wasm']>();
  const gzByInode = new Map<string, FolderFacts['gz']>();
  const frames = new Map<string, ImageFrames>();
  const out: FolderFacts[] = [];
  for (const dir of dirs) out.push(await oneFolder(dir));
  return out;

  async function oneFolder(dir: string): Promise<FolderFacts> {
    let metadataJson: string | undefined;
    try {
      metadataJson = fs.readFileSync(`${dir}/${METADATA_JSON}`, 'utf8');
    } catch {
      metadataJson = undefined;
    }
    const metadataJsonIsLink = !!fs.lstatSync(`${dir}/${METADATA_JSON}`, { throwIfNoEntry: false })?.isSymbolicLink();
    const framing = metadataJson === undefined ? undefined : framingOf(metadataJson);
    if (!framing) {
      // verify stops at an invalid metadata.json; nothing else of the folder is read.
      return { metadataJson, metadataJsonIsLink, metadataTxt: 'missing', wasm: 'missing', gz: 'missing' };
    }
    const frameKey = `${framing.size}:${framing.created}`;
    let frame = frames.get(frameKey);
    if (!frame) frames.set(frameKey, (frame = imageFrames(framing.size, framing.created)));
    const f = frame;
    // The wasm's bytes as read for this folder (not when its inode was read for an earlier one): the
    // .gz's decoded bytes are compared with them, and hashed only when they differ.
    let wasmRead: { bytes: Buffer; sha256: string } | undefined;
    const wasm = await onceByInode(wasmByInode, `${dir}/${WASM_FILE}`, frameKey, (fd, st) => {
      if (!st.isFile()) return 'not-file';
      if (st.size > MAX_WASM_BYTES) return 'too-big';
      const bytes = readFd(fd, st.size, firstFile);
      const sha256 = sha256Hex(bytes);
      wasmRead = { bytes, sha256 };
      return {
        ...fileId(st),
        size: bytes.byteLength,
        sha256,
        md5: crypto.createHash('md5').update(bytes).digest('hex'),
        framedSha256: sha256Hex(f.aHead, bytes, f.aTail),
      };
    });
    return {
      metadataJson,
      metadataJsonIsLink,
      metadataTxt: readText(`${dir}/${METADATA_TXT}`),
      wasm,
      gz: await onceByInode(gzByInode, `${dir}/${GZ_FILE}`, frameKey, async (fd, st) => {
        if (!st.isFile() || st.size > MAX_WASM_BYTES) return fileId(st);
        const bytes = readFd(fd, st.size, secondFile);
        return {
          ...fileId(st),
          size: bytes.byteLength,
          sha256: sha256Hex(bytes),
          framedSha256: sha256Hex(f.bHead, bytes, f.bTail),
          framedSize: f.bHead.length + bytes.byteLength + f.bTail.length,
          decoded: await decodeGz(bytes, Math.max(1, framing.size), wasmRead),
        };
      }),
    };
  }
}

/**
 * Up to this decoded size a .gz is decoded in one synchronous call: its buffer stays under glibc's
 * initial mmap threshold (128 KiB), so freeing it never raises that threshold (see ReadBuffer).
 */
const DECODE_AT_ONCE_UP_TO = 64 * 1024;

/**
 * The .gz decoded, bounded by `limit` (a gzip bomb stops there): its size and sha256, compared with
 * the wasm's bytes as read for the same folder. Equal bytes have the wasm's sha256, and a compare costs
 * a fraction of a hash of 12 MB, so decoded bytes are hashed only from their first difference. Larger
 * files are decoded as a stream of 64 KiB pieces, so no buffer the size of the module is allocated per
 * file (the whole decoded module used to be one).
 */
async function decodeGz(
  gz: Buffer,
  limit: number,
  wasm: { bytes: Buffer; sha256: string } | undefined,
): Promise<{ size: number; sha256: string } | 'corrupt' | 'oversize'> {
  const hash = crypto.createHash('sha256');
  let size = 0;
  let same = wasm !== undefined;
  const take = (piece: Buffer) => {
    if (same && wasm && !piece.equals(wasm.bytes.subarray(size, size + piece.length))) {
      same = false;
      hash.update(wasm.bytes.subarray(0, size));
    }
    if (!same) hash.update(piece);
    size += piece.length;
  };
  try {
    if (limit <= DECODE_AT_ONCE_UP_TO) take(zlib.gunzipSync(gz, { maxOutputLength: limit }));
    else {
      const gunzip = zlib.createGunzip({ chunkSize: 64 * 1024 });
      gunzip.end(gz);
      for await (const piece of gunzip as AsyncIterable<Buffer>) {
        if (size + piece.length > limit) {
          gunzip.destroy();
          return 'oversize';
        }
        take(piece);
      }
    }
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? 'oversize' : 'corrupt';
  }
  if (same && wasm && size === wasm.bytes.length) return { size, sha256: wasm.sha256 };
  if (same && wasm) hash.update(wasm.bytes.subarray(0, size));
  return { size, sha256: hash.digest('hex') };
}

/** Reads `file` (no symlink followed) through `read` once per inode and frame. */
async function onceByInode<T>(
  seen: Map<string, T | 'missing' | 'symlink'>,
  file: string,
  frameKey: string,
  read: (fd: number, st: fs.Stats) => T | Promise<T>,
): Promise<T | 'missing' | 'symlink'> {
  const opened = openNoFollow(file);
  if (typeof opened === 'string') return opened;
  try {
    const key = `${opened.st.dev}:${opened.st.ino}:${frameKey}`;
    const known = seen.get(key);
    if (known !== undefined) return known;
    let got: T | 'missing' | 'symlink';
    try {
      got = await read(opened.fd, opened.st);
    } catch (err) {
      got = unreadable(err);
    }
    seen.set(key, got);
    return got;
  } finally {
    fs.closeSync(opened.fd);
  }
}

/** A small text file read without following a symlink; over MAX_METADATA_BYTES counts as missing. */
function readText(file: string): { text: string } | Unreadable {
  const opened = openNoFollow(file);
  if (typeof opened === 'string') return opened;
  try {
    if (!opened.st.isFile()) return 'not-file';
    if (opened.st.size > MAX_METADATA_BYTES) return 'too-big';
    return { text: readFd(opened.fd, opened.st.size).toString('utf8') };
  } catch (err) {
    return unreadable(err);
  } finally {
    fs.closeSync(opened.fd);
  }
}

function fileDigests(files: string[], textUpTo: number, skipLinked = false): FileDigest[] {
  return files.map((file) => {
    const opened = openNoFollow(file);
    if (typeof opened === 'string') return {};
    try {
      if (!opened.st.isFile()) return {};
      if (skipLinked && opened.st.nlink > 1) return { inode: `${opened.st.dev}:${opened.st.ino}` };
      const bytes = readFd(opened.fd, opened.st.size, firstFile);
      return {
        size: bytes.byteLength,
        sha256: sha256Hex(bytes),
        ...(bytes.byteLength <= textUpTo ? { text: bytes.toString('utf8') } : {}),
      };
    } catch {
      return {};
    } finally {
      fs.closeSync(opened.fd);
    }
  });
}

/** Runs one task (we are off the main thread: its steps are synchronous but for a large .gz decode). Exported for tests. */
export async function runCpuTask(task: CpuTask): Promise<CpuResult> {
  if (task.kind === 'framed-hash') return framedHashes(task);
  if (task.kind === 'folder-facts') return folderFacts(task.dirs);
  if (task.kind === 'file-digests') return fileDigests(task.files, task.textUpTo, task.skipLinked);
  if (task.kind === 'lstat')
    return task.files.map((f) => {
      const st = fs.lstatSync(f, { throwIfNoEntry: false });
      return st ? fileId(st) : null;
    });
  if (task.kind === 'deflate') {
    return deflateChunk(readRange(task.file, task.plan.dictStart, task.plan.end), task.plan, task.level);
  }
  const fd = fs.openSync(task.file, 'r');
  try {
    // Durability of the staged download is settled here, once, instead of per published folder.
    if (task.fsync) fs.fsyncSync(fd);
    const bytes = readFd(fd, fs.fstatSync(fd).size, firstFile);
    checkWasm(bytes, task.where);
    return {
      size: bytes.byteLength,
      md5: crypto.createHash('md5').update(bytes).digest('hex'),
      sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
      crc32: zlib.crc32(bytes),
    };
  } finally {
    fs.closeSync(fd);
  }
}

if (parentPort) {
  const port = parentPort;
  /**
   * One task at a time, in the order sent (the pool sends a second ahead): a task may await (a large
   * .gz is decoded as a stream), and the read buffers are shared by every task of this thread.
   */
  let previous: Promise<void> = Promise.resolve();
  port.on('message', ({ id, task }: { id: number; task: CpuTask }) => {
    previous = previous.then(async () => {
      let reply: CpuReply;
      try {
        reply = { id, ok: true, value: await runCpuTask(task) };
      } catch (err) {
        const e =
          err instanceof PluginServerError
            ? { code: err.code, message: err.message, context: err.context, hint: err.hint }
            : { message: err instanceof Error ? err.message : String(err) };
        reply = { id, ok: false, error: e };
      }
      port.postMessage(reply);
    });
  });
}
