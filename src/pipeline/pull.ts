/**
 * Pull orchestration. Two steps so a failed run changes nothing:
 *   1. `stage` (bounded concurrency): resolve every distinct source to a digest, compare with the
 *      tree (unchanged digest + files of the recorded sizes = cached, no blob request), otherwise
 *      download into `<root>/.tmp-<random>/` and check the wasm;
 *   2. `commit` (only when stage had no failure, or with --keep-going for the sources that staged):
 *      publish each version folder atomically, prune if asked, rewrite index.json, write the lock.
 * Failures are records (`PluginFailure`) naming the plugin and the step, holding the error as thrown.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as fastFs from '../content/fs-fast';
import { errorLine, fromFsError, InputError, IntegrityError, PluginServerError } from '../errors';
import { LockEntry, LockFile, renderLock } from '../inputs/lock';
import { holdsOf, PluginEntry, sourceKey, sourceText } from '../inputs/types';
import { SameBytesCheck, sameBytesProblem, wasmPinProblem } from '../inputs/unmanaged-lock';
import { FetchedArtifact, OciClient, OriginalArtifact } from '../oci/types';
import { assertOciDirIsOurs, identityLost, originalsToRestore, writeOciView } from '../ociview/write';
import { GZ_FILE, PLUGINS_DIR, sameHolds, SPEC_FILE, WASM_FILE } from '../contract/tree-format';
import { assertNoIdentityClash, PluginId, SAFE_SEGMENT } from '../contract/plugin-identity';
import { runTempName, sha256OfFile, writeFileAtomic } from '../content/fsutil';
import { publishVersion, removeVersion, writeIndex } from '../tree/publish';
import { writeBuildInfo } from '../tree/build-info';
import { InventoryWant, writeInventory } from '../tree/inventory';
import { beginTreeRun } from '../tree/run-journal';
import { LockOptions } from '../tree/output-lock';
import { assertNoSymlinkBelow } from '../tree/safe-path';
import { filesMatchByContent, TreeReads } from '../tree/read';
import { VerifiedFiles } from '../tree/verified-files';
import { readSpecYaml } from '../tree/spec';
import { checkWasmSize } from '../content/wasm';
import { chooseCreated } from '../contract/created';
import { DEFAULT_GZIP_LEVEL, GzipLevel } from '../contract/gzip-level';
import { DURABLE_WRITE_CONCURRENCY, limiter, mapLimit } from '../content/pool';
import { PreparedWasm } from '../content/prepare';
import { cpuPool } from '../content/cpu-pool';
import { ContentStore } from './content-store';
import { pruneCandidates } from './prune';
import { Reporter, silentReporter } from './progress';
import { DEFAULT_PULL_CONCURRENCY } from '../contract/concurrency';

export interface PullOptions {
  root: string;
  entries: PluginEntry[];
  client: OciClient;
  /** Sources staged at once (default DEFAULT_PULL_CONCURRENCY). */
  concurrency?: number;
  keepGoing?: boolean;
  prune?: boolean;
  /** Resolved SOURCE_DATE_EPOCH (RFC 3339), if set. */
  sourceDateEpoch?: string;
  /** With --frozen: the lock every resolved digest must match (entries already diffed by the caller). */
  frozen?: LockFile;
  /** Path to write the lock file to after a successful run. */
  writeLock?: string;
  reporter?: Reporter;
  /** Stops staging (deadline, closed output): sources not yet staged fail with the signal's reason. */
  signal?: AbortSignal;
  /** gzip level of plugin.wasm.gz (default 6: see contract/gzip-level.ts). */
  gzipLevel?: GzipLevel;
  /** The output lock: wait for another run (default) or fail at once; see src/tree/output-lock.ts. */
  lock?: LockOptions;
  /** `name@version` → hex sha256 the module must hash to (an unmanaged lock's wasmSha256). */
  wasmPins?: ReadonlyMap<string, string>;
  /** With a Higress release snapshot: the names `plugins/snapshot-inventory.json` lists, written in the commit step. */
  inventory?: InventoryWant[];
  /** Tags left out because another source pins the same name and version: each must resolve to that pin. */
  sameBytes?: SameBytesCheck[];
  /** The release snapshot's sha256 (`pull --snapshot`), recorded in build-info.json for /metrics. */
  snapshotSha256?: string | null;
}

