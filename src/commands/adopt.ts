/** `adopt`: move a running Higress onto the plugin server (and `--revert` back), all or nothing. */
import { Command } from 'commander';
import { exitCodesHelp } from '../errors';
import { parseRegistryMap } from '../inputs/registry-map';
import { loadIndex } from '../higress/server-index';
import { ADOPT_RECORD_NAME } from '../contract/adopt-rbac';
import { DEFAULT_NAMESPACE } from '../contract/service';
import { readAsks, serviceNamespace } from '../cluster/asks';
import { applyPlan, FieldChange, missingError, planAdopt, renderDiff, revert } from '../cluster/adopt';
import { connect } from '../cluster/kube';
import { addClusterOptions, ClusterOptions } from './cluster-options';
import { CliOutput } from './output';

interface Options extends ClusterOptions {
  dryRun?: boolean;
  skipMissing?: boolean;
  oci?: boolean;
  revert?: boolean;
  registryMap: string[];
  recordNamespace?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function changeFields(c: FieldChange): { from?: string; to?: string } {
  return { ...(c.from !== undefined ? { from: c.from } : {}), ...(c.to !== undefined ? { to: c.to } : {}) };
}

async function revertCommand(o: CliOutput, opts: Options, recordNamespace: string): Promise<void> {
  let restored = 0;
  let objects = 0;
  try {
    const kube = await connect(opts);
    restored = await revert(kube, recordNamespace, Boolean(opts.dryRun), (step) => {
      objects++;
      if (step.skipped) o.human(`adopt --revert: ${step.object}: ${step.skipped}, nothing restored`);
      for (const c of step.changes) {
        o.report(`${opts.dryRun ? 'would restore' : 'restored'} ${step.object} ${c.field}: ${c.to ?? '(unset)'}`);
        o.event({
          event: 'change',
          command: 'adopt',
          object: step.object,
          field: c.field,
          status: opts.dryRun ? 'planned' : 'reverted',
          ...changeFields(c),
        });
      }
    });
  } catch (e) {
    return o.finish({ areas: o.problems([e]), line: 'adopt --revert: stopped', counts: { restored } });
  }
  o.finish({
    areas: [],
    line: opts.dryRun
      ? `adopt --revert --dry-run: would restore ${restored} field(s) of ${objects} object(s); nothing was written`
      : `adopt --revert: restored ${restored} field(s) of ${objects} object(s); removed ConfigMap ${recordNamespace}/${ADOPT_RECORD_NAME}`,
    counts: { restored, objects },
  });
}

export async function adoptCommand(opts: Options): Promise<void> {
  const o = new CliOutput('adopt', Boolean(opts.json));
  const recordNamespace = opts.recordNamespace ?? serviceNamespace(opts.serviceUrl) ?? DEFAULT_NAMESPACE;
  if (opts.revert) return revertCommand(o, opts, recordNamespace);
  let plan;
  let kube;
  try {
    const registryMap = parseRegistryMap(opts.registryMap);
    const index = await loadIndex(opts.server);
    kube = await connect(opts);
    const asks = await readAsks(kube, opts.namespace);
    plan = await planAdopt(asks, {
      serverUrl: opts.server,
      serviceUrl: opts.serviceUrl,
      index,
      registryMap,
      oci: Boolean(opts.oci),
    });
  } catch (e) {
    return o.finish({ areas: o.problems([e]), line: 'adopt: nothing was changed', counts: { problems: 1 } });
  }
  for (const u of plan.unchanged) {
    o.event({ event: 'change', command: 'adopt', object: u.object, field: '*', status: 'unchanged', message: u.why });
  }
  const missing = missingError(plan.missing);
  for (const m of plan.missing) {
    o.report(`missing ${m.object} ${m.url}: ${m.why}`);
    o.event({
      event: 'change',
      command: 'adopt',
      object: m.object,
      field: m.field,
      from: m.url,
      status: 'missing',
      code: 'E_ADOPT_MISSING',
      message: m.why,
      hint: missing.hint,
    });
  }
  const counts = () => ({
    objects: plan.objects.length,
    fields: plan.objects.reduce((n, p) => n + p.changes.length, 0),
    unchanged: plan.unchanged.length,
    missing: plan.missing.length,
  });
  if (plan.missing.length && !opts.skipMissing) {
    return o.finish({
      areas: o.problems([missing]),
      line: `adopt: ${plan.missing.length} source(s) not on the server; nothing was changed`,
      counts: counts(),
    });
  }
  const planned = (status: 'planned' | 'applied') => (p: (typeof plan.objects)[number]) => {
    for (const c of p.changes)
      o.event({ event: 'change', command: 'adopt', object: p.object, field: c.field, status, ...changeFields(c) });
  };
  if (opts.dryRun) {
    if (plan.objects.length) for (const line of renderDiff(plan).split('\n')) o.report(line);
    plan.objects.forEach(planned('planned'));
    return o.finish({
      areas: [],
      line: `adopt --dry-run: would change ${counts().fields} field(s) of ${plan.objects.length} object(s) (${plan.unchanged.length} left as they are${plan.missing.length ? `, ${plan.missing.length} missing skipped` : ''}); nothing was written`,
      counts: counts(),
    });
  }
  try {
    await applyPlan(kube, plan, recordNamespace, opts.serviceUrl, (p) => {
      for (const c of p.changes) o.report(`adopted ${p.object} ${c.field}: ${c.to ?? '(unset)'}`);
      planned('applied')(p);
    });
  } catch (e) {
    return o.finish({ areas: o.problems([e]), line: 'adopt: stopped', counts: counts() });
  }
  o.finish({
    areas: [],
    line: plan.objects.length
      ? `adopt: changed ${counts().fields} field(s) of ${plan.objects.length} object(s) (${plan.unchanged.length} left as they are${plan.missing.length ? `, ${plan.missing.length} missing skipped` : ''}); originals in ConfigMap ${recordNamespace}/${ADOPT_RECORD_NAME}`
      : `adopt: nothing to change (${plan.unchanged.length} object(s) already as wanted or left as they are)`,
    counts: counts(),
  });
}

export function register(program: Command): void {
  addClusterOptions(
    program
      .command('adopt')
      .description(
        "point every WasmPlugin whose oci:// source the server holds, the Console's URL pattern and the controller's MCP server URL at the plugin server, pinned by sha256; all or nothing",
      ),
  )
    .option('--dry-run', 'print the plan as a diff and write nothing')
    .option(
      '--skip-missing',
      'adopt what the server holds and leave the rest as it is (by default any missing source changes nothing)',
    )
    .option(
      '--oci',
      "use the server's OCI view (oci://<service host>/plugins/<name>:<version>, sha256 = manifest digest)",
    )
    .option('--revert', 'restore every field adopt changed from its record, and remove the record')
    .option(
      '--registry-map <src=dst>',
      'match oci:// sources pulled through a mirror: host[/prefix] rewrites, as for pull (repeatable)',
      collect,
      [],
    )
    .option(
      '--record-namespace <ns>',
      "namespace of the adopt record ConfigMap (default: the --service-url's namespace, else higress-system)",
    )
    .addHelpText('after', `\n${exitCodesHelp()}`)
    .action((opts: Options) => adoptCommand(opts));
}
