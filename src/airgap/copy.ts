/**
 * Byte-for-byte artifact copy between a source (a registry, or an OCI layout) and a sink (a layout
 * folder being written, or a registry). An artifact is its top manifest (exact bytes), every child
 * manifest of an index, and every config and layer blob: copying all of them unchanged keeps every
 * digest, so a lock file or a pinned reference made against the source holds for the copy.
 * Everything read is checked against its digest before it is written anywhere.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Readable, Transform } from 'stream';
import { pipeline } from 'stream/promises';
import { IntegrityError } from '../errors';
import { MAX_MANIFEST_BYTES, parseManifest } from '../oci/media';
import { BlobRef, manifestMediaType, MAX_COPY_BLOB_BYTES, RawManifest, RegistryApi } from '../oci/registry-api';
import { formatReference, OciReference } from '../oci/types';
import { DigestCounter } from '../oci/verify-stream';
import { randomSuffix } from '../tree/fsutil';
import { OciLayout, refName } from './layout';

export interface ContentSource {
  /** What the source is, for messages: a registry host or `oci-layout:<path>`. */
  label: string;
  /** The manifest `ref` names (its digest when set, else its tag), checked against `expected` when given. */
  manifest(ref: OciReference, expected?: BlobRef): Promise<RawManifest>;
  /** Makes a blob readable: a function that opens a stream of its (checked) bytes, and the checked file when there is one. */
  blob(ref: OciReference, blob: BlobRef, tmpDir: string): Promise<BlobData>;
}

export interface BlobData {
  open: () => Readable;
  /** A downloaded, already checked file the sink may move instead of copying (it is the caller's temp file). */
  file?: string;
}

export interface ContentSink {
  hasBlob(ref: OciReference, digest: string): Promise<boolean>;
  putBlob(ref: OciReference, blob: BlobRef, data: BlobData): Promise<void>;
  hasManifest(ref: OciReference, digest: string): Promise<boolean>;
  /** Stores the manifest under `reference` (a tag, or its digest for index children). */
  putManifest(ref: OciReference, reference: string, manifest: RawManifest): Promise<void>;
}

/** A stream that fails at its end unless the bytes match the descriptor. */
export function checked(open: () => Readable, blob: BlobRef, label: string): () => Readable {
  return () => {
    const counter = new DigestCounter(blob, MAX_COPY_BLOB_BYTES, label);
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        try {
          counter.update(chunk);
          cb(null, chunk);
        } catch (err) {
          cb(err as Error);
        }
      },
      flush(cb) {
        try {
          counter.finish();
          cb();
        } catch (err) {
          cb(err as Error);
        }
      },
    });
    const src = open();
    src.on('error', (err) => check.destroy(err));
    return src.pipe(check);
  };
}

export function registrySource(api: RegistryApi, label = 'registry'): ContentSource {
  return {
    label,
    manifest: (ref, expected) => api.getManifest(ref, ref.digest ?? ref.tag ?? 'latest', expected),
    async blob(ref, blob, tmpDir) {
      const file = path.join(tmpDir, `${blob.digest.replace(/^sha256:/, '')}.${randomSuffix()}`);
      await api.downloadBlob(ref, blob, file);
      return { open: () => fs.createReadStream(file), file };
    },
  };
}

/** Reads from a bundle: references are looked up by ref.name (`host/repository:tag`), or by digest when pinned. */
export function layoutSource(layout: OciLayout): ContentSource {
  const label = `oci-layout:${layout.location}`;
  return {
    label,
    async manifest(ref, expected) {
      let desc: (BlobRef & { mediaType?: string }) | undefined = expected;
      if (!desc) {
        const byName = ref.tag ? layout.find(refName(ref)) : undefined;
        if (ref.digest && byName && byName.digest !== ref.digest) {
          throw new IntegrityError('E_DIGEST_MISMATCH', `${label} holds ${refName(ref)} as ${byName.digest}, the reference pins ${ref.digest}`, { file: layout.location },
            'write the bundle again, or fix the pinned digest');
        }
        desc = byName ?? (ref.digest ? layout.findDigest(ref.digest) : undefined);
      }
      if (!desc && ref.digest && layout.has(ref.digest)) {
        // A pinned child manifest that index.json does not list: its size is unknown, its digest is not.
        const bytes = await readAll(layout.open(ref.digest), MAX_MANIFEST_BYTES);
        checkDigest(bytes, ref.digest, layout.label(ref.digest));
        return { bytes, digest: ref.digest, mediaType: manifestMediaType(bytes, '') };
      }
      if (!desc) {
        throw new IntegrityError('E_LAYOUT_MISSING', `${formatReference(ref)} is not in ${label}`, { url: formatReference(ref), file: layout.location },
          'write the bundle again from the list that names it');
      }
      const bytes = await layout.read(desc, MAX_MANIFEST_BYTES);
      return { bytes, digest: desc.digest, mediaType: manifestMediaType(bytes, desc.mediaType ?? '') };
    },
    async blob(_ref, blob) {
      if (!layout.has(blob.digest)) {
        throw new IntegrityError('E_LAYOUT_BLOB', `${layout.label(blob.digest)} is missing`, { file: layout.location }, 'the bundle is incomplete: write it again with `bundle`');
      }
      return { open: checked(() => layout.open(blob.digest), blob, layout.label(blob.digest)) };
    },
  };
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > limit) throw new IntegrityError('E_OVERSIZE', `manifest over ${limit} bytes`, {}, 'the layout is damaged');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function checkDigest(bytes: Buffer, digest: string, label: string): void {
  const counter = new DigestCounter({ digest, size: bytes.length }, MAX_MANIFEST_BYTES, label);
  counter.update(bytes);
  counter.finish();
}

