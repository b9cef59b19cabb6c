/**
 * Publishes one version folder `<root>/plugins/<name>/<version>/` atomically: everything is written
 * into a sibling temp folder (same filesystem), checked, fsynced, then moved into place. A new
 * version folder is one rename. An existing one is replaced file by file, each file renamed over the
 * old one (rename(2) of a file is atomic): Nginx resolves the path on every request, so the URL
 * always exists and every response comes from one complete file, old or new (never a 404, never a
 * mixed body). Nothing is followed through a symlink (safe-path.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { InputError, IntegrityError } from '../errors';
// The CPU pool lives with the pipeline; publishing uses it so no caller blocks the event loop.
import { analyzeWasm, gzipFile, PreparedWasm, WasmFacts } from '../content/prepare';
import { DEFAULT_GZIP_LEVEL, GzipLevel } from '../contract/gzip-level';
import {
  GZ_FILE,
  INDEX_FILE,
  RESERVED_PLUGIN_NAMES,
  METADATA_JSON,
  METADATA_TXT,
  PLUGINS_DIR,
  PluginMetadata,
  SPEC_FILE,
  TREE_SCHEMA_VERSION,
  WASM_FILE,
  FolderHolds,
} from '../contract/tree-format';
import { parseCreated, rfc3339 } from '../contract/created';
import { SAFE_SEGMENT } from '../contract/plugin-identity';
import { runTempName, sha256Hex, sha256OfFile, syncDir, writeFileAtomic, writeFileDurable } from '../content/fsutil';
import { buildIndex, indexChunks, normalizeMetadata, renderMetadataJson, renderMetadataTxt } from './render';
import { readSpecYaml } from './spec';
import { checkWasmSize } from '../content/wasm';
import { readAllMetadata, TreeReads } from './read';
import { inventoryFacts } from './inventory';
import { assertNoSymlinkBelow } from './safe-path';

export interface PublishInput {
  name: string;
  version: string;
  /** The raw wasm to publish (copied; the file is left where it is). */
  wasmPath: string;
  source: string;
  manifestDigest: string | null;
  /** RFC 3339; becomes metadata `created` and the mtime of every file written. */
  created: string;
  aliasOf?: string;
  /** Own bytes (from which input) or a compatibility alias: metadata.json and index.json `holds`. */
  holds?: FolderHolds;
  specYaml?: string;
  /**
   * Facts and .gz already produced for `wasmPath` (the pull pipeline prepares each distinct content
   * once); without it they are computed here, in the CPU pool.
   */
  prepared?: PreparedWasm;
  /** gzip level of plugin.wasm.gz when not `prepared` (default 6, see contract/gzip-level.ts). */
  gzipLevel?: GzipLevel;
}

/** Prefixes of temp/old entries (named with the run id, see content/fsutil.ts runTempName); leftovers of a recorded run are removed by tree/run-journal.ts. */
export const TMP_PREFIX = '.tmp-';
export const OLD_PREFIX = '.old-';

export function assertSafeSegment(
  kind: 'name' | 'version',
  value: string,
  ctx: { plugin?: string; version?: string } = {},
): void {
  if (!SAFE_SEGMENT.test(value)) {
    throw new InputError({
      code: 'E_UNSAFE_SEGMENT',
      message: `unsafe plugin ${kind} ${JSON.stringify(value)}`,
      context: ctx,
      hint: 'use letters, digits, ".", "_" and "-" only, not starting with a dot',
    });
  }
  if (kind === 'name' && RESERVED_PLUGIN_NAMES.has(value)) {
    throw new InputError({
      code: 'E_RESERVED_NAME',
      message: `plugin name ${JSON.stringify(value)} is reserved: plugins/${value} is part of the tree format`,
      context: ctx,
      hint: 'rename the plugin',
    });
  }
}

