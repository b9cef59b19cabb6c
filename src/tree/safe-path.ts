/**
 * The pipeline never follows a symlink under the output root: a linked `plugins/<name>` would make a
 * publish or prune write and delete outside the tree. Every component below the root is checked with
 * lstat before it is used (the root itself is the operator's choice and may be a link). The output
 * lock (output-lock.ts) keeps other runs of this tool from changing a component between check and use.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as fastFs from '../content/fs-fast';
import { EnvironmentError } from '../errors';

/** Throws E_TREE_SYMLINK if any existing component of `root/segments...` is a symlink or not a folder where one is needed. */
export async function assertNoSymlinkBelow(root: string, ...segments: string[]): Promise<void> {
  let current = root;
  for (const [i, segment] of segments.entries()) {
    current = path.join(current, segment);
    let st: fs.Stats;
    try {
      st = await fastFs.lstat(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // the rest is created by the caller
      throw err;
    }
    const rel = path.relative(root, current);
    if (st.isSymbolicLink()) {
      throw new EnvironmentError({
        code: 'E_TREE_SYMLINK',
        message: `${rel} under ${root} is a symlink; it is never followed`,
        context: { file: current },
        hint: 'replace the link with a real folder (or remove it) and run again',
      });
    }
    if (i < segments.length - 1 && !st.isDirectory()) {
      throw new EnvironmentError({
        code: 'E_FS_IS_DIRECTORY',
        message: `${rel} under ${root} is not a folder`,
        context: { file: current },
        hint: 'move the file away and run again',
      });
    }
  }
}
