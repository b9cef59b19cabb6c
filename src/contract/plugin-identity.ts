/**
 * Plugin identity: a plugin version is `<name>/<version>`, two path segments of the tree and of the
 * URL the Console builds, so both are kept to one safe alphabet; and one order for every list the
 * project writes (index.json, lock files), independent of the machine's locale.
 *
 * One rule decides which sets of versions can be served together, for every place a name or version
 * becomes a key (issue 27, classes 1 and 8):
 *   - the tree: `plugins/<name>/<version>/` (a case-sensitive file system);
 *   - the OCI view's Nginx maps (src/ociview/render.ts): request paths such as
 *     `/v2/plugins/<name>/manifests/<version>` as `map` keys, which Nginx matches ignoring letter case,
 *     so two keys that differ only in case make Nginx refuse the whole config (`duplicate` key);
 *   - the OCI view's files: `tags/<name>.json` (a file) next to `tags/<name>/` (a folder), so a plugin
 *     `foo` and a plugin `foo.json` want one path as a file and as a folder.
 * `identityClashes` finds every pair that breaks it; callers check the whole set that would be
 * published (list entries, spec.yaml aliases and the folders already in the tree) before anything is
 * written, and `verify` reports a tree that breaks it.
 */
import { InputError } from '../errors';

/** Names and versions become path segments: keep them to this alphabet, no leading dot. */
export const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Plain code-unit order: locale-independent, so every machine sorts the same way. */
export function compareEntries(a: { name: string; version: string }, b: { name: string; version: string }): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.version !== b.version) return a.version < b.version ? -1 : 1;
  return 0;
}

export interface PluginId {
  name: string;
  version: string;
}

/** Two plugin versions (or names) that cannot both be served, and why; `a` sorts before `b`. */
export interface IdentityClash {
  a: string;
  b: string;
  why: string;
}

/** The suffix of the OCI view's per-plugin tag list file (`tags/<name>.json`, layout.ts). */
export const TAG_LIST_SUFFIX = '.json';

/** How Nginx compares `map` keys: ASCII letters folded to lower case (names are ASCII by SAFE_SEGMENT). */
export function foldCase(segment: string): string {
  return segment.toLowerCase();
}

function ordered(x: string, y: string): [string, string] {
  return x < y ? [x, y] : [y, x];
}

/**
 * Every pair of the set that clashes, in a stable order. Duplicates of the same `<name>/<version>`
 * are one version, not a clash. Only names and versions that passed SAFE_SEGMENT are expected.
 */
export function identityClashes(ids: Iterable<PluginId>): IdentityClash[] {
  const names = new Map<string, Set<string>>();
  for (const id of ids) {
    let vs = names.get(id.name);
    if (!vs) names.set(id.name, (vs = new Set()));
    vs.add(id.version);
  }
  const out: IdentityClash[] = [];
  const seen = new Set<string>();
  const add = (x: string, y: string, why: string) => {
    const [a, b] = ordered(x, y);
    const key = `${a}\n${b}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ a, b, why });
  };
  const byFold = new Map<string, string[]>();
  for (const name of [...names.keys()].sort()) {
    const f = foldCase(name);
    byFold.set(f, [...(byFold.get(f) ?? []), name]);
  }
  for (const group of byFold.values())
    for (let i = 1; i < group.length; i++)
      add(
        `plugins/${group[0]}`,
        `plugins/${group[i]}`,
        'plugin names that differ only in letter case are one key of the OCI view (Nginx map keys ignore case)',
      );
  for (const [fold, group] of byFold) {
    const folder = byFold.get(`${fold}${TAG_LIST_SUFFIX}`);
    if (!folder) continue;
    for (const file of group)
      for (const dir of folder)
        add(
          `plugins/${file}`,
          `plugins/${dir}`,
          `the OCI view's tag list of ${file} (tags/${file}${TAG_LIST_SUFFIX}) is the folder of ${dir} (tags/${dir}/)`,
        );
  }
  for (const [name, versions] of [...names].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    const vFold = new Map<string, string>();
    for (const v of [...versions].sort()) {
      const first = vFold.get(foldCase(v));
      if (first === undefined) vFold.set(foldCase(v), v);
      else
        add(
          `plugins/${name}/${first}`,
          `plugins/${name}/${v}`,
          'versions that differ only in letter case are one tag of the OCI view (Nginx map keys ignore case)',
        );
    }
  }
  return out.sort((x, y) => (x.a === y.a ? (x.b < y.b ? -1 : 1) : x.a < y.a ? -1 : 1));
}

/** One line for a clash: both entries, then why. */
export function clashLine(c: IdentityClash): string {
  return `${c.a} and ${c.b} cannot both be served: ${c.why}`;
}

/**
 * Refuses a set of versions that cannot be served together (identityClashes): one line naming both
 * entries of the first clash (and how many more). Call it on the whole set before anything is written.
 */
export function assertNoIdentityClash(ids: Iterable<PluginId>, hint = IDENTITY_HINT): void {
  const clashes = identityClashes(ids);
  if (clashes.length === 0) return;
  const [first] = clashes;
  throw new InputError({
    code: 'E_IDENTITY_CLASH',
    message: `${clashLine(first)}${clashes.length > 1 ? ` (and ${clashes.length - 1} more clash(es))` : ''}`,
    hint,
  });
}

export const IDENTITY_HINT =
  'keep one of the two: remove the other from the plugin list, or delete its folder under plugins/ (`pull --prune` removes folders no list names)';
