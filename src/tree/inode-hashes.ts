/**
 * Versions with the same bytes share plugin.wasm and plugin.wasm.gz as read-only hardlinks
 * (publish.ts, SHARED_FILE_MODE). `verify` therefore reads each inode once, keyed by dev+ino, and
 * knows every tree path that shares it: a shared file changed through one folder (root ignores the
 * read-only mode) fails every folder that holds it, and each report names all of those paths, so the
 * operator sees that one edit changed several plugins.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { GZ_FILE, MAX_WASM_BYTES, WASM_FILE } from '../contract/tree-format';
import { GzipCheck, inspectGzipOf } from '../content/gzip-check';
import type { FolderFacts, FramedHashes } from '../content/cpu-worker';

export interface WasmHashes {
  size: number;
  sha256: string;
  md5: string;
}

/** A file that is not a regular file (a symlink: ELOOP; a folder: EISDIR) or over the size limit (RangeError). */
function notRegular(file: string): Error {
  return Object.assign(new Error(`${file} is not a file`), { code: 'EISDIR' });
}

const inodeKey = (st: fs.Stats): string => `${st.dev}:${st.ino}`;

export class InodeHashes {
  /** `root`: the tree whose paths problems name (a folder verified on its own needs none). */
  constructor(private readonly root?: string) {}

  /**
   * By `name/version`: the framed hashes of the folder's plugin.wasm and .gz as verify read them, so the
   * OCI view's check (src/ociview/verify.ts) derives each generated image without reading them again.
   */
  readonly framed = new Map<string, FramedHashes | undefined>();

  /** Records which files of a folder read by readFolderFacts share an inode (its facts carry dev:ino). */
  learnFacts(dir: string, facts: FolderFacts): void {
    if (this.root === undefined) return;
    for (const [f, id] of [
      [WASM_FILE, facts.wasm],
      [GZ_FILE, facts.gz],
    ] as const) {
      if (typeof id === 'string' || !id.file) continue;
      this.hold(path.relative(this.root, path.join(dir, f)).split(path.sep).join('/'), `${id.dev}:${id.ino}`);
    }
  }

  private hold(rel: string, key: string): void {
    const list = this.holders.get(key) ?? [];
    if (!list.includes(rel)) list.push(rel);
    this.holders.set(key, list);
  }

  private readonly wasm = new Map<string, Promise<WasmHashes>>();
  private readonly gz = new Map<string, Promise<{ result: GzipCheck; fileSha256: string }>>();
  /** dev:ino -> tree paths (relative to the root) of the files that are that inode. */
  private readonly holders = new Map<string, string[]>();
  private readonly reported = new Set<string>();

  /** Records which plugin.wasm / plugin.wasm.gz of these version folders share an inode (lstat only). */
  async learnTree(root: string, dirs: ReadonlyArray<{ dir: string }>): Promise<void> {
    for (const { dir } of dirs) {
      for (const f of [WASM_FILE, GZ_FILE]) {
        const file = path.join(dir, f);
        const st = await fs.promises.lstat(file).catch(() => undefined);
        if (!st?.isFile()) continue;
        this.hold(path.relative(root, file).split(path.sep).join('/'), inodeKey(st));
      }
    }
  }

  /**
   * What a problem with `file` should add when its inode is shared: every path that is the same
   * file, or, for a folder checked on its own, how many links the inode has.
   */
  async sharedNote(file: string): Promise<string> {
    const st = await fs.promises.lstat(file).catch(() => undefined);
    if (!st || st.nlink < 2) return '';
    const all = (this.holders.get(inodeKey(st)) ?? []).slice().sort();
    if (all.length > 1)
      return `; it is one file (hardlink) with ${all.length} paths, all changed with it: ${all.join(', ')}`;
    return `; it is one file (hardlink) with ${st.nlink} links, all changed with it`;
  }

  /**
   * True the first time a problem with this file's inode is reported: a file shared by several
   * folders is reported once (its line names every path), not once per folder.
   */
  async firstReport(file: string, code: string): Promise<boolean> {
    const st = await fs.promises.lstat(file).catch(() => undefined);
    if (!st || st.nlink < 2) return true;
    const key = `${inodeKey(st)}:${code}`;
    if (this.reported.has(key)) return false;
    this.reported.add(key);
    return true;
  }

  /**
   * By `dev:ino`: the size and sha256 of each plugin.wasm and .gz read by readFolderFacts that has
   * other links (a kept source image's wasm layer in oci/blobs is plugin.wasm's inode), so the OCI
   * view's check does not read that inode again.
   */
  readonly linked = new Map<string, { size: number; sha256: string }>();

  /** Records a folder's files that have other links in `linked`. */
  learnLinked(facts: FolderFacts): void {
    for (const f of [facts.wasm, facts.gz])
      if (typeof f !== 'string' && f.file && f.nlink > 1 && f.sha256 !== undefined)
        this.linked.set(`${f.dev}:${f.ino}`, { size: f.size, sha256: f.sha256 });
  }

  /** `name@version` of every folder whose plugin.wasm or .gz differs from its metadata (reported or not). */
  readonly changed = new Set<string>();

  /** size, sha256 and md5 of a regular file, read once per inode; never through a symlink. */
  async hashWasm(file: string): Promise<WasmHashes> {
    const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    let owned = true;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notRegular(file);
      if (st.size > MAX_WASM_BYTES) throw new RangeError(`${file} is over ${MAX_WASM_BYTES} bytes`);
      const key = inodeKey(st);
      const known = this.wasm.get(key);
      if (known) return await known;
      owned = false; // the stream below closes the handle
      const hashes = streamHashes(fh);
      this.wasm.set(key, hashes);
      return await hashes;
    } finally {
      if (owned) await fh.close().catch(() => undefined);
    }
  }

  /** Bounded decode check of a .gz against the raw bytes it must decode to, once per inode and expectation. */
  async inspectGz(
    file: string,
    want: { sha256: string; size: number },
  ): Promise<{ result: GzipCheck; fileSha256: string }> {
    const st = await fs.promises.lstat(file);
    if (!st.isFile()) throw notRegular(file);
    const key = `${inodeKey(st)}:${want.sha256}:${want.size}`;
    let known = this.gz.get(key);
    if (!known) this.gz.set(key, (known = inspectGzipOf(file, want)));
    return known;
  }
}

async function streamHashes(fh: fs.promises.FileHandle): Promise<WasmHashes> {
  const sha = crypto.createHash('sha256');
  const md5 = crypto.createHash('md5');
  let size = 0;
  for await (const chunk of fh.createReadStream()) {
    const b = chunk as Buffer;
    size += b.byteLength;
    if (size > MAX_WASM_BYTES) throw new RangeError(`over ${MAX_WASM_BYTES} bytes`);
    sha.update(b);
    md5.update(b);
  }
  return { size, sha256: sha.digest('hex'), md5: md5.digest('hex') };
}
