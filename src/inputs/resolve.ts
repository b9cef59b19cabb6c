/**
 * The one input path of `pull`, `bundle`, `mirror` and `outdated`: which plugins a run works on,
 * which lock pins their digests, and where their bytes come from. Every problem of every input is
 * collected (one line each), never only the first.
 *
 *   lists and/or --snapshot    the entries (pull: image/plugins.properties when nothing is given)
 *   --lock <file>              read: with lists, the lists must agree with it and every digest must
 *                              match (what `pull --frozen` checks); alone, its entries pinned to its digests
 *   oci-layout:<bundle>        the bundle's own lists/snapshot/lock unless lists or --lock are given;
 *                              the plugins' bytes come from the bundle, offline
 *   --registry-map src=dst     applied to the entries and the lock alike, after they were compared
 *
 * Which lock pins the digests when `--lock` is not given: none (`pull`), the lock inside the bundle
 * (`bundle`, `mirror`, `pull --frozen oci-layout:`), or the lock next to the first list (`pull --frozen`;
 * `outdated` when that file exists). `outdated` keeps `file:` entries (it watches only `oci://` ones).
 */
import * as fs from 'fs';
import * as path from 'path';
import { InputError, PluginServerError } from '../errors';
import { createLayoutClient, createOciClient } from '../oci/client';
import { layoutSource, registrySource, type ContentSource } from '../oci/copy/copy';
import { layoutPath, OciLayout } from '../oci/layout/layout';
import type { RegistryClient } from '../oci/registry/client';
import { MAX_MANIFEST_BYTES, parseManifest } from '../oci/registry/media';
import type { OciClient, OciClientOptions } from '../oci/types';
import { TITLE_ANNOTATION } from '../oci/wasm/layers';
import {
  BUNDLE_LOCK_TITLE,
  BUNDLE_REF,
  CarriedFile,
  LIST_MEDIA_TYPE,
  LOCK_MEDIA_TYPE,
  SNAPSHOT_MEDIA_TYPE,
} from './bundle-format';
import { readInputFile } from './load';
import { snapshotBuild } from './load-snapshot-build';
import { diffLock, LockFile, parseLock } from './lock';
import { dedupe, parsePluginList, ParseResult } from './properties';
import { parseOciReference } from './reference';
import { mapEntries, mapLock, parseRegistryMap } from './registry-map';
import { parseSnapshot } from './snapshot';
import type { SnapshotBuildPlan } from './unmanaged-lock';
import { PluginEntry, sourceText } from './types';

/** The list `pull` reads when it is given no list, snapshot, lock or bundle. */
export const DEFAULT_LIST = path.join('image', 'plugins.properties');
/** The lock file's name: where `pull --write-lock` writes and `pull --frozen` reads by default. */
export const DEFAULT_LOCK = 'plugins.lock.json';

export type InputCommand = 'pull' | 'bundle' | 'mirror' | 'outdated';

export interface InputRequest {
  command: InputCommand;
  /** Plugin lists, and at most one `oci-layout:<path>`. */
  args: string[];
  snapshot?: string;
  /** `--lock <file>`: a lock to read. */
  lock?: string;
  /**
   * `pull --frozen`: without --lock, check against the bundle's lock or the lock next to the first list.
   * `outdated` takes the lock next to the first list whenever that file exists.
   */
  frozen?: boolean;
  /** `--registry-map` values, as given. */
  registryMap?: readonly string[];
  /** `pull --unmanaged-lock`: upstream's lock of the first list's entries the snapshot does not manage. */
  unmanagedLock?: string;
  /** `pull --snapshot-sha256`: the snapshot file must hash to this, or nothing is read from it. */
  snapshotSha256?: string;
}

export interface ResolvedInputs {
  /** What the run works on, registry map applied. */
  entries: PluginEntry[];
  /** Digests every entry must resolve to (the entries already agree with it), registry map applied. */
  lock?: LockFile;
  /** Where the lock came from, for messages. */
  lockName?: string;
  /** The input files as read, to carry inside a bundle and to rewrite for a mirror. */
  files: CarriedFile[];
  /** The bundle read, when one was given: the plugins' bytes come from it. */
  layout?: OciLayout;
  /** The inputs in one phrase, for messages. */
  name: string;
  /** Where a lock is written unless a path is given: plugins.lock.json next to the first list or snapshot. */
  defaultLockPath: string;
  /**
   * `pull --snapshot` from lists (not a bundle): upstream's snapshot build (src/inputs/unmanaged-lock.ts):
   * the modules' pinned sha256, the inventory to write, the pins that must give the same bytes.
   */
  snapshotBuild?: Pick<SnapshotBuildPlan, 'wasmPins' | 'inventory' | 'sameBytes'>;
}