/** How much work content reuse saved (see src/pipeline/content-store.ts). */
export interface ContentStats {
  /** Blob downloads started (one per distinct manifest digest that was not cached). */
  fetched: number;
  analyzed: number;
  compressed: number;
  reusedTree: number;
  reusedRun: number;
}

export interface PullResult {
  ok: boolean;
  published: number;
  cached: number;
  failed: PluginFailure[];
  pruned: string[];
  /** What happened to each plugin version; downloaded + copied + aliased + cached + failed = every version. */
  counts: { downloaded: number; copied: number; aliased: number; cached: number; failed: number; pruned: number };
  ms: number;
  content: ContentStats;
}

/** One distinct source and every version folder served from its bytes. */
interface Group {
  key: string;
  entries: PluginEntry[];
}

interface Staged {
  group: Group;
  digest: string;
  /** Entries whose folder already holds these bytes. */
  cached: Set<PluginEntry>;
  wasmPath?: string;
  created?: string;
  specYaml?: string;
  /** Facts and .gz of the bytes at wasmPath, produced once per distinct content. */
  prepared?: PreparedWasm;
  /** Version aliases from spec.yaml `info.version` that do not conflict with another source (see checkSpecAliases). */
  aliases?: PluginEntry[];
  /** The source's own manifests, kept in the OCI view when the wasm is stored unchanged. */
  original?: OriginalArtifact;
  ms: number;
}

function groupEntries(entries: PluginEntry[]): Group[] {
  const groups = new Map<string, Group>();
  for (const e of entries) {
    const k = sourceKey(e.source);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { key: k, entries: [] }));
    g.entries.push(e);
  }
  return [...groups.values()];
}

/**
 * A plugin version that could not be pulled: a record of who failed, at which step, and the error as
 * it was thrown. One error can be shared by every plugin served from the same download; it is never
 * copied or rewritten per plugin.
 */
export interface PluginFailure {
  name: string;
  version: string;
  aliasOf?: string;
  step: 'stage' | 'commit';
  error: PluginServerError;
}

/** `name@version: message (hint)`: the one line a failed plugin version gets. */
export function failureLine(f: PluginFailure): string {
  return `${f.name}@${f.version}${f.aliasOf ? ` (alias of ${f.aliasOf})` : ''}: ${f.error.detail()}`;
}

function asPluginServerError(err: unknown): PluginServerError {
  const known = fromFsError(err);
  if (known instanceof PluginServerError) return known;
  return new IntegrityError({ code: 'E_PULL', message: errorLine(err), cause: err });
}

/** What both steps of one run share. */
interface Run {
  opts: PullOptions;
  root: string;
  runTmp: string;
  reporter: Reporter;
  store: ContentStore;
  /** Digests of a --frozen lock by `name@version`. */
  lockDigests: Map<string, string>;
  /** Manifest digest -> its download, so sources with the same manifest download it once. */
  fetches: Map<string, Promise<FetchedArtifact>>;
  failures: PluginFailure[];
  /** Files the last pull read and this one need not read again; this run's record (verified-files.ts). */
  verified: VerifiedFiles;
  /** The tree's folders and metadata.json as this run read them (each read once, src/tree/read.ts). */
  reads: TreeReads;
  /** Plugin folders this run published into or removed from (their temp and old entries, run-journal.ts). */
  wroteInto: Set<string>;
  /** Each source's digest, resolved ahead of staging (see resolveAhead). */
  digests: Map<string, Promise<string>>;
  /**
   * Versions the OCI view serves as their source's manifest whose kept side blobs are lost or
   * replaced (originalsToRestore): never cached, so the source's files are fetched again.
   */
  restore: Map<string, { digest: string; why: string }>;
}

/**
 * How many sources are resolved at once, ahead of staging. A resolve is one small request whose time
 * is the round trip, so a warm pull (nothing to download) is as long as its rounds of resolves: 16 at
 * once instead of one per download slot halves them (43 plugins 40 ms away: 3 rounds, not 6).
 */
