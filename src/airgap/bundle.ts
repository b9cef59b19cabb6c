/**
 * `bundle`: every plugin of the inputs, byte for byte, in one OCI image layout tar that can be carried
 * across an air gap, plus the inputs themselves (lists, snapshot) and a lock file of every digest.
 *
 *   index.json   one entry per plugin reference, ref.name `host/repository:tag`, the original
 *                manifest digest; one entry `higress-plugin-bundle` for the carried inputs
 *   blobs/       every manifest (index children too), config and layer, under its own digest
 *
 * The same inputs and registry content give the same tar bytes (see layout.ts). The tar is assembled
 * in `<out>.partial-<pid>-<start>-<random>/` beside the output and renamed into place, so a failed or
 * interrupted run leaves no half-written bundle and no staging folder, and the staging of a killed
 * run is removed by the next run (staging.ts).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { InputError, IntegrityError, PluginServerError } from '../errors';
import { LockEntry, renderLock } from '../inputs/lock';
import { PluginEntry, sourceKey, sourceText } from '../inputs/types';
import { OCI_MANIFEST } from '../oci/registry/media';
import { formatReference, OciReference } from '../oci/types';
import { mapLimit } from '../content/pool';
import { syncDir } from '../content/fsutil';
import { ContentSource, copyArtifact, layoutDirSink, walkArtifact } from '../oci/copy/copy';
import {
  BUNDLE_ARTIFACT_TYPE,
  BUNDLE_LOCK_TITLE,
  BUNDLE_REF,
  CarriedFile,
  LOCK_MEDIA_TYPE,
} from '../inputs/bundle-format';
import type { ResolvedInputs } from '../inputs/resolve';
import { copyFailure } from './copy-failure';
import { bundleStaging, stopOn, sweepStaleStaging } from './staging';
import {
  INDEX_FILE,
  LAYOUT_FILE,
  LAYOUT_MARKER,
  LayoutDescriptor,
  REF_NAME,
  refName,
  renderLayoutIndex,
  writeLayoutTar,
} from '../oci/layout/layout';
import { DEFAULT_COPY_CONCURRENCY } from '../contract/concurrency';

export const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', bytes: Buffer.from('{}') };

export type BundleEvent =
  | { event: 'start'; sources: number; plugins: number }
  | { event: 'plugin'; ref: string; digest: string; blobs: number; bytes: number; ms: number }
  | { event: 'failed'; ref: string; error: PluginServerError };

export interface BundleOptions {
  inputs: ResolvedInputs;
  source: ContentSource;
  out: string;
  concurrency?: number;
  /** Replace an existing file at `out`. */
  force?: boolean;
  onEvent?: (e: BundleEvent) => void;
  /**
   * Stops the run (SIGINT/SIGTERM): it rejects with the signal's reason once its staging is removed;
   * no bundle is written.
   */
  signal?: AbortSignal;
}

export interface BundleResult {
  ok: boolean;
  failed: PluginServerError[];
  /** Distinct references copied, and blobs written (each once). */
  sources: number;
  blobs: number;
  /** Of the tar written. */
  sha256?: string;
  bytes?: number;
  ms: number;
}

/** Distinct references (one per source), each with the lock digest it must have. */
function references(
  entries: PluginEntry[],
  lockDigest: (e: PluginEntry) => string | undefined,
): Array<{ ref: OciReference; entries: PluginEntry[]; want?: string }> {
  const groups = new Map<string, { ref: OciReference; entries: PluginEntry[]; want?: string }>();
  for (const e of entries) {
    if (e.source.kind !== 'oci') continue;
    const k = sourceKey(e.source);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ref: e.source.ref, entries: [] }));
    g.entries.push(e);
    g.want ??= lockDigest(e);
  }
  return [...groups.values()].sort((a, b) => (formatReference(a.ref) < formatReference(b.ref) ? -1 : 1));
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

async function putBlob(dir: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  await fs.promises.writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  return digest;
}

/** The artifact that carries the inputs: an empty config and one layer per file, titled. */
async function carriedArtifact(dir: string, files: CarriedFile[]): Promise<LayoutDescriptor> {
  const config = {
    mediaType: EMPTY_CONFIG.mediaType,
    digest: await putBlob(dir, EMPTY_CONFIG.bytes),
    size: EMPTY_CONFIG.bytes.length,
  };
  const layers = [];
  for (const f of files) {
    layers.push({
      mediaType: f.mediaType,
      digest: await putBlob(dir, f.bytes),
      size: f.bytes.length,
      annotations: { 'org.opencontainers.image.title': f.title },
    });
  }
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: BUNDLE_ARTIFACT_TYPE, config, layers }),
  );
  const digest = await putBlob(dir, manifest);
  return {
    mediaType: OCI_MANIFEST,
    digest,
    size: manifest.length,
    artifactType: BUNDLE_ARTIFACT_TYPE,
    annotations: { [REF_NAME]: BUNDLE_REF },
  };
}

