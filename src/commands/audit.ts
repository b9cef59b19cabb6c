/** `audit`: does a running Higress get every plugin it asks for from the plugin server? */
import { Command } from 'commander';
import { exitCodesHelp, VerifyError } from '../errors';
import { loadIndex } from '../higress/server-index';
import { readConsoleList } from './console-list';
import { readAsks } from '../cluster/asks';
import { audit, consolePluginsOf, ConsolePlugin, UrlResult } from '../cluster/audit';
import { connect } from '../cluster/kube';
import { addClusterOptions, ClusterOptions } from './cluster-options';
import { CliOutput } from './output';

interface Options extends ClusterOptions {
  requireLocal?: boolean;
  consoleList?: string;
}

function resultLine(r: UrlResult): string {
  const tag = r.status === 'failed' ? 'FAILED  ' : r.status === 'external' ? 'external' : 'ok      ';
  return `${tag} ${r.object} ${r.url || '(no url)'}: ${r.why}${r.fix && r.status !== 'ok' ? ` (${r.fix})` : ''}`;
}

export async function auditCommand(opts: Options): Promise<void> {
  const o = new CliOutput('audit', Boolean(opts.json));
  let asks;
  let consolePlugins: ConsolePlugin[];
  try {
    if (opts.consoleList) {
      const entries = readConsoleList(o, opts.consoleList);
      if (!entries) return;
      consolePlugins = consolePluginsOf(entries);
    } else consolePlugins = consolePluginsOf((await loadIndex(opts.server)).plugins);
    const kube = await connect(opts);
    asks = await readAsks(kube, opts.namespace);
  } catch (e) {
    return o.finish({ areas: o.problems([e]), line: 'audit: nothing was audited', counts: { problems: 1 } });
  }
  if (!asks.console) o.human(`audit: no higress-console Deployment in ${opts.namespace}: the Console was not checked`);
  if (!asks.controller)
    o.human(`audit: no higress-controller Deployment in ${opts.namespace}: the controller was not checked`);
  const results = await audit(asks, {
    serverUrl: opts.server,
    serviceUrl: opts.serviceUrl,
    requireLocal: Boolean(opts.requireLocal),
    consolePlugins,
    onResult: (r) => {
      if (r.status !== 'ok') o.report(resultLine(r));
      const problem =
        r.status === 'failed'
          ? new VerifyError({
              code: r.external ? 'E_AUDIT_EXTERNAL' : 'E_AUDIT_FAILED',
              message: r.why,
              hint: r.fix,
              context: { url: r.url },
            })
          : undefined;
      o.event({
        event: 'url',
        command: 'audit',
        object: r.object,
        url: r.url,
        status: r.status,
        ...(r.sha256 ? { sha256: r.sha256 } : {}),
        ...(problem ? { code: problem.code, message: problem.message, hint: problem.hint } : { message: r.why }),
      });
    },
  });
  const count = (s: UrlResult['status']) => results.filter((r) => r.status === s).length;
  const failed = count('failed');
  o.finish({
    areas: failed ? ['verify'] : [],
    line: `audit: ${results.length} URL(s): ${count('ok')} ok, ${count('external')} external, ${failed} failed (${asks.wasmPlugins.length} WasmPlugin(s)${asks.console ? ', the Console' : ''}${asks.controller ? ', the controller' : ''}) against ${opts.server}`,
    counts: {
      urls: results.length,
      ok: count('ok'),
      external: count('external'),
      failed,
      wasmPlugins: asks.wasmPlugins.length,
    },
  });
}

export function register(program: Command): void {
  addClusterOptions(
    program
      .command('audit')
      .description(
        'check every plugin URL a running Higress asks for (WasmPlugins in every namespace, the Console pattern, the controller MCP server URL) against the plugin server',
      ),
  )
    .option('--require-local', 'count URLs outside the plugin server (oci://, other hosts) as failures')
    .option(
      '--console-list <file>',
      "the plugins.properties of the Console's plugins (default: every plugin of the server's index)",
    )
    .addHelpText('after', `\n${exitCodesHelp()}`)
    .action((opts: Options) => auditCommand(opts));
}