const RESOLVE_CONCURRENCY = 16;

/** Starts resolving every group's source, at most RESOLVE_CONCURRENCY at once; failures surface in stageGroup. */
function resolveAhead(run: Run, groups: Group[]): void {
  const limited = limiter(RESOLVE_CONCURRENCY);
  for (const g of groups) {
    const digest = limited(() => resolveDigest(run, g.entries[0]));
    digest.catch(() => undefined); // awaited by stageGroup, which records the failure
    run.digests.set(g.key, digest);
  }
}

function recordFailure(run: Run, entries: PluginEntry[], err: unknown, step: PluginFailure['step'], ms: number): void {
  const error = asPluginServerError(err);
  for (const e of entries) {
    run.failures.push({ name: e.name, version: e.version, aliasOf: e.aliasOf, step, error });
    run.reporter.emit({
      event: 'plugin',
      name: e.name,
      version: e.version,
      status: 'failed',
      ms,
      aliasOf: e.aliasOf,
      error,
    });
  }
}

/**
 * The version folder's metadata says it holds these bytes from this source, and the bytes on disk
 * are those (hashed; the .gz decoded): a file replaced or corrupted by hand is fetched again.
 */
async function isCurrent(run: Run, e: PluginEntry, digest: string): Promise<boolean> {
  const dir = path.join(run.root, PLUGINS_DIR, e.name, e.version);
  if (e.source.kind === 'oci' && run.restore.has(`${e.name}/${e.version}`)) return false;
  const m = await run.reads.metadata(dir);
  if (!m || m.source !== sourceText(e.source) || (m.aliasOf ?? null) !== (e.aliasOf ?? null)) return false;
  // What the index says of the folder (own bytes from which input, or an alias of which) is part of it.
  if (!sameHolds(m.holds, holdsOf(e))) return false;
  const same = e.source.kind === 'oci' ? m.manifestDigest === digest : `sha256:${m.sha256}` === digest;
  return same && (await filesMatchByContent(dir, m, run.verified));
}

/**
 * A spec.yaml `info.version` alias may replace only a folder of its own source: one another source
 * published (another list, a hand-placed plugin) is a conflict naming both, unless --prune (then the
 * other folder is not wanted anyway). Two sources of this run aliasing the same folder also conflict.
 * Conflicting aliases become failures and are left out of `s.aliases`.
 */
async function checkSpecAliases(run: Run, staged: Staged[]): Promise<void> {
  const claimed = new Map<string, PluginEntry>();
  for (const s of staged) {
    s.aliases = [];
    for (const a of specAlias(s.group, s.specYaml, run.opts.entries)) {
      const key = `${a.name}/${a.version}`;
      const here = sourceText(a.source);
      const rival = claimed.get(key);
      const m = rival ? undefined : await run.reads.metadata(path.join(run.root, PLUGINS_DIR, a.name, a.version));
      const other = rival ? sourceText(rival.source) : m && !run.opts.prune && m.source !== here ? m.source : undefined;
      if (other !== undefined && other !== here) {
        const where = a.file ? ` (${a.file}${a.line ? `:${a.line}` : ''})` : '';
        recordFailure(
          run,
          [a],
          new InputError({
            code: 'E_ALIAS_CONFLICT',
            message: `spec.yaml of ${here}${where} declares info.version ${a.version}, but plugins/${a.name}/${a.version} belongs to ${other}${rival ? ' in this run' : ''}`,
            context: { plugin: a.name, version: a.version },
            hint: 'remove one of the two sources from the lists, or pull with --prune if the other one is gone',
          }),
          'stage',
          0,
        );
        continue;
      }
      claimed.set(key, a);
      s.aliases.push(a);
    }
  }
}

/** `name@version` of every entry of a run's lists, made once per list (specAlias asks for each group). */
const listedIds = new WeakMap<readonly PluginEntry[], Set<string>>();

function listed(all: readonly PluginEntry[]): Set<string> {
  let ids = listedIds.get(all);
  if (!ids) listedIds.set(all, (ids = new Set(all.map((o) => `${o.name}@${o.version}`))));
  return ids;
}

