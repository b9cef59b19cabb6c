/**
 * Rebuilds metadata and index.json for a tree where files were dropped or replaced by hand (the
 * job of upstream's generate_metadata.py). A folder whose files already verify is left as is;
 * any other folder with a plugin.wasm is republished from that wasm, atomically. Its registry source
 * and digest are kept only when the wasm still has the sha256 they were recorded for; other bytes
 * are recorded as local (`file:plugins/<name>/<version>/plugin.wasm`), so `pull` fetches the source
 * again instead of calling them cached.
 */
import * as fs from 'fs';
import * as path from 'path';
import { InputError, PluginServerError } from '../errors';
import { INDEX_FILE, PLUGINS_DIR, SPEC_FILE, WASM_FILE } from '../contract/tree-format';
import { createdFromMtime } from '../contract/created';
import { assertNoIdentityClash } from '../contract/plugin-identity';
import { runTempName, sha256OfFile } from '../content/fsutil';
import { publishVersion, writeIndex } from './publish';
import { LockOptions } from './output-lock';
import { beginTreeRun } from './run-journal';
import { assertNoSymlinkBelow } from './safe-path';
import { listVersionDirs, readMetadata, verifyVersions, VersionDir } from './read';
import { InodeHashes } from './inode-hashes';
import { lstatMany } from './folder-facts';
import type { FileId } from '../content/cpu-worker';

export interface ReindexResult {
  kept: string[];
  rebuilt: string[];
  failed: PluginServerError[];
  /** Files and folders under plugins/ that are not a version folder with a plugin.wasm, and why. */
  skipped: Array<{ path: string; reason: string }>;
}

/** What `index` leaves out: loose files (the older `plugins/<name>/plugin.wasm` layout), unsafe names. */
async function strayEntries(root: string, versions: Set<string>): Promise<Array<{ path: string; reason: string }>> {
  const plugins = path.join(root, PLUGINS_DIR);
  const out: Array<{ path: string; reason: string }> = [];
  for (const n of await fs.promises.readdir(plugins, { withFileTypes: true }).catch(() => [])) {
    const rel = `${PLUGINS_DIR}/${n.name}`;
    if (n.name === INDEX_FILE || n.name.startsWith('.')) continue;
    if (!n.isDirectory()) {
      out.push({
        path: rel,
        reason: 'a file directly under plugins/ is not served; plugins live in plugins/<name>/<version>/',
      });
      continue;
    }
    for (const v of await fs.promises.readdir(path.join(plugins, n.name), { withFileTypes: true })) {
      const vrel = `${rel}/${v.name}`;
      if (!v.isDirectory())
        out.push({
          path: vrel,
          reason:
            v.name === WASM_FILE ? `older layout: move it to ${rel}/<version>/${WASM_FILE}` : 'not a version folder',
        });
      else if (!versions.has(`${n.name}/${v.name}`)) out.push({ path: vrel, reason: 'not a safe version folder name' });
    }
  }
  return out;
}

/**
 * Refuses (naming every path) a changed plugin.wasm that several version folders share: versions
 * with the same bytes are one file (hardlinks, publish.ts), so `cp new.wasm plugins/a/1.0.0/plugin.wasm`
 * as root writes through it into every other folder too, and rebuilding them all would bless the new
 * bytes for plugins that never asked for them (issue 27, class 13). Nothing is changed; the operator
 * places the module so that it gets a file of its own (`rm` then `cp`, or `install`), and `pull`
 * fetches the others again.
 */
async function assertNoSharedChange(dirs: VersionDir[], wasmIds: Array<FileId | null>): Promise<void> {
  const byInode = new Map<string, VersionDir[]>();
  for (const [i, v] of dirs.entries()) {
    const st = wasmIds[i];
    if (!st?.file) continue;
    const key = `${st.dev}:${st.ino}`;
    byInode.set(key, [...(byInode.get(key) ?? []), v]);
  }
  const hashes = new InodeHashes();
  for (const holders of byInode.values()) {
    if (holders.length < 2) continue;
    const now = await hashes.hashWasm(path.join(holders[0].dir, WASM_FILE)).catch(() => undefined);
    const changed: string[] = [];
    for (const v of holders) if ((await readMetadata(v.dir))?.sha256 !== now?.sha256) changed.push(v.version);
    if (changed.length === 0) continue;
    const paths = holders.map((v) => `${PLUGINS_DIR}/${v.name}/${v.version}/${WASM_FILE}`).sort();
    throw new InputError({
      code: 'E_INDEX_SHARED_CHANGED',
      message: `${paths[0]} changed, and it is one file (hardlink) with ${paths.length} paths, all changed with it: ${paths.join(', ')}; index cannot tell which plugin the new bytes are for`,
      hint: 'place a module so it gets a file of its own: `rm <path>` then `cp new.wasm <path>` (or `install -m 0444 new.wasm <path>`); `pull` fetches the other plugins again',
    });
  }
}

