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
import { PluginServerError } from '../errors';
import { INDEX_FILE, PLUGINS_DIR, SPEC_FILE, WASM_FILE } from '../contract/tree-format';
import { createdFromMtime } from '../contract/created';
import { assertNoIdentityClash } from '../contract/plugin-identity';
import { runTempName, sha256OfFile } from '../content/fsutil';
import { publishVersion, writeIndex } from './publish';
import { LockOptions } from './output-lock';
import { beginTreeRun } from './run-journal';
import { assertNoSymlinkBelow } from './safe-path';
import { listVersionDirs, readMetadata, verifyVersion } from './read';

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
  out.skipped = await strayEntries(root, new Set(dirs.map((v) => `${v.name}/${v.version}`)));
  for (const v of dirs) {
    const id = `${v.name}/${v.version}`;
    const wasm = path.join(v.dir, WASM_FILE);
    const st = await fs.promises.lstat(wasm).catch(() => undefined);
    if (st?.isSymbolicLink()) {
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
    if ((await verifyVersion(v)).length === 0) {
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
        created: keepOld ? old.created : (opts.sourceDateEpoch ?? createdFromMtime(st.mtime)),
        aliasOf: keepOld ? old.aliasOf : undefined,
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
