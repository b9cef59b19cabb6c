/**
 * Evidence helpers for pipeline fault tests: a byte-level fingerprint of a plugin tree (to prove a
 * failed run changed nothing), the pipeline's leftover temp folders, and distinct-but-valid Wasm
 * modules (a custom section appended), so a wrong file can never look like the right one.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { VERIFIED_FILE } from '../../src/contract/tree-format';

export { wasmVariant } from '../../bench/wasm-variant';

/**
 * Relative path -> sha256 of every file (symlinks as `link:<target>`), sorted; with `mtimes`, each
 * value also carries the file's mtime (Nginx's validators come from it). The pull's record of what
 * it read (VERIFIED_FILE) is left out: it names this machine's inodes and times, so two equal trees
 * never share it; with `record`, it is kept (a run that must write nothing at all).
 */
export function treeState(root: string, opts: { mtimes?: boolean; record?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (dir === root && e.name === VERIFIED_FILE && !opts.record) continue;
      if (e.isSymbolicLink()) out[path.relative(root, p)] = `link:${fs.readlinkSync(p)}`;
      else if (e.isDirectory()) walk(p);
      else {
        const sha = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
        out[path.relative(root, p)] = opts.mtimes ? `${fs.statSync(p).mtimeMs}:${sha}` : sha;
      }
    }
  };
  if (fs.existsSync(root)) walk(root);
  return out;
}

/** Temp and old folders (`.tmp-*`, `.old-*`) anywhere under `root`. */
export function leftovers(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.name.startsWith('.tmp-') || e.name.startsWith('.old-')) found.push(path.relative(root, p));
      else if (e.isDirectory()) walk(p);
    }
  };
  if (fs.existsSync(root)) walk(root);
  return found;
}

/**
 * Writes into a published file in place, as a careless operator would. The tree's plugin.wasm and
 * plugin.wasm.gz are read-only (0444: they may be hardlinks shared by several versions), so the file
 * is made writable first, as anyone but root must do; a shared inode then changes for every path.
 */
export function editInPlace(file: string, data: string | Buffer, how: 'write' | 'append' = 'write'): void {
  fs.chmodSync(file, 0o644);
  if (how === 'append') fs.appendFileSync(file, data);
  else fs.writeFileSync(file, data);
}
