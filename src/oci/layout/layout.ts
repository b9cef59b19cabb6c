/**
 * OCI image layout (image-spec `image-layout.md`): a folder, or a tar of that folder, holding
 *
 *   oci-layout     {"imageLayoutVersion": "1.0.0"}
 *   index.json     an image index whose manifests carry `org.opencontainers.image.ref.name`
 *   blobs/sha256/<hex>   every manifest, config and layer, named by its digest
 *
 * Reading: a folder directly, a tar without unpacking it (the tar's member offsets are indexed once
 * and blobs are read in place). Every blob read is checked against the digest that names it.
 * Writing: a deterministic tar (sorted members, mtime 0, uid/gid 0, no user names, fixed modes), so
 * the same content always gives the same bytes.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { InputError, IntegrityError } from '../../errors';
import type { BlobRef } from '../registry/client';
import { OCI_INDEX } from '../registry/media';
import { isDigest } from '../../contract/digest';
import { DigestCounter } from '../registry/verify-stream';

export const LAYOUT_PREFIX = 'oci-layout:';
export const REF_NAME = 'org.opencontainers.image.ref.name';
export const LAYOUT_FILE = 'oci-layout';
export const INDEX_FILE = 'index.json';
export const LAYOUT_VERSION = '1.0.0';

export interface LayoutDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface LayoutIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: LayoutDescriptor[];
}

/** `oci-layout:<path>` → path; undefined for anything else. */
export function layoutPath(arg: string): string | undefined {
  return arg.startsWith(LAYOUT_PREFIX) ? arg.slice(LAYOUT_PREFIX.length) : undefined;
}

/** ref.name of a plugin reference in a bundle: `host[:port]/repository:tag` (the OCI ref grammar allows `:` and `/`). */
export function refName(ref: { registry: string; repository: string; tag?: string }): string {
  return `${ref.registry.toLowerCase()}/${ref.repository}:${ref.tag ?? 'latest'}`;
}

interface Member {
  offset: number;
  size: number;
}

const BLOCK = 512;