/** Writes blobs and manifests into `<dir>/blobs/sha256/` (a layout being assembled). */
export function layoutDirSink(dir: string): ContentSink {
  const blobFile = (digest: string) => path.join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  const exists = async (digest: string) => fs.promises.access(blobFile(digest)).then(() => true, () => false);
  const write = async (digest: string, open: () => Readable, file?: string) => {
    const dest = blobFile(digest);
    // A checked download on the same file system is moved into place, not written a second time.
    if (file && (await fs.promises.rename(file, dest).then(() => true, () => false))) return;
    const tmp = `${dest}.tmp-${randomSuffix()}`;
    try {
      await pipeline(open(), fs.createWriteStream(tmp, { mode: 0o644 }));
      await fs.promises.rename(tmp, dest);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
  };
  return {
    hasBlob: (_ref, digest) => exists(digest),
    putBlob: (_ref, blob, data) => write(blob.digest, data.open, data.file),
    hasManifest: (_ref, digest) => exists(digest),
    putManifest: (_ref, _reference, m) => write(m.digest, () => Readable.from([m.bytes])),
  };
}

/** Pushes into a registry; blobs already pushed to another repository of it in this run are mounted. */
export function registrySink(api: RegistryApi): ContentSink {
  const pushedTo = new Map<string, string>();
  return {
    hasBlob: (ref, digest) => api.hasBlob(ref, digest),
    async putBlob(ref, blob, data) {
      await api.pushBlob(ref, blob, data.open, pushedTo.get(blob.digest));
      pushedTo.set(blob.digest, ref.repository);
    },
    hasManifest: async (ref, digest) => (await api.manifestDigest(ref, digest)) === digest,
    putManifest: (ref, reference, m) => api.putManifest(ref, reference, m),
  };
}

export interface ArtifactGraph {
  top: RawManifest;
  /** Child manifests of an index (nested indexes included), children before their parents. */
  children: RawManifest[];
  /** Every config and layer blob, once each. */
  blobs: BlobRef[];
}

/** Reads an artifact's manifests and lists its blobs; nothing is downloaded but manifests. */
export async function walkArtifact(source: ContentSource, ref: OciReference, expected?: BlobRef): Promise<ArtifactGraph> {
  const top = await source.manifest(ref, expected);
  const children: RawManifest[] = [];
  const blobs = new Map<string, BlobRef>();
  const visit = async (m: RawManifest, depth: number): Promise<void> => {
    const parsed = parseManifest(m.bytes, m.mediaType, `${source.label} ${formatReference({ ...ref, digest: m.digest })}`);
    if (parsed.kind === 'manifest') {
      for (const d of [...(parsed.config ? [parsed.config] : []), ...parsed.layers]) blobs.set(d.digest, { digest: d.digest, size: d.size });
      return;
    }
    if (depth >= 2) throw new IntegrityError('E_MANIFEST_NESTED', `index ${m.digest} of ${formatReference(ref)} nests deeper than two levels`, { url: formatReference(ref) }, 'copy a plugin image, not a tree of indexes');
    for (const d of parsed.manifests) {
      const child = await source.manifest({ ...ref, digest: d.digest }, d);
      await visit(child, depth + 1);
      children.push(child);
    }
  };
  await visit(top, 0);
  return { top, children, blobs: [...blobs.values()] };
}

export interface CopyResult {
  digest: string;
  blobsCopied: number;
  bytesCopied: number;
  blobsPresent: number;
  manifestsCopied: number;
}

/**
 * Copies the artifact `from` (in `source`) to `to` (in `sink`), skipping blobs and child manifests
 * the sink already has; the top manifest is stored under `to.tag` (or its digest when untagged).
 */
export async function copyArtifact(source: ContentSource, from: OciReference, sink: ContentSink, to: OciReference, tmpDir: string, graph?: ArtifactGraph): Promise<CopyResult> {
  const g = graph ?? (await walkArtifact(source, from));
  const result: CopyResult = { digest: g.top.digest, blobsCopied: 0, bytesCopied: 0, blobsPresent: 0, manifestsCopied: 0 };
  for (const blob of g.blobs) {
    if (await sink.hasBlob(to, blob.digest)) {
      result.blobsPresent++;
      continue;
    }
    const data = await source.blob(from, blob, tmpDir);
    try {
      await sink.putBlob(to, blob, data);
    } finally {
      if (data.file) await fs.promises.rm(data.file, { force: true }); // a mirror run holds one blob on disk at a time per copy
    }
    result.blobsCopied++;
    result.bytesCopied += blob.size;
  }
  for (const child of g.children) {
    if (await sink.hasManifest(to, child.digest)) continue;
    await sink.putManifest(to, child.digest, child);
    result.manifestsCopied++;
  }
  await sink.putManifest(to, to.tag ?? g.top.digest, g.top);
  result.manifestsCopied++;
  return result;
}
