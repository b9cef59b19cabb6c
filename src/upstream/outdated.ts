/**
 * The drift watch behind `outdated`: every `oci://` tag of the inputs is resolved again now and
 * compared with the digest the lock (or the snapshot, or an `@sha256:` pin) holds for it. Upstream
 * tags move under users (official plugins re-pushed to the same tags, a same-version overwrite,
 * public images changed under running gateways); a lock keeps pulls exact but does not say that the
 * world moved. Per plugin, one status:
 *
 *   gone        the tag, or its whole repository, is no longer in the registry
 *   unloadable  the tag's manifest is in a form the gateway's fetcher (Istio pkg/wasm) refuses
 *   moved       the tag resolves to another manifest digest than the pinned one
 *   newer       a higher SemVer tag exists in the repository (the tag list) that the inputs do not
 *               already list
 *   unchanged   none of these
 *   failed      the registry could not answer (auth, network, 5xx): nothing can be said
 *
 * Manifests and tag lists only: no blob is downloaded. Each distinct tag is asked once, however many
 * served versions (aliases) it backs.
 */
import * as semver from 'semver';
import { mapLimit } from '../content/pool';
import { PluginServerError } from '../errors';
import type { LockFile } from '../inputs/lock';
import type { PluginEntry } from '../inputs/types';
import type { FetchedManifest, RegistryClient } from '../oci/registry/client';
import type { Manifest } from '../oci/registry/media';
import { formatReference, OciReference } from '../oci/types';
import { gatewayIndexEntry, gatewayRejects } from '../oci/wasm/layers';

export type DriftStatus = 'unchanged' | 'moved' | 'gone' | 'unloadable' | 'newer' | 'failed';

/** Every status, in the order the summary counts them. */
export const DRIFT_STATUSES: readonly DriftStatus[] = ['unchanged', 'newer', 'moved', 'unloadable', 'gone', 'failed'];

/** The statuses that make `outdated` exit non-zero (a newer tag alone does not: nothing moved). */
export const DRIFTED: ReadonlySet<DriftStatus> = new Set(['moved', 'gone', 'unloadable']);

export interface DriftResult {
  entry: PluginEntry;
  /** `oci://host/repository:tag`, registry map applied, without the pin. */
  source: string;
  status: DriftStatus;
  /** The digest the lock, snapshot or pin holds. */
  pinned: string;
  /** What the tag resolves to now (absent when gone or failed). */
  digest?: string;
  /** The highest SemVer tag of the repository above this one, when there is one. */
  newer?: string;
  /** gone: what is missing; unloadable: the fetcher's own words. */
  reason?: string;
  /** The catalogued problem of every status but unchanged and newer. */
  problem?: PluginServerError;
}

export interface WatchRequest {
  entries: readonly PluginEntry[];
  /** Digests by `name@version` (the lock); an entry without one falls back to its own `@sha256:` pin. */
  lock?: LockFile;
  registry: Pick<RegistryClient, 'manifest' | 'tags'>;
  concurrency: number;
  signal?: AbortSignal;
}

export interface WatchPlan {
  /** The `oci://` entries with the digest each is compared with. */
  watched: Array<{ entry: PluginEntry & { source: { kind: 'oci' } }; pinned: string }>;
  /** `file:` entries: no tag to watch. */
  local: PluginEntry[];
  /** Entries with nothing to compare with (no lock entry, no pin). */
  unpinned: PluginEntry[];
}

const key = (e: { name: string; version: string }) => `${e.name}@${e.version}`;

/** Which entries are watched, against which digest. Pure. */
export function planWatch(entries: readonly PluginEntry[], lock?: LockFile): WatchPlan {
  const locked = new Map((lock?.plugins ?? []).map((l) => [key(l), l.digest]));
  const plan: WatchPlan = { watched: [], local: [], unpinned: [] };
  for (const entry of entries) {
    if (entry.source.kind !== 'oci') {
      plan.local.push(entry);
      continue;
    }
    const pinned = locked.get(key(entry)) ?? entry.source.ref.digest;
    if (!pinned || !entry.source.ref.tag) plan.unpinned.push(entry);
    else plan.watched.push({ entry: entry as PluginEntry & { source: { kind: 'oci' } }, pinned });
  }
  return plan;
}

