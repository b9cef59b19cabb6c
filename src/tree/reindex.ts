/**
 * Rebuilds metadata and index.json for a tree where files were dropped or replaced by hand (the
 * job of upstream's generate_metadata.py). A folder whose files already verify is left as is;
 * any other folder with a plugin.wasm is republished from that wasm, atomically.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PluginServerError } from '../errors';
import { SPEC_FILE, WASM_FILE } from '../contract/tree-format';
import { createdFromMtime } from '../contract/created';
import { randomSuffix } from '../content/fsutil';
import { publishVersion, TMP_PREFIX, writeIndex, cleanLeftovers } from './publish';
import { listVersionDirs, readMetadata, verifyVersion } from './read';

export interface ReindexResult {
  kept: string[];
  rebuilt: string[];
  failed: PluginServerError[];
}

export async function reindexTree(root: string, opts: { sourceDateEpoch?: string } = {}): Promise<ReindexResult> {
  await cleanLeftovers(root);
  const out: ReindexResult = { kept: [], rebuilt: [], failed: [] };
  for (const v of await listVersionDirs(root)) {
    const id = `${v.name}/${v.version}`;
    const wasm = path.join(v.dir, WASM_FILE);
    const st = await fs.promises.stat(wasm).catch(() => undefined);
    if (!st) continue; // nothing to serve here; the folder is left alone and stays out of the index
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
