/**
 * Reading a published tree back: listing version folders, loading metadata.json, and verifying
 * that every byte on disk matches what metadata and index.json claim (used by `verify` and `index`).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as fastFs from '../content/fs-fast';
import { ErrorCode, VerifyError } from '../errors';
import {
  GZ_FILE,
  INDEX_FILE,
  MAX_WASM_BYTES,
  METADATA_JSON,
  METADATA_TXT,
  PLUGINS_DIR,
  PluginIndex,
  PluginMetadata,
  WASM_FILE,
} from '../contract/tree-format';
import { clashLine, identityClashes, SAFE_SEGMENT } from '../contract/plugin-identity';
import { sha256OfFile } from '../content/fsutil';
import { mapLimit, TREE_READ_CONCURRENCY } from '../content/pool';
import { cpuPool } from '../content/cpu-pool';
import { checkGzipOf } from '../content/gzip-check';
import { InodeHashes } from './inode-hashes';
import { readFolderFacts } from './folder-facts';
import type { FolderFacts, FramedHashes } from '../content/cpu-worker';
import { VerifiedFiles } from './verified-files';
import { buildIndex, indexChunks, renderMetadataJson, renderMetadataTxt } from './render';
import { flat, isConcatOf } from '../content/lines';
import { inventoryFacts, verifyInventory } from './inventory';

export interface VersionDir {
  name: string;
  version: string;
  dir: string;
}

/** Every `<root>/plugins/<name>/<version>/` folder with safe names, sorted; dot-folders (temp) skipped. */
export async function listVersionDirs(root: string): Promise<VersionDir[]> {
  const base = path.join(root, PLUGINS_DIR);
  const names = (await fastFs.readdirTypes(base).catch(() => [])).filter(
    (n) => n.isDirectory() && SAFE_SEGMENT.test(n.name),
  );
  const perName = await mapLimit(names, TREE_READ_CONCURRENCY, async (n) =>
    (await fastFs.readdirTypes(path.join(base, n.name)))
      .filter((v) => v.isDirectory() && SAFE_SEGMENT.test(v.name))
      .map((v) => ({ name: n.name, version: v.name, dir: flat(path.join(base, n.name, v.name)) })),
  );
  return perName
    .flat()
    .sort((a, b) => (a.name === b.name ? (a.version < b.version ? -1 : 1) : a.name < b.name ? -1 : 1));
}

/** Parses a metadata.json; undefined when missing or not the contract's shape. */
export async function readMetadata(dir: string): Promise<PluginMetadata | undefined> {
  let text: string;
  try {
    text = await fastFs.readFile(path.join(dir, METADATA_JSON), 'utf8');
  } catch {
    return undefined;
  }
  return parseMetadata(text);
}

/** A metadata.json's text parsed; undefined when it is not the contract's shape. */
export function parseMetadata(text: string): PluginMetadata | undefined {
  try {
    const m = JSON.parse(text) as PluginMetadata;
    if (
      m &&
      m.schemaVersion === 1 &&
      typeof m.name === 'string' &&
      typeof m.version === 'string' &&
      typeof m.sha256 === 'string' &&
      typeof m.size === 'number'
    )
      return m;
  } catch {
    /* fall through */
  }
  return undefined;
}

/**
 * One run's reads of the tree: the list of version folders and each metadata.json, read once. A pull
 * used to list the tree four times (the identity check before staging, the set after the commit,
 * index.json, the OCI view) and read each metadata.json three times: 20,000 readdir calls and 15,000
 * reads for 5,000 versions. Under the output lock nothing else writes the tree, so only the folders the
 * run itself publishes or removes can change after they were read, and the run says so (`changed`).
 */
export class TreeReads {
  private listing?: Promise<VersionDir[]>;
  private readonly metas = new Map<string, Promise<PluginMetadata | undefined>>();

  constructor(readonly root: string) {}

  /** listVersionDirs of the root, read once until a folder changes. */
  async versionDirs(): Promise<VersionDir[]> {
    return (await (this.listing ??= listVersionDirs(this.root))).slice();
  }

