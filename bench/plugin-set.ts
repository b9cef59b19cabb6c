/**
 * A plugin set shaped like the one the default image ships: the names and repositories of
 * image/plugins.properties (43 plugins), 42 "Go" modules of 5–15 MB and one "Rust" module of 1.5 MB,
 * every module distinct. The bytes are slices of esbuild.wasm (a real Go wasm build), so gzip sees
 * what it sees in Go plugins (.gz ≈ 0.27 of the wasm); each module is a valid Wasm 1.0 module holding
 * its slice in a custom section, plus a tag section that makes it unique.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { leb128, wasmVariant } from './wasm-variant';

const ROOT = path.resolve(__dirname, '..', '..');
export const DEFAULT_LIST = path.join(ROOT, 'image', 'plugins.properties');

export interface ListEntry {
  name: string;
  repository: string;
  tag: string;
}

export interface PluginModule extends ListEntry {
  wasm: Buffer;
  /** Hex sha256 of the wasm: what a WasmPlugin's `sha256` carries. */
  sha256: string;
  language: 'go' | 'rust';
}

/** The plain `name=oci://host/repo:tag` lines of a Higress list (extensions are skipped). */
export function readList(file: string): ListEntry[] {
  const out: ListEntry[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = line.trim().match(/^([A-Za-z0-9][\w.-]*)\s*=\s*oci:\/\/[^/]+\/([^:@\s]+):([\w.-]+)$/);
    if (m && !out.some((e) => e.name === m[1])) out.push({ name: m[1], repository: m[2], tag: m[3] });
  }
  return out;
}

const GO_MIN = 5e6;
const GO_MAX = 15e6;
const RUST_SIZE = 1.5e6;

/**
 * Size of the i-th of n Go modules: evenly spread over 5–15 MB, in a scrambled order so that size
 * does not follow the list's alphabetical order (a multiplier coprime to n permutes 0..n-1).
 */
export function goModuleSize(i: number, n: number): number {
  const rank = (i * 17) % n;
  return Math.round(GO_MIN + ((GO_MAX - GO_MIN) * rank) / Math.max(1, n - 1));
}

/** A Wasm module of about `size` bytes: a custom section with `size` bytes of `source` from `offset`. */
function moduleOfSize(source: Buffer, size: number, offset: number): Buffer {
  const payload = Buffer.alloc(size);
  for (let filled = 0; filled < size;) {
    const start = (offset + filled) % source.length;
    filled += source.copy(payload, filled, start, Math.min(source.length, start + size - filled));
  }
  const name = Buffer.from('hps-payload');
  const content = Buffer.concat([leb128(name.length), name, payload]);
  return Buffer.concat([Buffer.from('\0asm\x01\0\0\0', 'latin1'), Buffer.from([0]), leb128(content.length), content]);
}

/**
 * The 43-plugin set; the last entry of the list is the Rust-sized one. `BENCH_PLUGIN_COUNT=<n>` keeps
 * the first n-1 plugins and the last, for quick runs while developing a bench.
 */
export function pluginSet(listFile = DEFAULT_LIST): PluginModule[] {
  const all = readList(listFile);
  const count = Number(process.env.BENCH_PLUGIN_COUNT ?? all.length);
  const entries = count < all.length ? [...all.slice(0, Math.max(0, count - 1)), all[all.length - 1]] : all;
  const esbuild = fs.readFileSync(require.resolve('esbuild-wasm/esbuild.wasm'));
  const goCount = entries.length - 1;
  return entries.map((e, i) => {
    const rust = i === entries.length - 1;
    const size = rust ? RUST_SIZE : goModuleSize(i, goCount);
    // Offsets spread over the source so no two modules start alike.
    const wasm = wasmVariant(
      moduleOfSize(esbuild, size, Math.floor((esbuild.length * i) / entries.length)),
      `${e.name}:${e.tag}`,
    );
    return { ...e, wasm, sha256: createHash('sha256').update(wasm).digest('hex'), language: rust ? 'rust' : 'go' };
  });
}
