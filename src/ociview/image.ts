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
import { imageFrames } from '../content/tar-frame';
import type { FramedHashes } from '../content/cpu-worker';
import { OCI_MANIFEST } from '../oci/registry/media';
import { OCI_TAR_GZIP } from '../oci/wasm/layers';
import { OCI_CONFIG } from './layout';

export { tarHeader, tarTrailer } from '../content/tar-frame';

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
  const hashes = await (opts.pool ?? cpuPool()).framedHash({
    a: wasmPath,
    b: gzPath,
    ...imageFrames(wasmSize, created),
    ...(opts.layerDir ? { writeB: { dir: opts.layerDir, mtimeMs: createdMs } } : {}),
  });
  return imageOf(hashes, created);
}

/**
 * The image made from the framed hashes of a version's two files (see buildImage): `verify` takes
 * them from its own single read of each file instead of reading both again.
 */
export function imageOf(
  hashes: Pick<FramedHashes, 'aFramed' | 'aFile' | 'bFramed' | 'bFile' | 'bFramedSize'>,
  created: string,
): GeneratedImage {
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
