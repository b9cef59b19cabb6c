/** `check <server-url>`: download and verify what a running plugin server serves. */
import { Command, InvalidArgumentError } from 'commander';
import { loadInputs } from '../inputs/load';
import { checkServer, CheckResult } from '../higress/check';
import { loadIndex } from '../higress/server-index';
import { exitCodesHelp } from '../errors';
import { CliOutput } from './output';

interface Options {
  sample?: number;
  gzip: boolean;
  concurrency: number;
  consoleList?: string;
  consolePattern?: string;
  json?: boolean;
}

function positive(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

/** `127.0.0.1:8080` or `localhost:8080/` (no scheme) is an http:// URL, not a file path. */
export function serverLocation(value: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || value.startsWith('/') || value.startsWith('.')) return value;
  if (/^[A-Za-z0-9.-]+:\d+(\/.*)?$/.test(value) || /^(localhost|\d{1,3}(\.\d{1,3}){3})(\/.*)?$/.test(value)) return `http://${value}`;
  return value;
}

export async function checkCommand(serverArg: string, opts: Options): Promise<void> {
  const o = new CliOutput('check', Boolean(opts.json));
  const serverUrl = serverLocation(serverArg);
  let consoleEntries;
  let index;
  try {
    if (opts.consoleList) {
      const list = loadInputs({ lists: [opts.consoleList] });
      if (list.problems.length) return o.finish({ areas: o.problems(list.problems), line: `check: ${list.problems.length} problem(s) in ${opts.consoleList}`, counts: { problems: list.problems.length } });
      consoleEntries = list.entries.filter((e) => !e.aliasOf);
    }
    index = await loadIndex(serverUrl);
  } catch (e) {
    return o.finish({ areas: o.problems([e]), line: `check: nothing was checked at ${serverUrl}`, counts: { problems: 1 } });
  }
  const line = (r: CheckResult): void => {
    o.report(`${r.ok ? 'ok    ' : 'FAILED'} ${r.name}@${r.version} ${r.detail}${r.ok ? '' : ` [${r.url}]`}`);
    const fields = r.ok ? { message: r.detail } : { code: 'E_CHECK_FAILED' as const, message: r.detail };
    o.event({ event: 'plugin', command: 'check', name: r.name, version: r.version, status: r.ok ? 'ok' : 'failed', url: r.url, size: r.bytes, ...fields });
  };
  const { results, failed } = await checkServer(index, {
    baseUrl: serverUrl,
    sample: opts.sample,
    gzip: opts.gzip,
    concurrency: opts.concurrency,
    consoleEntries,
    consolePattern: opts.consolePattern,
    onResult: line,
  });
  const plugins = results.filter((r) => r.kind === 'plugin').length;
  const consoleUrls = results.filter((r) => r.kind === 'console').length;
  o.finish({
    areas: failed.length ? ['verify'] : [],
    line: `check: ${results.length - failed.length} ok, ${failed.length} failed (${plugins} plugin file(s), ${consoleUrls} console URL(s)) at ${serverUrl}`,
    counts: { ok: results.length - failed.length, failed: failed.length, plugins, consoleUrls },
  });
}

export function register(program: Command): void {
  program
    .command('check')
    .description('download every plugin (or a sample) from a running server and verify size and sha256 against its index.json')
    .argument('<server-url>', 'plugin server base URL, e.g. http://127.0.0.1:8080 or 127.0.0.1:8080 (kubectl port-forward svc/higress-plugin-server 8080:80)')
    .option('--sample <n>', 'check only n plugins, picked at random', positive)
    .option('--no-gzip', 'ask for the raw file instead of the gzip encoding the gateway asks for')
    .option('--concurrency <n>', 'downloads in flight', positive, 4)
    .option('--console-list <file>', 'also check the URL the Higress Console builds for each plugin of this plugins.properties')
    .option('--console-pattern <pattern>', 'Console URL pattern (default <server-url>/plugins/${name}/${version}/plugin.wasm)')
    .option('--json', 'stdout: one JSON event per line (docs/cli-events.schema.json) instead of the report lines')
    .addHelpText('after', `\n${exitCodesHelp()}`)
    .action((url: string, opts: Options) => checkCommand(url, opts));
}
