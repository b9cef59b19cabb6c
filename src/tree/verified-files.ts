/**
 * What a pull has already read: for each tree file a run hashed (or wrote from bytes it hashed), the
 * file's identity at that moment (device, inode, size, mtime and ctime, in nanoseconds) and the sha256
 * it had. The next pull calls a file unchanged when its identity is the same, instead of reading it
 * again, the way git's index, make and rsync decide a file is unchanged: any write, chmod, rename over
 * it or new hardlink moves its ctime, which no process can set back, so a changed file is always read
 * again. A warm pull of a 400 MB tree then reads only metadata (BENCHMARKS.md, section `pull`).
 *
 * It is a cache, never an authority: a missing, unreadable or foreign file means "hash everything",
 * and `verify` never consults it (it reads every byte). It lives at the output root next to the
 * lock and the run journal, as a hidden file Nginx never serves, and is rewritten at the end of each
 * pull with only the files that run confirmed.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as fastFs from '../content/fs-fast';
import { writeFileAtomic } from '../content/fsutil';
import { mapLimit, TREE_READ_CONCURRENCY } from '../content/pool';
import { VERIFIED_FILE } from '../contract/tree-format';

const FORMAT = 'higress-plugin-server/verified-files/1';

/** Files whose lines save() makes and joins at a time. */
const SAVE_BATCH = 1024;

/** The parts of a file's identity that only a change of its bytes (or a new file) moves. */
function contentIdentity(st: fs.BigIntStats): string {
  // Joined, not a template: one flat string per file, not a rope of seven pieces (a record holds
  // three files per version, 60,000 at 20,000 versions).
  return [st.dev, st.ino, st.size, st.mtimeNs].join(':');
}

/** The whole identity: ctime also moves on chmod, link, unlink and rename, and cannot be set back. */
function fullIdentity(st: fs.BigIntStats): string {
  return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':');
}

async function lstatBig(file: string): Promise<fs.BigIntStats | undefined> {
  const st = await fastFs.lstat(file, { bigint: true }).catch(() => undefined);
  return st?.isFile() ? st : undefined;
}

interface Vouched {
  sha256: string;
  /** contentIdentity when the bytes were read (or written); the final identity is taken at save. */
  seen: string;
}

export class VerifiedFiles {
  private readonly vouched = new Map<string, Vouched>();

  /** The root as callers join their paths to it (path.join normalizes), for rel's fast path. */
  private readonly joined: string;

  private constructor(
    private readonly root: string,
    /** Relative path -> `fullIdentity|sha256` from the previous run. */
    private readonly previous: ReadonlyMap<string, string>,
    given: string = root,
  ) {
    this.joined = path.join(given, path.sep);
  }

  /** The record of the last pull into `root`; an empty one when there is none or it is not ours. */
  static async load(root: string): Promise<VerifiedFiles> {
    const previous = new Map<string, string>();
    try {
      const parsed = JSON.parse(await fs.promises.readFile(path.join(root, VERIFIED_FILE), 'utf8')) as {
        format?: unknown;
        files?: unknown;
      };
      if (parsed.format === FORMAT && parsed.files && typeof parsed.files === 'object') {
        for (const [rel, v] of Object.entries(parsed.files as Record<string, unknown>))
          if (typeof v === 'string') previous.set(rel, v);
      }
    } catch {
      /* no record: every file is read */
    }
    return new VerifiedFiles(path.resolve(root), previous, root);
  }

  /** A record that never vouches for anything (callers that must read every byte). */
  static none(root: string): VerifiedFiles {
    return new VerifiedFiles(path.resolve(root), new Map(), root);
  }

  private rel(file: string): string {
    // Callers pass path.join(root, ...): slicing off the root is path.relative's answer without its
    // two path.resolve calls (a tenth of a warm pull of 5,000 versions).
    if (file.startsWith(this.joined) && path.sep === '/' && path.normalize(file) === file)
      return file.slice(this.joined.length);
    return path.relative(this.root, path.resolve(file)).split(path.sep).join('/');
  }

  /**
   * True when this run read (or wrote) `file` as `sha256` and its bytes have not moved since, or the
   * last run did and it is unchanged to the nanosecond.
   */
  async known(file: string, sha256: string): Promise<boolean> {
    const st = await lstatBig(file);
    return !!st && this.knownAs(file, sha256, st);
  }

  /**
   * As `known`, for a caller that has just taken the file's lstat `st` (no second lstat): true when
   * `st` is the identity this run vouched for, or, to the nanosecond, the one the last run confirmed to
   * hash to `sha256` (hex). A file the last run confirmed stays vouched for in this run's record.
   */
  knownAs(file: string, sha256: string, st: fs.BigIntStats): boolean {
    if (!st.isFile()) return false;
    const rel = this.rel(file);
    const v = this.vouched.get(rel);
    if (v && v.sha256 === sha256) return contentIdentity(st) === v.seen;
    const before = this.previous.get(rel);
    if (before === undefined || `${fullIdentity(st)}|${sha256}` !== before) return false;
    this.vouched.set(rel, { sha256, seen: contentIdentity(st) });
    return true;
  }

  /** `file` was read and hashed to `sha256` (hex) while it had the identity `st` (taken before reading). */
  vouch(file: string, sha256: string, st: fs.BigIntStats): void {
    this.vouched.set(this.rel(file), { sha256, seen: contentIdentity(st) });
  }

  /** `file` was just written by this run from bytes that hash to `sha256` (hex). */
  async vouchWritten(file: string, sha256: string): Promise<void> {
    const st = await lstatBig(file);
    if (st) this.vouch(file, sha256, st);
  }

  /**
   * Writes the record: each vouched file with its identity now (after this run's own hardlinks and
   * renames moved its ctime), but only when its bytes are as they were when vouched for.
   */
  async save(): Promise<void> {
    const rels = [...this.vouched.keys()].sort();
    // What JSON.stringify({ format, files }, null, 1) gives, in pieces of SAVE_BATCH files: each
    // file's line is made as its lstat comes back, and each batch joined before the next starts, so
    // neither 60,000 BigIntStats nor 60,000 lines are held at once, nor the whole text as one string.
    const pieces = ['{\n', ` "format": ${JSON.stringify(FORMAT)},\n`, ' "files": {'];
    let any = false;
    for (let at = 0; at < rels.length; at += SAVE_BATCH) {
      const lines = await mapLimit(rels.slice(at, at + SAVE_BATCH), TREE_READ_CONCURRENCY, (rel) => this.line(rel));
      const batch: string[] = [];
      for (const line of lines) {
        if (line === undefined) continue;
        batch.push(any ? ',\n' : '\n', line);
        any = true;
      }
      pieces.push(batch.join(''));
    }
    pieces.push(any ? '\n }\n}\n' : '}\n}\n');
    const file = path.join(this.root, VERIFIED_FILE);
    // A run that changed nothing leaves the record (and so the whole output folder) untouched.
    if (fastFs.holdsTextSync(file, pieces)) return;
    await writeFileAtomic(file, pieces, new Date());
  }

  /** A vouched file's line of the record, with its identity now; none when its bytes moved since. */
  private async line(rel: string): Promise<string | undefined> {
    const st = await lstatBig(path.join(this.root, rel));
    const v = this.vouched.get(rel) as Vouched;
    return st && contentIdentity(st) === v.seen
      ? `  ${JSON.stringify(rel)}: ${JSON.stringify(`${fullIdentity(st)}|${v.sha256}`)}`
      : undefined;
  }
}
