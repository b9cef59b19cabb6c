/**
 * Worker-thread side of the CPU pool: the CPU-heavy steps of publishing a module (validation,
 * hashing, deflate) run here so the main thread keeps downloading other plugins meanwhile.
 * The worker reads the bytes itself from the path it is given, so no 12 MB buffer crosses threads.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { parentPort } from 'worker_threads';
import * as zlib from 'zlib';
import type { GzipLevel } from '../contract/gzip-level';
import { ErrorCode, ErrorContext, PluginServerError } from '../errors';
import { checkWasm, WasmWhere } from './wasm';
import { ChunkPlan, deflateChunk } from './gzip-format';

export type CpuTask =
  | { kind: 'analyze'; file: string; fsync: boolean; where?: WasmWhere }
  | { kind: 'deflate'; file: string; plan: ChunkPlan; level: GzipLevel }
  | FramedHashTask;

/**
 * The hashes of an OCI image made of two files with bytes around each (src/ociview/image.ts):
 * sha256 of `aHead ‖ a ‖ aTail`, of `bHead ‖ b ‖ bTail`, and of each file alone, each file read once.
 * With `writeB`, `bHead ‖ b ‖ bTail` is also written (new file, fsynced, mtime `mtimeMs`) to
 * `<writeB>/<its hex sha256>` unless that file exists: the layer is copied while its bytes are at hand.
 */
export interface FramedHashTask {
  kind: 'framed-hash';
  a: string;
  aHead: Uint8Array;
  aTail: Uint8Array;
  b: string;
  bHead: Uint8Array;
  bTail: Uint8Array;
  writeB?: { dir: string; mtimeMs: number };
}

export interface FramedHashes {
  /** Hex sha256 of the framed bytes, of the file alone; sizes of the framed bytes. */
  aFramed: string;
  aFile: string;
  bFramed: string;
  bFile: string;
  bFramedSize: number;
}

export interface WasmFacts {
  size: number;
  md5: string;
  sha256: string;
  crc32: number;
}

export type CpuResult = WasmFacts | Uint8Array | FramedHashes;

export type CpuReply =
  | { id: number; ok: true; value: CpuResult }
  | { id: number; ok: false; error: { code?: ErrorCode; message: string; context?: ErrorContext; hint?: string } };

function readRange(file: string, start: number, end: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(end - start);
    let off = 0;
    while (off < buf.length) {
      const n = fs.readSync(fd, buf, off, buf.length - off, start + off);
      if (n === 0) throw new Error(`${file} is shorter than expected (changed while being read)`);
      off += n;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

function sha256Of(...parts: Uint8Array[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

function framedHashes(t: FramedHashTask): FramedHashes {
  const a = fs.readFileSync(t.a);
  const b = fs.readFileSync(t.b);
  const bFramed = sha256Of(t.bHead, b, t.bTail);
  if (t.writeB) {
    const dest = `${t.writeB.dir}/${bFramed}`;
    let fd: number | undefined;
    try {
      fd = fs.openSync(dest, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // content-addressed: another version wrote it
    }
    if (fd !== undefined) {
      try {
        for (const part of [t.bHead, b, t.bTail]) fs.writeSync(fd, part);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      const when = new Date(t.writeB.mtimeMs);
      fs.utimesSync(dest, when, when);
    }
  }
  return {
    aFramed: sha256Of(t.aHead, a, t.aTail),
    aFile: sha256Of(a),
    bFramed,
    bFile: sha256Of(b),
    bFramedSize: t.bHead.length + b.length + t.bTail.length,
  };
}

/** Runs one task synchronously (we are off the main thread). Exported for tests. */
export function runCpuTask(task: CpuTask): CpuResult {
  if (task.kind === 'framed-hash') return framedHashes(task);
  if (task.kind === 'deflate') {
    return deflateChunk(readRange(task.file, task.plan.dictStart, task.plan.end), task.plan, task.level);
  }
  const fd = fs.openSync(task.file, 'r');
  try {
    // Durability of the staged download is settled here, once, instead of per published folder.
    if (task.fsync) fs.fsyncSync(fd);
    const bytes = fs.readFileSync(fd);
    checkWasm(bytes, task.where);
    return {
      size: bytes.byteLength,
      md5: crypto.createHash('md5').update(bytes).digest('hex'),
      sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
      crc32: zlib.crc32(bytes),
    };
  } finally {
    fs.closeSync(fd);
  }
}

if (parentPort) {
  const port = parentPort;
  port.on('message', ({ id, task }: { id: number; task: CpuTask }) => {
    let reply: CpuReply;
    try {
      reply = { id, ok: true, value: runCpuTask(task) };
    } catch (err) {
      const e =
        err instanceof PluginServerError
          ? { code: err.code, message: err.message, context: err.context, hint: err.hint }
          : { message: err instanceof Error ? err.message : String(err) };
      reply = { id, ok: false, error: e };
    }
    port.postMessage(reply);
  });
}