  /** readMetadata of a version folder, read once until it changes. */
  metadata(dir: string): Promise<PluginMetadata | undefined> {
    const key = flat(path.resolve(dir));
    let read = this.metas.get(key);
    if (!read) this.metas.set(key, (read = readMetadata(key)));
    return read;
  }

  /** The run published, replaced or removed this version folder: read it (and the list) again. */
  changed(dir: string): void {
    this.metas.delete(path.resolve(dir));
    this.listing = undefined;
  }

  /** Lets go of every read (a later call reads again): for a run that is done with the tree's metadata. */
  forget(): void {
    this.metas.clear();
    this.listing = undefined;
  }
}

/** Metadata of every version folder that has a readable metadata.json. */
export async function readAllMetadata(root: string, reads = new TreeReads(root)): Promise<PluginMetadata[]> {
  return (await readVersionMetadata(await reads.versionDirs(), reads))
    .map((x) => x.meta)
    .filter((m): m is PluginMetadata => m !== undefined);
}

/** Each folder's metadata.json (undefined when missing or invalid), in the folders' order, read concurrently. */
export async function readVersionMetadata<V extends { dir: string }>(
  dirs: readonly V[],
  reads?: TreeReads,
): Promise<Array<{ dir: V; meta: PluginMetadata | undefined }>> {
  const read = (dir: string) => (reads ? reads.metadata(dir) : readMetadata(dir));
  return mapLimit(dirs, TREE_READ_CONCURRENCY, async (dir) => ({ dir, meta: await read(dir.dir) }));
}

/** Cheap check used by incremental pulls: files exist with the sizes metadata records. */
export async function filesMatchBySize(dir: string, m: PluginMetadata): Promise<boolean> {
  try {
    const [w, g] = await Promise.all([fastFs.stat(path.join(dir, WASM_FILE)), fastFs.stat(path.join(dir, GZ_FILE))]);
    await fastFs.access(path.join(dir, METADATA_TXT));
    return w.size === m.size && g.size === m.gzipSize;
  } catch {
    return false;
  }
}

/**
 * Full check used before a folder is called current ("cached"): both files are regular files (no
 * symlink), plugin.wasm hashes to the metadata's sha256, and plugin.wasm.gz hashes to the sha256
 * recorded for it when it was published (or, in a tree written before that was recorded, decodes,
 * bounded, to exactly the wasm's bytes). Reads each file once; a hand-replaced or corrupt file, or a
 * shared (hardlinked) one edited through another folder, means "fetch again". A file `verified`
 * vouches for (unchanged since the last pull read it, see verified-files.ts) is not read again; a
 * file read here is vouched for.
 */
export async function filesMatchByContent(dir: string, m: PluginMetadata, verified: VerifiedFiles): Promise<boolean> {
  const wasm = path.join(dir, WASM_FILE);
  const gzFile = path.join(dir, GZ_FILE);
  // One lstat per file serves the size check and the record's identity check (verified-files.ts).
  const [w, g, txt] = await Promise.all([
    fastFs.lstat(wasm, { bigint: true }).catch(() => undefined),
    fastFs.lstat(gzFile, { bigint: true }).catch(() => undefined),
    fastFs.access(path.join(dir, METADATA_TXT)).then(
      () => true,
      () => false,
    ),
  ]);
  if (!w?.isFile() || !g?.isFile() || !txt || w.size !== BigInt(m.size) || g.size !== BigInt(m.gzipSize)) return false;
  const hashesTo = async (file: string, sha256: string, st: fs.BigIntStats) =>
    verified.knownAs(file, sha256, st) || (await sha256OfFile(file)) === sha256;
  const wasmCheck = hashesTo(wasm, m.sha256, w);
  const gzCheck =
    m.gzipSha256 === undefined ? checkGzipOf(gzFile, m).then((r) => r === 'ok') : hashesTo(gzFile, m.gzipSha256, g);
  const [wasmOk, gzOk] = await Promise.all([wasmCheck.catch(() => false), gzCheck.catch(() => false)]);
  if (wasmOk) verified.vouch(wasm, m.sha256, w);
  if (gzOk && m.gzipSha256 !== undefined) verified.vouch(gzFile, m.gzipSha256, g);
  return wasmOk && gzOk;
}

