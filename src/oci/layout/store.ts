/**
 * An OCI image layout (a bundle) read the way RegistryClient reads a registry: manifests by tag or
 * digest, small blobs in memory, big blobs as streams that verify themselves. The Wasm logic
 * (wasm/artifact.ts) runs on top unchanged, so `pull oci-layout:<bundle>` makes the same checks
 * (platform, layer choice, size and sha256 of every byte) as a pull from the registry.
 *
 * References are found by their ref.name (`host[:port]/repository:tag`, see layout.ts), or by the
 * digest they pin. A pinned reference whose ref.name names other bytes is refused.
 */
import { isDigest } from '../../contract/digest';
import { createHash } from 'crypto';
import { Readable } from 'stream';
import { IntegrityError } from '../../errors';
import type { BlobRef, FetchedManifest, RawManifest } from '../registry/client';
import { Descriptor, manifestMediaType, MAX_MANIFEST_BYTES, parseManifest } from '../registry/media';
import { DigestCounter, digestMismatch, oversize } from '../registry/verify-stream';
import { formatReference, OciReference } from '../types';
import { OciLayout, refName } from './layout';

export class LayoutStore {
  constructor(readonly layout: OciLayout) {}

  /** What the store is, for messages. */
  get label(): string {
    return `oci-layout:${this.layout.location}`;
  }

  /** The exact manifest bytes `reference` (a tag or a digest of `ref`) names in the layout, checked against its digest. */
  async rawManifest(
    ref: OciReference,
    reference: string,
    _signal?: AbortSignal,
    expected?: BlobRef,
  ): Promise<RawManifest> {
    const pinned = isDigest(reference);
    let desc: (BlobRef & { mediaType?: string }) | undefined = expected;
    if (!desc) {
      const byName = pinned ? undefined : this.layout.find(refName({ ...ref, tag: reference }));
      const byTag = ref.tag ? this.layout.find(refName(ref)) : undefined;
      if (pinned && byTag && byTag.digest !== reference) {
        throw new IntegrityError({
          code: 'E_DIGEST_MISMATCH',
          message: `${this.label} holds ${refName(ref)} as ${byTag.digest}, the reference pins ${reference}`,
          context: { file: this.layout.location },
          hint: 'write the bundle again, or fix the pinned digest',
        });
      }
      desc = byName ?? (pinned ? this.layout.findDigest(reference) : undefined);
    }
    if (!desc && pinned && this.layout.has(reference)) {
      // A child manifest of an index is not listed in index.json: its size is unknown, its digest is not.
      const bytes = await readAll(this.layout.open(reference), MAX_MANIFEST_BYTES, this.layout.label(reference));
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (digest !== reference) throw digestMismatch(this.layout.label(reference), reference, digest);
      return { bytes, digest, mediaType: manifestMediaType(bytes, '') };
    }
    if (!desc) {
      const text = formatReference(
        pinned ? { ...ref, digest: reference } : { ...ref, tag: reference, digest: undefined },
      );
      throw new IntegrityError({
        code: 'E_LAYOUT_MISSING',
        message: `${text} is not in ${this.label}`,
        context: { url: text, file: this.layout.location },
        hint: 'write the bundle again from the list that names it',
      });
    }
    const bytes = await this.layout.read(desc, MAX_MANIFEST_BYTES);
    return { bytes, digest: desc.digest, mediaType: manifestMediaType(bytes, desc.mediaType ?? '') };
  }

  /** As RegistryClient.manifest: the parsed manifest and where it came from. */
  async manifest(
    ref: OciReference,
    reference: string,
    signal?: AbortSignal,
    descriptor?: Descriptor,
  ): Promise<FetchedManifest> {
    const raw = await this.rawManifest(ref, reference, signal, descriptor);
    const url = this.layout.label(raw.digest);
    return { digest: raw.digest, manifest: parseManifest(raw.bytes, raw.mediaType, url), url, bytes: raw.bytes };
  }

  async resolve(ref: OciReference): Promise<{ digest: string; mediaType: string }> {
    const raw = await this.rawManifest(ref, ref.digest ?? ref.tag ?? 'latest');
    return { digest: raw.digest, mediaType: raw.mediaType };
  }

  async readBlob(_ref: OciReference, desc: BlobRef, limit: number): Promise<Buffer> {
    return this.layout.read(desc, limit);
  }

  /** As RegistryClient.streamBlob: `consume` gets a stream that fails unless size and sha256 match. */
  async streamBlob<T>(
    _ref: OciReference,
    desc: BlobRef,
    limit: number,
    consume: (verified: Readable, url: string) => Promise<T>,
  ): Promise<T> {
    const url = this.layout.label(desc.digest);
    if (desc.size > limit) throw oversize(url, desc.size, limit, 'descriptor says');
    const counter = new DigestCounter(desc, limit, url);
    const source = this.layout.open(desc.digest);
    const stream = Readable.from(
      (async function* () {
        for await (const chunk of source) {
          counter.update(chunk as Buffer);
          yield chunk as Buffer;
        }
        counter.finish();
      })(),
      { objectMode: false },
    );
    try {
      const out = await consume(stream, url);
      if (!counter.finished) throw new Error(`blob ${url} was not read to its end`); // a bug in consume
      return out;
    } finally {
      source.destroy();
    }
  }
}

async function readAll(stream: Readable, limit: number, label: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > limit) throw oversize(label, n, limit, 'body has at least');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
