/**
 * Wasm payload checks, run before anything is published: the gateway would otherwise fail to load
 * the plugin at runtime, far from the build that produced the bad file.
 */
import { IntegrityError } from '../errors';
import { MAX_WASM_BYTES } from '../contract/tree-format';

const MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);
const VERSION_1 = Buffer.from([0x01, 0x00, 0x00, 0x00]);

export interface WasmWhere {
  plugin?: string;
  version?: string;
}

/** Refuses bodies over the gateway's limit before they are read into memory. */
export function checkWasmSize(size: number, where: WasmWhere = {}): void {
  if (size > MAX_WASM_BYTES) {
    throw new IntegrityError({
      code: 'E_WASM_TOO_LARGE',
      message: `wasm is ${size} bytes, over the gateway's ${MAX_WASM_BYTES}-byte limit`,
      context: { plugin: where.plugin, version: where.version },
      hint: 'the gateway cannot load it; use a smaller build',
    });
  }
}

/** Throws an IntegrityError unless `bytes` is a size-bounded, structurally valid Wasm 1.0 module. */
export function checkWasm(bytes: Uint8Array, where: WasmWhere = {}): void {
  const ctx = { plugin: where.plugin, version: where.version };
  checkWasmSize(bytes.byteLength, where);
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(8, bytes.byteLength));
  if (head.length < 8 || !head.subarray(0, 4).equals(MAGIC)) {
    throw new IntegrityError({
      code: 'E_NOT_WASM',
      message: 'payload is not a Wasm module (no \\0asm magic)',
      context: ctx,
      hint: 'check that the reference points at a Wasm plugin artifact',
    });
  }
  if (!head.subarray(4, 8).equals(VERSION_1)) {
    throw new IntegrityError({
      code: 'E_WASM_VERSION',
      message: `unsupported Wasm binary version ${head.readUInt32LE(4)}`,
      context: ctx,
      hint: 'the gateway loads Wasm version 1 modules only',
    });
  }
  if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) {
    throw new IntegrityError({
      code: 'E_WASM_INVALID',
      message: 'Wasm module does not validate (truncated or corrupt)',
      context: ctx,
      hint: 'pull it again or rebuild the plugin',
    });
  }
}