type Problems = PluginServerError[];

function asProblem(e: unknown): PluginServerError {
  if (e instanceof PluginServerError) return e;
  return new InputError({ code: 'E_INPUT_MISSING', message: e instanceof Error ? e.message : String(e) });
}

/**
 * A lock's entries as pinned references (spec.yaml aliases are derived again from the bytes). A file:
 * source is read relative to the lock's folder where `allowFiles` (pull); bundles and mirrors refuse it.
 */
export function entriesFromLock(
  lock: LockFile,
  file: string,
  allowFiles = false,
): { entries: PluginEntry[]; problems: Problems } {
  const entries: PluginEntry[] = [];
  const problems: Problems = [];
  lock.plugins.forEach((p, i) => {
    if (p.fromSpec) return;
    if (allowFiles && p.source.startsWith('file:')) {
      const written = p.source.slice('file:'.length);
      const source = { kind: 'file' as const, path: path.resolve(path.dirname(file), written), written };
      entries.push({ name: p.name, version: p.version, source, aliasOf: p.aliasOf, from: 'lock', file, line: 0 });
      return;
    }
    const r = p.source.startsWith('oci://') ? parseOciReference(p.source.slice('oci://'.length)) : undefined;
    if (!r || !r.ok || !r.ref.tag) {
      problems.push(
        new InputError({
          code: 'E_BUNDLE_SOURCE',
          message: `plugins[${i}] ${p.name}@${p.version} has source ${p.source}, not an oci:// reference with a tag`,
          context: { file, plugin: p.name, version: p.version },
          hint: 'bundles and mirrors carry registry plugins; carry file: plugins beside them',
        }),
      );
      return;
    }
    if (r.ref.digest && r.ref.digest !== p.digest) {
      problems.push(
        new InputError({
          code: 'E_LOCK',
          message: `plugins[${i}] pins ${r.ref.digest} in its source but locks ${p.digest}`,
          context: { file, plugin: p.name },
          hint: 'regenerate it with `pull --write-lock`',
        }),
      );
      return;
    }
    entries.push({
      name: p.name,
      version: p.version,
      source: { kind: 'oci', ref: { ...r.ref, digest: p.digest } },
      aliasOf: p.aliasOf,
      from: 'lock',
      file,
      line: 0,
    });
  });
  return { entries, problems };
}

/** The files a bundle carries (its lists, snapshot and lock), checked against their digests. */
export async function readCarriedFiles(layout: OciLayout): Promise<CarriedFile[]> {
  const desc = layout.find(BUNDLE_REF);
  if (!desc) {
    throw new InputError({
      code: 'E_LAYOUT',
      message: `${layout.location} carries no plugin lists (no "${BUNDLE_REF}" entry in index.json)`,
      context: { file: layout.location },
      hint: 'pass the plugin list as well, or write the bundle with `bundle`',
    });
  }
  const bytes = await layout.read(desc, MAX_MANIFEST_BYTES);
  const m = parseManifest(bytes, desc.mediaType, layout.label(desc.digest));
  if (m.kind !== 'manifest')
    throw new InputError({
      code: 'E_LAYOUT',
      message: `${BUNDLE_REF} in ${layout.location} is not a manifest`,
      context: { file: layout.location },
      hint: 'write the bundle again',
    });
  const files: CarriedFile[] = [];
  for (const layer of m.layers) {
    files.push({
      title: layer.annotations?.[TITLE_ANNOTATION] ?? layer.digest,
      mediaType: layer.mediaType,
      bytes: await layout.read(layer, 64 * 1024 * 1024),
    });
  }
  return files;
}

function titled(file: string, taken: Set<string>): string {
  const base = path.basename(file);
  let title = base;
  for (let n = 2; taken.has(title); n++) title = `${n}-${base}`;
  taken.add(title);
  return title;
}

/** What one input (a file, or the bundle's carried files) contributed. */
interface Gathered {
  parts: ParseResult[];
  files: CarriedFile[];
  lock?: LockFile;
  lockName?: string;
  names: string[];
  problems: Problems;
}

/** Reads one file through readInputFile, parses it and keeps its bytes; a read failure is a problem. */
function gatherFile(
  g: Gathered,
  taken: Set<string>,
  file: string,
  what: string,
  mediaType: string,
  parse: (text: string, file: string) => ParseResult,
): void {
  let bytes: Buffer;
  try {
    bytes = readInputFile(file, what);
  } catch (e) {
    g.problems.push(asProblem(e));
    return;
  }
  g.parts.push(parse(bytes.toString('utf8'), file));
  g.files.push({ title: titled(file, taken), mediaType, bytes });
  g.names.push(file);
}

