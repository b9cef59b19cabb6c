/**
 * The plugin server's own image for a plugin version: an OCI image manifest with one
 * `application/vnd.oci.image.layer.v1.tar+gzip` layer holding `plugin.wasm` (Istio's "compat" variant,
 * which every pkg/wasm release reads: it takes the last tar+gzip layer and its `plugin.wasm`).
 *
 * The layer reuses plugin.wasm.gz instead of compressing again: it is three gzip members back to back,
 *   gzip(tar header) ‖ plugin.wasm.gz ‖ gzip(tar padding + end-of-archive blocks)
 * and a gzip stream of several members decodes to their concatenation (RFC 1952 §2.2; Go's gzip
 * reader, GNU gzip, zlib, containerd and pigz all read it), so the layer costs no CPU and moves only
 * ~100 bytes more than plugin.wasm.gz. Everything is a function of the bytes and `created`, so the
 * same tree always yields the same digests.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import { gzipChunkedSync } from '../content/gzip-format';
import { WASM_FILE } from '../contract/tree-format';
import { OCI_MANIFEST } from '../oci/registry/media';
import { OCI_TAR_GZIP } from '../oci/wasm/layers';
import { OCI_CONFIG } from './layout';

const BLOCK = 512;

/** A POSIX ustar header for one regular file, root-owned, mode 0644. */
export function tarHeader(name: string, size: number, mtimeSeconds: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const field = (offset: number, length: number, value: string) => h.write(value, offset, length, 'ascii');
  const octal = (offset: number, length: number, value: number) => field(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, mtimeSeconds);
  field(148, 8, '        '); // checksum is computed with its own field as spaces
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** What follows the file's data: padding to a 512-byte block, then two zero blocks. */
export function tarTrailer(size: number): Buffer {
  return Buffer.alloc(((BLOCK - (size % BLOCK)) % BLOCK) + 2 * BLOCK);
}

export interface GeneratedImage {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  /** The layer is written by `writeLayer`: head ‖ plugin.wasm.gz ‖ tail. */
  layerHead: Buffer;
  layerTail: Buffer;
  layerDigest: string;
  layerSize: number;
  /** Hex sha256 of plugin.wasm and of plugin.wasm.gz as read here: what the image was made from. */
  wasmSha256: string;
  gzSha256: string;
}

function sha256(...parts: Buffer[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return `sha256:${h.digest('hex')}`;
}

/** sha256 of head ‖ file ‖ tail, and of the file alone, in one read. */
async function hashFileBetween(file: string, head: Buffer, tail: Buffer): Promise<{ digest: string; size: number; fileSha256: string }> {
  const h = createHash('sha256').update(head);
  const own = createHash('sha256');
  let size = head.length;
  for await (const chunk of fs.createReadStream(file)) {
    h.update(chunk as Buffer);
    own.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  h.update(tail);
  return { digest: `sha256:${h.digest('hex')}`, size: size + tail.length, fileSha256: own.digest('hex') };
}

/** Canonical JSON: keys in the order written here, no whitespace. */
function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/**
 * Builds the image of one version folder from its plugin.wasm, plugin.wasm.gz and `created` (RFC 3339).
 * Streams both files once each (hashes only; nothing is compressed).
 */
export async function buildImage(wasmPath: string, gzPath: string, wasmSize: number, created: string): Promise<GeneratedImage> {
  const mtime = Math.floor(new Date(created).getTime() / 1000);
  const header = tarHeader(WASM_FILE, wasmSize, mtime);
  const trailer = tarTrailer(wasmSize);
  const raw = await hashFileBetween(wasmPath, header, trailer);
  const diffId = raw.digest;
  const layerHead = gzipChunkedSync(header);
  const layerTail = gzipChunkedSync(trailer);
  const layer = await hashFileBetween(gzPath, layerHead, layerTail);
  const config = json({ created, architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } });
  const configDigest = sha256(config);
  const manifest = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [{ mediaType: OCI_TAR_GZIP, digest: layer.digest, size: layer.size, annotations: { 'org.opencontainers.image.title': 'plugin.tar.gz' } }],
    annotations: { 'module.wasm.image/variant': 'compat', 'org.opencontainers.image.created': created },
  });
  return {
    manifest, manifestDigest: sha256(manifest), config, configDigest, layerHead, layerTail, layerDigest: layer.digest, layerSize: layer.size,
    wasmSha256: raw.fileSha256, gzSha256: layer.fileSha256,
  };
}

/** Writes head ‖ plugin.wasm.gz ‖ tail to `dest` (a new file) and fsyncs it. */
export async function writeLayer(image: GeneratedImage, gzPath: string, dest: string): Promise<void> {
  const fh = await fs.promises.open(dest, 'wx', 0o644);
  try {
    await fh.write(image.layerHead);
    for await (const chunk of fs.createReadStream(gzPath)) await fh.write(chunk as Buffer);
    await fh.write(image.layerTail);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
