/**
 * Upstream's snapshot build (Higress 2.2.4, plugin-server e56a555): one pinned release snapshot plus
 * an **unmanaged lock** for the list entries the snapshot does not manage (the C++ plugins).
 *
 *   {"schemaVersion": 1, "plugins": {"<name>": {"logicalKey", "servedPath", "servedVersion",
 *                                               "repository", "tag", "digest", "wasmSha256"}}}
 *
 * Upstream's rules, as pure functions over the parsed inputs, each returning every problem:
 *   - two snapshot entries claim one inventoryKey or alias: "ambiguous" (E_SNAPSHOT_AMBIGUOUS);
 *   - the lock covers exactly the first list's entries the snapshot does not manage: "missing=… extra=…"
 *     (E_UNMANAGED_COVERAGE);
 *   - `logicalKey` and `servedPath` equal the list name and `servedVersion` the list tag: "changes its
 *     served identity" (E_UNMANAGED_IDENTITY);
 *   - `repository` and `tag` equal the list's reference (and its digest, when the list pins one):
 *     "drifts" (E_UNMANAGED_DRIFT);
 *   - the pulled module hashes to `wasmSha256`: "Wasm hash does not match" (E_UNMANAGED_WASM_HASH,
 *     checked by the pipeline once the bytes are there, see `wasmPinProblem`).
 * The ociRef tag / version rule ("disagrees") is parseSnapshot's. The lock's rules apply to the first
 * list only (upstream's `plugins.properties`); later lists add their entries with their own pins.
 * Unmanaged entries are pulled by the lock's digest and served at `servedVersion`; the list entries the
 * snapshot manages are served by the snapshot, at its versions.
 */
import { InputError, IntegrityError } from '../errors';
import { DIGEST_HINT, isDigest } from '../contract/digest';
import { SAFE_SEGMENT } from '../contract/plugin-identity';
import { dedupe, ParseResult } from './properties';
import { PluginEntry, sourceText } from './types';

export interface UnmanagedLockEntry {
  /** The list name (the key of `plugins`). */
  name: string;
  logicalKey: string;
  servedPath: string;
  servedVersion: string;
  /** `host/repository`, without scheme or tag. */
  repository: string;
  tag: string;
  /** Manifest digest the entry is pulled by. */
  digest: string;
  /** Hex sha256 of the module. */
  wasmSha256: string;
  /** Line of the entry in the lock, for messages. */
  line: number;
}

export interface UnmanagedLock {
  schemaVersion: 1;
  /** Sorted by name. */
  plugins: UnmanagedLockEntry[];
}

/** A snapshot entry the plugin server serves: its names (inventoryKey first, then aliases) at one version. */
export interface ServedSnapshotEntry {
  logicalId: string;
  inventoryKey: string;
  aliases: string[];
  httpPath: string;
  version: string;
  digest: string;
}

/** One name of `plugins/snapshot-inventory.json` before the bytes are known. */
export interface InventoryWant {
  key: string;
  version: string;
  digest: string;
}

const HEX64 = /^[a-f0-9]{64}$/;
const LOCK_FIELDS = ['logicalKey', 'servedPath', 'servedVersion', 'repository', 'tag', 'digest', 'wasmSha256'] as const;

/** Line of `"<key>": {` in a JSON text (the first one), for messages; 0 when not found. */
function lineOfKey(text: string, key: string): number {
  const at = text.indexOf(`${JSON.stringify(key)}: {`);
  return at < 0 ? 0 : text.slice(0, at).split('\n').length;
}