/**
 * `thenWhileLocked` runs after the index is written and before the output lock is released: what a
 * higher layer derives from the tree (the OCI view) is written by the same run that owns it.
 */
export async function reindexTree(
  root: string,
  opts: { sourceDateEpoch?: string; lock?: LockOptions; thenWhileLocked?: () => Promise<void> } = {},
): Promise<ReindexResult> {
  await assertNoSymlinkBelow(root, PLUGINS_DIR);
  const treeRun = await beginTreeRun(root, opts.lock);
  try {
    const result = await reindexLocked(root, opts);
    await opts.thenWhileLocked?.();
    return result;
  } finally {
    await treeRun.end();
  }
}

async function reindexLocked(root: string, opts: { sourceDateEpoch?: string }): Promise<ReindexResult> {
  const out: ReindexResult = { kept: [], rebuilt: [], failed: [], skipped: [] };
  const dirs = await listVersionDirs(root);
  // Refused before anything is rewritten: the OCI view written after it could not hold this set.
  assertNoIdentityClash(dirs, 'delete one of the two folders under plugins/, then run index again');
  const wasmIds = await lstatMany(dirs.map((v) => path.join(v.dir, WASM_FILE)));
  await assertNoSharedChange(dirs, wasmIds);
  out.skipped = await strayEntries(root, new Set(dirs.map((v) => `${v.name}/${v.version}`)));
  // Every folder read at once on the CPU pool (folder-facts.ts); only those with a problem are rebuilt.
  const problems = await verifyVersions(dirs);
  for (const [i, v] of dirs.entries()) {
    const id = `${v.name}/${v.version}`;
    const wasm = path.join(v.dir, WASM_FILE);
    const st = wasmIds[i];
    if (st?.symlink) {
      out.skipped.push({
        path: `${PLUGINS_DIR}/${id}/${WASM_FILE}`,
        reason: 'a symlink: never followed, and Nginx refuses it; put the real file there',
      });
      continue;
    }
    if (!st) {
      // Nothing to serve here; the folder is left alone and stays out of the index.
      out.skipped.push({ path: `${PLUGINS_DIR}/${id}`, reason: `no ${WASM_FILE} in it` });
      continue;
    }
    if (problems[i].length === 0) {
      out.kept.push(id);
      continue;
    }
    const old = await readMetadata(v.dir);
    // publishVersion replaces the folder, so work from a copy of the wasm outside it.
    const tmp = path.join(root, runTempName('tmp', 'index'));
    await fs.promises.mkdir(tmp, { recursive: true });
    try {
      await fs.promises.copyFile(wasm, path.join(tmp, WASM_FILE));
      const specYaml = await fs.promises.readFile(path.join(v.dir, SPEC_FILE), 'utf8').catch(() => undefined);
      // The recorded source vouches only for the bytes it recorded.
      const sameBytes = old !== undefined && old.sha256 === (await sha256OfFile(path.join(tmp, WASM_FILE)));
      const keepOld = old && sameBytes && old.name === v.name && old.version === v.version;
      await publishVersion(root, {
        name: v.name,
        version: v.version,
        wasmPath: path.join(tmp, WASM_FILE),
        source: keepOld ? old.source : `file:plugins/${v.name}/${v.version}/${WASM_FILE}`,
        manifestDigest: keepOld ? old.manifestDigest : null,
        created: keepOld
          ? old.created
          : (opts.sourceDateEpoch ?? createdFromMtime((await fs.promises.lstat(wasm)).mtime)),
        aliasOf: keepOld ? old.aliasOf : undefined,
        holds: keepOld ? old.holds : undefined,
        specYaml,
      });
      out.rebuilt.push(id);
    } catch (err) {
      if (err instanceof PluginServerError) out.failed.push(err);
      else throw err;
    } finally {
      await fs.promises.rm(tmp, { recursive: true, force: true });
    }
  }
  await writeIndex(root);
  return out;
}
