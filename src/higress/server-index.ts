/**
 * Reads a plugin index (`plugins/index.json`) from a tree on disk or from a running server, and checks
 * its shape before anything trusts it: `wasmplugins` and `check` both start here, so a bad index gives
 * one clear error per problem and no output.
 */
import * as fs from 'fs';
import * as path from 'path';
import Ajv, { ErrorObject } from 'ajv';
import { InputError } from '../errors';
import { INDEX_FILE, IndexEntry, PLUGINS_DIR, PluginIndex, TREE_SCHEMA_VERSION } from '../contract/tree-format';
import { SAFE_SEGMENT } from '../contract/plugin-identity';
import { BodyTooLarge, readBodyLimited } from './bounded-body';
import { fetchFailure } from './fetch-error';

/**
 * index.json of the 43-plugin list is ~20 KB and a 10,000-version tree ~4 MB: 16 MiB is generous for
 * any real server and keeps a hostile or broken one from filling memory.
 */
export const MAX_INDEX_BYTES = 16 * 1024 * 1024;
/** Problems listed in one message; the rest are counted, so a 10k-entry bad index gives one short line. */
const MAX_LISTED_PROBLEMS = 10;

const SEGMENT = SAFE_SEGMENT.source;

/** JSON Schema of index.json (src/contract/tree-format.ts is the TypeScript side of the same contract). */
export const INDEX_SCHEMA = {
  type: 'object',
  required: ['schemaVersion', 'plugins'],
  properties: {
    schemaVersion: { const: TREE_SCHEMA_VERSION },
    generated: { type: 'string' },
    inventory: {
      type: 'object',
      required: ['path', 'sha256', 'size'],
      properties: {
        path: { const: '/plugins/snapshot-inventory.json' },
        sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        size: { type: 'integer', minimum: 1 },
      },
    },
    plugins: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'version', 'sha256', 'size', 'path'],
        properties: {
          name: { type: 'string', pattern: SEGMENT },
          version: { type: 'string', pattern: SEGMENT },
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          size: { type: 'integer', minimum: 1 },
          md5: { type: 'string', pattern: '^[0-9a-f]{32}$' },
          path: { type: 'string', pattern: '^/plugins/[^?#]+/plugin\\.wasm$' },
          source: { type: 'string' },
          manifestDigest: { type: ['string', 'null'] },
          aliasOf: { type: 'string', pattern: SEGMENT },
          phase: { type: 'string' },
          priority: { type: 'integer' },
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true, strict: false }).compile(INDEX_SCHEMA);

function describe(e: ErrorObject, data: unknown): string {
  const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(top level)';
  // Name the plugin when the error sits inside an entry, so an operator can find it in a 43-entry file.
  const m = /^\/plugins\/(\d+)/.exec(e.instancePath);
  const entry = m ? (data as { plugins?: Array<{ name?: unknown }> }).plugins?.[Number(m[1])] : undefined;
  const named = entry && typeof entry.name === 'string' ? ` (plugin ${entry.name.slice(0, 100)})` : '';
  const missing =
    e.keyword === 'required'
      ? `: missing "${(e.params as { missingProperty: string }).missingProperty}"`
      : ` ${e.message}`;
  return `${where}${named}${missing}`;
}

/** Validates parsed index.json; throws one InputError whose message lists every problem. */
export function parseIndex(data: unknown, where: string): PluginIndex {
  if (!validate(data)) {
    const problems = (validate.errors ?? []).map((e) => describe(e, data));
    const listed = problems.slice(0, MAX_LISTED_PROBLEMS).join('; ');
    const more =
      problems.length > MAX_LISTED_PROBLEMS ? `; and ${problems.length - MAX_LISTED_PROBLEMS} more problem(s)` : '';
    throw new InputError({
      code: 'E_INDEX_INVALID',
      message: `invalid plugin index: ${listed}${more}`,
      context: { file: where },
      hint: 'rebuild it with `higress-plugin-server index <root>` or point --index at a plugin-server tree or URL',
    });
  }
  const index = data as unknown as PluginIndex;
  for (const e of index.plugins) {
    if (e.path !== `/${PLUGINS_DIR}/${e.name}/${e.version}/plugin.wasm`) {
      throw new InputError({
        code: 'E_INDEX_INVALID',
        message: `invalid plugin index: entry ${e.name}@${e.version} has path ${e.path}`,
        context: { file: where },
        hint: 'paths must be /plugins/<name>/<version>/plugin.wasm',
      });
    }
  }
  return index;
}

