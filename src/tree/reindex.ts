/**
 * Rebuilds metadata and index.json for a tree where files were dropped or replaced by hand (the
 * job of upstream's generate_metadata.py). A folder whose files already verify is left as is;
 * any other folder with a plugin.wasm is republished from that wasm, atomically.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PluginServerError } from '../errors';
import { INDEX_FILE, PLUGINS_DIR, SPEC_FILE, WASM_FILE } from '../contract/tree-format';
import { createdFromMtime } from '../contract/created';
import { randomSuffix } from '../content/fsutil';
import { publishVersion, TMP_PREFIX, writeIndex, cleanLeftovers } from './publish';
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
      out.push({ path: rel, reason: 'a file directly under plugins/ is not served; plugins live in plugins/<name>/<version>/' });
      continue;
    }
    for (const v of await fs.promises.readdir(path.join(plugins, n.name), { withFileTypes: true })) {
      const vrel = `${rel}/${v.name}`;
      if (!v.isDirectory()) out.push({ path: vrel, reason: v.name === WASM_FILE ? `older layout: move it to ${rel}/<version>/${WASM_FILE}` : 'not a version folder' });
      else if (!versions.has(`${n.name}/${v.name}`)) out.push({ path: vrel, reason: 'not a safe version folder name' });
    }
  }
  return out;
}

export async function reindexTree(root: string, opts: { sourceDateEpoch?: string } = {}): Promise<ReindexResult> {
  await cleanLeftovers(root);
  const out: ReindexResult = { kept: [], rebuilt: [], failed: [], skipped: [] };
  const dirs = await listVersionDirs(root);
  out.skipped = await strayEntries(root, new Set(dirs.map((v) => `${v.name}/${v.version}`)));
  for (const v of dirs) {
    const id = `${v.name}/${v.version}`;
    const wasm = path.join(v.dir, WASM_FILE);
    const st = await fs.promises.stat(wasm).catch(() => undefined);
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
    const tmp = path.join(root, `${TMP_PREFIX}${randomSuffix()}`);
    await fs.promises.mkdir(tmp, { recursive: true });
    try {
      await fs.promises.copyFile(wasm, path.join(tmp, WASM_FILE));
      const specYaml = await fs.promises.readFile(path.join(v.dir, SPEC_FILE), 'utf8').catch(() => undefined);
      const keepOld = old && old.name === v.name && old.version === v.version;
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