/** spec.yaml `info.version` when it differs from the tag: the Console asks for that version. */
function specAlias(group: Group, specYaml: string | undefined, all: readonly PluginEntry[]): PluginEntry[] {
  if (!specYaml) return [];
  const v = readSpecYaml(specYaml).version;
  if (!v || !SAFE_SEGMENT.test(v)) return [];
  const out: PluginEntry[] = [];
  for (const e of group.entries) {
    if (e.aliasOf || v === e.version) continue;
    if (listed(all).has(`${e.name}@${v}`)) continue; // the list decides
    out.push({ ...e, version: v, aliasOf: e.version });
  }
  return out;
}

async function fetchOnce(
  run: Run,
  ref: Parameters<OciClient['fetch']>[0],
  digest: string,
  dir: string,
): Promise<FetchedArtifact> {
  const shared = run.fetches.get(digest);
  if (shared) {
    try {
      return await shared;
    } catch {
      /* that repository failed; this one may still serve the same manifest: fetch it here */
    }
  }
  const own = fs.promises
    .mkdir(dir)
    .then(() => run.opts.client.fetch(ref, dir, { expectDigest: digest, signal: run.opts.signal, keepOriginal: true }));
  if (!shared) run.fetches.set(digest, own);
  return own;
}

/** Resolves a source to its digest: the manifest digest for oci, the content sha256 for file:. */
async function resolveDigest(run: Run, first: PluginEntry): Promise<string> {
  const src = first.source;
  if (src.kind === 'oci') return (await run.opts.client.resolve(src.ref, run.opts.signal)).digest;
  const st = await fastFs.stat(src.path).catch(() => undefined);
  if (!st?.isFile())
    throw new InputError({
      code: 'E_FILE_SOURCE',
      message: `file ${src.written} not found (resolved to ${src.path})`,
      context: { file: first.file, line: first.line },
      hint: 'fix the path; it is relative to the list file',
    });
  checkWasmSize(st.size, first);
  return `sha256:${await sha256OfFile(src.path)}`;
}

/** Stages one source: resolve, compare with the tree and the lock, download and prepare what is new. */
async function stageGroup(run: Run, g: Group, i: number): Promise<Staged> {
  const t0 = Date.now();
  const { root, opts, store } = run;
  const first = g.entries[0];
  const src = first.source;
  run.opts.signal?.throwIfAborted();
  for (const e of g.entries) await assertNoSymlinkBelow(root, PLUGINS_DIR, e.name, e.version);
  run.reporter.emit({ event: 'begin', plugins: g.entries.length });
  const ahead = run.digests.get(g.key);
  run.digests.delete(g.key); // read once: the run keeps no promise per source once it is staged
  const digest = await (ahead ?? resolveDigest(run, first));
  for (const e of g.entries) {
    const want = run.lockDigests.get(`${e.name}@${e.version}`);
    if (want && want !== digest) {
      throw new IntegrityError({
        code: 'E_FROZEN_DIGEST',
        message: `${sourceText(e.source)} now resolves to ${digest}, the lock file has ${want}`,
        context: { plugin: e.name, version: e.version },
        hint: 'the tag moved: run `pull --write-lock` to accept it, or pin the reference',
      });
    }
  }
  const cached = new Set<PluginEntry>();
  for (const e of g.entries) if (await isCurrent(run, e, digest)) cached.add(e);
  const primary = g.entries.find((e) => !e.aliasOf) ?? first;
  const s: Staged = { group: g, digest, cached, ms: 0 };
  if (cached.size === g.entries.length) {
    // Everything current: keep the spec.yaml alias (if any) current too, from the bytes on disk.
    const dir = path.join(root, PLUGINS_DIR, primary.name, primary.version);
    s.specYaml = await fastFs.readFile(path.join(dir, SPEC_FILE), 'utf8').catch(() => undefined);
    const extra = specAlias(g, s.specYaml, opts.entries);
    const stale: PluginEntry[] = [];
    for (const a of extra) if (!(await isCurrent(run, a, digest))) stale.push(a);
    if (stale.length) {
      const m = await run.reads.metadata(dir);
      s.wasmPath = path.join(dir, WASM_FILE);
      s.created = m?.created;
      s.prepared = await store.prepare(s.wasmPath, { sha256: m?.sha256, owned: false });
    }
  } else if (src.kind === 'file') {
    const st = await fs.promises.stat(src.path);
    const dir = path.join(run.runTmp, String(i));
    await fs.promises.mkdir(dir);
    s.wasmPath = path.join(dir, WASM_FILE);
    await fs.promises.copyFile(src.path, s.wasmPath);
    if (`sha256:${await sha256OfFile(s.wasmPath)}` !== digest)
      throw new IntegrityError({
        code: 'E_WASM_CHANGED',
        message: `file ${src.written} changed while being read`,
        context: { plugin: first.name },
        hint: 'run pull again',
      });
    s.created = chooseCreated({ sourceDateEpoch: opts.sourceDateEpoch, fileMtime: st.mtime });
    s.prepared = await store.prepare(s.wasmPath, { sha256: digest.replace(/^sha256:/, ''), owned: true });
  } else {
    const art = await fetchOnce(run, src.ref, digest, path.join(run.runTmp, String(i)));
    s.wasmPath = art.wasmPath;
    s.specYaml = art.specYaml;
    s.original = art.original;
    s.created = chooseCreated({ annotation: art.created, sourceDateEpoch: opts.sourceDateEpoch });
    s.prepared = await store.prepare(s.wasmPath, { sha256: art.sha256, owned: true });
  }
  await checkWasmPins(run, g, primary, s);
  // Staged files take the time of the first folder that publishes them, so it can hardlink them.
  if (s.prepared && s.created) await store.claim(s.prepared, new Date(s.created));
  s.ms = Date.now() - t0;
  return s;
}

