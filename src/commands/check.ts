/** `check <server-url>`: download and verify what a running plugin server serves. */
import { Command, InvalidArgumentError } from 'commander';
import { loadInputs } from '../inputs/load';
import { checkServer, CheckResult } from '../integration/check';
import { loadIndex } from '../integration/server-index';
import { checkOciServer } from '../ociview/check';
import type { PluginIndex } from '../tree/format';
import { reportProblems } from './report';

interface Options {
  sample?: number;
  gzip: boolean;
  concurrency: number;
  consoleList?: string;
  consolePattern?: string;
  json?: boolean;
  oci?: boolean;
}

function positive(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

export async function checkCommand(serverUrl: string, opts: Options): Promise<void> {
  const consoleEntries = opts.consoleList ? loadConsoleList(opts.consoleList) : undefined;
  if (consoleEntries === null) return;
  const index = await loadIndex(serverUrl);
  if (opts.oci) return checkOciCommand(serverUrl, index, opts);
  const line = (r: CheckResult): void => {
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else if (r.ok) process.stderr.write(`ok    ${r.name}@${r.version} ${r.detail}\n`);
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
  const summary = `check: ${results.length - failed.length} ok, ${failed.length} failed (${results.filter((r) => r.kind === 'plugin').length} plugin file(s), ${results.filter((r) => r.kind === 'console').length} console URL(s)) at ${serverUrl}`;
  if (failed.length) return reportProblems(failed.map((r) => `${r.name}@${r.version}: ${r.detail} [${r.url}]`), summary);
  process.stderr.write(`${summary}\n`);
}

/** `check --oci`: the same plugins pulled through the server's OCI API (/v2/) instead of /plugins/. */
async function checkOciCommand(serverUrl: string, index: PluginIndex, opts: Options): Promise<void> {
  const entries = opts.sample === undefined ? index.plugins : [...index.plugins].sort(() => Math.random() - 0.5).slice(0, opts.sample);
  const results = await checkOciServer(index, {
    baseUrl: serverUrl,
    entries,
    concurrency: opts.concurrency,
    onResult: (r) => (opts.json ? process.stdout.write(`${JSON.stringify(r)}\n`) : r.ok && process.stderr.write(`ok    ${r.name}:${r.version} ${r.detail}\n`)),
  });
  const failed = results.filter((r) => !r.ok);
  const summary = `check --oci: ${results.length - failed.length} ok, ${failed.length} failed (${entries.length} tag(s) pulled through /v2/) at ${serverUrl}`;
  if (failed.length) return reportProblems(failed.map((r) => `${r.name}:${r.version}: ${r.detail} [${r.url}]`), summary);
  process.stderr.write(`${summary}\n`);
}

/** The Console list is a Higress plugins.properties; its problems are reported like pull's. */
function loadConsoleList(file: string) {
  const { entries, problems } = loadInputs({ lists: [file] });
  if (problems.length) {
    reportProblems(problems, `check: ${problems.length} problem(s) in ${file}`);
    return null;
  }
  return entries.filter((e) => !e.aliasOf);
}

export function register(program: Command): void {
  program
    .command('check')
    .description('download every plugin (or a sample) from a running server and verify size and sha256 against its index.json')
    .argument('<server-url>', 'plugin server base URL, e.g. http://127.0.0.1:8080 (kubectl port-forward svc/higress-plugin-server 8080:80)')
    .option('--sample <n>', 'check only n plugins, picked at random', positive)
    .option('--no-gzip', 'ask for the raw file instead of the gzip encoding the gateway asks for')
    .option('--concurrency <n>', 'downloads in flight', positive, 4)
    .option('--console-list <file>', 'also check the URL the Higress Console builds for each plugin of this plugins.properties')
    .option('--console-pattern <pattern>', 'Console URL pattern (default <server-url>/plugins/${name}/${version}/plugin.wasm)')
    .option('--json', 'one JSON result per line on stdout')
    .option('--oci', 'pull every plugin through the OCI API (/v2/plugins/<name>:<version>) instead, checking every digest')
    .action((url: string, opts: Options) => checkCommand(url, opts));
}
