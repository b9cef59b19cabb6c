/**
 * Reads the inputs of `pull --snapshot <snapshot> [--unmanaged-lock <lock>] [lists...]` and applies
 * upstream's rules (src/inputs/unmanaged-lock.ts) to them: every problem, before any download.
 */
import { readInputFile } from './load';
import { parsePluginList } from './properties';
import { parseSnapshot } from './snapshot';
import { planSnapshotBuild, SnapshotBuildPlan } from './unmanaged-lock';

export function loadSnapshotBuild(files: {
  lists: string[];
  snapshot: string;
  unmanagedLock?: string;
}): SnapshotBuildPlan {
  const lists = files.lists.map((list) => parsePluginList(readInputFile(list, 'plugin list'), list));
  const text = readInputFile(files.snapshot, 'snapshot');
  const lock = files.unmanagedLock
    ? { text: readInputFile(files.unmanagedLock, 'unmanaged lock'), file: files.unmanagedLock }
    : undefined;
  return planSnapshotBuild({
    lists,
    snapshot: { parsed: parseSnapshot(text, files.snapshot), text, file: files.snapshot },
    lock,
  });
}
