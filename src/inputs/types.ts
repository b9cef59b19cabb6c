/** What every input format (plugin list, snapshot, lock) parses into. */
import { formatReference, OciReference } from '../oci/types';

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
  /** Where the entry was declared, for error messages. */
  file: string;
  line: number;
}

/** The canonical text of a source, as stored in metadata.json `source` and the lock file. */
export function sourceText(s: Source): string {
  return s.kind === 'file' ? `file:${s.written}` : formatReference(s.ref);
}

/** Key that groups entries served from the same bytes (one fetch per distinct key). */
export function sourceKey(s: Source): string {
  return s.kind === 'file' ? `file:${s.path}` : sourceText(s);
}
