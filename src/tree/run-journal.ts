/**
 * What a run may delete. Every temp or old entry carries its run's id in its name
 * (`.tmp-<run>-…`, `.old-<run>-…`, see content/fsutil.ts), and `<root>/.higress-plugin-server.runs`
 * lists the ids of runs that may have left some behind. Under the output lock (output-lock.ts) every
 * listed run other than this one is over, so their leftovers are removed; any other `.tmp-*` or
 * `.old-*` entry (someone else's, or from before the journal existed) is left alone.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PLUGINS_DIR, RUN_JOURNAL } from '../contract/tree-format';
import * as fastFs from '../content/fs-fast';
import { RUN_ID, runIdOf, writeFileAtomic } from '../content/fsutil';
import { lockOutputRoot, LockOptions } from './output-lock';

async function readJournal(root: string): Promise<string[]> {
  const text = await fs.promises.readFile(path.join(root, RUN_JOURNAL), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => /^[0-9a-f]{12}$/.test(l));
}

async function writeJournal(root: string, ids: string[]): Promise<void> {
  const file = path.join(root, RUN_JOURNAL);
  if (ids.length === 0) await fs.promises.rm(file, { force: true });
  else await writeFileAtomic(file, `${ids.join('\n')}\n`, new Date(0));
}

/**
 * Removes the temp/old entries (root, plugins/, each plugin folder, or only the plugin folders named in
 * `pluginFolders`) of the given runs; returns their paths.
 */
export async function removeRunLeftovers(
  root: string,
  runs: ReadonlySet<string>,
  pluginFolders?: ReadonlySet<string>,
): Promise<string[]> {
  const removed: string[] = [];
  const sweep = async (dir: string): Promise<string[]> => {
    const entries = await fastFs.readdirTypes(dir).catch(() => []);
    for (const e of entries) {
      const id = runIdOf(e.name);
      if (id === undefined || !runs.has(id)) continue;
      // rm removes a symlink itself, never what it points to.
      await fs.promises.rm(path.join(dir, e.name), { recursive: true, force: true });
      removed.push(path.join(dir, e.name));
    }
    // Dirent types come from lstat: a symlinked folder is not descended into.
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => path.join(dir, e.name));
  };
  await sweep(root);
  const plugins = await sweep(path.join(root, PLUGINS_DIR));
  for (const p of plugins) if (!pluginFolders || pluginFolders.has(path.basename(p))) await sweep(p);
  return removed;
}

export interface TreeRun {
  /** Leftovers of earlier recorded runs removed when this run began. */
  readonly cleaned: string[];
  /**
   * Removes what this run left, forgets it in the journal and releases the lock. A run that knows the
   * plugin folders it wrote temp or old entries into names them, and only those are read (a warm pull
   * of 5,000 plugins wrote into none).
   */
  end(pluginFolders?: ReadonlySet<string>): Promise<void>;
}

/** Locks the output root, removes recorded runs' leftovers and records this run. */
export async function beginTreeRun(root: string, lock: LockOptions = {}): Promise<TreeRun> {
  const held = await lockOutputRoot(root, lock);
  try {
    const previous = await readJournal(root);
    // A journal with no earlier run means every run before this one ended and removed its own
    // leftovers: no folder needs reading (5,000 readdir calls in a tree of 5,000 plugins).
    const cleaned = previous.some((id) => id !== RUN_ID)
      ? await removeRunLeftovers(root, new Set([...previous, RUN_ID]))
      : [];
    await writeJournal(root, [RUN_ID]);
    return {
      cleaned,
      end: async (pluginFolders) => {
        try {
          await removeRunLeftovers(root, new Set([RUN_ID]), pluginFolders);
          await writeJournal(root, []);
        } finally {
          await held.release();
        }
      },
    };
  } catch (err) {
    await held.release();
    throw err;
  }
}
