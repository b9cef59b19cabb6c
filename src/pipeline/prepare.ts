/**
 * Turning a staged wasm file into what a version folder needs (facts for metadata + plugin.wasm.gz),
 * off the main thread, and at most once per distinct content:
 *   - `analyzeWasm`: validation, md5, sha256 and CRC-32 in a pool worker;
 *   - `gzipFile`: the chunks of one module deflated in parallel by the pool (see gzip-format.ts);
 *   - `ContentStore`: per run, the same sha256 is analysed and compressed once (aliases, identical
 *     blobs under other names), and a level-9 `.gz` already in the tree for that sha256 is copied
 *     instead of recompressed (the .gz is a pure function of the bytes and the level).
 */
import * as fs from 'fs';
import * as path from 'path';
import { GZ_FILE, PLUGINS_DIR } from '../tree/format';
import { filesMatchBySize, readAllMetadata, readMetadata } from '../tree/read';
import { checkWasmSize } from '../tree/wasm';
import { CpuPool, cpuPool } from './cpu-pool';
import type { WasmFacts } from './cpu-worker';
import { assertGzipLevel, DEFAULT_GZIP_LEVEL, gzipHeader, gzipTrailer, planChunks } from './gzip-format';

export type { WasmFacts };

/** A wasm ready to publish: its facts and a finished .gz next to it. */
export interface PreparedWasm extends WasmFacts {
  wasmPath: string;
  gzPath: string;
  gzipSize: number;
  /** How the .gz was obtained (for progress and tests). */
  gz: 'compressed' | 'reused-tree' | 'reused-run';
}

export async function analyzeWasm(file: string, opts: { fsync?: boolean; pool?: CpuPool } = {}): Promise<WasmFacts> {
  const st = await fs.promises.stat(file);
  checkWasmSize(st.size);
  return (opts.pool ?? cpuPool()).analyze(file, opts.fsync ?? false);
}

/** The .gz bytes of `file` (whose facts are known), compressed chunk-parallel by the pool. */
export async function gzipFile(file: string, facts: WasmFacts, level = DEFAULT_GZIP_LEVEL, pool: CpuPool = cpuPool()): Promise<Buffer> {
  assertGzipLevel(level);
  const chunks = await Promise.all(planChunks(facts.size).map((plan) => pool.run({ kind: 'deflate', file, plan, level }) as Promise<Uint8Array>));
  return Buffer.concat([gzipHeader(level), ...chunks, gzipTrailer(facts.crc32, facts.size)]);
}

