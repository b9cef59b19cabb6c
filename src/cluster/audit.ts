/**
 * `audit`: every URL a running Higress asks for, checked against the plugin server. A URL on the
 * server's Service must answer on `--server` (same path) with the bytes its WasmPlugin's sha256 names;
 * the Console's pattern must answer for every plugin version it offers; anything else (`oci://`,
 * another host, `file://`) is external, a failure only when the run requires everything local.
 */
import { createHash } from 'crypto';
import { mapLimit } from '../content/pool';
import type { IndexEntry } from '../contract/tree-format';
import { CONSOLE_URL_PATTERN_ENV } from '../contract/service';
import { MCP_SERVER_URL_ENV } from '../contract/adopt-rbac';
import { CONSOLE_SPEC_VERSIONS, expandConsolePattern } from '../higress/console-versions';
import { loadTagDigests } from '../higress/oci-digests';
import { ClusterAsks, EnvAsk, envLabel, localOci, localPath, ServerAddress, trimBase, wasmPluginLabel } from './asks';

export interface UrlResult {
  object: string;
  url: string;
  status: 'ok' | 'external' | 'failed';
  /** Why it failed or is external; what was verified when ok. */
  why: string;
  /** What to do (failed and external only). */
  fix?: string;
  /** sha256 of the served bytes (or the OCI manifest digest), when fetched. */
  sha256?: string;
  /** Outside the server (failed only because local is required). */
  external?: boolean;
}

/** A plugin version the Console offers: the name and the version it puts into its pattern. */
export interface ConsolePlugin {
  name: string;
  version: string;
}

export interface AuditOptions extends ServerAddress {
  /** Count external URLs as failures. */
  requireLocal: boolean;
  /** The plugin versions the Console offers (by default: every plugin of the server's index). */
  consolePlugins: ConsolePlugin[];
  concurrency?: number;
  timeoutMs?: number;
  onResult?: (r: UrlResult) => void;
}

const ADOPT_FIX = 'run `higress-plugin-server adopt` to move it onto the plugin server';

/** The Console's plugin versions for index entries: its spec.yaml version where the known table says it differs from the tag. */
export function consolePluginsOf(
  entries: ReadonlyArray<Pick<IndexEntry, 'name' | 'version' | 'aliasOf'>>,
): ConsolePlugin[] {
  const out = new Map<string, ConsolePlugin>();
  for (const e of entries) {
    if (e.aliasOf) continue;
    const known = CONSOLE_SPEC_VERSIONS[e.name];
    const version = known && known.tag === e.version ? known.specVersion : e.version;
    out.set(`${e.name}@${version}`, { name: e.name, version });
  }
  return [...out.values()];
}

