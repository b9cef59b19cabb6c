/**
 * The snapshot build of `pull --snapshot <snapshot> [--unmanaged-lock <lock>] [lists...]`: upstream's
 * rules (src/inputs/unmanaged-lock.ts) over the lists and snapshot resolveInputs has already read and
 * parsed; only the unmanaged lock is read here. Every problem, before any download.
 */
import { InputError } from '../errors';
import { sha256Hex } from '../content/fsutil';
import { readInputFile } from './load';
import { ParseResult } from './properties';
import { planSnapshotBuild, SnapshotBuildPlan } from './unmanaged-lock';

export function snapshotBuild(read: {
  /** Each list parsed, in command-line order. */
  lists: ParseResult[];
  snapshot: { parsed: ParseResult; bytes: Buffer; file: string };
  unmanagedLock?: string;
  /** The snapshot's published sha256 (hex, optionally `sha256:`): any other file is refused first. */
  snapshotSha256?: string;
}): SnapshotBuildPlan {
  if (read.snapshotSha256 !== undefined)
    checkSnapshotSha256(read.snapshot.bytes, read.snapshot.file, read.snapshotSha256);
  const lock = read.unmanagedLock
    ? { text: readInputFile(read.unmanagedLock, 'unmanaged lock').toString('utf8'), file: read.unmanagedLock }
    : undefined;
  return planSnapshotBuild({
    lists: read.lists,
    snapshot: { parsed: read.snapshot.parsed, text: read.snapshot.bytes.toString('utf8'), file: read.snapshot.file },
    lock,
  });
}

/**
 * Upstream's first check of a snapshot build (the Dockerfile's SNAPSHOT_SHA256): the file is the
 * published one, byte for byte, or nothing is pulled.
 */
export function checkSnapshotSha256(bytes: Buffer, file: string, expected: string): void {
  const want = expected
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, '');
  const got = sha256Hex(bytes);
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