/** Writes and fsyncs a file (mtime is set later, when the publishing folder's time is known). */
async function writeDurable(file: string, data: Uint8Array): Promise<void> {
  const fh = await fs.promises.open(file, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

interface Entry {
  prepared: Promise<PreparedWasm>;
  /** Files this run wrote (inside the run's temp folder): their mtime may be set once, by the first folder that uses them. */
  owned: boolean;
  claimed?: string;
}

export class ContentStore {
  private bySha = new Map<string, Entry>();
  private treeIndex?: Promise<Map<string, string[]>>;
  private seq = 0;
  /** Counters, for the summary and tests. */
  readonly stats = { analyzed: 0, compressed: 0, reusedTree: 0, reusedRun: 0 };

  constructor(
    private readonly root: string,
    private readonly workDir: string,
    readonly level = DEFAULT_GZIP_LEVEL,
    private readonly pool: CpuPool = cpuPool(),
  ) {
    assertGzipLevel(level);
  }

  /**
   * Facts and .gz for the wasm at `file`. `sha256` (hex), when the caller already knows it from a
   * digest-checked download, lets identical content skip even the analysis. `owned` files live in the
   * run's temp folder (fsynced here once; their mtime may be set by `claim`).
   */
  async prepare(file: string, opts: { sha256?: string; owned: boolean }): Promise<PreparedWasm> {
    const known = opts.sha256 ? this.bySha.get(opts.sha256) : undefined;
    if (known) {
      this.stats.reusedRun++;
      return { ...(await known.prepared), gz: 'reused-run' };
    }
    this.stats.analyzed++;
    const facts = await analyzeWasm(file, { fsync: opts.owned, pool: this.pool });
    const again = this.bySha.get(facts.sha256);
    if (again) {
      this.stats.reusedRun++;
      return { ...(await again.prepared), gz: 'reused-run' };
    }
    const entry: Entry = { owned: opts.owned, prepared: this.produceGz(file, facts) };
    this.bySha.set(facts.sha256, entry);
    try {
      return await entry.prepared;
    } catch (err) {
      this.bySha.delete(facts.sha256); // let another copy of the same bytes try again
      throw err;
    }
  }

  /**
   * Gives run-owned files the mtime of the first folder that publishes them, so that folder (and any
   * other with the same time, e.g. its aliases) can hardlink them instead of copying 12 MB.
   */
  async claim(p: PreparedWasm, created: Date): Promise<void> {
    const e = this.bySha.get(p.sha256);
    if (!e || !e.owned || e.claimed !== undefined) return;
    e.claimed = created.toISOString();
    await Promise.all([fs.promises.utimes(p.wasmPath, created, created), fs.promises.utimes(p.gzPath, created, created)]);
  }

  private async produceGz(file: string, facts: WasmFacts): Promise<PreparedWasm> {
    const gzPath = path.join(this.workDir, `${facts.sha256.slice(0, 16)}-${this.seq++}.${GZ_FILE}`);
    const fromTree = await this.copyFromTree(facts, gzPath);
    if (fromTree !== undefined) {
      this.stats.reusedTree++;
      return { ...facts, wasmPath: file, gzPath, gzipSize: fromTree, gz: 'reused-tree' };
    }
    this.stats.compressed++;
    const gz = await gzipFile(file, facts, this.level, this.pool);
    await writeDurable(gzPath, gz);
    return { ...facts, wasmPath: file, gzPath, gzipSize: gz.byteLength, gz: 'compressed' };
  }

  /** sha256 -> version folders of the tree whose metadata claims those bytes (read once per run). */
  private index(): Promise<Map<string, string[]>> {
    return (this.treeIndex ??= readAllMetadata(this.root).then((metas) => {
      const m = new Map<string, string[]>();
      for (const meta of metas) {
        const dir = path.join(this.root, PLUGINS_DIR, meta.name, meta.version);
        m.set(meta.sha256, [...(m.get(meta.sha256) ?? []), dir]);
      }
      return m;
    }));
  }

  /**
   * Copies an existing .gz of the same bytes into `dest`; returns its size, or undefined when none
   * qualifies. Only level 9 is reused: it is the only level the gzip header records (XFL 2) and our
   * header (OS 255) tells our chunked layout from other writers, so the result is byte-identical to a
   * fresh compression. A copy, not a hardlink: the tree's file keeps its own mtime.
   */
  private async copyFromTree(facts: WasmFacts, dest: string): Promise<number | undefined> {
    if (this.level !== 9) return undefined;
    const want = gzipHeader(9);
    for (const dir of (await this.index()).get(facts.sha256) ?? []) {
      const meta = await readMetadata(dir);
      if (!meta || meta.sha256 !== facts.sha256 || meta.size !== facts.size || !(await filesMatchBySize(dir, meta))) continue;
      const src = path.join(dir, GZ_FILE);
      // Header = our layout at level 9; trailer = CRC-32 and size of exactly these bytes.
      const head = Buffer.alloc(want.length);
      const tail = Buffer.alloc(8);
      const fh = await fs.promises.open(src, 'r').catch(() => undefined);
      if (!fh) continue;
      try {
        await fh.read(head, 0, head.length, 0);
        await fh.read(tail, 0, tail.length, meta.gzipSize - tail.length);
      } finally {
        await fh.close();
      }
      if (!head.equals(want) || !tail.equals(gzipTrailer(facts.crc32, facts.size))) continue;
      await fs.promises.copyFile(src, dest, fs.constants.COPYFILE_FICLONE);
      const st = await fs.promises.stat(dest);
      if (st.size !== meta.gzipSize) continue; // replaced meanwhile; compress instead
      return st.size;
    }
    return undefined;
  }
}
