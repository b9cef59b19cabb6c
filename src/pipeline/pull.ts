/**
 * Pull orchestration. Two phases so a failed run changes nothing:
 *   1. stage (bounded concurrency): resolve every distinct source to a digest, compare with the
 *      tree (unchanged digest + files of the recorded sizes = cached, no blob request), otherwise
 *      download into `<root>/.tmp-<random>/` and check the wasm;
 *   2. commit (only when stage had no failure, or with --keep-going for the sources that staged):
 *      publish each version folder atomically, prune if asked, rewrite index.json, write the lock.
 * Temp folders are removed at the end and on failure; leftovers of a killed run are removed first.
 */
import * as fs from 'fs';
import * as path from 'path';
import { errorLine, InputError, IntegrityError, PluginServerError } from '../errors';
import { LockEntry, LockFile, renderLock } from '../inputs/lock';
import { PluginEntry, sourceKey, sourceText } from '../inputs/types';
import { FetchedArtifact, OciClient, OriginalArtifact } from '../oci/types';
import { gatewayLoads, writeOciView } from '../ociview/write';
import { PLUGINS_DIR, SAFE_SEGMENT, SPEC_FILE, WASM_FILE } from '../tree/format';
import { randomSuffix, sha256OfFile, writeFileAtomic } from '../tree/fsutil';
import { cleanLeftovers, publishVersion, removeVersion, TMP_PREFIX, writeIndex } from '../tree/publish';
import { filesMatchBySize, listVersionDirs, readMetadata } from '../tree/read';
import { readSpecYaml } from '../tree/spec';
import { checkWasmSize, withWasmContext } from '../tree/wasm';
import { chooseCreated } from './created';
import { DEFAULT_GZIP_LEVEL } from './gzip-format';
import { mapLimit } from './pool';
import { ContentStore, PreparedWasm } from './prepare';
import { Reporter, silentReporter } from './progress';

export interface PullOptions {
  root: string;
  entries: PluginEntry[];
  client: OciClient;
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
  /** gzip level of plugin.wasm.gz (default 9, what the issue ships; lower trades size for CPU). */
  gzipLevel?: number;
}

/** How much work content reuse saved (see src/pipeline/prepare.ts). */
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
  failed: PluginServerError[];
  pruned: string[];
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


function asPluginError(err: unknown, e: PluginEntry): PluginServerError {
  // A copy per plugin: one download or check can be shared by several plugins (content reuse).
  if (err instanceof PluginServerError) return withWasmContext(err, { plugin: e.name, version: e.version });
  return new IntegrityError('E_PULL', errorLine(err), { plugin: e.name, version: e.version });
}

/** The version folder's metadata says it holds exactly these bytes from this source. */
async function isCurrent(root: string, e: PluginEntry, digest: string): Promise<boolean> {
  const dir = path.join(root, PLUGINS_DIR, e.name, e.version);
  const m = await readMetadata(dir);
  if (!m || m.source !== sourceText(e.source) || (m.aliasOf ?? null) !== (e.aliasOf ?? null)) return false;
  const same = e.source.kind === 'oci' ? m.manifestDigest === digest : `sha256:${m.sha256}` === digest;
  return same && (await filesMatchBySize(dir, m));
}

/** spec.yaml `info.version` when it differs from the tag: the Console asks for that version. */
function specAlias(group: Group, specYaml: string | undefined, all: PluginEntry[]): PluginEntry[] {
  if (!specYaml) return [];
  const v = readSpecYaml(specYaml).version;
  if (!v || !SAFE_SEGMENT.test(v)) return [];
  const out: PluginEntry[] = [];
  for (const e of group.entries) {
    if (e.aliasOf || v === e.version) continue;
    if (all.some((o) => o.name === e.name && o.version === v)) continue; // the list decides
    out.push({ ...e, version: v, aliasOf: e.version });
  }
  return out;
}

