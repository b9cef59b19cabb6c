/**
 * The source's own artifact, kept so the plugin server can serve it unchanged (src/ociview): the exact
 * manifest bytes and every blob they name except the raw wasm layer (that is plugin.wasm). Only for a
 * raw wasm layer in a form the gateway loads; best effort: without it the plugin is still served,
 * under a manifest the plugin server generates.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { FetchedManifest, RegistryClient } from '../registry/client';
import type { Descriptor, ImageManifest } from '../registry/media';
import type { OciReference, OriginalArtifact } from '../types';
import { gatewayLoads } from './layers';

/** Side blobs (config, spec.yaml, README, icon) are small; a source with a bigger one is not kept. */
export const MAX_SIDE_BLOB_BYTES = 4 * 1024 * 1024;

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
/** The `{}` config most Wasm artifacts carry: known bytes, no request. */
const EMPTY_JSON = Buffer.from('{}');

/**
 * A copy of `b` in memory of its own. A manifest read through a small Buffer (Buffer.concat,
 * Buffer.from) is a slice of Node's shared 8 KB pool, and one slice kept alive keeps its whole pool
 * block: originals are held until the OCI view is written, so at 20,000 versions that was one 8 KB
 * block per manifest of about 500 bytes.
 */
function ownBytes(b: Buffer): Buffer {
  const own = Buffer.allocUnsafeSlow(b.length);
  b.copy(own);
  return own;
}

/**
 * `chain`: the top-level manifest, then the index entry chosen (when the top is an index).
 * `known`: bytes already in hand (the spec.yaml read for the tree), used when they hash right.
 */
export async function keepOriginal(
  registry: Pick<RegistryClient, 'readBlob'>,
  ref: OciReference,
  chain: FetchedManifest[],
  image: ImageManifest,
  wasm: Descriptor,
  dir: string,
  known: Buffer[],
  signal?: AbortSignal,
): Promise<OriginalArtifact | undefined> {
  if (!gatewayLoads(image)) return undefined;
  const side = [...(image.config ? [image.config] : []), ...image.layers.filter((l) => l.digest !== wasm.digest)];
  if (side.some((d) => d.size > MAX_SIDE_BLOB_BYTES)) return undefined;
  const inHand = new Map([EMPTY_JSON, ...known].map((b) => [sha256(b), b]));
  try {
    const distinct = [...new Map(side.map((d) => [d.digest, d])).values()];
    const blobs = await Promise.all(
      distinct.map(async (d) => {
        const file = path.join(dir, `side-${d.digest.slice('sha256:'.length)}`);
        const have = inHand.get(d.digest);
        const bytes =
          have && have.length === d.size ? have : await registry.readBlob(ref, d, MAX_SIDE_BLOB_BYTES, signal);
        await fs.promises.writeFile(file, bytes);
        return { digest: d.digest, size: d.size, path: file };
      }),
    );
    return {
      manifests: chain.map((m) => ({ digest: m.digest, mediaType: m.manifest.mediaType, bytes: ownBytes(m.bytes) })),
      blobs,
      wasmLayer: wasm.digest,
    };
  } catch {
    return undefined;
  }
}