/**
 * An unmanaged lock's wasmSha256: the module staged (or, when every folder is current, the one on
 * disk, as its metadata records it) must hash to it, or the source fails and nothing is published.
 */
async function checkWasmPins(run: Run, g: Group, primary: PluginEntry, s: Staged): Promise<void> {
  const pins = run.opts.wasmPins;
  if (!pins?.size || !g.entries.some((e) => pins.has(`${e.name}@${e.version}`))) return;
  const sha256 =
    s.prepared?.sha256 ??
    (await run.reads.metadata(path.join(run.root, PLUGINS_DIR, primary.name, primary.version)))?.sha256;
  for (const e of g.entries) {
    const problem = wasmPinProblem(pins, e, sha256 ?? '(unknown)');
    if (problem) throw problem;
  }
}

/**
 * Tags another source pins at the same name and version: resolved (no download) while the others
 * stage; one that resolves elsewhere fails its plugin version, so nothing is committed.
 */
async function checkSameBytes(run: Run): Promise<void> {
  const checks = run.opts.sameBytes ?? [];
  await mapLimit(checks, RESOLVE_CONCURRENCY, async (c) => {
    const t0 = Date.now();
    try {
      if (c.entry.source.kind !== 'oci') return;
      const { digest } = await run.opts.client.resolve(c.entry.source.ref, run.opts.signal);
      const problem = sameBytesProblem(c, digest);
      if (problem) throw problem;
    } catch (err) {
      recordFailure(run, [c.entry], err, 'stage', Date.now() - t0);
    }
  });
}

/**
 * Step 1, stage (bounded concurrency): every distinct source resolved, compared with the tree and
 * downloaded into the run's temp folder. Changes nothing outside that folder; a failing source
 * becomes a record in `run.failures` for each of its plugins.
 */
async function stage(run: Run, groups: Group[]): Promise<Staged[]> {
  const staged = await mapLimit(
    groups,
    run.opts.concurrency ?? DEFAULT_PULL_CONCURRENCY,
    async (g, i): Promise<Staged | undefined> => {
      const t0 = Date.now();
      try {
        const s = await stageGroup(run, g, i);
        announceStaged(run, s);
        return s;
      } catch (err) {
        recordFailure(run, g.entries, err, 'stage', Date.now() - t0);
        return undefined;
      }
    },
  );
  return staged.filter((s): s is Staged => s !== undefined);
}

