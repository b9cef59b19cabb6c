/**
 * Reads many version folders for `verify` and `index` on the CPU pool's worker threads: each worker
 * reads its folders with plain synchronous calls (a few microseconds each, against tens for a round
 * trip through libuv's threads from the main thread), so a tree of thousands of small versions is read
 * at the speed of `sha256sum` on every core, and a large module is hashed off the main thread.
 *
 * Folders that share a plugin.wasm or .gz (hardlinks: aliases and reused content, see publish.ts) go
 * to the same worker task, which reads each inode once; a first pass of lstat calls finds them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CpuPool, cpuPool } from '../content/cpu-pool';
import type { FileId, FolderFacts } from '../content/cpu-worker';
import { GZ_FILE, WASM_FILE } from '../contract/tree-format';

/** Folders per worker task: enough to make a message's cost small, few enough to keep both cores busy. */
const FOLDERS_PER_TASK = 64;
/** Paths per lstat task. */
const LSTATS_PER_TASK = 1024;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** lstat of every path, on the pool (null: absent). */
export async function lstatMany(files: readonly string[], pool: CpuPool = cpuPool()): Promise<Array<FileId | null>> {
  const parts = await Promise.all(
    chunks(files, LSTATS_PER_TASK).map(
      (part) => pool.run({ kind: 'lstat', files: part }) as Promise<(FileId | null)[]>,
    ),
  );
  return parts.flat();
}

/**
 * Groups of folder indexes that share an inode (union-find over both files' `dev:ino`), in the
 * folders' order of first appearance.
 */
function sharingGroups(ids: Array<Pick<FileId, 'dev' | 'ino' | 'file'> | null>, folders: number): number[][] {
  const parent = Array.from({ length: folders }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  const owner = new Map<string, number>();
  ids.forEach((id, j) => {
    if (!id?.file) return;
    const i = j >> 1; // two files per folder
    const key = `${id.dev}:${id.ino}`;
    const o = owner.get(key);
    if (o === undefined) owner.set(key, i);
    else parent[find(i)] = find(o);
  });
  const groups = new Map<number, number[]>();
  for (let i = 0; i < folders; i++) {
    const r = find(i);
    const g = groups.get(r);
    if (g) g.push(i);
    else groups.set(r, [i]);
  }
  return [...groups.values()];
}

/** lstat of every path on this thread, one synchronous call each (null: absent); only what sharingGroups reads. */
function lstatHere(files: readonly string[]): Array<Pick<FileId, 'dev' | 'ino' | 'file'> | null> {
  return files.map((f) => {
    const st = fs.lstatSync(f, { throwIfNoEntry: false });
    return st ? { dev: st.dev, ino: st.ino, file: st.isFile() } : null;
  });
}

/**
 * FolderFacts of every folder, in the given order (see the top of this file). Every task is on the
 * pool when this returns its promise: the caller's own work meanwhile does not hold the workers up.
 * The first pass's lstat calls are made here, synchronously: a few microseconds each, fewer than a
 * round trip to a worker and back.
 */
export function readFolderFacts(
  dirs: ReadonlyArray<{ dir: string }>,
  pool: CpuPool = cpuPool(),
): Promise<FolderFacts[]> {
  const ids = lstatHere(dirs.flatMap((d) => [path.join(d.dir, WASM_FILE), path.join(d.dir, GZ_FILE)]));
  const tasks: number[][] = [[]];
  for (const group of sharingGroups(ids, dirs.length)) {
    const last = tasks[tasks.length - 1];
    if (last.length && last.length + group.length > FOLDERS_PER_TASK) tasks.push([...group]);
    else last.push(...group);
  }
  const out = new Array<FolderFacts>(dirs.length);
  return Promise.all(
    tasks
      .filter((t) => t.length)
      .map(async (t) => {
        const facts = (await pool.run({ kind: 'folder-facts', dirs: t.map((i) => dirs[i].dir) })) as FolderFacts[];
        t.forEach((i, k) => (out[i] = facts[k]));
      }),
  ).then(() => out);
}