export async function runPull(opts: PullOptions): Promise<PullResult> {
  const started = Date.now();
  const reporter = opts.reporter ?? silentReporter;
  const root = path.resolve(opts.root);
  const level = opts.gzipLevel ?? DEFAULT_GZIP_LEVEL;
  if (!Number.isInteger(level) || level < 1 || level > 9) throw new InputError('E_GZIP_LEVEL', `gzip level ${level} is not an integer from 1 to 9`, {}, 'use --gzip-level 1..9 (9 is the default)');
  await fs.promises.mkdir(path.join(root, PLUGINS_DIR), { recursive: true });
  await cleanLeftovers(root);
  const runTmp = path.join(root, `${TMP_PREFIX}${randomSuffix()}`);
  await fs.promises.mkdir(runTmp);
  const groups = groupEntries(opts.entries);
  const store = new ContentStore(root, runTmp, level);
  // Sources that resolve to the same manifest digest hold the same bytes: download them once.
  const fetches = new Map<string, Promise<FetchedArtifact>>();
  const fetchOnce = async (ref: Parameters<OciClient['fetch']>[0], digest: string, dir: string): Promise<FetchedArtifact> => {
    const shared = fetches.get(digest);
    if (shared) {
      try {
        return await shared;
      } catch {
        /* that repository failed; this one may still serve the same manifest: fetch it here */
      }
    }
    const own = fs.promises.mkdir(dir).then(() => opts.client.fetch(ref, dir, { expectDigest: digest, keepOriginal: gatewayLoads }));
    if (!shared) fetches.set(digest, own);
    return own;
  };
  reporter.emit({ event: 'start', plugins: opts.entries.length, sources: groups.length });
  const lockDigests = new Map((opts.frozen?.plugins ?? []).map((l) => [`${l.name}@${l.version}`, l.digest]));
  const failed: PluginServerError[] = [];
  const fail = (g: Group, err: unknown, ms: number) => {
    for (const e of g.entries) {
      const pe = asPluginError(err, e);
      failed.push(pe);
      reporter.emit({ event: 'plugin', name: e.name, version: e.version, status: 'failed', ms, aliasOf: e.aliasOf, error: pe.detail() });
    }
  };

  try {
    // Phase 1: stage.
    const staged = await mapLimit(groups, opts.concurrency ?? 8, async (g, i): Promise<Staged | undefined> => {
      const t0 = Date.now();
      const first = g.entries[0] as PluginEntry;
      try {
        const src = first.source;
        let digest: string;
        if (src.kind === 'file') {
          const st = await fs.promises.stat(src.path).catch(() => undefined);
          if (!st?.isFile()) throw new InputError('E_FILE_SOURCE', `file ${src.written} not found (resolved to ${src.path})`, { file: first.file, line: first.line }, 'fix the path; it is relative to the list file');
          checkWasmSize(st.size, first);
          digest = `sha256:${await sha256OfFile(src.path)}`;
        } else {
          digest = (await opts.client.resolve(src.ref)).digest;
        }
        for (const e of g.entries) {
          const want = lockDigests.get(`${e.name}@${e.version}`);
          if (want && want !== digest) {
            throw new IntegrityError('E_FROZEN_DIGEST', `${sourceText(e.source)} now resolves to ${digest}, the lock file has ${want}`, { plugin: e.name, version: e.version }, 'the tag moved: run `pull --lock` to accept it, or pin the reference');
          }
        }
        const cached = new Set<PluginEntry>();
        for (const e of g.entries) if (await isCurrent(root, e, digest)) cached.add(e);
        const primary = g.entries.find((e) => !e.aliasOf) ?? first;
        const s: Staged = { group: g, digest, cached, ms: 0 };
        if (cached.size === g.entries.length) {
          // Everything current: keep the spec.yaml alias (if any) current too, from the bytes on disk.
          const dir = path.join(root, PLUGINS_DIR, primary.name, primary.version);
          s.specYaml = await fs.promises.readFile(path.join(dir, SPEC_FILE), 'utf8').catch(() => undefined);
          const extra = specAlias(g, s.specYaml, opts.entries);
          const stale: PluginEntry[] = [];
          for (const a of extra) if (!(await isCurrent(root, a, digest))) stale.push(a);
          if (stale.length) {
            const m = await readMetadata(dir);
            s.wasmPath = path.join(dir, WASM_FILE);
            s.created = m?.created;
            s.prepared = await store.prepare(s.wasmPath, { sha256: m?.sha256, owned: false });
          }
        } else if (src.kind === 'file') {
          const st = await fs.promises.stat(src.path);
          const dir = path.join(runTmp, String(i));
          await fs.promises.mkdir(dir);
          s.wasmPath = path.join(dir, WASM_FILE);
          await fs.promises.copyFile(src.path, s.wasmPath);
          if (`sha256:${await sha256OfFile(s.wasmPath)}` !== digest) throw new IntegrityError('E_FILE_CHANGED', `file ${src.written} changed while being read`, { plugin: first.name }, 'run pull again');
          s.created = chooseCreated({ sourceDateEpoch: opts.sourceDateEpoch, fileMtime: st.mtime });
          s.prepared = await store.prepare(s.wasmPath, { sha256: digest.replace(/^sha256:/, ''), owned: true });
        } else {
          const art = await fetchOnce(src.ref, digest, path.join(runTmp, String(i)));
          s.wasmPath = art.wasmPath;
          s.specYaml = art.specYaml;
          s.original = art.original;
          s.created = chooseCreated({ annotation: art.created, sourceDateEpoch: opts.sourceDateEpoch });
          s.prepared = await store.prepare(s.wasmPath, { sha256: art.sha256, owned: true });
        }
        // Staged files take the time of the first folder that publishes them, so it can hardlink them.
        if (s.prepared && s.created) await store.claim(s.prepared, new Date(s.created));
        s.ms = Date.now() - t0;
        return s;
      } catch (err) {
        fail(g, err, Date.now() - t0);
        return undefined;
      }
    });

    const proceed = failed.length === 0 || opts.keepGoing;
    let published = 0;
    let cachedCount = 0;
    const wanted = new Set<string>();
    const lock: LockEntry[] = [];
    if (proceed) {
      // Phase 2: commit. Folders of different sources are independent: publish them concurrently.
      await mapLimit(
        staged.filter((s): s is Staged => s !== undefined),
        Math.max(1, Math.min(opts.concurrency ?? 8, 4)),
        async (s) => {
          const fromSpec = specAlias(s.group, s.specYaml, opts.entries);
          for (const e of [...s.group.entries, ...fromSpec]) {
            wanted.add(`${e.name}/${e.version}`);
            lock.push({ name: e.name, version: e.version, source: sourceText(e.source), digest: s.digest, aliasOf: e.aliasOf, ...(fromSpec.includes(e) ? { fromSpec: true as const } : {}) });
            const t0 = Date.now();
            try {
              if (s.cached.has(e) || (!s.wasmPath && (await isCurrent(root, e, s.digest)))) {
                const m = await readMetadata(path.join(root, PLUGINS_DIR, e.name, e.version));
                cachedCount++;
                reporter.emit({ event: 'plugin', name: e.name, version: e.version, status: 'cached', size: m?.size, ms: 0, aliasOf: e.aliasOf });
                continue;
              }
              if (!s.wasmPath || !s.created) continue;
              const m = await publishVersion(root, {
                name: e.name,
                version: e.version,
                wasmPath: s.wasmPath,
                source: sourceText(e.source),
                manifestDigest: e.source.kind === 'oci' ? s.digest : null,
                created: s.created,
                aliasOf: e.aliasOf,
                specYaml: s.specYaml,
                prepared: s.prepared,
              });
              published++;
              reporter.emit({ event: 'plugin', name: e.name, version: e.version, status: 'downloaded', size: m.size, ms: s.ms + Date.now() - t0, aliasOf: e.aliasOf });
            } catch (err) {
              fail({ key: s.group.key, entries: [e] }, err, Date.now() - t0);
            }
          }
        },
      );
    }
    const pruned: string[] = [];
    if (proceed && opts.prune && failed.length === 0) {
      for (const v of await listVersionDirs(root)) {
        if (wanted.has(`${v.name}/${v.version}`)) continue;
        await removeVersion(root, v.name, v.version);
        pruned.push(`${v.name}/${v.version}`);
      }
    }
    if (proceed) await writeIndex(root);
    if (proceed) await writeOciView(root, { originals: new Map(staged.flatMap((s) => (s?.original ? [[s.digest, s.original] as const] : []))) });
    if (opts.writeLock && failed.length === 0) await writeFileAtomic(opts.writeLock, renderLock(lock), new Date(0));
    const ok = failed.length === 0;
    reporter.emit({ event: 'summary', ok, plugins: opts.entries.length, downloaded: published, cached: cachedCount, failed: failed.length, pruned: pruned.length, ms: Date.now() - started });
    return { ok, published, cached: cachedCount, failed, pruned, content: { fetched: fetches.size, ...store.stats } };
  } finally {
    await fs.promises.rm(runTmp, { recursive: true, force: true });
  }
}
