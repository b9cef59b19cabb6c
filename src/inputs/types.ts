/** What every input format (plugin list, snapshot, lock) parses into. */
import type { BytesFrom, FolderHolds } from '../contract/tree-format';
import { formatReference, OciReference } from '../oci/types';
import { flat } from '../content/lines';

export type Source =
  | { kind: 'oci'; ref: OciReference }
  /** `path` is absolute (resolved against the list file's folder); `written` is the text of the list. */
  | { kind: 'file'; path: string; written: string };

export interface PluginEntry {
  /** Served name: the folder under plugins/ (the list key, not the repository name). */
  name: string;
  /** Served version: the folder under plugins/<name>/. */
  version: string;
  source: Source;
  /** When set, this version folder serves the bytes of `<name>/<aliasOf>` (same source). */
  aliasOf?: string;
  /** Which input pins the bytes (absent: a plugin list). */
  from?: BytesFrom;
  /**
   * A snapshot alias name (`jsonrpc-converter` of `json-converter`): the folder serves the bytes of
   * `<aliasName>/<version>` (same source); the index says so.
   */
  aliasName?: string;
  /** Where the entry was declared, for error messages. */
  file: string;
  line: number;
}

/** The canonical text of a source, as stored in metadata.json `source` and the lock file. */
export function sourceText(s: Source): string {
  // Flat: a run keeps it per version (the lock, metadata, the groups' keys).
  return flat(s.kind === 'file' ? `file:${s.written}` : formatReference(s.ref));
}

/** Key that groups entries served from the same bytes (one fetch per distinct key). */
export function sourceKey(s: Source): string {
  return s.kind === 'file' ? flat(`file:${s.path}`) : sourceText(s);
}

/** What the entry's folder holds: a compatibility alias of another folder, or its own bytes and their input. */
export function holdsOf(e: PluginEntry): FolderHolds {
  if (e.aliasOf !== undefined) return { kind: 'alias', name: e.name, version: e.aliasOf };
  if (e.aliasName !== undefined) return { kind: 'alias', name: e.aliasName, version: e.version };
  return { kind: 'own', from: e.from ?? 'list' };
}
