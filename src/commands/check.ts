/** `check <server-url>`: download and verify what a running plugin server serves. */
import { Command, InvalidArgumentError } from 'commander';
import { checkServer, CheckResult } from '../higress/check';
import { checkOciServer, OciCheckResult } from '../higress/oci-check';
import { loadIndex } from '../higress/server-index';
import { MissingReport, readMissingPaths } from '../higress/server-metrics';
import { readConsoleList } from './console-list';
import { exitCodesHelp, VerifyError } from '../errors';
import type { PluginIndex } from '../contract/tree-format';
import { CliOutput } from './output';
import { DEFAULT_CHECK_CONCURRENCY } from '../contract/concurrency';

interface Options {
  sample?: number;
  gzip: boolean;
  concurrency: number;
  consoleList?: string;
  consolePattern?: string;
  json?: boolean;
  allowEmpty?: boolean;
  oci?: boolean;
}

function positive(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

/** `127.0.0.1:8080` or `localhost:8080/` (no scheme) is an http:// URL, not a file path. */
export function serverLocation(value: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || value.startsWith('/') || value.startsWith('.')) return value;
  if (/^[A-Za-z0-9.-]+:\d+(\/.*)?$/.test(value) || /^(localhost|\d{1,3}(\.\d{1,3}){3})(\/.*)?$/.test(value))
    return `http://${value}`;
  return value;
}

export async function checkCommand(serverArg: string, opts: Options): Promise<void> {
  const o = new CliOutput('check', Boolean(opts.json));
  const serverUrl = serverLocation(serverArg);
  let consoleEntries;
  let index;
  try {
    if (opts.consoleList) {
      const entries = readConsoleList(o, opts.consoleList);
      if (!entries) return;
      consoleEntries = entries.filter((e) => !e.aliasOf);
    }
    index = await loadIndex(serverUrl);
  } catch (e) {
    return o.finish({
      areas: o.problems([e]),
      line: `check: nothing was checked at ${serverUrl}`,
      counts: { problems: 1 },
    });
  }
  if (index.plugins.length === 0 && !opts.allowEmpty) {
    // An image built from an empty or wrong list serves nothing: every gateway start-up would fail later.
    const empty = new VerifyError({
      code: 'E_CHECK_EMPTY',
      message: `the index at ${serverUrl} lists no plugin`,
      context: { url: serverUrl },
      hint: 'rebuild the image with a plugin list, or pass --allow-empty if an empty server is intended',
    });
    return o.finish({
      areas: o.problems([empty]),
      line: `check: nothing to check at ${serverUrl}`,
      counts: { problems: 1 },
    });
  }
  // Read before this run's own downloads: the record is what the gateways and the Console asked for.
  const missing = /^https?:\/\//i.test(serverUrl) ? await readMissingPaths(serverUrl) : undefined;
  if (opts.oci) return checkOciCommand(o, serverUrl, index, opts, missing);
  const line = (r: CheckResult): void => reportResult(o, r, `${r.name}@${r.version}`, r.bytes);
  const { results, failed } = await checkServer(index, {
    baseUrl: serverUrl,
    sample: opts.sample,
    gzip: opts.gzip,
    concurrency: opts.concurrency,
    consoleEntries,
    consolePattern: opts.consolePattern,
    onResult: line,
  });
  reportMissing(o, missing);
  const plugins = results.filter((r) => r.kind === 'plugin').length;
  const consoleUrls = results.filter((r) => r.kind === 'console').length;
  o.finish({
    areas: failed.length ? ['verify'] : [],
    line: `check: ${results.length - failed.length} ok, ${failed.length} failed (${plugins} plugin file(s), ${consoleUrls} console URL(s)) at ${serverUrl}`,
    counts: { ok: results.length - failed.length, failed: failed.length, plugins, consoleUrls },
  });
}