async function gatherBundle(g: Gathered, taken: Set<string>, layout: OciLayout): Promise<void> {
  for (const f of await readCarriedFiles(layout)) {
    const where = `${layout.location}:${f.title}`;
    const text = f.bytes.toString('utf8');
    if (f.mediaType === LIST_MEDIA_TYPE) g.parts.push(parsePluginList(text, where));
    else if (f.mediaType === SNAPSHOT_MEDIA_TYPE) g.parts.push(parseSnapshot(text, where));
    else if (f.mediaType === LOCK_MEDIA_TYPE) {
      const parsed = parseLock(text, where);
      g.problems.push(...parsed.problems);
      g.lock = parsed.lock;
      g.lockName = where;
    }
    g.files.push({ ...f, title: titled(f.title, taken) });
  }
  g.names.push(`oci-layout:${layout.location}`);
}

function gatherLock(g: Gathered, file: string): void {
  let bytes: Buffer;
  try {
    bytes = readInputFile(file, 'lock file');
  } catch (e) {
    g.problems.push(asProblem(e));
    return;
  }
  const parsed = parseLock(bytes.toString('utf8'), file);
  g.problems.push(...parsed.problems);
  g.lock = parsed.lock;
  g.lockName = file;
  if (parsed.lock) g.files.push({ title: BUNDLE_LOCK_TITLE, mediaType: LOCK_MEDIA_TYPE, bytes });
  g.names.push(file);
}

/**
 * Resolves the inputs of one run: entries, the lock that pins them and the carried files, or every
 * problem found (nothing is downloaded before this returns). Opening a bundle reads its index only.
 */
