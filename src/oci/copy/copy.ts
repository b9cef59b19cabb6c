/**
 * Byte-for-byte artifact copy between a source (a registry, or an OCI layout) and a sink (a layout
 * folder being written, or a registry). An artifact is its top manifest (exact bytes), every child
 * manifest of an index, and every config and layer blob: copying all of them unchanged keeps every
 * digest, so a lock file or a pinned reference made against the source holds for the copy.
 * Everything read is checked against its digest before it is written anywhere.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { IntegrityError } from '../../errors';
import type { OciLayout } from '../layout/layout';
import { LayoutStore } from '../layout/store';
import { BlobRef, MAX_COPY_BLOB_BYTES, RawManifest, RegistryClient } from '../registry/client';
import { parseManifest } from '../registry/media';
import { DigestCounter } from '../registry/verify-stream';
import { formatReference, OciReference } from '../types';

function randomSuffix(): string {
  return randomBytes(6).toString('hex');
}

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

export function registrySource(registry: RegistryClient, label = 'registry'): ContentSource {
  return {
    label,
    manifest: (ref, expected) => registry.rawManifest(ref, ref.digest ?? ref.tag ?? 'latest', undefined, expected),
    async blob(ref, blob, tmpDir) {
      const file = path.join(tmpDir, `${blob.digest.replace(/^sha256:/, '')}.${randomSuffix()}`);
      await registry.downloadBlob(ref, blob, file);
      return { open: () => fs.createReadStream(file), file };
    },
  };
}

/**
 * Reads from a bundle: references by ref.name (`host/repository:tag`), or by digest when pinned.
 * Blobs are streamed from the layout through a digest check, so a damaged bundle fails the copy.
 */
export function layoutSource(layout: OciLayout): ContentSource {
  const store = new LayoutStore(layout);
  return {
    label: store.label,
    manifest: (ref, expected) => store.rawManifest(ref, ref.digest ?? ref.tag ?? 'latest', undefined, expected),
    blob(_ref, blob) {
      if (!layout.has(blob.digest)) {
        const missing = new IntegrityError({
          code: 'E_LAYOUT_BLOB',
          message: `${layout.label(blob.digest)} is missing`,
          context: { file: layout.location },
          hint: 'the bundle is incomplete: write it again with `bundle`',
        });
        return Promise.reject(missing);
      }
      // Streamed straight from the bundle (no temp copy), checked on every read: a sink that sends
      // the bytes twice (an upload retried) reads them, and checks them, twice.
      return Promise.resolve({
        open: () => checkedStream(layout.open(blob.digest), blob, layout.label(blob.digest)),
      });
    },
  };
}

/** The bytes of `source`, failing (before their end is passed on) unless size and sha256 match `blob`. */
export function checkedStream(source: Readable, blob: BlobRef, label: string): Readable {
  const counter = new DigestCounter(blob, MAX_COPY_BLOB_BYTES, label);
  return Readable.from(
    (async function* () {
      try {
        for await (const chunk of source) {
          counter.update(chunk as Buffer);
          yield chunk as Buffer;
        }
        counter.finish();
      } finally {
        source.destroy();
      }
    })(),
    { objectMode: false },
  );
}

/** Writes blobs and manifests into `<dir>/blobs/sha256/` (a layout being assembled). */
export function layoutDirSink(dir: string): ContentSink {
  const blobFile = (digest: string) => path.join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  const exists = async (digest: string) =>
    fs.promises.access(blobFile(digest)).then(
      () => true,
      () => false,
    );
  const write = async (digest: string, open: () => Readable, file?: string) => {
    const dest = blobFile(digest);
    // A checked download on the same file system is moved into place, not written a second time.
    if (
      file &&
      (await fs.promises.rename(file, dest).then(
        () => true,
        () => false,
      ))
    )
      return;
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
export function registrySink(registry: RegistryClient): ContentSink {
  const pushedTo = new Map<string, string>();
  return {
    hasBlob: (ref, digest) => registry.hasBlob(ref, digest),
    async putBlob(ref, blob, data) {
      await registry.pushBlob(ref, blob, data.open, pushedTo.get(blob.digest));
      pushedTo.set(blob.digest, ref.repository);
    },
    hasManifest: async (ref, digest) => (await registry.manifestDigest(ref, digest)) === digest,
    putManifest: (ref, reference, m) => registry.putManifest(ref, reference, m),
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
export async function walkArtifact(
  source: ContentSource,
  ref: OciReference,
  expected?: BlobRef,
): Promise<ArtifactGraph> {
  const top = await source.manifest(ref, expected);
  const children: RawManifest[] = [];
  const blobs = new Map<string, BlobRef>();
  const visit = async (m: RawManifest, depth: number): Promise<void> => {
    const parsed = parseManifest(
      m.bytes,
      m.mediaType,
      `${source.label} ${formatReference({ ...ref, digest: m.digest })}`,
    );
    if (parsed.kind === 'manifest') {
      for (const d of [...(parsed.config ? [parsed.config] : []), ...parsed.layers])
        blobs.set(d.digest, { digest: d.digest, size: d.size });
      return;
    }
    if (depth >= 2)
      throw new IntegrityError({
        code: 'E_MANIFEST_NESTED',
        message: `index ${m.digest} of ${formatReference(ref)} nests deeper than two levels`,
        context: { url: formatReference(ref) },
        hint: 'copy a plugin image, not a tree of indexes',
      });
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
export async function copyArtifact(
  source: ContentSource,
  from: OciReference,
  sink: ContentSink,
  to: OciReference,
  tmpDir: string,
  graph?: ArtifactGraph,
): Promise<CopyResult> {
  const g = graph ?? (await walkArtifact(source, from));
  const result: CopyResult = {
    digest: g.top.digest,
    blobsCopied: 0,
    bytesCopied: 0,
    blobsPresent: 0,
    manifestsCopied: 0,
  };
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