/**
 * Recomputes every checksum of one folder; returns one VerifyError per problem. `hashes` is shared by
 * a whole-tree verify, so an inode several folders share is read once and a problem with it names
 * every path that shares it (see inode-hashes.ts).
 */
export async function verifyVersion(v: VersionDir, hashes: InodeHashes = new InodeHashes()): Promise<VerifyError[]> {
  return (await verifyVersions([v], hashes))[0];
}

/** verifyVersion of many folders, read together on the CPU pool (folder-facts.ts); problems in the folders' order. */
export async function verifyVersions(
  dirs: readonly VersionDir[],
  hashes: InodeHashes = new InodeHashes(),
): Promise<VerifyError[][]> {
  const facts = await readFolderFacts(dirs);
  dirs.forEach((v, i) => hashes.learnFacts(v.dir, facts[i]));
  const out: VerifyError[][] = [];
  for (const [i, v] of dirs.entries()) out.push(await problemsOf(v, facts[i], hashes));
  return out;
}

/** The framed hashes of a folder's two files as read (image.ts `imageOf`), when both were read whole. */
function framedOf(facts: FolderFacts): FramedHashes | undefined {
  const { wasm, gz } = facts;
  if (typeof wasm === 'string' || typeof gz === 'string' || !wasm.framedSha256) return undefined;
  if (!gz.sha256 || !gz.framedSha256 || gz.framedSize === undefined) return undefined;
  return {
    aFramed: wasm.framedSha256,
    aFile: wasm.sha256,
    bFramed: gz.framedSha256,
    bFile: gz.sha256,
    bFramedSize: gz.framedSize,
  };
}

/** A folder's metadata.json as read, parsed (undefined when missing or invalid). */
function metadataOf(facts: FolderFacts): PluginMetadata | undefined {
  return facts.metadataJson === undefined ? undefined : parseMetadata(facts.metadataJson);
}

