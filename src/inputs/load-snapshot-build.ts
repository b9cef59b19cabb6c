/**
 * Reads the inputs of `pull --snapshot <snapshot> [--unmanaged-lock <lock>] [lists...]` and applies
 * upstream's rules (src/inputs/unmanaged-lock.ts) to them: every problem, before any download.
 */
import * as fs from 'fs';
import { InputError } from '../errors';
import { sha256Hex } from '../content/fsutil';
import { readInputFile } from './load';
import { parsePluginList } from './properties';
import { parseSnapshot } from './snapshot';
import { planSnapshotBuild, SnapshotBuildPlan } from './unmanaged-lock';

export function loadSnapshotBuild(files: {
  lists: string[];
  snapshot: string;
  unmanagedLock?: string;
  /** The snapshot's published sha256 (hex, optionally `sha256:`): any other file is refused first. */
  snapshotSha256?: string;
}): SnapshotBuildPlan {
  const text = readInputFile(files.snapshot, 'snapshot').toString('utf8');
  if (files.snapshotSha256 !== undefined) checkSnapshotSha256(files.snapshot, files.snapshotSha256);
  const lists = files.lists.map((list) => parsePluginList(readInputFile(list, 'plugin list').toString('utf8'), list));
  const lock = files.unmanagedLock
    ? { text: readInputFile(files.unmanagedLock, 'unmanaged lock').toString('utf8'), file: files.unmanagedLock }
    : undefined;
  return planSnapshotBuild({
    lists,
    snapshot: { parsed: parseSnapshot(text, files.snapshot), text, file: files.snapshot },
    lock,
  });
}

/**
 * Upstream's first check of a snapshot build (the Dockerfile's SNAPSHOT_SHA256): the file is the
 * published one, byte for byte, or nothing is pulled.
 */
export function checkSnapshotSha256(file: string, expected: string): void {
  const want = expected
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, '');
  const got = sha256Hex(fs.readFileSync(file));
  if (!/^[0-9a-f]{64}$/.test(want) || got !== want)
    throw new InputError({
      code: 'E_RELEASE_SNAPSHOT',
      message: /^[0-9a-f]{64}$/.test(want)
        ? `sha256 is ${got}, --snapshot-sha256 says ${want}`
        : `--snapshot-sha256 "${expected.slice(0, 80)}" is not 64 hex digits`,
      context: { file },
      hint: 'the snapshot is not the released one: fetch plugins/release/snapshots/<version>.json again from the Higress tag',
    });
}
