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
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { IntegrityError, PluginServerError } from '../errors';
import { mapReference, parseRegistryMap, RegistryMapping } from '../inputs/registry-map';
import { PluginEntry, sourceKey } from '../inputs/types';
import type { RegistryClient } from '../oci/registry/client';
import { formatReference, OciReference } from '../oci/types';
import { mapLimit } from '../content/pool';
import { ContentSink, ContentSource, copyArtifact, walkArtifact } from '../oci/copy/copy';
import { DEFAULT_COPY_CONCURRENCY } from '../contract/concurrency';

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
  // Two sources landing on one target tag with different bytes would overwrite each other.
  const byTarget = new Map<string, string>();
  for (const [key, g] of groups) {
    const t = formatReference({ ...g.to, digest: undefined });
    const other = byTarget.get(t);
    if (other && g.want && groups.get(other)?.want && groups.get(other)?.want !== g.want) {
      failed.push(
        new IntegrityError({
          code: 'E_MIRROR_CONFLICT',
          message: `${key} and ${other} both map to ${t} with different digests`,
          context: { url: t },
          hint: 'mirror them under different prefixes',
        }),
      );
    }
    byTarget.set(t, key);
  }
  emit({ event: 'start', sources: groups.size, target: opts.target });
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

  const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'hps-mirror-'));
  let copied = 0;
  let present = 0;
  let blobs = 0;
  let bytes = 0;
  try {
    await mapLimit([...groups.values()], opts.concurrency ?? DEFAULT_COPY_CONCURRENCY, async (g) => {
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
        const e =
          err instanceof PluginServerError
            ? err
            : new PluginServerError({
                code: 'E_COPY',
                message: (err as Error).message ?? String(err),
                context: { url: src },
                cause: err,
              });
        failed.push(e);
        emit({ event: 'failed', source: src, target: dst, error: e });
      }
    });
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true });
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