/**
 * One progress line per plugin version the moment its source is staged (downloaded and verified, or
 * found current), not after every other source: a slow registry does not hold back the others' lines.
 * Publishing them is the commit step; a failure there gets its own line.
 */
function announceStaged(run: Run, s: Staged): void {
  for (const { e, status, cached } of stagedStatuses(run, s)) {
    run.reporter.emit({
      event: 'plugin',
      name: e.name,
      version: e.version,
      status,
      size: s.prepared?.size,
      ms: cached ? 0 : s.ms,
      aliasOf: e.aliasOf,
    });
  }
}

/** What the progress line of each version of a staged source says (the summary counts the same). */
function stagedStatuses(
  run: Run,
  s: Staged,
): Array<{ e: PluginEntry; status: 'cached' | 'aliased' | 'copied' | 'downloaded'; cached: boolean }> {
  const fromSpec = specAlias(s.group, s.specYaml, run.opts.entries);
  return [...s.group.entries, ...fromSpec].map((e) => {
    const cached = s.cached.has(e) || (!s.wasmPath && fromSpec.includes(e));
    const status = cached ? 'cached' : e.aliasOf ? 'aliased' : e.source.kind === 'file' ? 'copied' : 'downloaded';
    return { e, status, cached };
  });
}

/**
 * The counts of a run that stopped before publishing (a failure without --keep-going): what the
 * progress lines said for the staged sources (the tree keeps the cached ones; nothing was published),
 * so the summary never reads "0 cached" under three "cached" lines.
 */
function stagedCounts(run: Run, staged: Staged[]): Committed {
  const out: Committed = { published: 0, downloaded: 0, copied: 0, aliased: 0, cached: 0, pruned: [], lock: [] };
  for (const s of staged) for (const { status } of stagedStatuses(run, s)) out[status]++;
  return out;
}

interface Committed {
  published: number;
  /** Of `published`: from a registry, from a file: source, version alias folders. */
  downloaded: number;
  copied: number;
  aliased: number;
  cached: number;
  pruned: string[];
  lock: LockEntry[];
}

/** A folder just published holds bytes this run hashed: the next pull need not read them again. */
async function vouchPublished(run: Run, e: PluginEntry, p: PreparedWasm): Promise<void> {
  const dir = path.join(run.root, PLUGINS_DIR, e.name, e.version);
  await run.verified.vouchWritten(path.join(dir, WASM_FILE), p.sha256);
  await run.verified.vouchWritten(path.join(dir, GZ_FILE), p.gzipSha256);
}

/**
 * Step 2, commit: publish each staged version folder atomically (different sources concurrently),
 * prune if asked and nothing failed, rewrite index.json.
 */
