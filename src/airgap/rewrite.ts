/**
 * The inputs of a mirror, rewritten to name the target: a plugin list keeps every line, comment and
 * alias and only has its `oci://` references mapped; a snapshot or lock becomes a plugin list with
 * one pinned line per plugin. Pure.
 */
import { compareEntries } from '../contract/plugin-identity';
import { parseOciReference } from '../inputs/reference';
import { mapReference, RegistryMapping } from '../inputs/registry-map';
import { PluginEntry } from '../inputs/types';
import { formatReference } from '../oci/types';

const LINE = /^(\s*[^#!\s][^=]*=\s*)oci:\/\/(\S+)(\s*)$/;

export function rewriteListText(text: string, map: readonly RegistryMapping[]): string {
  return text
    .split('\n')
    .map((line) => {
      const m = LINE.exec(line);
      if (!m) return line;
      const r = parseOciReference(m[2]);
      return r.ok ? `${m[1]}${formatReference(mapReference(r.ref, map))}${m[3]}` : line;
    })
    .join('\n');
}

/** A plugin list for entries that came from a snapshot or lock: each reference pinned, aliases kept. */
export function listFromEntries(entries: PluginEntry[], map: readonly RegistryMapping[], header: string): string {
  const lines = [`# ${header}`];
  const sorted = [...entries].sort(compareEntries);
  for (const e of sorted) {
    if (e.aliasOf || e.source.kind !== 'oci') continue;
    lines.push(`${e.name}=${formatReference(mapReference(e.source.ref, map))}`);
  }
  for (const e of sorted) if (e.aliasOf) lines.push(`#@alias ${e.name} ${e.version}=${e.aliasOf}`);
  return `${lines.join('\n')}\n`;
}