/** Computes the metadata from the facts of the wasm (see src/content/prepare.ts) without touching the disk. */
export function describeWasm(
  input: Omit<PublishInput, 'wasmPath'>,
  facts: Pick<WasmFacts, 'size' | 'md5' | 'sha256'> & { gzipSize: number; gzipSha256?: string; gzipLevel?: GzipLevel },
): PluginMetadata {
  const spec = input.specYaml ? readSpecYaml(input.specYaml) : {};
  return normalizeMetadata({
    schemaVersion: TREE_SCHEMA_VERSION,
    name: input.name,
    version: input.version,
    size: facts.size,
    md5: facts.md5,
    sha256: facts.sha256,
    gzipSize: facts.gzipSize,
    gzipSha256: facts.gzipSha256,
    gzipLevel: facts.gzipLevel,
    source: input.source,
    manifestDigest: input.manifestDigest,
    created: rfc3339(parseCreated(input.created, { plugin: input.name, version: input.version })),
    aliasOf: input.aliasOf,
    holds: input.holds,
    phase: spec.phase,
    priority: spec.priority,
  });
}

/**
 * Mode of plugin.wasm and plugin.wasm.gz. Versions with the same bytes share these files (hardlinks:
 * an alias must not double the image), so they are read-only: an edit in place would change every
 * folder that shares the inode. `verify` hashes each inode once and names every path that shares a
 * changed one; `pull` re-hashes a file before it reuses it. Republishing never writes into a file: it
 * renames a new one over the path (swapInto), which leaves the other links as they were.
 */
export const SHARED_FILE_MODE = 0o444;

