/**
 * The plugin list, in the Higress `plugins.properties` format, read by both Higress reference
 * lists unchanged:
 *
 *   # comment            ! comment            (blank lines ignored)
 *   <name>=oci://host[:port]/repo[/sub]:tag   served as plugins/<name>/<tag>/; name may differ from repo
 *
 * Extensions (each line stays a valid properties line):
 *   - several lines with the same name and different tags: several version folders;
 *   - `@sha256:<digest>` after the tag pins the manifest;
 *   - `<name>=file:<path>@<version>`: a local .wasm (path relative to this file), for air-gapped builds;
 *   - version alias, written as a comment directive so Higress's own tools (which skip `#` lines)
 *     ignore it gracefully:
 *         #@alias <name> <alias-version>=<version>
 *     serves the bytes of plugins/<name>/<version>/ under plugins/<name>/<alias-version>/ too.
 *
 * Pure: takes the text, returns entries plus every problem found (never stops at the first one).
 */
import * as path from 'path';
import { ErrorCode, InputError } from '../errors';
import { SAFE_SEGMENT } from '../contract/plugin-identity';
import { RESERVED_PLUGIN_NAMES } from '../contract/tree-format';
import { parseSource } from './reference';
import { PluginEntry, sourceKey, sourceText } from './types';

export interface ParseResult {
  entries: PluginEntry[];
  problems: InputError[];
}

const ALIAS = /^#@alias(?:\s+(.*))?$/;
const ALIAS_BODY = /^(\S+)\s+(\S+?)\s*=\s*(\S+)$/;

function segmentProblem(kind: string, value: string): string | undefined {
  if (SAFE_SEGMENT.test(value)) return undefined;
  return `unsafe plugin ${kind} ${JSON.stringify(value)}`;
}
const reservedMessage = (name: string) =>
  `plugin name ${JSON.stringify(name)} is reserved: plugins/${name} is part of the tree format`;
const RESERVED_HINT = 'rename the plugin';
const SEGMENT_HINT = 'use letters, digits, ".", "_" and "-" only, not starting with a dot (it becomes a folder name)';

/** `file` is the path shown in errors and used to resolve `file:` sources. */
export function parsePluginList(text: string, file: string): ParseResult {
  const listDir = path.dirname(path.resolve(file));
  const entries: PluginEntry[] = [];
  const problems: InputError[] = [];
  const aliases: Array<{ name: string; alias: string; target: string; line: number }> = [];
  const err = (line: number, code: ErrorCode, message: string, hint: string): void => {
    problems.push(new InputError({ code, message, context: { file, line }, hint }));
  };

  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line.includes('\0')) return err(lineNo, 'E_PROPERTIES_SYNTAX', 'line contains a NUL byte', 'remove it');
    const alias = ALIAS.exec(line);
    if (alias) {
      const m = ALIAS_BODY.exec(alias[1] ?? '');
      if (!m)
        return err(
          lineNo,
          'E_ALIAS_SYNTAX',
          `bad alias directive "${line}"`,
          'write #@alias <name> <alias-version>=<version>',
        );
      const [, name, aliasVersion, target] = m as unknown as [string, string, string, string];
      const bad =
        segmentProblem('name', name) ?? segmentProblem('version', aliasVersion) ?? segmentProblem('version', target);
      if (bad) return err(lineNo, 'E_UNSAFE_SEGMENT', bad, SEGMENT_HINT);
      if (RESERVED_PLUGIN_NAMES.has(name)) return err(lineNo, 'E_RESERVED_NAME', reservedMessage(name), RESERVED_HINT);
      aliases.push({ name, alias: aliasVersion, target, line: lineNo });
      return;
    }
    if (line === '' || line.startsWith('#') || line.startsWith('!')) return;
    const eq = line.indexOf('=');
    if (eq < 0)
      return err(lineNo, 'E_PROPERTIES_SYNTAX', `no "=" in "${line}"`, 'write <name>=oci://host/repository:tag');
    const name = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (!name)
      return err(
        lineNo,
        'E_PROPERTIES_SYNTAX',
        'empty plugin name before "="',
        'write <name>=oci://host/repository:tag',
      );
    const badName = segmentProblem('name', name);
    if (badName) return err(lineNo, 'E_UNSAFE_SEGMENT', badName, SEGMENT_HINT);
    if (RESERVED_PLUGIN_NAMES.has(name)) return err(lineNo, 'E_RESERVED_NAME', reservedMessage(name), RESERVED_HINT);
    if (!value)
      return err(
        lineNo,
        'E_REFERENCE',
        `plugin ${name} has an empty reference`,
        'write <name>=oci://host/repository:tag',
      );
    const parsed = parseSource(value, listDir);
    if (!parsed.ok) return err(lineNo, parsed.code, parsed.message, parsed.hint);
    entries.push({ name, version: parsed.version, source: parsed.source, file, line: lineNo });
  });

  // One map instead of a search per alias: 80k lines and 80k aliases took 26 s with a linear find each.
  const declared = new Map<string, PluginEntry>();
  for (const e of entries) if (!declared.has(`${e.name}\0${e.version}`)) declared.set(`${e.name}\0${e.version}`, e);
  for (const a of aliases) {
    const target = declared.get(`${a.name}\0${a.target}`);
    if (!target) {
      err(
        a.line,
        'E_ALIAS_TARGET',
        `alias ${a.name}@${a.alias} points at ${a.name}@${a.target}, which no line declares`,
        `add a line ${a.name}=...:${a.target} or fix the alias`,
      );
      continue;
    }
    entries.push({ name: a.name, version: a.alias, source: target.source, aliasOf: a.target, file, line: a.line });
  }
  return dedupe(entries, problems);
}

/**
 * Same name+version twice: identical sources collapse into one entry; different sources are a
 * conflict (which bytes would the folder hold?), reported at the later line naming the earlier.
 */
export function dedupe(entries: PluginEntry[], problems: InputError[] = []): ParseResult {
  const seen = new Map<string, PluginEntry>();
  const out: PluginEntry[] = [];
  for (const e of entries) {
    const key = `${e.name}\0${e.version}`;
    const prev = seen.get(key);
    if (!prev) {
      seen.set(key, e);
      out.push(e);
      continue;
    }
    if (sourceKey(prev.source) === sourceKey(e.source) && prev.aliasOf === e.aliasOf) continue;
    problems.push(
      new InputError({
        code: 'E_DUPLICATE',
        message: `${e.name}@${e.version} is already declared at ${prev.file === e.file ? `line ${prev.line}` : `${prev.file}:${prev.line}`} with ${prev.aliasOf ? `alias of ${prev.aliasOf}` : sourceText(prev.source)}, here with ${e.aliasOf ? `alias of ${e.aliasOf}` : sourceText(e.source)}`,
        context: { file: e.file, line: e.line },
        hint: 'keep one source per name and version',
      }),
    );
  }
  problems.sort((a, b) => (a.context.line ?? 0) - (b.context.line ?? 0));
  return { entries: out, problems };
}