/** The problems of one folder from what was read of it (its FolderFacts; `m` its metadata, parsed once). */
async function problemsOf(
  v: VersionDir,
  facts: FolderFacts,
  hashes: InodeHashes,
  m: PluginMetadata | undefined = metadataOf(facts),
): Promise<VerifyError[]> {
  const ctx = { plugin: v.name, version: v.version };
  const problems: VerifyError[] = [];
  const fail = (
    code: ErrorCode,
    msg: string,
    hint: string = 'run `pull` again to republish it, or `index` to rebuild metadata for hand-placed files',
  ) => problems.push(new VerifyError({ code, message: msg, context: ctx, hint }));
  if (!m) {
    fail('E_VERIFY_METADATA', `${METADATA_JSON} missing or invalid`);
    return problems;
  }
  if (m.name !== v.name || m.version !== v.version)
    fail('E_VERIFY_METADATA', `${METADATA_JSON} names ${m.name}@${m.version}, not its folder`);
  const wasmFile = path.join(v.dir, WASM_FILE);
  const raw = facts.wasm;
  if (typeof raw === 'string') {
    if (raw === 'symlink') fail('E_VERIFY_SYMLINK', `${WASM_FILE} is a symlink; Nginx refuses it (403)`, SYMLINK_HINT);
    else if (raw === 'too-big') fail('E_VERIFY_SIZE', `${WASM_FILE} is larger than ${MAX_WASM_BYTES} bytes`);
    else fail('E_VERIFY_MISSING', `${WASM_FILE} missing`);
    return problems;
  }
  // One line for a changed plugin.wasm (its sha256, with what else differs), and one for a file shared
  // by several folders, not one per folder and per checksum.
  const wasmChanged = raw.size !== m.size || raw.sha256 !== m.sha256 || raw.md5 !== m.md5;
  if (wasmChanged) {
    hashes.changed.add(`${v.name}@${v.version}`);
    const code: ErrorCode =
      raw.sha256 !== m.sha256 ? 'E_VERIFY_SHA256' : raw.size !== m.size ? 'E_VERIFY_SIZE' : 'E_VERIFY_MD5';
    if (await hashes.firstReport(wasmFile, code)) {
      const also = [raw.size !== m.size ? 'size' : '', raw.md5 !== m.md5 ? 'md5' : ''].filter(Boolean);
      const what =
        raw.sha256 !== m.sha256
          ? `${WASM_FILE} sha256 ${raw.sha256} differs from metadata ${m.sha256}${also.length ? ` (${also.join(' and ')} too)` : ''}`
          : raw.size !== m.size
            ? `${WASM_FILE} is ${raw.size} bytes, metadata says ${m.size}`
            : `${WASM_FILE} md5 ${raw.md5} differs from metadata ${m.md5}`;
      fail(code, `${what}${await hashes.sharedNote(wasmFile)}`);
    }
  }
  const gzFile = path.join(v.dir, GZ_FILE);
  const gz = facts.gz;
  if (gz === 'missing') fail('E_VERIFY_MISSING', `${GZ_FILE} missing`);
  else if (gz === 'symlink') fail('E_VERIFY_SYMLINK', `${GZ_FILE} is a symlink; Nginx refuses it (403)`, SYMLINK_HINT);
  else {
    const gzProblems: string[] = [];
    if (gz.size !== m.gzipSize) gzProblems.push(`${GZ_FILE} is ${gz.size} bytes, metadata says ${m.gzipSize}`);
    // Decoded bounded by the recorded size (a gzip bomb stops there) and compared with the recorded
    // sha256 (the raw file's own when it is intact). A changed plugin.wasm does not make its intact .gz a problem.
    const want = wasmChanged ? { sha256: m.sha256, size: m.size } : raw;
    const got = gz.decoded ?? 'corrupt';
    if (got === 'corrupt') gzProblems.push(`${GZ_FILE} does not decode`);
    else if (got === 'oversize')
      gzProblems.push(`${GZ_FILE} decodes to more than ${want.size} bytes (decoding stopped there)`);
    else if (got.size !== want.size || got.sha256 !== want.sha256)
      gzProblems.push(`${GZ_FILE} does not decode to ${wasmChanged ? `the recorded bytes` : WASM_FILE}`);
    else if (m.gzipSha256 !== undefined && gz.sha256 !== m.gzipSha256)
      gzProblems.push(`${GZ_FILE} sha256 ${gz.sha256} differs from metadata ${m.gzipSha256}`);
    if (gzProblems.length) hashes.changed.add(`${v.name}@${v.version}`);
    if (gzProblems.length && (await hashes.firstReport(gzFile, 'E_VERIFY_GZIP'))) {
      const gzShared = await hashes.sharedNote(gzFile);
      for (const p of gzProblems) fail('E_VERIFY_GZIP', `${p}${gzShared}`);
    }
  }
  if (facts.metadataTxt === 'symlink')
    fail('E_VERIFY_SYMLINK', `${METADATA_TXT} is a symlink; Nginx refuses it (403)`, SYMLINK_HINT);
  if (facts.metadataJsonIsLink)
    fail('E_VERIFY_SYMLINK', `${METADATA_JSON} is a symlink; Nginx refuses it (403)`, SYMLINK_HINT);
  const txt = facts.metadataTxt;
  if (txt !== 'symlink') {
    if (typeof txt === 'string') fail('E_VERIFY_MISSING', `${METADATA_TXT} missing`);
    else if (txt.text !== renderMetadataTxt(m))
      fail('E_VERIFY_METADATA', `${METADATA_TXT} does not match ${METADATA_JSON}`);
  }
  if (facts.metadataJson !== renderMetadataJson(m))
    fail('E_VERIFY_METADATA', `${METADATA_JSON} is not in canonical form`);
  return problems;
}

