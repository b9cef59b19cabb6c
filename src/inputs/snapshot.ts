/**
 * The Higress release snapshot (e.g. higress-plugin-snapshot-2.2.4.json): every plugin pinned by
 * manifest digest. Only entries with a `consumers.pluginServer` mapping are served; its `httpPath`
 * is the served name, `version` the version folder, `ociRef` + `digest` the pinned source, and
 * `inventoryKey` and `aliases` extra names served from the same bytes. Pure: text in, entries + all problems out.
 */
import { ErrorCode, InputError } from '../errors';
import { DIGEST_HINT, isDigest } from '../contract/digest';
import { SAFE_SEGMENT } from '../contract/plugin-identity';
import { RESERVED_PLUGIN_NAMES } from '../contract/tree-format';
import { dedupe, ParseResult } from './properties';
import { parseOciReference } from './reference';
import { PluginEntry } from './types';

interface SnapshotPlugin {
  logicalId?: unknown;
  version?: unknown;
  ociRef?: unknown;
  digest?: unknown;
  consumers?: { pluginServer?: { httpPath?: unknown; inventoryKey?: unknown; aliases?: unknown } };
}

/**
 * JSON has no line numbers of its own: the line of each `"logicalId"` key, in order, for messages.
 * One pass over the text (a search from the start per entry made 10k entries take 36 s).
 */
function logicalIdLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let scanned = 0;
  for (let pos = text.indexOf('"logicalId"'); pos >= 0; pos = text.indexOf('"logicalId"', pos + 1)) {
    for (let nl = text.indexOf('\n', scanned); nl >= 0 && nl < pos; nl = text.indexOf('\n', nl + 1)) line++;
    scanned = pos;
    lines.push(line);
  }
  return lines;
}

export function parseSnapshot(text: string, file: string): ParseResult {
  const problems: InputError[] = [];
  let doc: { schemaVersion?: unknown; plugins?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (e) {
    return {
      entries: [],
      problems: [
        new InputError({
          code: 'E_SNAPSHOT',
          message: `not valid JSON: ${(e as Error).message}`,
          context: { file },
          hint: 'pass a Higress release snapshot file',
        }),
      ],
    };
  }
  if (!doc || doc.schemaVersion !== 1 || !Array.isArray(doc.plugins)) {
    return {
      entries: [],
      problems: [
        new InputError({
          code: 'E_SNAPSHOT',
          message: 'not a Higress plugin snapshot (want schemaVersion 1 and a plugins array)',
          context: { file },
          hint: 'pass a Higress release snapshot file',
        }),
      ],
    };
  }
  const entries: PluginEntry[] = [];
  const idLines = logicalIdLines(text);
  (doc.plugins as Array<SnapshotPlugin | null>).forEach((entry, i) => {
    const line = idLines[i];
    // A null or non-object entry (hand-edited file) is a problem to report, not a crash.
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
      problems.push(
        new InputError({
          code: 'E_SNAPSHOT',
          message: `plugins[${i}] is not an object`,
          context: { file, line },
          hint: 'fix the snapshot entry',
        }),
      );
      return;
    }
    const p = entry;
    const id = typeof p.logicalId === 'string' ? p.logicalId : `plugins[${i}]`;
    const err = (code: ErrorCode, msg: string, hint: string): void => {
      problems.push(new InputError({ code, message: `${id}: ${msg}`, context: { file, line }, hint }));
    };
    const ps = p.consumers?.pluginServer;
    if (!ps) return; // not served by the plugin server in this release
    if (
      typeof p.version !== 'string' ||
      typeof p.ociRef !== 'string' ||
      typeof p.digest !== 'string' ||
      typeof ps.httpPath !== 'string'
    ) {
      return err(
        'E_SNAPSHOT',
        'needs version, ociRef, digest and consumers.pluginServer.httpPath',
        'fix the snapshot entry',
      );
    }
    const r = parseOciReference(p.ociRef);
    if (!r.ok && r.code === 'E_REFERENCE_CREDENTIALS')
      return err(r.code, `ociRef: ${r.message}`, 'remove user:password@ from the ociRef');
    if (!r.ok) return err('E_REFERENCE', `bad ociRef "${p.ociRef}": ${r.message}`, 'fix the snapshot entry');
    if (!isDigest(p.digest)) return err('E_REFERENCE', `bad digest "${p.digest}"`, DIGEST_HINT);
    if (r.ref.tag !== p.version)
      return err(
        'E_SNAPSHOT',
        `ociRef tag ${r.ref.tag ?? '(none)'} disagrees with version ${p.version}`,
        'fix the snapshot entry',
      );
    // Upstream writes the bytes at httpPath and under the inventoryKey and every alias.
    const names: unknown[] = [
      ...new Set([
        ps.httpPath,
        ...(ps.inventoryKey !== undefined ? [ps.inventoryKey] : []),
        ...(Array.isArray(ps.aliases) ? (ps.aliases as unknown[]) : []),
      ]),
    ];
    for (const n of [...names, p.version]) {
      if (typeof n !== 'string' || !SAFE_SEGMENT.test(n))
        return err(
          'E_UNSAFE_SEGMENT',
          `unsafe name or version ${JSON.stringify(n)}`,
          'use letters, digits, ".", "_", "-" only',
        );
    }
    for (const n of names)
      if (RESERVED_PLUGIN_NAMES.has(n as string))
        return err(
          'E_RESERVED_NAME',
          `plugin name ${JSON.stringify(n)} is reserved: plugins/${String(n)} is part of the tree format`,
          'rename the plugin',
        );
    const source = { kind: 'oci' as const, ref: { ...r.ref, digest: p.digest } };
    // The httpPath folder holds the bytes; the inventoryKey and aliases are compatibility names of it.
    const [own, ...aliasNames] = names as string[];
    entries.push({ name: own, version: p.version, source, from: 'snapshot', file, line: line ?? 0 });
    for (const name of aliasNames)
      entries.push({ name, version: p.version, source, from: 'snapshot', aliasName: own, file, line: line ?? 0 });
  });
  return dedupe(entries, problems);
}
