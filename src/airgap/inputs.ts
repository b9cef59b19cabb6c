/**
 * What `bundle`, `mirror` and `pull oci-layout:` read: plugin lists, a snapshot, a lock file, or a
 * bundle (whose own lists, snapshot and lock travel inside it as one OCI artifact, `BUNDLE_REF`).
 *
 *   lists and/or snapshot      the entries; with --lock too, the lock must agree (as `pull --frozen`)
 *   a lock alone               its entries, each pinned to its digest
 *   oci-layout:<bundle>        the bundle's own inputs (unless lists/snapshot/lock are given as well)
 */
import * as fs from 'fs';
import * as path from 'path';
import { InputError, PluginServerError } from '../errors';
import { diffLock, LockFile, parseLock } from '../inputs/lock';
import { loadInputs } from '../inputs/load';
import { dedupe, parsePluginList } from '../inputs/properties';
import { parseOciReference } from '../inputs/reference';
import { mapEntries, mapLock, RegistryMapping } from '../inputs/registry-map';
import { parseSnapshot } from '../inputs/snapshot';
import { PluginEntry, sourceText } from '../inputs/types';
import { MAX_MANIFEST_BYTES, parseManifest } from '../oci/registry/media';
import { TITLE_ANNOTATION } from '../oci/wasm/layers';
import { layoutPath, OciLayout } from '../oci/layout/layout';

/** ref.name of the artifact that carries a bundle's inputs. */
export const BUNDLE_REF = 'higress-plugin-bundle';
export const BUNDLE_ARTIFACT_TYPE = 'application/vnd.higress.plugin-bundle.v1+json';
export const LIST_MEDIA_TYPE = 'application/vnd.higress.plugin-list.v1+properties';
export const SNAPSHOT_MEDIA_TYPE = 'application/vnd.higress.plugin-snapshot.v1+json';
export const LOCK_MEDIA_TYPE = 'application/vnd.higress.plugin-lock.v1+json';
export const BUNDLE_LOCK_TITLE = 'plugins.lock.json';

export interface CarriedFile {
  /** File name inside the bundle (org.opencontainers.image.title). */
  title: string;
  mediaType: string;
  bytes: Buffer;
}

export interface AirgapInputs {
  entries: PluginEntry[];
  /** The input files as read, to carry inside a bundle. */
  files: CarriedFile[];
  /** Digests every entry must resolve to (a lock given with lists, or the lock inside a bundle). */
  lock?: LockFile;
  /** Where the lock came from, for messages. */
  lockName?: string;
  /** The bundle read, when one was given. */
  layout?: OciLayout;
  /** The inputs in one phrase, for messages. */
  name: string;
}

export interface InputArgs {
  /** Plugin lists, and at most one `oci-layout:<path>`. */
  args: string[];
  snapshot?: string;
  lock?: string;
  registryMap?: RegistryMapping[];
}

function read(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch {
    throw new InputError({
      code: 'E_INPUT_MISSING',
      message: `cannot read ${what} ${file}`,
      context: { file },
      hint: 'check the path',
    });
  }
}