/** What verifyTree leaves of a folder's facts once it has checked them. */
const DONE: FolderFacts = { metadataJsonIsLink: false, metadataTxt: 'missing', wasm: 'missing', gz: 'missing' };

const SYMLINK_HINT = 'replace the symlink with the real file (or folder), then run `index`';
/** index.json lists at most a few thousand plugins; a larger file is not one this tool wrote. */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;

function isSymlinkError(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ELOOP';
}

/** Reads a regular file without following a symlink (ELOOP) and refuses one over `limit` bytes (RangeError). */
async function readNoFollow(file: string, limit: number): Promise<Buffer> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${file} is not a file`), { code: 'EISDIR' });
    if (st.size > limit) throw new RangeError(`${file} is over ${limit} bytes`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** Every symlink under plugins/ down to the files of a version folder: Nginx answers 403 for each. */
async function symlinksInTree(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
    for (const e of await fastFs.readdirTypes(dir).catch(() => [])) {
      const r = `${rel}/${e.name}`;
      if (e.isSymbolicLink()) found.push(r);
      else if (e.isDirectory() && depth < 2 && !e.name.startsWith('.'))
        await walk(path.join(dir, e.name), r, depth + 1);
    }
  };
  const plugins = path.join(root, PLUGINS_DIR);
  if ((await fastFs.lstat(plugins).catch(() => undefined))?.isSymbolicLink()) return [PLUGINS_DIR];
  await walk(plugins, PLUGINS_DIR, 0);
  return found;
}

/** What is wrong with the shape of a parsed index.json, or undefined when it is a tree index. */
function indexShapeProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return `index.json is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not an object`;
  const index = value as Record<string, unknown>;
  if (index.schemaVersion !== 1)
    return `index.json schemaVersion is ${JSON.stringify(index.schemaVersion) ?? 'missing'}, not 1`;
  if (!Array.isArray(index.plugins)) return 'index.json has no plugins array';
  for (const [i, e] of index.plugins.entries()) {
    const p = e as Record<string, unknown> | null;
    if (p === null || typeof p !== 'object' || typeof p.name !== 'string' || typeof p.version !== 'string')
      return `index.json plugins[${i}] is not an entry with a name and a version`;
  }
  return undefined;
}

/**
 * What is wrong with index.json against the folders and their metadata. Its own function, so the text
 * and its parse (8 MB and 20,000 entries at 20,000 versions) are let go before verify goes on.
 */
async function indexProblems(root: string, dirs: VersionDir[], metas: PluginMetadata[]): Promise<VerifyError[]> {
  const problems: VerifyError[] = [];
  const indexFile = path.join(root, PLUGINS_DIR, INDEX_FILE);
  const where = { file: indexFile };
  let text: string | undefined;
  try {
    text = (await readNoFollow(indexFile, MAX_INDEX_BYTES)).toString('utf8');
  } catch (err) {
    if (isSymlinkError(err)) {
      // Already reported by symlinksInTree.
    } else if (err instanceof RangeError)
      problems.push(
        new VerifyError({
          code: 'E_VERIFY_INDEX',
          message: `index.json is larger than ${MAX_INDEX_BYTES} bytes`,
          context: where,
          hint: 'run `index <root>`',
        }),
      );
    else
      problems.push(
        new VerifyError({
          code: 'E_VERIFY_INDEX',
          message: 'index.json missing',
          context: where,
          hint: 'run `index <root>`',
        }),
      );
  }
  if (text !== undefined) {
    let index: PluginIndex | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      const shape = indexShapeProblem(parsed);
      if (shape)
        problems.push(
          new VerifyError({ code: 'E_VERIFY_INDEX', message: shape, context: where, hint: 'run `index <root>`' }),
        );
      else index = parsed as PluginIndex;
    } catch {
      problems.push(
        new VerifyError({
          code: 'E_VERIFY_INDEX',
          message: 'index.json is not valid JSON',
          context: where,
          hint: 'run `index <root>`',
        }),
      );
    }
    if (index) {
      const listed = new Set(index.plugins.map((e) => `${e.name}/${e.version}`));
      const present = new Set(dirs.map((d) => `${d.name}/${d.version}`));
      for (const k of listed)
        if (!present.has(k))
          problems.push(
            new VerifyError({
              code: 'E_VERIFY_INDEX',
              message: `index.json lists ${k}, which has no folder`,
              context: where,
              hint: 'run `index <root>`',
            }),
          );
      for (const k of present)
        if (!listed.has(k))
          problems.push(
            new VerifyError({
              code: 'E_VERIFY_INDEX',
              message: `folder ${k} is missing from index.json`,
              context: where,
              hint: 'run `index <root>`',
            }),
          );
      if (
        problems.length === 0 &&
        !isConcatOf(text, indexChunks(buildIndex(metas, await inventoryFacts(root).catch(() => undefined))))
      ) {
        problems.push(
          new VerifyError({
            code: 'E_VERIFY_INDEX',
            message: 'index.json does not match the metadata of the tree',
            context: where,
            hint: 'run `index <root>`',
          }),
        );
      }
    }
  }
  return problems;
}

/**
 * Verifies every version folder and index.json; no problems means the tree is sound. `changed`: the
 * `name@version` folders whose plugin.wasm or .gz differ from their metadata, so a caller can leave
 * out what follows from them (the OCI view's manifests of those versions); `framed`: by `name/version`,
 * the framed hashes of its two files as read here, `metas` the metadata read, and `linked` (by
 * `dev:ino`) the size and sha256 of each file read here that has other links, for the OCI view's check
 * (ociview/verify.ts), which reads none of them again.
 */
export async function verifyTree(root: string): Promise<{
  checked: number;
  problems: VerifyError[];
  changed: ReadonlySet<string>;
  framed: ReadonlyMap<string, FramedHashes | undefined>;
  metas: PluginMetadata[];
  linked: ReadonlyMap<string, { size: number; sha256: string }>;
}> {
  cpuPool().warm(); // the workers start while the folders are listed
  const dirs = await listVersionDirs(root);
  const problems: VerifyError[] = [];
  const metas: PluginMetadata[] = [];
  const hashes = new InodeHashes(root);
  // Every folder's read is on the CPU pool's queue before this thread walks the tree for symlinks.
  const reading = readFolderFacts(dirs);
  const links = await symlinksInTree(root).catch(async (err: unknown) => {
    await reading.catch(() => undefined);
    throw err;
  });
  const facts = await reading;
  dirs.forEach((v, i) => hashes.learnFacts(v.dir, facts[i]));
  for (const [i, v] of dirs.entries()) {
    const m = metadataOf(facts[i]);
    problems.push(...(await problemsOf(v, facts[i], hashes, m)));
    if (m) metas.push(m);
    // What the OCI view's check needs of this folder's files (verify.ts): read here, not again.
    if (m) hashes.framed.set(`${v.name}/${v.version}`, framedOf(facts[i]));
    hashes.learnLinked(facts[i]);
    facts[i] = DONE; // its texts and hashes are not needed again: a large tree's are not all held to the end
  }
  // The set of versions must be servable as one (contract/plugin-identity.ts): Nginx would refuse
  // the OCI view's maps of two versions that differ only in case.
  for (const c of identityClashes(dirs))
    problems.push(
      new VerifyError({
        code: 'E_VERIFY_IDENTITY',
        message: clashLine(c),
        context: { file: path.join(root, c.b) },
        hint: 'delete one of the two folders, then run `index <root>`',
      }),
    );
  for (const link of links) {
    problems.push(
      new VerifyError({
        code: 'E_VERIFY_SYMLINK',
        message: `${link} is a symlink; Nginx refuses it (403)`,
        context: { file: path.join(root, link) },
        hint: SYMLINK_HINT,
      }),
    );
  }
  problems.push(...(await indexProblems(root, dirs, metas)));
  problems.push(...(await verifyInventory(root)));
  return {
    checked: dirs.length,
    problems,
    changed: hashes.changed,
    framed: hashes.framed,
    metas,
    linked: hashes.linked,
  };
}