/** Copies a file, makes it read-only, fsyncs it and sets its mtime. */
async function copyDurable(src: string, dest: string, mtime: Date): Promise<void> {
  await fs.promises.copyFile(src, dest, fs.constants.COPYFILE_FICLONE);
  await fs.promises.chmod(dest, SHARED_FILE_MODE); // copyFile keeps the source's mode
  const fh = await fs.promises.open(dest, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.utimes(dest, mtime, mtime);
}

/**
 * Hardlinks `src` when it already has the wanted mtime (a run-owned staged file, or the folder an
 * alias shares bytes with): no 12 MB copy, no second fsync. Otherwise copies, so the mtime of a file
 * another folder owns is never changed. Never through a symlink; the shared inode is read-only.
 */
async function placeFile(src: string, dest: string, mtime: Date): Promise<void> {
  const st = await fs.promises.lstat(src);
  if (st.isFile() && st.mtimeMs === mtime.getTime()) {
    try {
      await fs.promises.link(src, dest);
      if ((st.mode & 0o777) !== SHARED_FILE_MODE) await fs.promises.chmod(dest, SHARED_FILE_MODE);
      return;
    } catch {
      /* another filesystem or no link support: copy */
    }
  }
  await copyDurable(src, dest, mtime);
}

/** Validates and publishes one version folder; returns its metadata. Does not touch index.json. */
export async function publishVersion(root: string, input: PublishInput): Promise<PluginMetadata> {
  const ctx = { plugin: input.name, version: input.version };
  assertSafeSegment('name', input.name, ctx);
  assertSafeSegment('version', input.version, ctx);
  if (input.aliasOf !== undefined) assertSafeSegment('version', input.aliasOf, ctx);
  const stat = await fs.promises.stat(input.wasmPath).catch(() => undefined);
  if (!stat?.isFile())
    throw new IntegrityError({
      code: 'E_WASM_MISSING',
      message: `wasm file ${input.wasmPath} not found`,
      context: ctx,
      hint: 'check the source path',
    });
  const created = parseCreated(input.created, ctx);
  checkWasmSize(stat.size, ctx);
  // Validate before creating any folder, so a bad payload leaves nothing behind.
  const checked = input.prepared ? undefined : await analyzeWasm(input.wasmPath, { where: ctx });

  const pluginDir = path.join(root, PLUGINS_DIR, input.name);
  const target = path.join(pluginDir, input.version);
  await assertNoSymlinkBelow(root, PLUGINS_DIR, input.name, input.version);
  await fs.promises.mkdir(pluginDir, { recursive: true });
  const tmp = path.join(pluginDir, runTempName('tmp', input.version));
  let meta: PluginMetadata;
  try {
    await fs.promises.mkdir(tmp);
    const wasmOut = path.join(tmp, WASM_FILE);
    const gzOut = path.join(tmp, GZ_FILE);
    let facts: WasmFacts & { gzipSize: number; gzipSha256: string; gzipLevel: GzipLevel };
    if (input.prepared) {
      await placeFile(input.prepared.wasmPath, wasmOut, created);
      await placeFile(input.prepared.gzPath, gzOut, created);
      facts = input.prepared;
    } else {
      const f = checked as WasmFacts;
      await copyDurable(input.wasmPath, wasmOut, created);
      // What was validated must be exactly what is published.
      if ((await sha256OfFile(wasmOut)) !== f.sha256)
        throw new IntegrityError({
          code: 'E_WASM_CHANGED',
          message: `wasm file ${input.wasmPath} changed while being published`,
          context: ctx,
          hint: 'run the command again',
        });
      const level = input.gzipLevel ?? DEFAULT_GZIP_LEVEL;
      const gz = await gzipFile(wasmOut, f, level);
      await writeFileDurable(gzOut, gz, created);
      await fs.promises.chmod(gzOut, SHARED_FILE_MODE);
      facts = { ...f, gzipSize: gz.byteLength, gzipSha256: sha256Hex(gz), gzipLevel: level };
    }
    meta = describeWasm(input, facts);
    await writeFileDurable(path.join(tmp, METADATA_TXT), renderMetadataTxt(meta), created);
    await writeFileDurable(path.join(tmp, METADATA_JSON), renderMetadataJson(meta), created);
    if (input.specYaml !== undefined) await writeFileDurable(path.join(tmp, SPEC_FILE), input.specYaml, created);
    await fs.promises.utimes(tmp, created, created);
    await syncDir(tmp);
    await swapInto(tmp, target);
  } catch (err) {
    await fs.promises.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await syncDir(pluginDir);
  return meta;
}

/**
 * Moves `tmp` to `target`. A new folder is one rename. An existing folder stays in place and each of
 * its files is replaced by a rename from `tmp`; files the new version no longer has are removed
 * last. Clients never see the URL missing: the folder is not renamed away.
 */
async function swapInto(tmp: string, target: string): Promise<void> {
  const existing = await fs.promises.lstat(target).catch(() => undefined);
  if (!existing) {
    await fs.promises.rename(tmp, target);
    return;
  }
  if (!existing.isDirectory())
    throw new IntegrityError({
      code: 'E_WASM_CHANGED',
      message: `${target} is not a folder`,
      hint: 'move it away and run again',
    });
  const fresh = await fs.promises.readdir(tmp);
  // The .gz first: gzip_static serves it to gateways, and the raw file goes with it right after.
  const rank = (f: string) => (f === GZ_FILE ? 0 : f === WASM_FILE ? 1 : 2);
  fresh.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  for (const f of fresh) await fs.promises.rename(path.join(tmp, f), path.join(target, f));
  for (const f of await fs.promises.readdir(target)) {
    if (!fresh.includes(f)) await fs.promises.rm(path.join(target, f), { recursive: true, force: true });
  }
  const st = await fs.promises.stat(path.join(target, METADATA_JSON));
  await fs.promises.utimes(target, st.mtime, st.mtime);
  await syncDir(target);
  await fs.promises.rmdir(tmp);
}

/** Rewrites `<root>/plugins/index.json` from every metadata.json in the tree (atomic). */
export async function writeIndex(root: string, reads?: TreeReads): Promise<void> {
  const metas = await readAllMetadata(root, reads);
  const index = buildIndex(metas, await inventoryFacts(root));
  const dir = path.join(root, PLUGINS_DIR);
  await assertNoSymlinkBelow(root, PLUGINS_DIR, INDEX_FILE);
  await fs.promises.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, INDEX_FILE), indexChunks(index), new Date(index.generated));
}

/** Removes a version folder (used by `pull --prune`), atomically by renaming it away first. */
export async function removeVersion(root: string, name: string, version: string): Promise<void> {
  assertSafeSegment('name', name);
  assertSafeSegment('version', version);
  await assertNoSymlinkBelow(root, PLUGINS_DIR, name, version);
  const pluginDir = path.join(root, PLUGINS_DIR, name);
  const old = path.join(pluginDir, runTempName('old', version));
  await fs.promises.rename(path.join(pluginDir, version), old);
  await fs.promises.rm(old, { recursive: true, force: true });
  const left = await fs.promises.readdir(pluginDir);
  if (left.length === 0) await fs.promises.rmdir(pluginDir).catch(() => undefined);
}