/** `check --oci`: the same plugins pulled through the server's OCI API (/v2/) the way the gateway's oci:// fetcher does. */
async function checkOciCommand(
  o: CliOutput,
  serverUrl: string,
  index: PluginIndex,
  opts: Options,
  missing: MissingReport | undefined,
): Promise<void> {
  const entries =
    opts.sample === undefined
      ? index.plugins
      : [...index.plugins].sort(() => Math.random() - 0.5).slice(0, opts.sample);
  const line = (r: OciCheckResult): void => reportResult(o, r, `${r.name}:${r.version}`);
  const results = await checkOciServer(index, {
    baseUrl: serverUrl,
    entries,
    concurrency: opts.concurrency,
    onResult: line,
  });
  reportMissing(o, missing);
  const failed = results.filter((r) => !r.ok);
  o.finish({
    areas: failed.length ? ['verify'] : [],
    line: `check --oci: ${results.length - failed.length} ok, ${failed.length} failed (${entries.length} tag(s) pulled through /v2/) at ${serverUrl}`,
    counts: { ok: results.length - failed.length, failed: failed.length, tags: entries.length },
  });
}

export function register(program: Command): void {
  program
    .command('check')
    .description(
      'download every plugin (or a sample) from a running server, gzip-encoded as the gateway asks and plain, and verify size and sha256 of both against its index.json',
    )
    .argument(
      '<server-url>',
      'plugin server base URL, e.g. http://127.0.0.1:8080 or 127.0.0.1:8080 (kubectl port-forward svc/higress-plugin-server 8080:80)',
    )
    .option('--sample <n>', 'check only n plugins, picked at random', positive)
    .option(
      '--no-gzip',
      'download the plain file only (by default both the gzip encoding the gateway asks for and the plain file)',
    )
    .option('--concurrency <n>', 'downloads in flight', positive, DEFAULT_CHECK_CONCURRENCY)
    .option(
      '--console-list <file>',
      'also check the URL the Higress Console builds for each plugin of this plugins.properties',
    )
    .option(
      '--console-pattern <pattern>',
      'Console URL pattern (default <server-url>/plugins/${name}/${version}/plugin.wasm)',
    )
    .option(
      '--oci',
      'pull every plugin through the OCI API (/v2/plugins/<name>:<version>) instead, checking every digest',
    )
    .option('--allow-empty', "pass when the server's index lists no plugin (by default an empty server fails)")
    .option('--json', 'stdout: one JSON event per line (docs/cli-events.schema.json) instead of the report lines')
    .addHelpText('after', `\n${exitCodesHelp()}`)
    .action((url: string, opts: Options) => checkCommand(url, opts));
}

/** One checked URL: the human line (`ok` or `FAILED`, with the URL when it failed) and its --json event. */
function reportResult(
  o: CliOutput,
  r: { ok: boolean; name: string; version: string; detail: string; url: string },
  id: string,
  size?: number,
): void {
  o.report(`${r.ok ? 'ok    ' : 'FAILED'} ${id} ${r.detail}${r.ok ? '' : ` [${r.url}]`}`);
  const fields = r.ok ? { message: r.detail } : { code: 'E_CHECK_FAILED' as const, message: r.detail };
  o.event({
    event: 'plugin',
    command: 'check',
    name: r.name,
    version: r.version,
    status: r.ok ? 'ok' : 'failed',
    url: r.url,
    ...(size === undefined ? {} : { size }),
    ...fields,
  });
}

/** Missing paths listed; the rest are counted (the server keeps up to 100). */
const MAX_MISSING_LINES = 20;

/**
 * What the server answered 404 since it started, most asked first (its /metrics, docs/metrics.md):
 * the versions the Console or a gateway wants and the tree does not hold. Advice: never fails check.
 */
function reportMissing(o: CliOutput, missing: MissingReport | undefined): void {
  if (!missing) return;
  if (!missing.ok) {
    o.report(`note   no missing-path report: ${missing.why}`);
    return;
  }
  for (const m of missing.paths.slice(0, MAX_MISSING_LINES)) {
    const id = /^\/(?:v2\/)?plugins\/([^/]+)\/(?:manifests\/)?([^/]+)/.exec(m.path);
    const what = id ? `${id[1]}/${id[2]}` : m.path;
    o.report(`missing ${what} asked ${m.requests} time(s), answered 404 [${m.path}]`);
    o.event({ event: 'missing', command: 'check', path: m.path, requests: m.requests });
  }
  if (missing.paths.length > MAX_MISSING_LINES)
    o.report(`missing ... and ${missing.paths.length - MAX_MISSING_LINES} more path(s) (GET /metrics lists them)`);
}
