/**
 * Per pull run, the same sha256 is analysed and compressed once (aliases, identical blobs under
 * other names), and a `.gz` already in the tree for that sha256, made at the same level, is copied
 * instead of recompressed (the .gz is a pure function of the bytes and the level). It sits in the pipeline
 * because it reads the tree; the byte work itself is src/content/prepare.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import { IntegrityError } from '../errors';
import { GZ_FILE, MAX_WASM_BYTES, PLUGINS_DIR } from '../contract/tree-format';
import { CpuPool, cpuPool } from '../content/cpu-pool';
import { sha256Hex, sha256OfFile, writeFileDurable } from '../content/fsutil';
import { gzipHeader } from '../content/gzip-format';
import { checkGzipOf } from '../content/gzip-check';
import { DEFAULT_GZIP_LEVEL, GzipLevel } from '../contract/gzip-level';
import { analyzeWasm, deflateFile, gzipParts, PreparedWasm, preparedWasm, WasmFacts } from '../content/prepare';
import { filesMatchBySize, readAllMetadata, readMetadata } from '../tree/read';
import { SHARED_FILE_MODE } from '../tree/publish';

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
    readonly level: GzipLevel = DEFAULT_GZIP_LEVEL,
    private readonly pool: CpuPool = cpuPool(),
  ) {}

  /**
   * Lets go of the run's records once its commit has used them: a pull keeps writing the OCI view
   * after that, and at 20,000 versions these were 12 MB of the heap at its peak. The counters stay.
   */
  release(): void {
    this.bySha.clear();
    this.treeIndex = undefined;
  }

  /**
   * Facts and .gz for the wasm at `file`. `sha256` (hex), when the caller already knows it from a
   * digest-checked download, lets identical content skip even the analysis. `owned` files live in the
   * run's temp folder (fsynced here once; their mtime may be set by `claim`).
   */
  async prepare(file: string, opts: { sha256?: string; owned: boolean }): Promise<PreparedWasm> {
    const hit = opts.sha256 ? this.bySha.get(opts.sha256) : undefined;
    if (hit) return this.reuse(hit);
    if (opts.sha256) {
      // Registered before the analysis, so concurrent plugins with the same bytes wait for this one.
      return this.track(opts.sha256, opts.owned, this.produceKnown(file, opts.owned, opts.sha256));
    }
    const facts = await this.analyze(file, opts.owned);
    const again = this.bySha.get(facts.sha256);
    if (again) return this.reuse(again);
    return this.track(facts.sha256, opts.owned, this.produceGz(file, facts));
  }

  private analyze(file: string, owned: boolean): Promise<WasmFacts> {
    this.stats.analyzed++;
    return analyzeWasm(file, { fsync: owned, pool: this.pool });
  }

  private async reuse(e: Entry): Promise<PreparedWasm> {
    this.stats.reusedRun++;
    const p = await e.prepared;
    return preparedWasm(p, { ...p, gz: 'reused-run' });
  }

  private async track(sha256: string, owned: boolean, prepared: Promise<PreparedWasm>): Promise<PreparedWasm> {
    const entry: Entry = { owned, prepared };
    this.bySha.set(sha256, entry);
    try {
      return await entry.prepared;
    } catch (err) {
      if (this.bySha.get(sha256) === entry) this.bySha.delete(sha256); // another copy of the bytes may try again
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
    await Promise.all(
      [p.wasmPath, p.gzPath].map(async (f) => {
        await fs.promises.chmod(f, SHARED_FILE_MODE); // hardlinked into the tree as they are
        await fs.promises.utimes(f, created, created);
      }),
    );
  }

  /**
   * With the sha256 known up front (a digest-checked download), compression does not wait for the
   * analysis: both are queued at once, unless the tree may already hold a .gz of these bytes. A
   * module that then fails validation only wasted some CPU; nothing of it is published.
   */
  private async produceKnown(file: string, owned: boolean, want: string): Promise<PreparedWasm> {
    const analysis = this.analyze(file, owned);
    // Awaited below; until then a failed analysis must not count as an unhandled rejection.
    analysis.catch(() => undefined);
    let chunks: Promise<Uint8Array[]> | undefined;
    if (!(await this.index()).has(want)) {
      const { size } = await fs.promises.stat(file);
      if (size <= MAX_WASM_BYTES) {
        chunks = deflateFile(file, size, this.level, this.pool);
        chunks.catch(() => undefined); // its failure surfaces below, or the analysis failed first
      }
    }
    const facts = await analysis;
    if (facts.sha256 !== want)
      throw new IntegrityError({
        code: 'E_DIGEST_MISMATCH',
        message: `${file} has sha256 ${facts.sha256}, expected ${want}`,
        hint: 'pull again; the staged file changed',
      });
    return chunks ? this.writeGz(file, facts, await chunks) : this.produceGz(file, facts);
  }

  private async writeGz(file: string, facts: WasmFacts, chunks: Uint8Array[]): Promise<PreparedWasm> {
    this.stats.compressed++;
    const gzPath = path.join(this.workDir, `${facts.sha256.slice(0, 16)}-${this.seq++}.${GZ_FILE}`);
    const parts = gzipParts(chunks, facts, this.level);
    // The mtime is set later, when the publishing folder's time is known.
    await writeFileDurable(gzPath, parts);
    return preparedWasm(facts, {
      wasmPath: file,
      gzPath,
      gzipSize: parts.reduce((n, p) => n + p.byteLength, 0),
      gzipSha256: sha256Hex(...parts),
      gzipLevel: this.level,
      gz: 'compressed',
    });
  }

  private async produceGz(file: string, facts: WasmFacts): Promise<PreparedWasm> {
    const gzPath = path.join(this.workDir, `${facts.sha256.slice(0, 16)}-${this.seq++}.${GZ_FILE}`);
    const fromTree = await this.copyFromTree(facts, gzPath);
    if (fromTree !== undefined) {
      this.stats.reusedTree++;
      return preparedWasm(facts, {
        wasmPath: file,
        gzPath,
        gzipSize: fromTree.size,
        gzipSha256: fromTree.sha256,
        gzipLevel: this.level,
        gz: 'reused-tree',
      });
    }
    return this.writeGz(file, facts, await deflateFile(file, facts.size, this.level, this.pool));
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
   * Copies an existing .gz of the same bytes into `dest`; returns its size and sha256, or undefined
   * when none qualifies. Only a .gz made at this run's level is reused (metadata records the level;
   * in older trees, only level 9, which the gzip header records as XFL 2), and our header (OS 255)
   * tells our chunked layout from other writers, so the result is byte-identical to a fresh
   * compression. The copy (not the tree's file, which could change
   * meanwhile) is checked before it is used: hashed against the sha256 its metadata recorded for the
   * .gz (cheap: one read, no decoding), or, in a tree written before that was recorded, fully decoded
   * and hashed. A .gz that only looks right at both ends is compressed afresh.
   */
  private async copyFromTree(facts: WasmFacts, dest: string): Promise<{ size: number; sha256: string } | undefined> {
    const want = gzipHeader(this.level);
    for (const dir of (await this.index()).get(facts.sha256) ?? []) {
      const meta = await readMetadata(dir);
      if (!meta || meta.sha256 !== facts.sha256 || meta.size !== facts.size || !(await filesMatchBySize(dir, meta)))
        continue;
      // Made at this run's level (recorded), or, in a tree from before the level was recorded, level 9.
      if ((meta.gzipLevel ?? 9) !== this.level) continue;
      const src = path.join(dir, GZ_FILE);
      const st = await fs.promises.lstat(src).catch(() => undefined);
      if (!st?.isFile()) continue; // never through a symlink
      await fs.promises.copyFile(src, dest, fs.constants.COPYFILE_FICLONE);
      const head = Buffer.alloc(want.length);
      const fh = await fs.promises.open(dest, 'r');
      try {
        await fh.read(head, 0, head.length, 0);
      } finally {
        await fh.close();
      }
      const size = (await fs.promises.stat(dest)).size;
      if (head.equals(want) && size === meta.gzipSize) {
        const sha256 = await sha256OfFile(dest);
        const sound =
          meta.gzipSha256 !== undefined ? sha256 === meta.gzipSha256 : (await checkGzipOf(dest, facts)) === 'ok';
        if (sound) return { size, sha256 };
      }
      await fs.promises.rm(dest, { force: true });
    }
    return undefined;
  }
}
