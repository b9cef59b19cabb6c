/**
 * Pure rendering of the tree's text files. Same input, same bytes: key order is fixed here,
 * never taken from object insertion order of whatever produced the values.
 */
import {
  IndexEntry,
  normalizeHolds,
  PluginIndex,
  PluginIndexInventory,
  PluginMetadata,
  TREE_SCHEMA_VERSION,
  wasmUrlPath,
} from '../contract/tree-format';
import { compareEntries } from '../contract/plugin-identity';
import { prettyJsonAt } from '../content/lines';

/** Epoch used for `generated` of an empty index, so even that file is deterministic. */
export const EPOCH = '1970-01-01T00:00:00Z';

/**
 * The upstream Higress plugin-server metadata.txt (`Key: value` lines: Plugin Name, Size, Last
 * Modified, Created, MD5) plus a SHA256 line. Both times are `created`: the file's mtime is set to
 * it, so "Last Modified" stays true and stable across rebuilds.
 */
export function renderMetadataTxt(m: PluginMetadata): string {
  return [
    `Plugin Name: ${m.name}`,
    `Version: ${m.version}`,
    `Size: ${m.size} bytes`,
    `Last Modified: ${m.created}`,
    `Created: ${m.created}`,
    `MD5: ${m.md5}`,
    `SHA256: ${m.sha256}`,
    '',
  ].join('\n');
}

/** Builds the metadata object with the contract's key order (optional keys only when set). */
export function normalizeMetadata(m: PluginMetadata): PluginMetadata {
  const out: PluginMetadata = {
    schemaVersion: TREE_SCHEMA_VERSION,
    name: m.name,
    version: m.version,
    size: m.size,
    md5: m.md5,
    sha256: m.sha256,
    gzipSize: m.gzipSize,
    ...(m.gzipSha256 !== undefined && { gzipSha256: m.gzipSha256 }),
    ...(m.gzipLevel !== undefined && { gzipLevel: m.gzipLevel }),
    source: m.source,
    manifestDigest: m.manifestDigest,
    created: m.created,
    ...optionalFields(m),
  };
  return out;
}

/** aliasOf, holds, phase and priority, in that order, each only when set (metadata.json and index.json). */
function optionalFields(m: PluginMetadata): Pick<PluginMetadata, 'aliasOf' | 'holds' | 'phase' | 'priority'> {
  return {
    ...(m.aliasOf !== undefined && { aliasOf: m.aliasOf }),
    ...(m.holds !== undefined && { holds: normalizeHolds(m.holds) }),
    ...(m.phase !== undefined && { phase: m.phase }),
    ...(m.priority !== undefined && { priority: m.priority }),
  };
}

export function renderMetadataJson(m: PluginMetadata): string {
  return `${JSON.stringify(normalizeMetadata(m), null, 2)}\n`;
}

export function indexEntry(m: PluginMetadata): IndexEntry {
  const e: IndexEntry = {
    name: m.name,
    version: m.version,
    sha256: m.sha256,
    size: m.size,
    md5: m.md5,
    path: wasmUrlPath(m.name, m.version),
    source: m.source,
    manifestDigest: m.manifestDigest,
    ...optionalFields(m),
  };
  return e;
}

export function buildIndex(metas: PluginMetadata[], inventory?: PluginIndexInventory): PluginIndex {
  const plugins = metas.map(indexEntry).sort(compareEntries);
  const generated = metas.reduce((max, m) => (m.created > max ? m.created : max), EPOCH);
  return { schemaVersion: TREE_SCHEMA_VERSION, generated, ...(inventory && { inventory }), plugins };
}

/**
 * index.json in pieces, entry by entry: the bytes of `JSON.stringify(index, null, 2)` and a newline
 * (each entry rendered alone and indented to its depth; JSON strings hold no raw newline), so neither
 * a writer nor `verify` holds the whole text of 20,000 versions (8 MB) as one string, or two.
 */
export function* indexChunks(index: PluginIndex): Generator<string> {
  const inventory = index.inventory && {
    path: index.inventory.path,
    sha256: index.inventory.sha256,
    size: index.inventory.size,
  };
  let head = `{\n  "schemaVersion": ${JSON.stringify(TREE_SCHEMA_VERSION)},\n  "generated": ${JSON.stringify(index.generated)},\n`;
  if (inventory) head += `  "inventory": ${prettyJsonAt(inventory, '  ')},\n`;
  if (index.plugins.length === 0) {
    yield `${head}  "plugins": []\n}\n`;
    return;
  }
  yield `${head}  "plugins": [\n`;
  for (const [i, e] of index.plugins.entries())
    yield `    ${prettyJsonAt(e, '    ')}${i + 1 < index.plugins.length ? ',' : ''}\n`;
  yield '  ]\n}\n';
}