/**
 * The highest tag above `current` by SemVer precedence (a leading `v` allowed), or undefined. Pre-releases
 * count only when `current` is one; a `current` that is not SemVer has no newer tag.
 */
export function newerTag(current: string, tags: readonly string[]): string | undefined {
  const now = semver.parse(current);
  if (!now) return undefined;
  const pre = now.prerelease.length > 0;
  let best: { tag: string; v: semver.SemVer } | undefined;
  for (const tag of tags) {
    const v = semver.parse(tag);
    if (!v || (v.prerelease.length > 0 && !pre) || semver.lte(v, now)) continue;
    if (!best || semver.gt(v, best.v)) best = { tag, v };
  }
  return best?.tag;
}

/** What one distinct tag looks like now. */
interface TagState {
  digest?: string;
  /** Why the gateway's fetcher refuses the form, when it does. */
  unloadable?: string;
  /** gone: 'tag' or 'repository'. */
  gone?: 'tag' | 'repository';
  newer?: string;
  error?: PluginServerError;
}

const isNotFound = (e: unknown) => e instanceof PluginServerError && e.code === 'E_REGISTRY_NOT_FOUND';

/** How deep an index may nest before the fetcher's own recursion is given up on here. */
const MAX_INDEX_DEPTH = 4;

/** Follows an index the way the gateway's fetcher does and judges the image it lands on. */
async function judgeForm(
  registry: WatchRequest['registry'],
  ref: OciReference,
  top: FetchedManifest,
  signal?: AbortSignal,
): Promise<string | undefined> {
  let m: Manifest = top.manifest;
  for (let depth = 0; m.kind === 'index'; depth++) {
    const entry = gatewayIndexEntry(m);
    if (!entry) {
      const seen = m.manifests.map((d) => `${d.platform?.os ?? '?'}/${d.platform?.architecture ?? '?'}`).join(', ');
      return `no child with platform linux/amd64 in index (has ${seen || 'nothing'})`;
    }
    if (depth >= MAX_INDEX_DEPTH) return `indexes nested more than ${MAX_INDEX_DEPTH} deep`;
    m = (await registry.manifest(ref, entry.digest, signal, entry)).manifest;
  }
  return gatewayRejects(m);
}

async function tagState(
  registry: WatchRequest['registry'],
  ref: OciReference,
  signal?: AbortSignal,
): Promise<TagState> {
  const tagRef = { registry: ref.registry, repository: ref.repository, tag: ref.tag };
  const state: TagState = {};
  let top: FetchedManifest | undefined;
  try {
    top = await registry.manifest(tagRef, ref.tag as string, signal);
  } catch (e) {
    if (!isNotFound(e)) {
      // A manifest the client cannot even parse is a form no fetcher loads.
      if (e instanceof PluginServerError && e.code === 'E_MANIFEST_FORMAT') state.unloadable = e.message;
      else return { error: e instanceof PluginServerError ? e : wrap(e, ref) };
    }
  }
  let tags: string[] | undefined;
  try {
    tags = await registry.tags(tagRef, signal);
  } catch (e) {
    return { error: e instanceof PluginServerError ? e : wrap(e, ref) };
  }
  if (!top && !state.unloadable) return { gone: tags === undefined ? 'repository' : 'tag' };
  if (top) {
    state.digest = top.digest;
    try {
      state.unloadable = await judgeForm(registry, tagRef, top, signal);
    } catch (e) {
      if (e instanceof PluginServerError && e.code === 'E_MANIFEST_FORMAT') state.unloadable = e.message;
      else return { error: e instanceof PluginServerError ? e : wrap(e, ref) };
    }
  }
  state.newer = newerTag(ref.tag as string, tags ?? []);
  return state;
}

