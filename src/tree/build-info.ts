/**
 * Writes `<root>/build-info.json` (BuildInfo, src/contract/tree-format.ts): the facts the server's
 * /metrics reports as its build_info gauge. Its mtime is index.json's `generated`, so two pulls of the
 * same inputs write the same file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../content/fsutil';
import { packageVersion } from '../contract/package-layout';
import { BUILD_INFO_FILE, BuildInfo, INDEX_FILE, PLUGINS_DIR, PluginIndex } from '../contract/tree-format';
import { assertNoSymlinkBelow } from './safe-path';

export function renderBuildInfo(info: BuildInfo): string {
  return `${JSON.stringify(info, null, 2)}\n`;
}

/** After writeIndex: the index's `generated` is the file's mtime. */
export async function writeBuildInfo(root: string, facts: { snapshotSha256: string | null }): Promise<void> {
  const index = JSON.parse(await fs.promises.readFile(path.join(root, PLUGINS_DIR, INDEX_FILE), 'utf8')) as PluginIndex;
  const info: BuildInfo = { schemaVersion: 1, version: packageVersion(), snapshotSha256: facts.snapshotSha256 };
  await assertNoSymlinkBelow(root, BUILD_INFO_FILE);
  await writeFileAtomic(path.join(root, BUILD_INFO_FILE), renderBuildInfo(info), new Date(index.generated));
}
