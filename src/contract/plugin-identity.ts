/**
 * Plugin identity: a plugin version is `<name>/<version>`, two path segments of the tree and of the
 * URL the Console builds, so both are kept to one safe alphabet; and one order for every list the
 * project writes (index.json, lock files), independent of the machine's locale.
 */

/** Names and versions become path segments: keep them to this alphabet, no leading dot. */
export const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Plain code-unit order: locale-independent, so every machine sorts the same way. */
export function compareEntries(a: { name: string; version: string }, b: { name: string; version: string }): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.version !== b.version) return a.version < b.version ? -1 : 1;
  return 0;
}