/** GET like the gateway (gzip accepted, sha256 of the decoded bytes). */
export async function fetchSha256(
  url: string,
  timeoutMs: number,
): Promise<{ status: number; sha256?: string; error?: string }> {
  try {
    const res = await fetch(url, { headers: { 'accept-encoding': 'gzip' }, signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel();
      return { status: res.status };
    }
    const hash = createHash('sha256');
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
    return { status: 200, sha256: hash.digest('hex') };
  } catch (err) {
    return { status: 0, error: (err as Error).message };
  }
}

async function checkLocalHttp(
  object: string,
  url: string,
  path: string,
  expected: string | undefined,
  opts: AuditOptions,
): Promise<UrlResult> {
  const probe = `${trimBase(opts.serverUrl)}${path}`;
  const got = await fetchSha256(probe, opts.timeoutMs ?? 60_000);
  if (got.status !== 200)
    return {
      object,
      url,
      status: 'failed',
      why: got.error
        ? `the server did not answer ${probe}: ${got.error}`
        : `the server answers HTTP ${got.status} for ${path}`,
      fix: 'pull the plugin into the server (plugins.properties) and roll out the image, or point the object at a version the server holds',
    };
  if (expected !== undefined && expected.toLowerCase() !== got.sha256)
    return {
      object,
      url,
      status: 'failed',
      sha256: got.sha256,
      why: `the server serves sha256 ${got.sha256}, the object pins ${expected}: the gateway will refuse the module`,
      fix: 'set spec.sha256 to the served sha256 (`adopt` does), or serve the pinned bytes',
    };
  return {
    object,
    url,
    status: 'ok',
    sha256: got.sha256,
    why: expected !== undefined ? 'served, sha256 matches' : 'served (no sha256 pinned)',
  };
}

async function checkLocalOci(
  object: string,
  url: string,
  repoRef: string,
  expected: string | undefined,
  opts: AuditOptions,
): Promise<UrlResult> {
  const m = /^plugins\/([^:@]+):([^@]+)$/.exec(repoRef);
  if (!m)
    return {
      object,
      url,
      status: 'failed',
      why: "the server's OCI view serves only tags of the form plugins/<name>:<version>",
      fix: 'write the URL as oci://<service host>/plugins/<name>:<version>',
    };
  try {
    const digests = await loadTagDigests(trimBase(opts.serverUrl), [{ name: m[1], version: m[2] }]);
    const digest = (digests.get(`${m[1]}/${m[2]}`) ?? '').replace(/^sha256:/, '');
    if (expected !== undefined && expected.toLowerCase() !== digest)
      return {
        object,
        url,
        status: 'failed',
        sha256: digest,
        why: `the server's manifest digest is ${digest}, the object pins ${expected}`,
        fix: 'set spec.sha256 to the served manifest digest (`adopt --oci` does)',
      };
    return { object, url, status: 'ok', sha256: digest, why: 'served by the OCI view' };
  } catch (err) {
    return {
      object,
      url,
      status: 'failed',
      why: (err as Error).message,
      fix: 'pull the plugin into the server, or point the object at a version the server holds',
    };
  }
}

function external(object: string, url: string, why: string, opts: AuditOptions): UrlResult {
  return { object, url, status: opts.requireLocal ? 'failed' : 'external', why, fix: ADOPT_FIX, external: true };
}

async function checkUrl(
  object: string,
  url: string,
  sha256: string | undefined,
  opts: AuditOptions,
): Promise<UrlResult> {
  const path = localPath(url, opts);
  if (path !== undefined) return checkLocalHttp(object, url, path, sha256, opts);
  const oci = localOci(url, opts);
  if (oci !== undefined) return checkLocalOci(object, url, oci, sha256, opts);
  const where = url.startsWith('oci://')
    ? 'an OCI registry outside the plugin server'
    : url.startsWith('file://')
      ? 'a file on the gateway pod'
      : 'a host other than the plugin server';
  return external(object, url, `loaded from ${where}`, opts);
}

function envValue(a: EnvAsk): string | undefined {
  return a.entry?.value;
}

/** Every check the asks call for, in a stable order (WasmPlugins, Console, controller). */
export async function audit(asks: ClusterAsks, opts: AuditOptions): Promise<UrlResult[]> {
  const jobs: Array<() => Promise<UrlResult>> = [];
  for (const w of asks.wasmPlugins) {
    const url = w.spec?.url;
    const object = wasmPluginLabel(w);
    if (!url) {
      jobs.push(() =>
        Promise.resolve({
          object,
          url: '',
          status: 'failed' as const,
          why: 'spec.url is empty',
          fix: 'set spec.url',
        }),
      );
      continue;
    }
    jobs.push(() => checkUrl(object, url, w.spec?.sha256, opts));
  }
  if (asks.console) {
    const c = asks.console;
    const object = envLabel('Console', c);
    const pattern = envValue(c);
    if (pattern === undefined)
      jobs.push(() =>
        Promise.resolve(
          external(
            object,
            '(unset)',
            c.entry?.valueFrom
              ? `${CONSOLE_URL_PATTERN_ENV} comes from valueFrom and cannot be read here`
              : `${CONSOLE_URL_PATTERN_ENV} is not set: the Console builds oci:// URLs of the public registry`,
            opts,
          ),
        ),
      );
    else
      for (const p of opts.consolePlugins)
        jobs.push(() =>
          checkUrl(
            `${object} ${p.name}@${p.version}`,
            expandConsolePattern(pattern, p.name, p.version),
            undefined,
            opts,
          ),
        );
  }
  if (asks.controller) {
    const c = asks.controller;
    const object = envLabel('Controller', c);
    const url = envValue(c);
    if (url === undefined)
      jobs.push(() =>
        Promise.resolve(
          external(
            object,
            '(unset)',
            `${MCP_SERVER_URL_ENV} is not set on ${c.container}: the controller loads the MCP server plugin from the public registry`,
            opts,
          ),
        ),
      );
    else jobs.push(() => checkUrl(object, url, undefined, opts));
  }
  return mapLimit(jobs, opts.concurrency ?? 8, async (job) => {
    const r = await job();
    opts.onResult?.(r);
    return r;
  });
}
