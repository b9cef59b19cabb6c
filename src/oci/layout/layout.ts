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
import { isDigest } from '../../contract/digest';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { InputError, IntegrityError } from '../../errors';
import type { BlobRef } from '../registry/client';
import { OCI_INDEX } from '../registry/media';
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

function octal(buf: Buffer, start: number, len: number): number {
  const text = cString(buf, start, len).trim();
  return text ? parseInt(text, 8) : 0;
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
async function indexTar(file: string): Promise<Map<string, Member>> {
  const fh = await fs.promises.open(file, 'r');
  const members = new Map<string, Member>();
  const bad = (why: string) =>
    new InputError({
      code: 'E_LAYOUT',
      message: `${file} is not a readable OCI layout tar: ${why}`,
      context: { file },
      hint: 'pass the .tar written by `bundle` (not gzip-compressed) or an OCI layout folder',
    });
  try {
    const { size: total } = await fh.stat();
    const header = Buffer.alloc(BLOCK);
    let offset = 0;
    let longName: string | undefined;
    while (offset + BLOCK <= total) {
      await fh.read(header, 0, BLOCK, offset);
      if (header.every((b) => b === 0)) break;
      if (offset === 0 && header[0] === 0x1f && header[1] === 0x8b) throw bad('it is gzip-compressed; gunzip it first');
      const magic = cString(header, 257, 6);
      if (!magic.startsWith('ustar')) throw bad(`no tar header at byte ${offset}`);
      const size = octal(header, 124, 12);
      const type = String.fromCharCode(header[156] || 0x30);
      const dataStart = offset + BLOCK;
      const prefix = magic === 'ustar' ? cString(header, 345, 155) : '';
      let name = prefix ? `${prefix}/${cString(header, 0, 100)}` : cString(header, 0, 100);
      if (type === 'x' || type === 'L') {
        const data = Buffer.alloc(size);
        await fh.read(data, 0, size, dataStart);
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
  } finally {
    await fh.close();
  }
}

export class OciLayout {
  private constructor(
    /** As given, for messages. */
    readonly location: string,
    readonly index: LayoutIndex,
    private readonly tar: { file: string; members: Map<string, Member> } | undefined,
  ) {}

  /** Opens a layout folder or a layout tar. */
  static async open(location: string): Promise<OciLayout> {
    const st = await fs.promises.stat(location).catch(() => undefined);
    if (!st)
      throw new InputError({
        code: 'E_LAYOUT',
        message: `no OCI layout at ${location}`,
        context: { file: location },
        hint: 'pass oci-layout:<folder> or oci-layout:<bundle.tar>',
      });
    const tar = st.isDirectory() ? undefined : { file: location, members: await indexTar(location) };
    const read = async (name: string): Promise<Buffer | undefined> => {
      if (!tar) return fs.promises.readFile(path.join(location, name)).catch(() => undefined);
      const m = tar.members.get(name);
      if (!m) return undefined;
      const buf = Buffer.alloc(m.size);
      const fh = await fs.promises.open(location, 'r');
      try {
        await fh.read(buf, 0, m.size, m.offset);
      } finally {
        await fh.close();
      }
      return buf;
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

  /** The blob's raw bytes as a stream (unchecked: wrap it, or use read()). */
  open(digest: string): Readable {
    const name = this.blobName(digest);
    if (!this.tar) {
      const file = path.join(this.location, name);
      if (!fs.existsSync(file)) throw this.missing(digest);
      return fs.createReadStream(file);
    }
    const m = this.tar.members.get(name);
    if (!m) throw this.missing(digest);
    if (m.size === 0) return Readable.from([]);
    return fs.createReadStream(this.tar.file, { start: m.offset, end: m.offset + m.size - 1 });
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
