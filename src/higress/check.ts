/**
 * `check`: proves a running plugin server serves the bytes its index promises, the way the gateway
 * downloads them (gzip accepted, sha256 of the decoded bytes) and the way other clients do (plain), and that the URLs the Higress Console
 * builds answer. I/O lives here; the decisions (what to fetch, what counts as a failure) are small and
 * explicit so every failure becomes one line.
 */
import { createHash } from 'crypto';
import { PluginEntry } from '../inputs/types';
import { mapLimit } from '../content/pool';
import { readSpecYaml } from '../tree/spec';
import { IndexEntry, PluginIndex, SPEC_FILE } from '../contract/tree-format';
import { readBodyLimited } from './bounded-body';
import { fetchFailure } from './fetch-error';
import { CONSOLE_SPEC_VERSIONS, expandConsolePattern } from './console-versions';
import { DEFAULT_CHECK_CONCURRENCY } from '../contract/concurrency';

/** A served spec.yaml is a few KB; read at most this much of one. */
const MAX_SPEC_BYTES = 1024 * 1024;

export interface CheckOptions {
  /** Server base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Check only this many plugins, picked at random (default: all). */
  sample?: number;
  /** Send `Accept-Encoding: gzip` like the gateway does (default true). */
  gzip?: boolean;
  concurrency?: number;
  timeoutMs?: number;
  /** Console plugin list entries to check the Console's URLs for. */
  consoleEntries?: PluginEntry[];
  /** Console URL pattern (default `<baseUrl>/plugins/${name}/${version}/plugin.wasm`). */
  consolePattern?: string;
  /** Called once per finished item. */
  onResult?: (r: CheckResult) => void;
}

export interface CheckResult {
  kind: 'plugin' | 'console';
  name: string;
  version: string;
  url: string;
  ok: boolean;
  /** Why it failed, or what was verified. */
  detail: string;
  bytes?: number;
}

export interface CheckSummary {
  results: CheckResult[];
  failed: CheckResult[];
}

function pick<T>(items: T[], n: number | undefined): T[] {
  if (n === undefined || n >= items.length) return items;
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, n);
}

/** One download of a plugin's URL in one encoding: its decoded size and sha256, or why it failed. */
async function fetchHash(
  url: string,
  encoding: 'gzip' | 'identity',
  timeoutMs: number,
): Promise<{ size: number; sha256: string; served: string } | { error: string }> {
  const res = await fetch(url, {
    headers: { 'accept-encoding': encoding },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    return { error: `HTTP ${res.status} (missing file or wrong path in the index)` };
  }
  // fetch decodes gzip transparently: the hash is of the decoded bytes, as in the gateway.
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex'), served: res.headers.get('content-encoding') ?? 'identity' };
}

/**
 * Downloads a plugin as the gateway does (gzip accepted), and, when the server answered with its
 * precompressed `.gz`, once more without gzip: Nginx's gzip_static serves `plugin.wasm.gz` to gzip
 * clients and `plugin.wasm` to the others, two files that must both hold the indexed bytes (a
 * `plugin.wasm` changed after `pull` passes a gzip-only check). `--no-gzip` downloads the plain file only.
 */
async function checkPlugin(base: string, e: IndexEntry, opts: CheckOptions): Promise<CheckResult> {
  const url = `${base}${e.path}`;
  const r = { kind: 'plugin' as const, name: e.name, version: e.version, url };
  const timeoutMs = opts.timeoutMs ?? 60000;
  try {
    const encodings: Array<'gzip' | 'identity'> = opts.gzip === false ? ['identity'] : ['gzip', 'identity'];
    const served: string[] = [];
    let size = 0;
    for (const encoding of encodings) {
      const got = await fetchHash(url, encoding, timeoutMs);
      // The second, plain download is named: the gzip one already matched, so only plugin.wasm differs.
      const second = served.length > 0;
      const label = second ? 'plain download (plugin.wasm, served to clients without gzip): ' : '';
      if ('error' in got) return { ...r, ok: false, detail: `${label}${got.error}` };
      const problems: string[] = [];
      if (got.size !== e.size) problems.push(`size ${got.size} != index ${e.size}`);
      if (got.sha256 !== e.sha256) problems.push(`sha256 ${got.sha256} != index ${e.sha256}`);
      if (problems.length) {
        const why = second
          ? ' (plugin.wasm.gz is intact: plugin.wasm was changed after pull; run `verify` on the tree)'
          : '';
        return { ...r, ok: false, detail: `${label}${problems.join(', ')}${why}`, bytes: got.size };
      }
      size = got.size;
      served.push(got.served);
      // A server that does not compress sent the plain file already: nothing else to download.
      if (got.served !== 'gzip') break;
    }
    return { ...r, ok: true, detail: `${size} bytes, sha256 ok, encoding ${served.join(' and ')}`, bytes: size };
  } catch (err) {
    return { ...r, ok: false, detail: `request failed: ${fetchFailure(err)}` };
  }
}

/** The version the Console will put in `${version}`: the served spec.yaml's, the known table's, or the tag. */
async function consoleVersion(base: string, entry: PluginEntry, timeoutMs: number): Promise<string> {
  try {
    const res = await fetch(`${base}/plugins/${entry.name}/${entry.version}/${SPEC_FILE}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.ok) {
      const v = readSpecYaml((await readBodyLimited(res, MAX_SPEC_BYTES)).toString('utf8')).version;
      if (v) return v;
    } else await res.body?.cancel();
  } catch {
    /* fall through to what is known */
  }
  const known = CONSOLE_SPEC_VERSIONS[entry.name];
  return known && known.tag === entry.version ? known.specVersion : entry.version;
}

async function checkConsoleUrl(
  base: string,
  pattern: string,
  entry: PluginEntry,
  timeoutMs: number,
): Promise<CheckResult> {
  const version = await consoleVersion(base, entry, timeoutMs);
  const url = expandConsolePattern(pattern, entry.name, version);
  const r = { kind: 'console' as const, name: entry.name, version, url };
  try {
    const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs) });
    if (res.status === 200) return { ...r, ok: true, detail: 'console URL answers 200' };
    const hint =
      version !== entry.version
        ? ` (the Console asks for spec.yaml version ${version}, tag is ${entry.version}: add "#@alias ${entry.name} ${version}=${entry.version}" to the plugin list)`
        : '';
    return { ...r, ok: false, detail: `console URL answered HTTP ${res.status}${hint}` };
  } catch (err) {
    return { ...r, ok: false, detail: `console URL request failed: ${fetchFailure(err)}` };
  }
}

export async function checkServer(index: PluginIndex, opts: CheckOptions): Promise<CheckSummary> {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 60000;
  const limit = opts.concurrency ?? DEFAULT_CHECK_CONCURRENCY;
  const report = (r: CheckResult): CheckResult => {
    opts.onResult?.(r);
    return r;
  };
  const plugins = await mapLimit(pick(index.plugins, opts.sample), limit, async (e) =>
    report(await checkPlugin(base, e, opts)),
  );
  const pattern = opts.consolePattern ?? `${base}/plugins/\${name}/\${version}/plugin.wasm`;
  const consoles = await mapLimit(opts.consoleEntries ?? [], limit, async (e) =>
    report(await checkConsoleUrl(base, pattern, e, timeoutMs)),
  );
  const results = [...plugins, ...consoles];
  return { results, failed: results.filter((r) => !r.ok) };
}
