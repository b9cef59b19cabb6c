/**
 * `mirror`: copies every plugin of the inputs into a target registry under a repository prefix,
 * byte for byte (the same manifest bytes, every blob, every index child), so every digest, lock file
 * and pinned reference holds against the target:
 *
 *   oci://A/plugins/ai-proxy:2.0.0  --to harbor.internal/higress  ->  harbor.internal/higress/plugins/ai-proxy:2.0.0
 *
 * What the target already has is skipped: when its tag already names the source digest nothing else
 * is asked; otherwise each blob and child manifest is checked with a HEAD first, and blobs pushed to
 * another repository in the same run are mounted instead of uploaded again.
 */
import { IntegrityError, PluginServerError } from '../errors';
import { mapReference, parseRegistryMap, RegistryMapping } from '../inputs/registry-map';
import { PluginEntry, sourceKey } from '../inputs/types';
import type { RegistryClient } from '../oci/registry/client';
import { formatReference, OciReference } from '../oci/types';
import { mapLimit } from '../content/pool';
import { ContentSink, ContentSource, copyArtifact, walkArtifact } from '../oci/copy/copy';
import { DEFAULT_COPY_CONCURRENCY } from '../contract/concurrency';
import { copyFailure } from './copy-failure';
import { mirrorStaging, stopOn } from './staging';

export type MirrorEvent =
  | { event: 'start'; sources: number; target: string }
  | {
      event: 'plugin';
      source: string;
      target: string;
      digest: string;
      status: 'copied' | 'present' | 'updated';
      blobs: number;
      blobsPresent: number;
      bytes: number;
      ms: number;
    }
  | { event: 'failed'; source: string; target: string; error: PluginServerError };

export interface MirrorOptions {
  entries: PluginEntry[];
  /** Digest each `name@version` must have (a lock), when known. */
  lockDigests?: Map<string, string>;
  source: ContentSource;
  /** Target `host[:port][/prefix]`. */
  target: string;
  registry: RegistryClient;
  sink: ContentSink;
  concurrency?: number;
  onEvent?: (e: MirrorEvent) => void;
  /** Stops the run (SIGINT/SIGTERM): it rejects with the signal's reason once its staging is removed. */
  signal?: AbortSignal;
}

export interface MirrorResult {
  ok: boolean;
  sources: number;
  copied: number;
  present: number;
  blobs: number;
  bytes: number;
  ms: number;
  failed: PluginServerError[];
  /** Every source host mapped to the target: rewrites the inputs for the target. */
  map: RegistryMapping[];
}

/** One mapping per source host: `<host>=<target>` keeps the repository path under the target prefix. */
export function mirrorMap(entries: PluginEntry[], target: string): RegistryMapping[] {
  const hosts = [
    ...new Set(entries.flatMap((e) => (e.source.kind === 'oci' ? [e.source.ref.registry.toLowerCase()] : []))),
  ].sort();
  return parseRegistryMap(hosts.map((h) => `${h}=${target}`));
}