export async function writeBundle(opts: BundleOptions): Promise<BundleResult> {
  const started = Date.now();
  const emit = opts.onEvent ?? (() => undefined);
  const out = path.resolve(opts.out);
  if (!opts.force && fs.existsSync(out)) {
    throw new InputError({
      code: 'E_OUTPUT_EXISTS',
      message: `${opts.out} already exists`,
      context: { file: opts.out },
      hint: 'choose another --out, remove it, or pass --force to replace it',
    });
  }
  if (!fs.statSync(path.dirname(out), { throwIfNoEntry: false })?.isDirectory()) {
    throw new InputError({
      code: 'E_OUTPUT_DIR',
      message: `the folder of ${opts.out} does not exist`,
      context: { file: opts.out },
      hint: 'create it first, or choose another --out',
    });
  }
  const { inputs } = opts;
  const lockDigests = new Map((inputs.lock?.plugins ?? []).map((l) => [`${l.name}@${l.version}`, l.digest]));
  const refs = references(inputs.entries, (e) => lockDigests.get(`${e.name}@${e.version}`));
  emit({ event: 'start', sources: refs.length, plugins: inputs.entries.length });

  // Staging of runs that were killed (their pid is gone) is removed before this run adds its own.
  await sweepStaleStaging(path.dirname(out));
  const stage = await bundleStaging(out);
  const staging = stage.dir;
  const tmp = path.join(staging, 'download');
  await fs.promises.mkdir(path.join(staging, 'layout', 'blobs', 'sha256'), { recursive: true });
  await fs.promises.mkdir(tmp);
  const layoutDir = path.join(staging, 'layout');
  const sink = layoutDirSink(layoutDir);
  const failed: PluginServerError[] = [];
  const index = new Map<string, LayoutDescriptor>();
  const digests = new Map<PluginEntry, string>();
  let blobs = 0;
  try {
    const { signal } = opts;
    const work = mapLimit(refs, opts.concurrency ?? DEFAULT_COPY_CONCURRENCY, async (r) => {
      signal?.throwIfAborted();
      const t0 = Date.now();
      const text = formatReference(r.ref);
      try {
        const graph = await walkArtifact(opts.source, r.ref);
        const top = graph.top;
        if (r.want && top.digest !== r.want) {
          throw new IntegrityError({
            code: 'E_FROZEN_DIGEST',
            message: `${text} now resolves to ${top.digest}, ${inputs.lockName ?? 'the lock file'} has ${r.want}`,
            context: { url: text },
            hint: 'the tag moved: run `pull --write-lock` to accept it, or pin the reference',
          });
        }
        const name = refName(r.ref);
        const prev = index.get(name);
        if (prev && prev.digest !== top.digest) {
          throw new InputError({
            code: 'E_BUNDLE_CONFLICT',
            message: `${name} is named with two digests (${prev.digest}, ${top.digest})`,
            context: { url: text },
            hint: 'keep one pinned digest per tag in the inputs',
          });
        }
        const copied = await copyArtifact(opts.source, r.ref, sink, r.ref, tmp, graph);
        index.set(name, {
          mediaType: top.mediaType,
          digest: top.digest,
          size: top.bytes.length,
          annotations: { [REF_NAME]: name },
        });
        for (const e of r.entries) digests.set(e, top.digest);
        blobs += copied.blobsCopied;
        emit({
          event: 'plugin',
          ref: text,
          digest: top.digest,
          blobs: copied.blobsCopied + copied.blobsPresent,
          bytes: copied.bytesCopied,
          ms: Date.now() - t0,
        });
      } catch (err) {
        if (signal?.aborted) return; // the copy broke because its staging went: not a failure of its own
        const e = copyFailure(err, text);
        failed.push(e);
        emit({ event: 'failed', ref: text, error: e });
      }
    });
    await stopOn(signal, work);
    if (failed.length) return { ok: false, failed, sources: refs.length, blobs, ms: Date.now() - started };

    // The lock travels with the bundle: the one given, or one made from what was just copied.
    const files = [...inputs.files];
    if (!files.some((f) => f.mediaType === LOCK_MEDIA_TYPE)) {
      const lock: LockEntry[] = inputs.entries.map((e) => ({
        name: e.name,
        version: e.version,
        source: sourceText(e.source),
        digest: digests.get(e) as string,
        aliasOf: e.aliasOf,
      }));
      files.push({ title: BUNDLE_LOCK_TITLE, mediaType: LOCK_MEDIA_TYPE, bytes: Buffer.from(renderLock(lock)) });
    }
    const entries = [...index.values(), await carriedArtifact(layoutDir, files)];
    await fs.promises.writeFile(path.join(layoutDir, INDEX_FILE), renderLayoutIndex(entries));
    await fs.promises.writeFile(path.join(layoutDir, LAYOUT_FILE), LAYOUT_MARKER);
    const partial = path.join(staging, 'bundle.tar');
    const tar = await stopOn(signal, writeLayoutTar(layoutDir, partial));
    signal?.throwIfAborted();
    await fs.promises.rename(partial, out);
    await syncDir(path.dirname(out));
    return {
      ok: true,
      failed,
      sources: refs.length,
      blobs,
      sha256: tar.sha256,
      bytes: tar.bytes,
      ms: Date.now() - started,
    };
  } finally {
    await stage.remove();
  }
}