export function parseUnmanagedLock(text: string, file: string): { lock?: UnmanagedLock; problems: InputError[] } {
  const problem = (message: string, line?: number) =>
    new InputError({
      code: 'E_UNMANAGED_LOCK',
      message,
      context: { file, ...(line ? { line } : {}) },
      hint: 'pass the unmanaged-plugins.lock.json that belongs to the snapshot and the list',
    });
  let doc: { schemaVersion?: unknown; plugins?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (e) {
    return { problems: [problem(`not valid JSON: ${(e as Error).message}`)] };
  }
  if (
    !doc ||
    typeof doc !== 'object' ||
    doc.schemaVersion !== 1 ||
    !doc.plugins ||
    typeof doc.plugins !== 'object' ||
    Array.isArray(doc.plugins)
  )
    return { problems: [problem('not an unmanaged plugin lock (want schemaVersion 1 and a plugins object)')] };
  const problems: InputError[] = [];
  const plugins: UnmanagedLockEntry[] = [];
  for (const [name, raw] of Object.entries(doc.plugins as Record<string, unknown>)) {
    const line = lineOfKey(text, name);
    if (!SAFE_SEGMENT.test(name)) {
      problems.push(problem(`unsafe plugin name ${JSON.stringify(name)}`, line));
      continue;
    }
    const e = raw as Record<string, unknown> | null;
    const absent = LOCK_FIELDS.filter((f) => !e || typeof e !== 'object' || typeof e[f] !== 'string');
    if (absent.length) {
      problems.push(problem(`${name}: needs ${absent.join(', ')} (strings)`, line));
      continue;
    }
    const v = e as Record<(typeof LOCK_FIELDS)[number], string>;
    if (!isDigest(v.digest)) {
      problems.push(problem(`${name}: bad digest ${JSON.stringify(v.digest)} (${DIGEST_HINT})`, line));
      continue;
    }
    if (!HEX64.test(v.wasmSha256)) {
      problems.push(problem(`${name}: bad wasmSha256 ${JSON.stringify(v.wasmSha256)} (want 64 lowercase hex)`, line));
      continue;
    }
    if (!SAFE_SEGMENT.test(v.servedVersion)) {
      problems.push(problem(`${name}: unsafe servedVersion ${JSON.stringify(v.servedVersion)}`, line));
      continue;
    }
    plugins.push({ name, ...v, line });
  }
  plugins.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return problems.length ? { problems } : { lock: { schemaVersion: 1, plugins }, problems };
}

/**
 * The snapshot entries the plugin server serves, and the "ambiguous" rule: one inventoryKey or alias
 * claimed by two entries. Incomplete entries are left out here (parseSnapshot reports them).
 */
export function servedSnapshotEntries(
  text: string,
  file: string,
): { served: ServedSnapshotEntry[]; problems: InputError[] } {
  let doc: { plugins?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    return { served: [], problems: [] }; // parseSnapshot reports it
  }
  if (!doc || !Array.isArray(doc.plugins)) return { served: [], problems: [] };
  const served: ServedSnapshotEntry[] = [];
  const problems: InputError[] = [];
  const claimed = new Map<string, string>();
  (doc.plugins as unknown[]).forEach((raw, i) => {
    const p = raw as {
      logicalId?: unknown;
      version?: unknown;
      digest?: unknown;
      consumers?: { pluginServer?: { httpPath?: unknown; inventoryKey?: unknown; aliases?: unknown } };
    } | null;
    const ps = p?.consumers?.pluginServer;
    if (!p || !ps || typeof p.version !== 'string' || typeof p.digest !== 'string' || typeof ps.httpPath !== 'string')
      return;
    const id = typeof p.logicalId === 'string' ? p.logicalId : `plugins[${i}]`;
    const inventoryKey = typeof ps.inventoryKey === 'string' ? ps.inventoryKey : ps.httpPath;
    const aliases = Array.isArray(ps.aliases) ? ps.aliases.filter((a): a is string => typeof a === 'string') : [];
    for (const key of new Set([inventoryKey, ...aliases])) {
      const other = claimed.get(key);
      if (other !== undefined)
        problems.push(
          new InputError({
            code: 'E_SNAPSHOT_AMBIGUOUS',
            message: `inventoryKey ${key} is ambiguous: snapshot entries ${other} and ${id} both claim it`,
            context: { file, line: lineOfLogicalId(text, i) },
            hint: 'keep one snapshot entry per served name',
          }),
        );
      else claimed.set(key, id);
    }
    served.push({ logicalId: id, inventoryKey, aliases, httpPath: ps.httpPath, version: p.version, digest: p.digest });
  });
  return { served, problems };
}

/** Line of the i-th `"logicalId"` key (0 when there is none). */
function lineOfLogicalId(text: string, i: number): number {
  let at = -1;
  for (let n = 0; n <= i; n++) {
    at = text.indexOf('"logicalId"', at + 1);
    if (at < 0) return 0;
  }
  return text.slice(0, at).split('\n').length;
}

/** What `plugins/snapshot-inventory.json` will list: every inventoryKey and alias (not the unmanaged). */
export function inventoryWants(served: ServedSnapshotEntry[]): InventoryWant[] {
  const out = new Map<string, InventoryWant>();
  for (const s of served)
    for (const key of [s.inventoryKey, ...s.aliases])
      if (!out.has(key)) out.set(key, { key, version: s.version, digest: s.digest });
  return [...out.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Every name the snapshot serves (httpPath, inventoryKey, aliases): the list entries it manages. */
export function managedNames(served: ServedSnapshotEntry[]): Set<string> {
  return new Set(served.flatMap((s) => [s.httpPath, s.inventoryKey, ...s.aliases]));
}

export interface UnmanagedResult {
  /**
   * The first list's entries: the unmanaged ones pinned by the lock, the managed ones kept as they are
   * (compatibility entries at their own tags; at the snapshot's version the snapshot's pin wins, see
   * foldPinnedDuplicates).
   */
  entries: PluginEntry[];
  problems: InputError[];
  /** `name@version` → hex sha256 the module must hash to. */
  wasmPins: Map<string, string>;
}

/**
 * Applies the lock to the first list: the entries the snapshot does not manage must be exactly the
 * lock's entries, same identity, same reference, and are pinned by the lock's digest and wasmSha256.
 *
 * The entries of plugins the snapshot manages are not dropped (upstream drops them, and with them the
 * `/<name>/2.0.0/` and `#@alias <name> 1.0.0=2.0.0` folders every image before 2.2.4 served, which is
 * how 2.2.4 broke older Consoles and WasmPlugins): they stay as compatibility entries served at their
 * own tags, pinned by `--lock` like any list entry, while the snapshot version comes from the snapshot by
 * digest. At the snapshot's own version the two must be the same bytes (foldPinnedDuplicates). The
 * lock's coverage rule ("missing=… extra=…") still concerns only the entries the snapshot does not
 * manage, so upstream's rules and errors are unchanged.
 */
export function applyUnmanagedLock(
  list: PluginEntry[],
  managed: ReadonlySet<string>,
  lock: UnmanagedLock,
  lockFile: string,
): UnmanagedResult {
  const problems: InputError[] = [];
  const wasmPins = new Map<string, string>();
  const byName = new Map(lock.plugins.map((l) => [l.name, l]));
  const unmanaged = list.filter((e) => !managed.has(e.name));
  const primaries = new Map<string, PluginEntry[]>();
  for (const e of unmanaged) if (!e.aliasOf) primaries.set(e.name, [...(primaries.get(e.name) ?? []), e]);
  const names = new Set(unmanaged.map((e) => e.name));
  const missing = [...names].filter((n) => !byName.has(n)).sort();
  const extra = lock.plugins.filter((l) => !names.has(l.name)).map((l) => l.name);
  if (missing.length || extra.length) {
    const listFile = unmanaged.find((e) => missing.includes(e.name))?.file ?? list[0]?.file ?? '(list)';
    problems.push(
      new InputError({
        code: 'E_UNMANAGED_COVERAGE',
        message: `the unmanaged lock does not cover exactly the entries of ${listFile} the snapshot does not manage: missing=${missing.join(',') || '(none)'} extra=${extra.join(',') || '(none)'}`,
        context: { file: lockFile },
        hint: 'the lock must hold one entry per list entry the snapshot does not serve, and no other',
      }),
    );
  }
  const pinned = new Map<string, PluginEntry>();
  // In the lock's order (by name), so the lines come out in the same order on every run.
  for (const l of lock.plugins) {
    const name = l.name;
    const entries = primaries.get(name);
    if (!entries) continue;
    const at = { file: lockFile, line: l.line };
    const identity = (message: string) =>
      problems.push(
        new InputError({
          code: 'E_UNMANAGED_IDENTITY',
          message: `${name} changes its served identity: ${message}`,
          context: at,
          hint: 'logicalKey and servedPath must be the list name, servedVersion the list tag',
        }),
      );
    const drift = (message: string) =>
      problems.push(
        new InputError({
          code: 'E_UNMANAGED_DRIFT',
          message: `${name} drifts from the list: ${message}`,
          context: at,
          hint: 'update the lock entry (digest and wasmSha256 too) to the list, or revert the list',
        }),
      );
    if (entries.length > 1) {
      drift(`the list serves it at ${entries.map((e) => e.version).join(' and ')}; the lock pins one version`);
      continue;
    }
    const e = entries[0];
    if (l.logicalKey !== name) identity(`logicalKey is ${l.logicalKey}`);
    if (l.servedPath !== name) identity(`servedPath is ${l.servedPath}`);
    if (l.servedVersion !== e.version) identity(`servedVersion ${l.servedVersion}, the list tag is ${e.version}`);
    if (e.source.kind !== 'oci') {
      drift(`the list reads it from file:${e.source.written}, the lock from ${l.repository}:${l.tag}`);
      continue;
    }
    const ref = e.source.ref;
    const repository = `${ref.registry}/${ref.repository}`;
    if (repository !== l.repository) drift(`repository ${l.repository} in the lock, ${repository} in the list`);
    if ((ref.tag ?? '') !== l.tag) drift(`tag ${l.tag} in the lock, ${ref.tag ?? '(none)'} in the list`);
    if (ref.digest && ref.digest !== l.digest) drift(`digest ${l.digest} in the lock, ${ref.digest} in the list`);
    pinned.set(name, {
      name,
      version: l.servedVersion,
      source: { kind: 'oci', ref: { ...ref, digest: l.digest } },
      file: e.file,
      line: e.line,
    });
  }
  const entries: PluginEntry[] = [];
  for (const e of list) {
    if (managed.has(e.name)) {
      entries.push(e);
      continue;
    }
    const p = pinned.get(e.name);
    if (!p) continue;
    const out: PluginEntry = e.aliasOf ? { ...e, source: p.source } : { ...p, from: 'unmanaged-lock' };
    entries.push(out);
    wasmPins.set(`${out.name}@${out.version}`, byName.get(e.name)?.wasmSha256 ?? '');
  }
  return { entries, problems, wasmPins };
}

/** The inputs of `pull --snapshot <s> [--unmanaged-lock <l>] <lists>...`, parsed (files read by the caller). */
export interface SnapshotBuildInputs {
  /** Each list parsed, in command-line order; the lock's rules apply to the first. */
  lists: ParseResult[];
  /** The snapshot parsed by parseSnapshot, and its text for the snapshot-only rules. */
  snapshot: { parsed: ParseResult; text: string; file: string };
  lock?: { text: string; file: string };
}

export interface SnapshotBuildPlan extends ParseResult {
  wasmPins: Map<string, string>;
  inventory: InventoryWant[];
  /** Entries another source pins at the same name and version: each must resolve to that digest. */
  sameBytes: SameBytesCheck[];
}

/**
 * One name and version two sources serve: `entry` (a tag) is left out of the pull, and must resolve
 * to the digest `pinnedBy` pins (the bytes served), or the run fails naming both.
 */
export interface SameBytesCheck {
  entry: PluginEntry;
  digest: string;
  pinnedBy: PluginEntry;
}

/**
 * Folds an unpinned oci:// entry into a pinned one of the same name and version (the snapshot's or the
 * lock's pin serves the bytes; the tag must resolve to the same digest, checked when the registry
 * answers). Two pins, two tags, file: sources and aliases are left to `dedupe`.
 */
export function foldPinnedDuplicates(entries: PluginEntry[]): { entries: PluginEntry[]; sameBytes: SameBytesCheck[] } {
  const out: Array<PluginEntry | undefined> = [];
  const at = new Map<string, number>();
  const sameBytes: SameBytesCheck[] = [];
  const pin = (e: PluginEntry) => (e.source.kind === 'oci' && !e.aliasOf ? e.source.ref.digest : undefined);
  const unpinned = (e: PluginEntry) => e.source.kind === 'oci' && !e.aliasOf && !e.source.ref.digest;
  for (const e of entries) {
    const key = `${e.name}\0${e.version}`;
    const i = at.get(key);
    const prev = i === undefined ? undefined : out[i];
    if (i !== undefined && prev) {
      const prevPin = pin(prev);
      const ePin = pin(e);
      if (prevPin && unpinned(e)) {
        sameBytes.push({ entry: e, digest: prevPin, pinnedBy: prev });
        continue;
      }
      if (ePin && unpinned(prev)) {
        sameBytes.push({ entry: prev, digest: ePin, pinnedBy: e });
        out[i] = e;
        continue;
      }
    }
    if (i === undefined) at.set(key, out.length);
    out.push(e);
  }
  // A version alias of a folder whose tag was folded into a pin serves the pinned bytes too.
  const folded = new Map(sameBytes.map((c) => [`${c.entry.name}\0${c.entry.version}`, c.pinnedBy]));
  const kept = out
    .filter((e): e is PluginEntry => e !== undefined)
    .map((e) => {
      const pinnedBy = e.aliasOf !== undefined ? folded.get(`${e.name}\0${e.aliasOf}`) : undefined;
      return pinnedBy ? { ...e, source: pinnedBy.source } : e;
    });
  return { entries: kept, sameBytes };
}

/** All of upstream's input rules at once, before any download; `entries` is what to pull. */
export function planSnapshotBuild(inputs: SnapshotBuildInputs): SnapshotBuildPlan {
  const { served, problems: ambiguous } = servedSnapshotEntries(inputs.snapshot.text, inputs.snapshot.file);
  const problems: InputError[] = [...inputs.lists.flatMap((l) => l.problems), ...inputs.snapshot.parsed.problems];
  problems.push(...ambiguous);
  let first = inputs.lists[0]?.entries ?? [];
  let wasmPins = new Map<string, string>();
  if (inputs.lock) {
    const { lock, problems: lockProblems } = parseUnmanagedLock(inputs.lock.text, inputs.lock.file);
    problems.push(...lockProblems);
    if (lock) {
      const applied = applyUnmanagedLock(first, managedNames(served), lock, inputs.lock.file);
      problems.push(...applied.problems);
      first = applied.entries;
      wasmPins = applied.wasmPins;
    }
  }
  const folded = foldPinnedDuplicates([
    ...inputs.snapshot.parsed.entries,
    ...first,
    ...inputs.lists.slice(1).flatMap((l) => l.entries),
  ]);
  const merged = dedupe(folded.entries);
  return {
    entries: merged.entries,
    problems: [...problems, ...merged.problems],
    wasmPins,
    inventory: inventoryWants(served),
    sameBytes: folded.sameBytes,
  };
}

/** Where an entry was declared, for messages: `file:line`. */
const where = (e: PluginEntry) => `${e.file}${e.line ? `:${e.line}` : ''}`;

/** Two sources of one name and version resolve to different manifests: the run fails naming both. */
export function sameBytesProblem(check: SameBytesCheck, resolved: string): IntegrityError | undefined {
  if (resolved === check.digest) return undefined;
  const { entry, pinnedBy } = check;
  return new IntegrityError({
    code: 'E_SOURCE_CONFLICT',
    message: `${entry.name}@${entry.version} is served by two sources with different bytes: ${sourceText(entry.source)} (${where(entry)}) resolves to ${resolved}, ${sourceText(pinnedBy.source)} (${where(pinnedBy)}) pins ${check.digest}`,
    context: { plugin: entry.name, version: entry.version },
    hint: 'serve one of them under another version, or pin the list entry to the same digest',
  });
}

/** "Wasm hash does not match": the module of a pinned entry hashes to another sha256 than the lock's. */
export function wasmPinProblem(
  pins: ReadonlyMap<string, string>,
  entry: { name: string; version: string },
  sha256: string,
): IntegrityError | undefined {
  const want = pins.get(`${entry.name}@${entry.version}`);
  if (want === undefined || want === sha256) return undefined;
  return new IntegrityError({
    code: 'E_UNMANAGED_WASM_HASH',
    message: `Wasm hash does not match the unmanaged lock: the module is sha256 ${sha256}, the lock's wasmSha256 is ${want}`,
    context: { plugin: entry.name, version: entry.version },
    hint: 'the artifact behind the locked digest is not the locked module: check the registry, or update the lock',
  });
}
