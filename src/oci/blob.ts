/**
 * Blob bodies: small ones (manifests, configs, spec.yaml) read into memory, wasm streamed to disk.
 * Every byte goes through a DigestCounter, so a blob is only accepted when size and sha256 match its
 * descriptor. A tar+gzip layer is hashed as compressed bytes and unpacked on the fly; only an entry
 * named plugin.wasm (in any folder) is written.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import { Parser, ReadEntry } from 'tar';
import type { Response } from 'undici';
import { IntegrityError } from '../errors';
import { DigestCounter, Expected, oversize } from './verify-stream';
import type { IdleTimer } from './transport';

export const WASM_ENTRY = 'plugin.wasm';

function body(res: Response): Readable {
  if (!res.body) return Readable.from([]);
  return Readable.fromWeb(res.body as import('stream/web').ReadableStream<Uint8Array>);
}

function checkContentLength(res: Response, maxBytes: number, url: string): void {
  const length = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(length) && length > maxBytes) throw oversize(url, length, maxBytes, 'Content-Length says');
}

/** Reads a body of at most `limit` bytes into memory and checks it against `expected`. */
export async function readVerified(res: Response, expected: Expected, limit: number, url: string, timer: IdleTimer): Promise<Buffer> {
  const counter = new DigestCounter(expected, limit, url);
  checkContentLength(res, limit, url);
  const chunks: Buffer[] = [];
  for await (const chunk of body(res)) {
    timer.touch();
    counter.update(chunk as Buffer);
    chunks.push(chunk as Buffer);
  }
  counter.finish();
  return Buffer.concat(chunks);
}

/** Reads a body whose digest is not known in advance (a manifest by tag), refusing more than `limit`. */
export async function readLimited(res: Response, limit: number, url: string, timer: IdleTimer): Promise<Buffer> {
  checkContentLength(res, limit, url);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body(res)) {
    timer.touch();
    n += (chunk as Buffer).length;
    if (n > limit) throw oversize(url, n, limit, 'body has at least');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function counted(counter: DigestCounter, timer: IdleTimer) {
  return async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      timer.touch();
      counter.update(chunk);
      yield chunk;
    }
    counter.finish();
  };
}

function closed(stream: fs.WriteStream): Promise<void> {
  return stream.closed ? Promise.resolve() : new Promise((resolve) => stream.once('close', () => resolve()));
}

export interface WrittenWasm {
  size: number;
  sha256: string;
}

/** Streams a raw wasm layer to `dest`; its sha256 is the layer digest, checked on the way. */
export async function streamRawLayer(res: Response, expected: Expected, maxBytes: number, url: string, dest: string, timer: IdleTimer): Promise<WrittenWasm> {
  const counter = new DigestCounter(expected, maxBytes, url);
  checkContentLength(res, maxBytes, url);
  const out = fs.createWriteStream(dest);
  try {
    await pipeline(body(res), counted(counter, timer), out);
  } catch (err) {
    // The file stream opens asynchronously: wait until it is closed, or the removal can run before
    // the open and leave a partial file behind.
    await closed(out);
    await fs.promises.rm(dest, { force: true });
    throw err;
  }
  return { size: counter.bytes, sha256: expected.digest.slice('sha256:'.length) };
}

/**
 * Streams a tar(+gzip) layer, writing its plugin.wasm to `dest`. Returns undefined (and writes
 * nothing) when the layer holds no plugin.wasm, so the caller can try the next layer.
 */
export async function streamTarLayer(res: Response, expected: Expected, maxBytes: number, url: string, dest: string, timer: IdleTimer): Promise<WrittenWasm | undefined> {
  const counter = new DigestCounter(expected, maxBytes, url);
  checkContentLength(res, maxBytes, url);
  const sink = new TarWasmSink(dest, maxBytes, url);
  try {
    await pipeline(body(res), counted(counter, timer), sink);
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
  private failure: unknown;
  private out: fs.WriteStream | undefined;

  constructor(private readonly dest: string, private readonly maxBytes: number, private readonly url: string) {
    super();
    this.parser = new Parser({ strict: true, onReadEntry: (entry) => this.onEntry(entry) });
    this.parser.on('error', (err: unknown) => {
      this.failure ??= new IntegrityError('E_LAYER_FORMAT', `layer ${url} is not a readable tar(+gzip): ${err instanceof Error ? err.message : String(err)}`, { url },
        'push the plugin as a tar+gzip layer holding plugin.wasm or as a raw wasm layer');
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
    if (this.failure) return cb(this.failure as Error);
    if (this.parser.write(chunk)) cb();
    else this.parser.once('drain', () => cb(this.failure as Error | undefined));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.parser.end(() => cb(this.failure as Error | undefined));
  }

  async result(): Promise<WrittenWasm | undefined> {
    if (this.failure) throw this.failure;
    return this.written ? await this.written : undefined;
  }
}
