/**
 * Evidence helpers for pipeline fault tests: a byte-level fingerprint of a plugin tree (to prove a
 * failed run changed nothing), the pipeline's leftover temp folders, and distinct-but-valid Wasm
 * modules (a custom section appended), so a wrong file can never look like the right one.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** Relative path -> sha256 of every file (symlinks as `link:<target>`), sorted. */
export function treeState(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isSymbolicLink()) out[path.relative(root, p)] = `link:${fs.readlinkSync(p)}`;
      else if (e.isDirectory()) walk(p);
      else out[path.relative(root, p)] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
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

function leb128(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    bytes.push(b);
  } while (n);
  return Buffer.from(bytes);
}

/** `base` plus a custom section named `hps-variant` holding `tag`: still a valid module, different bytes. */
export function wasmVariant(base: Buffer, tag: string): Buffer {
  const name = Buffer.from('hps-variant');
  const payload = Buffer.from(tag);
  const content = Buffer.concat([leb128(name.length), name, payload]);
  return Buffer.concat([base, Buffer.from([0]), leb128(content.length), content]);
}