export async function resolveInputs(req: InputRequest): Promise<{ inputs?: ResolvedInputs; problems: Problems }> {
  const layouts = req.args.filter((x) => layoutPath(x) !== undefined);
  const given = req.args.filter((x) => layoutPath(x) === undefined);
  const problems: Problems = [];
  if (layouts.length > 1)
    problems.push(
      new InputError({
        code: 'E_LAYOUT',
        message: `${layouts.length} bundles given (${layouts.join(', ')})`,
        hint: 'pass one oci-layout:<path> at a time',
      }),
    );
  let map: ReturnType<typeof parseRegistryMap> = [];
  try {
    map = parseRegistryMap(req.registryMap ?? []);
  } catch (e) {
    problems.push(asProblem(e));
  }

  const pull = req.command === 'pull';
  const outdated = req.command === 'outdated';
  const lists = pull && !given.length && !req.snapshot && !req.lock && !layouts.length ? [DEFAULT_LIST] : given;
  const base = lists[0] ?? req.snapshot ?? req.lock;
  const defaultLockPath = base ? path.join(path.dirname(base), DEFAULT_LOCK) : DEFAULT_LOCK;

  let layout: OciLayout | undefined;
  try {
    if (layouts.length === 1) layout = await OciLayout.open(layoutPath(layouts[0]) as string);
  } catch (e) {
    problems.push(asProblem(e));
  }

  const g: Gathered = { parts: [], files: [], names: [], problems };
  const taken = new Set<string>();
  for (const l of lists) gatherFile(g, taken, l, 'plugin list', LIST_MEDIA_TYPE, parsePluginList);
  if (req.snapshot) gatherFile(g, taken, req.snapshot, 'snapshot', SNAPSHOT_MEDIA_TYPE, parseSnapshot);
  // The bundle's own inputs when nothing else names the plugins.
  const fromBundle = layouts.length > 0 && !lists.length && !req.snapshot && !req.lock;
  if (fromBundle && layout) {
    try {
      await gatherBundle(g, taken, layout);
    } catch (e) {
      problems.push(asProblem(e));
    }
  }
  // pull --snapshot from lists is upstream's snapshot build: its rules decide the entries and say
  // every problem of the files read above (so the plain merge's are not repeated). A file that could
  // not be read is already a problem, and then only the plain merge reports the rest.
  let build: SnapshotBuildPlan | undefined;
  const snapshotFile = pull && !layouts.length ? req.snapshot : undefined;
  const snapshotBuildRun = snapshotFile !== undefined && g.parts.length === lists.length + 1;
  if (snapshotBuildRun) {
    try {
      build = snapshotBuild({
        lists: g.parts.slice(0, lists.length),
        snapshot: { parsed: g.parts[lists.length], bytes: g.files[lists.length].bytes, file: snapshotFile },
        unmanagedLock: req.unmanagedLock,
        snapshotSha256: req.snapshotSha256,
      });
    } catch (e) {
      problems.push(asProblem(e));
    }
  }
  const fromFiles = dedupe(
    g.parts.flatMap((p) => p.entries),
    g.parts.flatMap((p) => p.problems),
  );
  // In a snapshot build its rules say every problem of the files (a refused --snapshot-sha256 or an
  // unreadable lock stops it first); otherwise the plain merge does.
  if (snapshotBuildRun) problems.push(...(build?.problems ?? []));
  else problems.push(...fromFiles.problems);
  let entries = build ? build.entries : fromFiles.entries;

  // Without --lock, pull --frozen checks the bundle's own lock, or the lock next to the first list;
  // outdated compares with the lock next to the first list when there is one.
  const besideLists = given.length > 0 && fs.existsSync(defaultLockPath) ? defaultLockPath : undefined;
  const lockFile =
    req.lock ?? (pull && req.frozen && !fromBundle ? defaultLockPath : outdated ? besideLists : undefined);
  if (lockFile) gatherLock(g, lockFile);
  else if (pull && req.frozen && layout && !g.lock && !problems.length)
    problems.push(
      new InputError({
        code: 'E_LOCK',
        message: `--frozen: oci-layout:${layout.location} carries no lock file`,
        context: { file: layout.location },
        hint: 'pass the lock to check against with --lock <file>',
      }),
    );

  if (g.lock && g.lockName) {
    const listed = g.parts.length > 0;
    if (listed) {
      const wanted = entries.map((e) => ({
        name: e.name,
        version: e.version,
        source: sourceText(e.source),
        aliasOf: e.aliasOf,
      }));
      problems.push(...diffLock(wanted, g.lock, g.lockName));
    } else {
      const fromLock = entriesFromLock(g.lock, g.lockName, pull || outdated);
      entries = fromLock.entries;
      problems.push(...fromLock.problems);
    }
  }

  if (!g.names.length && !problems.length)
    problems.push(
      new InputError({
        code: 'E_INPUT_MISSING',
        message: 'no plugin list, snapshot, lock file or bundle given',
        hint: 'pass plugin lists, --snapshot <file>, --lock <file> or oci-layout:<bundle>',
      }),
    );
  const name = g.names.join(' + ') || lists.join(' + ');
  if (!pull && !outdated) {
    for (const e of entries) {
      if (e.source.kind === 'file') {
        problems.push(
          new InputError({
            code: 'E_BUNDLE_SOURCE',
            message: `${e.name}@${e.version} is a local file (${sourceText(e.source)})`,
            context: { file: e.file, line: e.line },
            hint: 'bundles and mirrors carry registry plugins; carry file: plugins beside them in their own list',
          }),
        );
      }
    }
  } else if (!entries.length && !problems.length)
    problems.push(
      new InputError({
        code: 'E_PROPERTIES_SYNTAX',
        message: `no plugins in ${name}`,
        hint: 'add a line name=oci://host/repository:tag',
      }),
    );
  if (problems.length) return { problems };
  // A bundle's own lock pins bundle and mirror always, pull only under --frozen (a bundle serves
  // only the bytes it holds anyway).
  const pins = g.lock && (!pull || !fromBundle || req.frozen) ? g.lock : undefined;
  return {
    inputs: {
      entries: mapEntries(entries, map),
      lock: pins && mapLock(pins, map),
      lockName: pins && g.lockName,
      files: g.files,
      layout,
      name,
      defaultLockPath,
      snapshotBuild: build && {
        wasmPins: build.wasmPins,
        inventory: build.inventory,
        sameBytes: build.sameBytes.map((c) => ({
          ...c,
          entry: mapEntries([c.entry], map)[0] ?? c.entry,
          pinnedBy: mapEntries([c.pinnedBy], map)[0] ?? c.pinnedBy,
        })),
      },
    },
    problems,
  };
}

/** The client `pull` fetches with: the bundle's, offline, or the registries'. */
export function pullClient(inputs: ResolvedInputs, opts: OciClientOptions): OciClient & { close(): Promise<void> } {
  return inputs.layout ? createLayoutClient(inputs.layout) : createOciClient(opts);
}

/** Where `bundle` and `mirror` copy from: the bundle, or the registries through `registry`. */
export function copySource(inputs: ResolvedInputs, registry: RegistryClient): ContentSource {
  return inputs.layout ? layoutSource(inputs.layout) : registrySource(registry);
}