/** A lock's entries as pinned references (spec.yaml aliases are derived again from the bytes). */
export function entriesFromLock(
  lock: LockFile,
  file: string,
): { entries: PluginEntry[]; problems: PluginServerError[] } {
  const entries: PluginEntry[] = [];
  const problems: PluginServerError[] = [];
  lock.plugins.forEach((p, i) => {
    if (p.fromSpec) return;
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
          hint: 'regenerate it with `pull --lock`',
        }),
      );
      return;
    }
    entries.push({
      name: p.name,
      version: p.version,
      source: { kind: 'oci', ref: { ...r.ref, digest: p.digest } },
      aliasOf: p.aliasOf,
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

export async function loadAirgapInputs(
  a: InputArgs,
): Promise<{ inputs?: AirgapInputs; problems: PluginServerError[] }> {
  const layouts = a.args.filter((x) => layoutPath(x) !== undefined);
  const lists = a.args.filter((x) => layoutPath(x) === undefined);
  if (layouts.length > 1)
    return {
      problems: [
        new InputError({
          code: 'E_LAYOUT',
          message: `${layouts.length} bundles given (${layouts.join(', ')})`,
          hint: 'pass one oci-layout:<path> at a time',
        }),
      ],
    };
  const layout = layouts.length ? await OciLayout.open(layoutPath(layouts[0]) as string) : undefined;
  const map = a.registryMap ?? [];
  const problems: PluginServerError[] = [];
  const files: CarriedFile[] = [];
  const taken = new Set<string>();
  let entries: PluginEntry[] = [];
  let lock: LockFile | undefined;
  let lockName: string | undefined;
  const names: string[] = [];

  if (lists.length || a.snapshot) {
    const parsed = loadInputs({ lists, snapshot: a.snapshot });
    problems.push(...parsed.problems);
    entries = parsed.entries;
    for (const l of lists)
      files.push({ title: titled(l, taken), mediaType: LIST_MEDIA_TYPE, bytes: read(l, 'plugin list') });
    if (a.snapshot)
      files.push({
        title: titled(a.snapshot, taken),
        mediaType: SNAPSHOT_MEDIA_TYPE,
        bytes: read(a.snapshot, 'snapshot'),
      });
    names.push(...lists, ...(a.snapshot ? [a.snapshot] : []));
  } else if (layout && !a.lock) {
    for (const f of await readCarriedFiles(layout)) {
      const where = `${layout.location}:${f.title}`;
      const text = f.bytes.toString('utf8');
      if (f.mediaType === LIST_MEDIA_TYPE || f.mediaType === SNAPSHOT_MEDIA_TYPE) {
        const parsed = f.mediaType === LIST_MEDIA_TYPE ? parsePluginList(text, where) : parseSnapshot(text, where);
        problems.push(...parsed.problems);
        entries.push(...parsed.entries);
      } else if (f.mediaType === LOCK_MEDIA_TYPE) {
        const parsed = parseLock(text, where);
        problems.push(...parsed.problems);
        lock = parsed.lock;
        lockName = where;
      }
      files.push({ ...f, title: titled(f.title, taken) });
    }
    const merged = dedupe(entries, problems);
    entries = merged.entries;
    if (!entries.length && lock && lockName) {
      const fromLock = entriesFromLock(lock, lockName);
      entries = fromLock.entries;
      problems.push(...fromLock.problems);
    }
    names.push(`oci-layout:${layout.location}`);
  }

  if (a.lock) {
    const parsed = parseLock(read(a.lock, 'lock file').toString('utf8'), a.lock);
    problems.push(...parsed.problems);
    if (parsed.lock) {
      lock = parsed.lock;
      lockName = a.lock;
      if (entries.length) {
        const wanted = entries.map((e) => ({
          name: e.name,
          version: e.version,
          source: sourceText(e.source),
          aliasOf: e.aliasOf,
        }));
        problems.push(...diffLock(wanted, parsed.lock, a.lock));
      } else {
        const fromLock = entriesFromLock(parsed.lock, a.lock);
        entries = fromLock.entries;
        problems.push(...fromLock.problems);
      }
      files.push({ title: BUNDLE_LOCK_TITLE, mediaType: LOCK_MEDIA_TYPE, bytes: read(a.lock, 'lock file') });
      names.push(a.lock);
    }
  }
  if (!names.length) {
    problems.push(
      new InputError({
        code: 'E_INPUT_MISSING',
        message: 'no plugin list, snapshot, lock file or bundle given',
        hint: 'pass plugin lists, --snapshot <file>, --lock <file> or oci-layout:<bundle>',
      }),
    );
  }
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
  if (problems.length) return { problems };
  return {
    inputs: {
      entries: mapEntries(entries, map),
      files,
      lock: lock && mapLock(lock, map),
      lockName,
      layout,
      name: names.join(' + '),
    },
    problems,
  };
}