export async function runMirror(opts: MirrorOptions): Promise<MirrorResult> {
  const started = Date.now();
  const emit = opts.onEvent ?? (() => undefined);
  const map = mirrorMap(opts.entries, opts.target);
  const groups = new Map<string, { from: OciReference; to: OciReference; want?: string }>();
  const failed: PluginServerError[] = [];
  for (const e of opts.entries) {
    if (e.source.kind !== 'oci') continue;
    const key = sourceKey(e.source);
    const g = groups.get(key) ?? { from: e.source.ref, to: mapReference(e.source.ref, map) };
    g.want ??= e.source.ref.digest ?? opts.lockDigests?.get(`${e.name}@${e.version}`);
    groups.set(key, g);
  }
  // One target reference holds one artifact: every source mapped onto it must be the same source
  // (registry, repository and tag; pinned digests, when given, equal). Two registries with the same
  // repository path and tag are two plugins, pinned or not: refused before anything is copied, or the
  // second would overwrite the first and the rewritten list would give both the same bytes.
  const byTarget = new Map<string, string>();
  const conflicts: Array<{ source: string; target: string; error: PluginServerError }> = [];
  for (const [key, g] of groups) {
    const t = formatReference({ ...g.to, digest: undefined });
    const other = byTarget.get(t);
    const o = other === undefined ? undefined : groups.get(other);
    if (other === undefined || !o) {
      byTarget.set(t, key);
      continue;
    }
    const same =
      g.from.registry.toLowerCase() === o.from.registry.toLowerCase() &&
      g.from.repository === o.from.repository &&
      (g.from.tag ?? 'latest') === (o.from.tag ?? 'latest');
    const [first, second] = [other, key].sort();
    let error: PluginServerError | undefined;
    if (!same) {
      error = new IntegrityError({
        code: 'E_MIRROR_CONFLICT',
        message: `${first} and ${second} are two sources that both map to ${t}; nothing was copied`,
        context: { url: t },
        hint: 'mirror them under different --to prefixes, or keep one of them in the inputs',
      });
    } else if (g.want && o.want && g.want !== o.want) {
      error = new IntegrityError({
        code: 'E_MIRROR_CONFLICT',
        message: `${first} and ${second} both map to ${t} with different digests (${o.want}, ${g.want}); nothing was copied`,
        context: { url: t },
        hint: 'keep one pinned digest per tag in the inputs',
      });
    }
    if (!error) {
      // One source twice (pinned once): both copies are held to the pinned digest.
      g.want ??= o.want;
      o.want ??= g.want;
    } else {
      failed.push(error);
      conflicts.push({ source: `${first} + ${second}`, target: t, error });
    }
  }
  emit({ event: 'start', sources: groups.size, target: opts.target });
  for (const c of conflicts) emit({ event: 'failed', ...c });
  if (failed.length)
    return {
      ok: false,
      failed,
      map,
      sources: groups.size,
      copied: 0,
      present: 0,
      blobs: 0,
      bytes: 0,
      ms: Date.now() - started,
    };

  // `$TMPDIR/hps-mirror-<pid>-<start>-<random>`: a killed run's folder is removed by the next run.
  const staging = await mirrorStaging();
  const tmp = staging.dir;
  const { signal } = opts;
  let copied = 0;
  let present = 0;
  let blobs = 0;
  let bytes = 0;
  try {
    const work = mapLimit([...groups.values()], opts.concurrency ?? DEFAULT_COPY_CONCURRENCY, async (g) => {
      signal?.throwIfAborted();
      const t0 = Date.now();
      const src = formatReference(g.from);
      const dst = formatReference({ ...g.to, digest: undefined });
      try {
        const tag = g.to.tag ?? 'latest';
        const there = await opts.registry.manifestDigest({ ...g.to, digest: undefined }, tag);
        // A pinned source needs no request to the source at all when the target already has it.
        const want = g.want ?? (there ? (await opts.source.manifest(g.from)).digest : undefined);
        if (there && there === want) {
          present++;
          emit({
            event: 'plugin',
            source: src,
            target: dst,
            digest: there,
            status: 'present',
            blobs: 0,
            blobsPresent: 0,
            bytes: 0,
            ms: Date.now() - t0,
          });
          return;
        }
        const graph = await walkArtifact(opts.source, g.from);
        if (g.want && graph.top.digest !== g.want) {
          throw new IntegrityError({
            code: 'E_FROZEN_DIGEST',
            message: `${src} is ${graph.top.digest}, the lock or pinned reference names ${g.want}`,
            context: { url: src },
            hint: 'the source moved: run `pull --write-lock` to accept it, or mirror the locked bytes from a bundle',
          });
        }
        const r = await copyArtifact(opts.source, g.from, opts.sink, { ...g.to, digest: undefined, tag }, tmp, graph);
        copied++;
        blobs += r.blobsCopied;
        bytes += r.bytesCopied;
        emit({
          event: 'plugin',
          source: src,
          target: dst,
          digest: r.digest,
          status: there ? 'updated' : 'copied',
          blobs: r.blobsCopied,
          blobsPresent: r.blobsPresent,
          bytes: r.bytesCopied,
          ms: Date.now() - t0,
        });
      } catch (err) {
        if (signal?.aborted) return; // stopped by the interruption, not a failure of its own
        const e = copyFailure(err, src);
        failed.push(e);
        emit({ event: 'failed', source: src, target: dst, error: e });
      }
    });
    await stopOn(signal, work);
  } finally {
    await staging.remove();
  }
  return {
    ok: failed.length === 0,
    failed,
    map,
    sources: groups.size,
    copied,
    present,
    blobs,
    bytes,
    ms: Date.now() - started,
  };
}