function wrap(e: unknown, ref: OciReference): PluginServerError {
  return new PluginServerError({
    code: 'E_PULL',
    message: `${formatReference(ref)}: ${e instanceof Error ? e.message : String(e)}`,
    cause: e,
  });
}

const short = (d: string) => d.slice(0, 'sha256:'.length + 12);

function resultOf(entry: PluginEntry, source: string, pinned: string, s: TagState): DriftResult {
  const base = { entry, source, pinned, digest: s.digest, newer: s.newer };
  const context = {
    file: entry.file,
    line: entry.line || undefined,
    plugin: entry.name,
    version: entry.version,
    url: source,
  };
  if (s.error) return { ...base, status: 'failed', problem: s.error };
  if (s.gone) {
    const reason = s.gone === 'repository' ? 'repository not found' : 'tag not found (the repository is there)';
    return {
      ...base,
      status: 'gone',
      reason,
      problem: new PluginServerError({
        code: 'E_TAG_GONE',
        message: `${source} is gone: ${reason}; the lock pins ${pinned}`,
        context,
        hint: 'pull from a mirror or bundle that still holds the pinned digest, or remove the plugin from the list',
      }),
    };
  }
  const moved = s.digest !== pinned;
  if (s.unloadable) {
    const was = moved ? `moved from ${short(pinned)} to ${short(s.digest ?? '?')}, ` : '';
    return {
      ...base,
      status: 'unloadable',
      reason: s.unloadable,
      problem: new PluginServerError({
        code: 'E_TAG_UNLOADABLE',
        message: `${source} ${was}is in a form the gateway's fetcher cannot load: ${s.unloadable}`,
        context,
        hint: 'serve the pinned digest through the plugin server (http:// URLs) and tell the publisher',
      }),
    };
  }
  if (moved)
    return {
      ...base,
      status: 'moved',
      problem: new PluginServerError({
        code: 'E_TAG_MOVED',
        message: `${source} moved: it resolves to ${s.digest} now, the lock pins ${pinned}`,
        context,
        hint: 'review the new bytes, then `pull --write-lock` to accept them; the lock keeps pulling the pinned digest until then',
      }),
    };
  return { ...base, status: s.newer ? 'newer' : 'unchanged' };
}

/** Resolves every watched tag (at most `concurrency` at once) and says what changed, in input order. */
export async function watchTags(req: WatchRequest): Promise<DriftResult[]> {
  const plan = planWatch(req.entries, req.lock);
  const distinct = new Map<string, OciReference>();
  for (const w of plan.watched) {
    const ref = { ...w.entry.source.ref, digest: undefined };
    distinct.set(formatReference(ref), ref);
  }
  const states = new Map<string, TagState>();
  await mapLimit([...distinct], req.concurrency, async ([text, ref]) => {
    states.set(text, await tagState(req.registry, ref, req.signal));
  });
  // A newer tag the inputs already list (the same repository at that tag or above) is no news.
  const listedTags = new Map<string, string[]>();
  for (const w of plan.watched) {
    const repo = `${w.entry.source.ref.registry}/${w.entry.source.ref.repository}`;
    listedTags.set(repo, [...(listedTags.get(repo) ?? []), w.entry.source.ref.tag as string]);
  }
  return plan.watched.map((w) => {
    const source = formatReference({ ...w.entry.source.ref, digest: undefined });
    const state = states.get(source) as TagState;
    const listed = listedTags.get(`${w.entry.source.ref.registry}/${w.entry.source.ref.repository}`) ?? [];
    const news =
      state.newer && !newerTag(state.newer, listed) && !listed.includes(state.newer) ? state.newer : undefined;
    return resultOf(w.entry, source, w.pinned, { ...state, newer: news });
  });
}