function isUrl(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

/** URL of index.json on a server given its base URL (or the index URL itself). */
export function indexUrl(location: string): string {
  if (/\/index\.json$/.test(location)) return location;
  return `${location.replace(/\/+$/, '')}/${PLUGINS_DIR}/${INDEX_FILE}`;
}

/** Path of index.json for a tree root, its plugins/ folder, or the file itself. */
export function indexFile(location: string): string {
  if (location.endsWith('.json')) return location;
  const inPlugins = path.join(location, INDEX_FILE);
  if (path.basename(path.resolve(location)) === PLUGINS_DIR && fs.existsSync(inPlugins)) return inPlugins;
  return path.join(location, PLUGINS_DIR, INDEX_FILE);
}

/** Loads and validates an index from a directory (tree root) or an http(s) URL (server base URL). */
export async function loadIndex(location: string, opts: { timeoutMs?: number } = {}): Promise<PluginIndex> {
  let text: string;
  let where: string;
  if (isUrl(location)) {
    where = indexUrl(location);
    let res: Response;
    try {
      res = await fetch(where, { signal: AbortSignal.timeout(opts.timeoutMs ?? 30000) });
    } catch (err) {
      throw new InputError({
        code: 'E_INDEX_UNREACHABLE',
        message: `cannot fetch ${where}: ${fetchFailure(err)}`,
        context: { url: where },
        hint: 'check the server URL and that the plugin server is running (kubectl port-forward svc/higress-plugin-server 8080:80)',
      });
    }
    if (!res.ok)
      throw new InputError({
        code: 'E_INDEX_UNREACHABLE',
        message: `GET ${where} answered HTTP ${res.status}`,
        context: { url: where },
        hint: 'is this a plugin server? its index lives at /plugins/index.json',
      });
    try {
      text = (await readBodyLimited(res, MAX_INDEX_BYTES)).toString('utf8');
    } catch (err) {
      if (err instanceof BodyTooLarge) throw tooLarge(where, { url: where });
      throw new InputError({
        code: 'E_INDEX_UNREACHABLE',
        message: `reading ${where} failed: ${(err as Error).message}`,
        context: { url: where },
        hint: 'check the server and retry',
      });
    }
  } else {
    where = indexFile(location);
    let size: number;
    try {
      size = fs.statSync(where).size;
    } catch {
      throw new InputError({
        code: 'E_INDEX_MISSING',
        message: `cannot read ${where}`,
        context: { file: where },
        hint: 'pass the folder that holds plugins/ (the --out of pull), or run `higress-plugin-server index <root>`',
      });
    }
    if (size > MAX_INDEX_BYTES) throw tooLarge(where, { file: where });
    text = fs.readFileSync(where, 'utf8');
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new InputError({
      code: 'E_INDEX_INVALID',
      message: `invalid plugin index: not JSON (${(err as Error).message})`,
      context: { file: where },
      hint: 'rebuild it with `higress-plugin-server index <root>`',
    });
  }
  return parseIndex(data, where);
}

function tooLarge(where: string, context: { url?: string; file?: string }): InputError {
  return new InputError({
    code: 'E_INPUT_TOO_LARGE',
    message: `${where} is larger than ${MAX_INDEX_BYTES} bytes (after decoding), more than any plugin index`,
    context,
    hint: 'is this a plugin server? its index lives at /plugins/index.json',
  });
}

/** Index entries grouped by plugin name, in index order. */
export function byName(entries: IndexEntry[]): Map<string, IndexEntry[]> {
  const out = new Map<string, IndexEntry[]>();
  for (const e of entries) {
    const list = out.get(e.name) ?? [];
    list.push(e);
    out.set(e.name, list);
  }
  return out;
}
