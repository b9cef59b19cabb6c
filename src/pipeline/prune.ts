/**
 * What `pull --prune` removes: the one answer both `pull --prune --dry-run` (before anything is
 * resolved) and the commit step (after staging) use.
 */
import { PluginEntry } from '../inputs/types';
import { TreeReads, VersionDir } from '../tree/read';

/**
 * Version folders under `<root>/plugins/` that the run does not serve, in tree order: not an entry
 * of the lists, and not a spec.yaml version alias of one.
 *
 * `specAliases` are the aliases this run staged (the commit knows them from the artifacts' spec.yaml).
 * Before staging (a dry run) they are not known yet: a folder whose metadata records it as the alias
 * of a listed version is then kept, unless the lists declare aliases of that plugin themselves (the
 * folder is then a declared alias that left the lists).
 */
export async function pruneCandidates(
  root: string,
  entries: readonly PluginEntry[],
  specAliases?: readonly PluginEntry[],
  reads = new TreeReads(root),
): Promise<VersionDir[]> {
  const id = (e: { name: string; version: string }) => `${e.name}/${e.version}`;
  const wanted = new Set([...entries, ...(specAliases ?? [])].map(id));
  const out: VersionDir[] = [];
  for (const v of await reads.versionDirs()) {
    if (wanted.has(id(v))) continue;
    if (!specAliases) {
      const m = await reads.metadata(v.dir);
      if (m?.aliasOf && wanted.has(`${v.name}/${m.aliasOf}`) && !entries.some((e) => e.name === v.name && e.aliasOf))
        continue;
    }
    out.push(v);
  }
  return out;
}