async function commit(run: Run, staged: Staged[]): Promise<Committed> {
  const { root, opts, reporter } = run;
  const out: Committed = { published: 0, downloaded: 0, copied: 0, aliased: 0, cached: 0, pruned: [], lock: [] };
  await mapLimit(
    staged,
    // Folders published at once, whatever --concurrency (a network setting) is: each is a few renames
    // and fsyncs, which the file system commits together (DURABLE_WRITE_CONCURRENCY).
    DURABLE_WRITE_CONCURRENCY,
    async (s) => {
      const fromSpec = s.aliases ?? [];
      for (const e of [...s.group.entries, ...fromSpec]) {
        out.lock.push({
          name: e.name,
          version: e.version,
          source: sourceText(e.source),
          digest: s.digest,
          aliasOf: e.aliasOf,
          ...(fromSpec.includes(e) ? { fromSpec: true as const } : {}),
        });
        const t0 = Date.now();
        try {
          if (s.cached.has(e) || (!s.wasmPath && (await isCurrent(run, e, s.digest)))) {
            out.cached++;
            continue;
          }
          if (!s.wasmPath || !s.created) continue;
          run.wroteInto.add(e.name);
          try {
            await publishVersion(root, {
              name: e.name,
              version: e.version,
              wasmPath: s.wasmPath,
              source: sourceText(e.source),
              manifestDigest: e.source.kind === 'oci' ? s.digest : null,
              created: s.created,
              aliasOf: e.aliasOf,
              holds: holdsOf(e),
              specYaml: s.specYaml,
              prepared: s.prepared,
            });
          } finally {
            run.reads.changed(path.join(root, PLUGINS_DIR, e.name, e.version));
          }
          if (s.prepared) await vouchPublished(run, e, s.prepared);
          out.published++;
          const status = e.aliasOf ? 'aliased' : e.source.kind === 'file' ? 'copied' : 'downloaded';
          out[status]++;
        } catch (err) {
          recordFailure(run, [e], err, 'commit', Date.now() - t0);
        }
      }
    },
  );
  if (opts.prune && run.failures.length === 0) {
    const aliases = staged.flatMap((s) => s.aliases ?? []);
    for (const v of await pruneCandidates(root, opts.entries, aliases, run.reads)) {
      run.wroteInto.add(v.name);
      await removeVersion(root, v.name, v.version);
      run.reads.changed(v.dir);
      out.pruned.push(`${v.name}/${v.version}`);
      reporter.emit({ event: 'plugin', name: v.name, version: v.version, status: 'pruned', ms: 0 });
    }
  }
  // Before index.json, which records the inventory's hash.
  if (opts.inventory) await writeInventory(root, opts.inventory);
  await writeIndex(root, run.reads);
  await writeBuildInfo(root, { snapshotSha256: opts.snapshotSha256 ?? null });
  return out;
}

/** Every version the tree holds once `commit` has run: what it publishes, and what it keeps. */
async function versionsAfterCommit(run: Run, staged: Staged[]): Promise<PluginId[]> {
  const publishing = staged.flatMap((s) => [...s.group.entries, ...(s.aliases ?? [])]);
  const prunes = run.opts.prune && run.failures.length === 0;
  return [...publishing, ...(prunes ? [] : await run.reads.versionDirs())];
}

/**
 * A version whose source manifest the view could not serve again (run.restore) must be published by
 * this run from a fresh fetch of its source, or the run stops before the commit: the view written
 * after it would otherwise switch the tag to a generated image with another digest (issue 27, class 9).
 */
function assertDigestsKept(run: Run, staged: Staged[], after: PluginId[]): void {
  if (run.restore.size === 0) return;
  const fetched = new Set(
    staged.filter((s) => s.original).flatMap((s) => [...s.group.entries, ...(s.aliases ?? [])].map(idKey)),
  );
  for (const id of after) {
    const lost = run.restore.get(idKey(id));
    if (lost && !fetched.has(idKey(id))) throw identityLost(id, lost.digest, lost.why);
  }
}

const idKey = (id: PluginId) => `${id.name}/${id.version}`;

/**
 * Stages every source, then commits when staging had no failure (or with --keep-going). Returns what
 * the OCI view needs of the staged set, the source manifests fetched, and lets go of the rest: a
 * record per version that, at 20,000 versions, was 20 MB of the heap held while the view was written.
 */
async function stageAndCommit(
  run: Run,
  groups: Group[],
): Promise<{ proceed: boolean; done: Committed; originals: Map<string, OriginalArtifact> }> {
  resolveAhead(run, groups);
  const [staged] = await Promise.all([stage(run, groups), checkSameBytes(run)]);
  await checkSpecAliases(run, staged);
  const proceed = run.failures.length === 0 || !!run.opts.keepGoing;
  if (!proceed) return { proceed, done: stagedCounts(run, staged), originals: new Map() };
  // The tree and its OCI view are published as one unit: the whole set the commit would leave
  // (spec.yaml aliases included) is checked before the first folder is written, so the view
  // written after it cannot be refused for it (issue 27, class 8).
  const after = await versionsAfterCommit(run, staged);
  assertNoIdentityClash(after);
  assertDigestsKept(run, staged, after);
  const done = await commit(run, staged);
  const originals = new Map(staged.flatMap((s) => (s.original ? [[s.digest, s.original] as const] : [])));
  return { proceed, done, originals };
}

/**
 * Stage and commit, then the OCI view. Returns the counts only: what a step keeps per version (the
 * staged set, the source manifests, the tree's metadata) is let go when the step after it is done.
 */
