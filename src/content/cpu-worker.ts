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
import { ErrorCode, PluginServerError } from '../errors';
import { checkWasm } from './wasm';
import { ChunkPlan, deflateChunk } from './gzip-format';

export type CpuTask =
  | { kind: 'analyze'; file: string; fsync: boolean }
  | { kind: 'deflate'; file: string; plan: ChunkPlan; level: GzipLevel };

export interface WasmFacts {
  size: number;
  md5: string;
  sha256: string;
  crc32: number;
}

export type CpuReply =
  | { id: number; ok: true; value: WasmFacts | Uint8Array }
  | { id: number; ok: false; error: { code?: ErrorCode; message: string; hint?: string } };

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

/** Runs one task synchronously (we are off the main thread). Exported for tests. */
export function runCpuTask(task: CpuTask): WasmFacts | Uint8Array {
  if (task.kind === 'deflate') {
    return deflateChunk(readRange(task.file, task.plan.dictStart, task.plan.end), task.plan, task.level);
  }
  const fd = fs.openSync(task.file, 'r');
  try {
    // Durability of the staged download is settled here, once, instead of per published folder.
    if (task.fsync) fs.fsyncSync(fd);
    const bytes = fs.readFileSync(fd);
    checkWasm(bytes);
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
      const e = err instanceof PluginServerError ? { code: err.code, message: err.message, hint: err.hint } : { message: err instanceof Error ? err.message : String(err) };
      reply = { id, ok: false, error: e };
    }
    port.postMessage(reply);
  });
}