function cString(buf: Buffer, start: number, len: number): string {
  const slice = buf.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

/** An octal header field; NaN for anything else (GNU base-256 sizes included: no real layout needs one). */
function octal(buf: Buffer, start: number, len: number): number {
  const text = cString(buf, start, len).trim();
  if (!text) return 0;
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : NaN;
}

/** The biggest `index.json` or `oci-layout` read into memory: a bundle of 20,000 plugins is ~6 MiB. */
export const MAX_LAYOUT_INDEX_BYTES = 16 * 1024 * 1024;
/** The biggest PAX or GNU long-name record read into memory. */
const MAX_TAR_EXTENSION_BYTES = 1024 * 1024;

/** What a path is when it is not a regular file (a FIFO would block the reader forever). */
export function specialKind(st: fs.Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/**
 * Opens a file for reading without ever blocking on it or reading a special file: `lstat` first (a
 * FIFO, socket or device is refused before it is opened; a symlink is judged by what it names), then
 * `open(O_NONBLOCK)` and `fstat` on the descriptor, so a path swapped for a FIFO in between is refused
 * too instead of hanging the run (and its output lock) forever. `refuse` builds the error.
 */
export async function openRegularFile(
  file: string,
  refuse: (kind: string) => Error,
): Promise<{ fh: fs.promises.FileHandle; size: number }> {
  const lst = await fs.promises.lstat(file);
  const st = lst.isSymbolicLink() ? await fs.promises.stat(file) : lst;
  const before = specialKind(st);
  if (before) throw refuse(before);
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const now = await fh.stat();
    const kind = specialKind(now);
    if (kind) throw refuse(kind);
    return { fh, size: now.size };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Reads `length` bytes at `position` into a buffer of what was actually read: the buffer grows with
 * the bytes that arrive, never with what a header or `stat` claimed, so a lying size cannot make it
 * allocate more than the file holds. Fewer bytes than `length` is `short` (the file changed or lied).
 */
async function readRange(
  fh: fs.promises.FileHandle,
  position: number,
  length: number,
  short: (got: number) => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  while (got < length) {
    const chunk = Buffer.allocUnsafe(Math.min(length - got, 1024 * 1024));
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, position + got);
    if (bytesRead === 0) throw short(got);
    chunks.push(chunk.subarray(0, bytesRead));
    got += bytesRead;
  }
  return Buffer.concat(chunks, got);
}

/** PAX extended header records: `<len> key=value\n`. */
function paxPath(data: Buffer): string | undefined {
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number(data.subarray(pos, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') return record.slice(eq + 1);
    pos += len;
  }
  return undefined;
}

/** Indexes the regular files of an uncompressed tar (ustar, PAX and GNU long names). */
async function indexTar(fh: fs.promises.FileHandle, total: number, file: string): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  const bad = (why: string) =>
    new InputError({
      code: 'E_LAYOUT',
      message: `${file} is not a readable OCI layout tar: ${why}`,
      context: { file },
      hint: 'pass the .tar written by `bundle` (not gzip-compressed) or an OCI layout folder; if it is one, it is damaged: copy it again',
    });
  {
    const header = Buffer.alloc(BLOCK);
    let offset = 0;
    let longName: string | undefined;
    while (offset + BLOCK <= total) {
      const { bytesRead } = await fh.read(header, 0, BLOCK, offset);
      if (bytesRead !== BLOCK) throw bad(`the file ended inside the tar header at byte ${offset}`);
      if (header.every((b) => b === 0)) break;
      if (offset === 0 && header[0] === 0x1f && header[1] === 0x8b) throw bad('it is gzip-compressed; gunzip it first');
      const magic = cString(header, 257, 6);
      if (!magic.startsWith('ustar')) throw bad(`no tar header at byte ${offset}`);
      const size = octal(header, 124, 12);
      const type = String.fromCharCode(header[156] || 0x30);
      const dataStart = offset + BLOCK;
      const prefix = magic === 'ustar' ? cString(header, 345, 155) : '';
      let name = prefix ? `${prefix}/${cString(header, 0, 100)}` : cString(header, 0, 100);
      // The header's size is a claim: it is checked against the bytes the file really holds before
      // anything is allocated or read for it (a 3.5 GiB claim in a few-KiB tar is a damaged tar).
      if (!Number.isSafeInteger(size) || size < 0)
        throw bad(`the tar header at byte ${offset} has an unreadable size field`);
      if (size > total - dataStart)
        throw bad(
          `member "${name}" claims ${size} bytes at byte ${dataStart}, but the file holds only ${Math.max(total - dataStart, 0)} bytes after its header`,
        );
      if (type === 'x' || type === 'L') {
        if (size > MAX_TAR_EXTENSION_BYTES)
          throw bad(`the extended header at byte ${offset} is ${size} bytes (at most ${MAX_TAR_EXTENSION_BYTES})`);
        const data = await readRange(fh, dataStart, size, (got) =>
          bad(`the file ended ${got} bytes into the extended header at byte ${offset}`),
        );
        longName = type === 'x' ? paxPath(data) : cString(data, 0, size);
      } else {
        if (longName) name = longName;
        longName = undefined;
        if (type === '0')
          members.set(
            path.posix
              .normalize(name)
              .replace(/^(\.\/)+/, '')
              .replace(/^\/+/, ''),
            { offset: dataStart, size },
          );
      }
      offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    }
    return members;
  }
}

export class OciLayout {
  private constructor(
    /** As given, for messages. */
    readonly location: string,
    readonly index: LayoutIndex,
    private readonly tar: { file: string; members: Map<string, Member> } | undefined,
  ) {}

  /**
   * Opens a layout folder or a layout tar. Nothing special is opened (a FIFO, socket or device as the
   * tar, `index.json` or `oci-layout` is refused, never read), and `index.json` and `oci-layout` are
   * read only up to MAX_LAYOUT_INDEX_BYTES of bytes that are really there.
   */
  static async open(location: string): Promise<OciLayout> {
    const st = await fs.promises.stat(location).catch(() => undefined);
    if (!st)
      throw new InputError({
        code: 'E_LAYOUT',
        message: `no OCI layout at ${location}`,
        context: { file: location },
        hint: 'pass oci-layout:<folder> or oci-layout:<bundle.tar>',
      });
    const notFile = (what: string) => (kind: string) =>
      new InputError({
        code: 'E_LAYOUT',
        message: `${what} is ${kind}, not a file`,
        context: { file: location },
        hint: 'pass a folder or tar written by `bundle`, `oras copy --to-oci-layout` or `skopeo copy oci:`',
      });
    const tooBig = (name: string, size: number) =>
      new InputError({
        code: 'E_LAYOUT',
        message: `${location}: ${name} is ${size} bytes, over the ${MAX_LAYOUT_INDEX_BYTES}-byte limit for it`,
        context: { file: location },
        hint: 'this is not a layout written by `bundle`, or it is damaged: write it again',
      });
    const short = (name: string) => (got: number) =>
      new InputError({
        code: 'E_LAYOUT',
        message: `${location}: ${name} ended after ${got} bytes, before the size its header or file system gave`,
        context: { file: location },
        hint: 'the layout changed while it was read, or it is damaged: copy it again',
      });
    let tar: { file: string; members: Map<string, Member> } | undefined;
    if (!st.isDirectory()) {
      const { fh, size } = await openRegularFile(location, notFile(location));
      try {
        tar = { file: location, members: await indexTar(fh, size, location) };
      } finally {
        await fh.close();
      }
    }
    const read = async (name: string): Promise<Buffer | undefined> => {
      if (!tar) {
        const file = path.join(location, name);
        // stat, not lstat: a dangling link is a missing file (stat never opens, so a FIFO cannot block it).
        if (!(await fs.promises.stat(file).catch(() => undefined))) return undefined;
        const { fh, size } = await openRegularFile(file, notFile(file));
        try {
          if (size > MAX_LAYOUT_INDEX_BYTES) throw tooBig(name, size);
          // Read to the end (at most one byte past the limit), whatever stat said.
          const chunks: Buffer[] = [];
          let got = 0;
          for (;;) {
            const chunk = Buffer.allocUnsafe(64 * 1024);
            const { bytesRead } = await fh.read(chunk, 0, chunk.length, got);
            if (bytesRead === 0) break;
            chunks.push(chunk.subarray(0, bytesRead));
            got += bytesRead;
            if (got > MAX_LAYOUT_INDEX_BYTES) throw tooBig(name, got);
          }
          return Buffer.concat(chunks, got);
        } finally {
          await fh.close();
        }
      }
      const m = tar.members.get(name);
      if (!m) return undefined;
      if (m.size > MAX_LAYOUT_INDEX_BYTES) throw tooBig(name, m.size);
      const { fh } = await openRegularFile(location, notFile(location));
      try {
        return await readRange(fh, m.offset, m.size, short(name));
      } finally {
        await fh.close();
      }
    };
    const bad = (why: string) =>
      new InputError({
        code: 'E_LAYOUT',
        message: `${location} is not an OCI image layout: ${why}`,
        context: { file: location },
        hint: 'pass a folder or tar written by `bundle`, `oras copy --to-oci-layout` or `skopeo copy oci:`',
      });
    const marker = await read(LAYOUT_FILE);
    if (!marker) throw bad(`no ${LAYOUT_FILE} file`);
    try {
      const v = (JSON.parse(marker.toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
      if (typeof v !== 'string' || !v.startsWith('1.')) throw new Error(`imageLayoutVersion ${String(v)}`);
    } catch (e) {
      throw bad(`unsupported ${LAYOUT_FILE}: ${(e as Error).message}`);
    }
    const indexBytes = await read(INDEX_FILE);
    if (!indexBytes) throw bad(`no ${INDEX_FILE}`);
    let index: LayoutIndex;
    try {
      index = JSON.parse(indexBytes.toString('utf8')) as LayoutIndex;
    } catch {
      throw bad(`${INDEX_FILE} is not JSON`);
    }
    if (
      !index ||
      !Array.isArray(index.manifests) ||
      !index.manifests.every(
        (d) => d && typeof d.digest === 'string' && isDigest(d.digest) && Number.isSafeInteger(d.size),
      )
    ) {
      throw bad(`${INDEX_FILE} has no valid manifests[]`);
    }
    return new OciLayout(location, index, tar);
  }

  /** The index.json entry with this ref.name. */
  find(name: string): LayoutDescriptor | undefined {
    return this.index.manifests.find((d) => d.annotations?.[REF_NAME] === name);
  }

  findDigest(digest: string): LayoutDescriptor | undefined {
    return this.index.manifests.find((d) => d.digest === digest);
  }

  /** `<location>:blobs/sha256/<hex>`, for messages. */
  label(digest: string): string {
    return `${this.location}:blobs/sha256/${digest.replace(/^sha256:/, '')}`;
  }

  private blobName(digest: string): string {
    if (!isDigest(digest))
      throw new InputError({
        code: 'E_LAYOUT',
        message: `bad digest ${digest} in ${this.location}`,
        context: { file: this.location },
        hint: 'the layout is damaged',
      });
    return `blobs/sha256/${digest.slice('sha256:'.length)}`;
  }

  has(digest: string): boolean {
    const name = this.blobName(digest);
    return this.tar ? this.tar.members.has(name) : fs.existsSync(path.join(this.location, name));
  }

  private missing(digest: string): IntegrityError {
    return new IntegrityError({
      code: 'E_LAYOUT_BLOB',
      message: `${this.label(digest)} is missing`,
      context: { file: this.location },
      hint: 'the bundle is incomplete: write it again with `bundle`',
    });
  }

  /**
   * The blob's raw bytes as a stream (unchecked: wrap it, or use read()). The file is opened when the
   * stream is first read, never blocking: a blob that is a FIFO, socket or device fails the stream
   * with E_LAYOUT_BLOB instead of hanging the run past its deadline.
   */
  open(digest: string): Readable {
    const name = this.blobName(digest);
    const file = this.tar ? this.tar.file : path.join(this.location, name);
    let range: { start: number; end: number } | undefined;
    if (this.tar) {
      const m = this.tar.members.get(name);
      if (!m) throw this.missing(digest);
      if (m.size === 0) return Readable.from([]);
      range = { start: m.offset, end: m.offset + m.size - 1 };
    } else if (!fs.existsSync(file)) throw this.missing(digest);
    const refuse = (kind: string) =>
      new IntegrityError({
        code: 'E_LAYOUT_BLOB',
        message: `${this.label(digest)} is ${kind}, not a file`,
        context: { file: this.location },
        hint: 'a layout holds regular files only: write it again with `bundle`',
      });
    return Readable.from(
      (async function* () {
        const { fh } = await openRegularFile(file, refuse);
        const stream = fh.createReadStream({ ...range, autoClose: true });
        try {
          for await (const chunk of stream) yield chunk as Buffer;
        } finally {
          stream.destroy();
        }
      })(),
      { objectMode: false },
    );
  }

  /** Reads a small blob into memory, checked against its descriptor. */
  async read(blob: BlobRef, limit: number): Promise<Buffer> {
    const counter = new DigestCounter(blob, limit, this.label(blob.digest));
    const chunks: Buffer[] = [];
    for await (const chunk of this.open(blob.digest)) {
      counter.update(chunk as Buffer);
      chunks.push(chunk as Buffer);
    }
    counter.finish();
    return Buffer.concat(chunks);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing a deterministic layout tar

function header(name: string, size: number, type: '0' | '5'): Buffer {
  const h = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100) throw new Error(`tar member name too long: ${name}`);
  h.write(name, 0, 100, 'utf8');
  h.write(type === '5' ? '0000755\0' : '0000644\0', 100, 8, 'ascii');
  h.write('0000000\0', 108, 8, 'ascii'); // uid
  h.write('0000000\0', 116, 8, 'ascii'); // gid
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
  h.write('00000000000\0', 136, 12, 'ascii'); // mtime: the epoch, for identical bytes on every run
  h.write('        ', 148, 8, 'ascii');
  h.write(type, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/**
 * Writes `<dir>` (a layout folder: oci-layout, index.json, blobs/sha256/*) as a tar at `out`:
 * directories first, then files, each group sorted by name; a 10240-byte record at the end as tar does.
 */
export async function writeLayoutTar(dir: string, out: string): Promise<{ bytes: number; sha256: string }> {
  const blobs = (await fs.promises.readdir(path.join(dir, 'blobs', 'sha256'))).sort();
  const members: Array<{ name: string; type: '0' | '5'; file?: string }> = [
    { name: 'blobs/', type: '5' },
    { name: 'blobs/sha256/', type: '5' },
    ...blobs.map((b) => ({
      name: `blobs/sha256/${b}`,
      type: '0' as const,
      file: path.join(dir, 'blobs', 'sha256', b),
    })),
    { name: INDEX_FILE, type: '0', file: path.join(dir, INDEX_FILE) },
    { name: LAYOUT_FILE, type: '0', file: path.join(dir, LAYOUT_FILE) },
  ];
  const hash = createHash('sha256');
  const fh = await fs.promises.open(out, 'wx', 0o644);
  let written = 0;
  const put = async (buf: Buffer): Promise<void> => {
    hash.update(buf);
    await fh.write(buf);
    written += buf.length;
  };
  try {
    for (const m of members) {
      const size = m.file ? (await fs.promises.stat(m.file)).size : 0;
      await put(header(m.name, size, m.type));
      if (!m.file) continue;
      for await (const chunk of fs.createReadStream(m.file)) await put(chunk as Buffer);
      if (size % BLOCK) await put(Buffer.alloc(BLOCK - (size % BLOCK)));
    }
    await put(Buffer.alloc(2 * BLOCK));
    const RECORD = 20 * BLOCK;
    if (written % RECORD) await put(Buffer.alloc(RECORD - (written % RECORD)));
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { bytes: written, sha256: hash.digest('hex') };
}

/** index.json of a layout: entries sorted by ref.name, then digest. */
export function renderLayoutIndex(entries: LayoutDescriptor[]): string {
  const sorted = [...entries].sort((a, b) => {
    const na = a.annotations?.[REF_NAME] ?? '';
    const nb = b.annotations?.[REF_NAME] ?? '';
    return na < nb ? -1 : na > nb ? 1 : a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
  });
  return `${JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: sorted }, null, 2)}\n`;
}

export const LAYOUT_MARKER = `${JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })}`;