async function publishTree(run: Run, groups: Group[]): Promise<{ proceed: boolean; done: Committed; fetched: number }> {
  const { proceed, done, originals } = await stageAndCommit(run, groups);
  const fetched = endStaging(run);
  // The OCI view follows the tree like index.json: sources fetched now give their manifests, the
  // previous view those of cached versions.
  if (proceed) await writeOciView(run.root, { originals, verified: run.verified, reads: run.reads });
  run.reads.forget();
  return { proceed, done, fetched };
}

/** Lets go of what staging kept per source once the commit has used it; returns how many downloads started. */
function endStaging(run: Run): number {
  const fetched = run.fetches.size;
  run.fetches.clear();
  run.store.release();
  // The view that follows hashes files in pieces; workers that read whole modules keep those buffers.
  cpuPool().retireIdle();
  return fetched;
}

/**
 * Two steps so a failed run changes nothing: `stage` everything, then `commit` only when staging had
 * no failure (or, with --keep-going, commit what staged). Temp folders are removed at the end and on
 * failure; leftovers of a killed run are removed first.
 */
export async function runPull(opts: PullOptions): Promise<PullResult> {
  const started = Date.now();
  const reporter = opts.reporter ?? silentReporter;
  const root = path.resolve(opts.root);
  const level = opts.gzipLevel ?? DEFAULT_GZIP_LEVEL;
  await fs.promises.mkdir(root, { recursive: true });
  await assertNoSymlinkBelow(root, PLUGINS_DIR);
  await assertOciDirIsOurs(root);
  await fs.promises.mkdir(path.join(root, PLUGINS_DIR), { recursive: true });
  const treeRun = await beginTreeRun(root, { ...opts.lock, signal: opts.lock?.signal ?? opts.signal });
  const runTmp = path.join(root, runTempName('tmp', 'pull'));
  try {
    await fs.promises.mkdir(runTmp);
  } catch (err) {
    await treeRun.end();
    throw err;
  }
  // Let go once the tree is published, like every other record per source (see publishTree).
  let groups: Group[] | undefined = groupEntries(opts.entries);
  const run: Run = {
    opts,
    root,
    runTmp,
    reporter,
    store: new ContentStore(root, runTmp, level),
    lockDigests: new Map((opts.frozen?.plugins ?? []).map((l) => [`${l.name}@${l.version}`, l.digest])),
    fetches: new Map(),
    failures: [],
    verified: await VerifiedFiles.load(root),
    reads: new TreeReads(root),
    wroteInto: new Set(),
    digests: new Map(),
    restore: new Map(),
  };
  reporter.emit({ event: 'start', plugins: opts.entries.length, sources: groups.length });
  let committed = false;
  try {
    // Fails fast, before any download, on a list that cannot be served with the folders it keeps.
    assertNoIdentityClash([...opts.entries, ...(opts.prune ? [] : await run.reads.versionDirs())]);
    run.restore = await originalsToRestore(root);
    const { proceed, done, fetched } = await publishTree(run, groups);
    groups = undefined;
    committed = proceed;
    const failed = run.failures;
    if (opts.writeLock && failed.length === 0)
      await writeFileAtomic(opts.writeLock, renderLock(done.lock), new Date(0));
    const ok = failed.length === 0;
    const counts = {
      downloaded: done.downloaded,
      copied: done.copied,
      aliased: done.aliased,
      cached: done.cached,
      failed: failed.length,
      pruned: done.pruned.length,
    };
    return {
      ok,
      published: done.published,
      cached: done.cached,
      failed,
      pruned: done.pruned,
      counts,
      ms: Date.now() - started,
      content: { fetched, ...run.store.stats },
    };
  } finally {
    await fs.promises.rm(runTmp, { recursive: true, force: true });
    try {
      // Last: the view's hardlinks and the removal of the staged files' other links moved ctimes, which
      // the record keeps as they are now. A run that stopped before its commit leaves the output
      // folder as it was, record included.
      if (committed) await run.verified.save();
    } finally {
      await treeRun.end(run.wroteInto);
    }
  }
}
