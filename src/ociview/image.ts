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
import { CpuPool, cpuPool } from '../content/cpu-pool';
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
  const octal = (offset: number, length: number, value: number) =>
    field(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
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

/** Canonical JSON: keys in the order written here, no whitespace. */
function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export interface BuildImageOptions {
  /**
   * Also writes the layer (head ‖ plugin.wasm.gz ‖ tail, fsynced, mtime `created`) into this folder
   * under its hex digest, unless a file of that name is there: the .gz is read once for both.
   */
  layerDir?: string;
  pool?: CpuPool;
}

/**
 * Builds the image of one version folder from its plugin.wasm, plugin.wasm.gz and `created` (RFC 3339).
 * Both files are read once each, in a worker of the CPU pool (hashes only; nothing is compressed), so
 * the images of several versions are made in parallel, off the main thread.
 */
export async function buildImage(
  wasmPath: string,
  gzPath: string,
  wasmSize: number,
  created: string,
  opts: BuildImageOptions = {},
): Promise<GeneratedImage> {
  const createdMs = new Date(created).getTime();
  const mtime = Math.floor(createdMs / 1000);
  const hashes = await (opts.pool ?? cpuPool()).framedHash({
    a: wasmPath,
    aHead: tarHeader(WASM_FILE, wasmSize, mtime),
    aTail: tarTrailer(wasmSize),
    b: gzPath,
    bHead: gzipChunkedSync(tarHeader(WASM_FILE, wasmSize, mtime)),
    bTail: gzipChunkedSync(tarTrailer(wasmSize)),
    ...(opts.layerDir ? { writeB: { dir: opts.layerDir, mtimeMs: createdMs } } : {}),
  });
  const diffId = `sha256:${hashes.aFramed}`;
  const layer = { digest: `sha256:${hashes.bFramed}`, size: hashes.bFramedSize };
  const config = json({
    created,
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: [diffId] },
  });
  const configDigest = sha256(config);
  const manifest = json({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [
      {
        mediaType: OCI_TAR_GZIP,
        digest: layer.digest,
        size: layer.size,
        annotations: { 'org.opencontainers.image.title': 'plugin.tar.gz' },
      },
    ],
    annotations: { 'module.wasm.image/variant': 'compat', 'org.opencontainers.image.created': created },
  });
  return {
    manifest,
    manifestDigest: sha256(manifest),
    config,
    configDigest,
    layerDigest: layer.digest,
    layerSize: layer.size,
    wasmSha256: hashes.aFile,
    gzSha256: hashes.bFile,
  };
}
