/**
 * Writing the module of a verified layer stream to disk: a raw wasm layer as is, a tar(+gzip) layer by
 * unpacking on the fly and keeping only the entry named plugin.wasm (in any folder). The stream checks
 * its own digest (registry/body.ts), so its failure removes the file; nothing half-written remains.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import type { Parser, ReadEntry } from 'tar';
import { IntegrityError } from '../../errors';
import { oversize } from '../registry/verify-stream';
import { WASM_ENTRY } from './layers';

export interface WrittenWasm {
  size: number;
  sha256: string;
}

function closed(stream: fs.WriteStream): Promise<void> {
  return stream.closed ? Promise.resolve() : new Promise((resolve) => stream.once('close', () => resolve()));
}

/**
 * Writes a raw wasm layer to `dest`. The stream checks size and digest itself, so the layer digest is
 * the module's sha256 and no second hash is needed.
 */
export async function writeRawLayer(verified: Readable, dest: string): Promise<void> {
  const out = fs.createWriteStream(dest);
  try {
    await pipeline(verified, out);
  } catch (err) {
    // The file stream opens asynchronously: wait until it is closed, or the removal can run before
    // the open and leave a partial file behind.
    await closed(out);
    await fs.promises.rm(dest, { force: true });
    throw err;
  }
}

/**
 * Unpacks a tar(+gzip) layer stream, writing its plugin.wasm to `dest`. Returns undefined (and writes
 * nothing) when the layer holds no plugin.wasm, so the caller can try the next layer.
 */
export async function extractTarLayer(
  verified: Readable,
  maxBytes: number,
  url: string,
  dest: string,
): Promise<WrittenWasm | undefined> {
  const sink = new TarWasmSink(dest, maxBytes, url);
  try {
    await pipeline(verified, sink);
    return await sink.result();
  } catch (err) {
    await sink.release();
    await fs.promises.rm(dest, { force: true });
    throw err;
  }
}

/** A Writable that feeds a tar parser (which gunzips when it sees the gzip magic) and keeps plugin.wasm. */
class TarWasmSink extends Writable {
  private readonly parser: Parser;
  private written: Promise<WrittenWasm> | undefined;
  private failure: Error | undefined;
  private out: fs.WriteStream | undefined;

  constructor(
    private readonly dest: string,
    private readonly maxBytes: number,
    private readonly url: string,
  ) {
    super();
    // Loaded on first use: most plugins are raw wasm layers, and a pull that meets no tar layer (a
    // warm one above all) need not load the tar package.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy, see above
    const { Parser: TarParser } = require('tar') as typeof import('tar');
    this.parser = new TarParser({ strict: true, onReadEntry: (entry) => this.onEntry(entry) });
    this.parser.on('error', (err: unknown) => {
      this.failure ??= new IntegrityError({
        code: 'E_LAYER_FORMAT',
        message: `layer ${url} is not a readable tar(+gzip): ${err instanceof Error ? err.message : String(err)}`,
        context: { url },
        hint: 'push the plugin as a tar+gzip layer holding plugin.wasm or as a raw wasm layer',
      });
    });
  }

  private onEntry(entry: ReadEntry): void {
    if (this.written || entry.type !== 'File' || path.posix.basename(entry.path) !== WASM_ENTRY) {
      entry.resume();
      return;
    }
    if (entry.size > this.maxBytes) {
      this.failure = oversize(this.url, entry.size, this.maxBytes, `${WASM_ENTRY} in the layer has`);
      entry.resume();
      return;
    }
    const hash = createHash('sha256');
    let size = 0;
    const out = fs.createWriteStream(this.dest);
    this.out = out;
    this.written = new Promise<WrittenWasm>((resolve, reject) => {
      entry.on('data', (chunk: Buffer) => {
        size += chunk.length;
        hash.update(chunk);
        if (!out.write(chunk)) {
          entry.pause();
          out.once('drain', () => entry.resume());
        }
      });
      entry.on('end', () => out.end());
      out.on('error', reject);
      out.on('finish', () => resolve({ size, sha256: hash.digest('hex') }));
    });
    this.written.catch(() => undefined); // observed in result()
  }

  /** Closes the output file (after a failure), so it can be removed without a late open recreating it. */
  async release(): Promise<void> {
    if (!this.out) return;
    this.out.destroy();
    await closed(this.out);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.failure) return cb(this.failure);
    if (this.parser.write(chunk)) cb();
    else this.parser.once('drain', () => cb(this.failure));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.parser.end(() => cb(this.failure));
  }

  async result(): Promise<WrittenWasm | undefined> {
    if (this.failure) throw this.failure;
    return this.written ? await this.written : undefined;
  }
}
