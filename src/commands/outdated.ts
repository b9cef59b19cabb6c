/**
 * `outdated [lists...] [--snapshot S] [--lock L] [--json]`: resolve every `oci://` tag of the inputs
 * now and say, one aligned line per plugin, whether it is unchanged, moved (another digest than the
 * lock or snapshot pins), gone, unloadable by the gateway's fetcher, or has a newer SemVer tag. Exits
 * 0 when nothing moved, vanished or became unloadable (a newer tag alone is 0), 9 (drift) otherwise.
 * Reads only: no blob is downloaded and no file is written.
 */
import { Command, Option } from 'commander';
import { DEFAULT_OUTDATED_CONCURRENCY } from '../contract/concurrency';
import { ErrorArea, errorLine, exitCodesHelp, InputError, PluginServerError } from '../errors';
import { DEFAULT_LOCK, resolveInputs } from '../inputs/resolve';
import { createRegistryClient } from '../oci/client';
import { DRIFT_STATUSES, DriftResult, DRIFTED, DriftStatus, planWatch, watchTags } from '../upstream/outdated';
import { concurrency, insecureRegistryOption, repeatable, seconds } from './copy-options';
import { CliOutput, problemFields } from './output';

interface OutdatedFlags {
  snapshot?: string;
  lock?: string;
  /** The issue's spelling of --lock. */
  lockFile?: string;
  json?: boolean;
  concurrency: number;
  insecureRegistry: string[];
  registryMap: string[];
  timeout: number;
}

const short = (d?: string) => (d ? d.slice(0, 'sha256:'.length + 12) : '-');

/** What follows the source on a plugin's line. */
function detail(r: DriftResult): string {
  const newer = r.newer ? `; newer tag ${r.newer}` : '';
  switch (r.status) {
    case 'unchanged':
    case 'newer':
      return `${short(r.digest)}${newer}`;
    case 'moved':
      return `${short(r.pinned)} -> ${short(r.digest)}${newer}`;
    case 'unloadable':
      return `${r.digest !== r.pinned ? `${short(r.pinned)} -> ` : ''}${short(r.digest)}: ${r.reason ?? ''}${newer}`;
    case 'gone':
      return `${r.reason ?? ''}; the lock pins ${short(r.pinned)}`;
    case 'failed':
      return `${r.problem ? errorLine(r.problem) : 'failed'}${r.problem ? ` [${r.problem.code}]` : ''}`;
  }
}

/** One line per plugin, status and name columns padded to the longest of the run. */
export function renderLines(results: readonly DriftResult[]): string[] {
  const id = (r: DriftResult) => `${r.entry.name}@${r.entry.version}`;
  const statusWidth = Math.max(0, ...results.map((r) => r.status.length));
  const idWidth = Math.max(0, ...results.map((r) => id(r).length));
  const sourceWidth = Math.max(0, ...results.map((r) => r.source.length));
  return results.map((r) =>
    `${r.status.padEnd(statusWidth)}  ${id(r).padEnd(idWidth)}  ${r.source.padEnd(sourceWidth)}  ${detail(r)}`.trimEnd(),
  );
}

export async function outdatedCommand(args: string[], flags: OutdatedFlags): Promise<void> {
  const o = new CliOutput('outdated', Boolean(flags.json));
  const refuse = (problems: unknown[], line: string): void =>
    o.finish({ areas: o.problems(problems), line, counts: { problems: problems.length } });
  if (flags.lock !== undefined && flags.lockFile !== undefined && flags.lock !== flags.lockFile)
    return refuse(
      [
        new InputError({
          code: 'E_LOCK',
          message: `--lock ${flags.lock} and --lock-file ${flags.lockFile} name two lock files`,
          hint: 'give one of them (--lock-file is another spelling of --lock)',
        }),
      ],
      'nothing was checked',
    );
  const started = Date.now();
  let loaded;
  try {
    loaded = await resolveInputs({
      command: 'outdated',
      args,
      snapshot: flags.snapshot,
      lock: flags.lock ?? flags.lockFile,
      registryMap: flags.registryMap,
    });
  } catch (e) {
    return refuse([e], 'nothing was checked');
  }
  const { inputs, problems } = loaded;
  if (!inputs) return refuse(problems, `${problems.length} problem(s) in the inputs; nothing was checked`);

  const plan = planWatch(inputs.entries, inputs.lock);
  if (plan.unpinned.length) {
    const where = inputs.lockName
      ? `in ${inputs.lockName}`
      : `(no --lock given and no ${DEFAULT_LOCK} next to the list)`;
    return refuse(
      plan.unpinned.map(
        (e) =>
          new InputError({
            code: 'E_OUTDATED_BASELINE',
            message: `no digest to compare ${e.name}@${e.version} with: no lock entry ${where}, no snapshot digest, no @sha256: pin`,
            context: { file: e.file, line: e.line || undefined, plugin: e.name, version: e.version },
            hint: `write one with \`pull --write-lock\`, or pass --lock <file>`,
          }),
      ),
      `${plan.unpinned.length} plugin(s) without a pinned digest; nothing was checked`,
    );
  }

  o.event({ event: 'start', command: 'outdated', plugins: plan.watched.length });
  const client = createRegistryClient({ insecureHosts: flags.insecureRegistry, timeoutMs: flags.timeout * 1000 });
  let results: DriftResult[];
  try {
    results = await watchTags({
      entries: inputs.entries,
      lock: inputs.lock,
      registry: client.registry,
      concurrency: flags.concurrency,
      signal: o.closed.signal,
    });
  } catch (e) {
    return refuse([e], 'the check was not finished');
  } finally {
    await client.close();
  }

  const lines = renderLines(results);
  results.forEach((r, i) => {
    o.report(lines[i]);
    o.event({
      ...(r.problem ? problemFields(r.problem) : {}),
      event: 'tag',
      command: 'outdated',
      name: r.entry.name,
      version: r.entry.version,
      source: r.source,
      status: r.status,
      pinned: r.pinned,
      digest: r.digest,
      newer: r.newer,
      reason: r.reason,
    });
  });
  const counts = Object.fromEntries(DRIFT_STATUSES.map((s) => [s, 0])) as Record<DriftStatus, number>;
  for (const r of results) counts[r.status]++;
  const areas: ErrorArea[] = results.flatMap((r) =>
    r.status === 'failed' && r.problem
      ? [r.problem.area]
      : DRIFTED.has(r.status) && r.problem instanceof PluginServerError
        ? [r.problem.area]
        : [],
  );
  // A registry's error names its URL only: the line names the list line and the plugin too.
  for (const r of results.filter((x) => x.status === 'failed' && x.problem)) {
    const e = r.entry;
    const where = `${e.file}${e.line ? `:${e.line}` : ''} ${e.name}@${e.version}`;
    o.human(`error: ${where}: ${(r.problem as PluginServerError).detail()} [${(r.problem as PluginServerError).code}]`);
  }
  const local = plan.local.length ? `; ${plan.local.length} file: plugin(s) not watched` : '';
  const parts = `${results.length} plugin(s): ${DRIFT_STATUSES.map((s) => `${counts[s]} ${s}`).join(', ')}${local}`;
  const drifted = results.some((r) => DRIFTED.has(r.status));
  const verdict = areas.length ? (drifted ? 'drift' : 'failed') : 'ok';
  o.finish({
    areas,
    line: `${verdict}: ${parts}`,
    counts: { plugins: results.length, ...counts, local: plan.local.length },
    ms: Date.now() - started,
  });
}

export function register(program: Command): void {
  program
    .command('outdated')
    .description(
      'resolve every oci:// tag now: unchanged, moved (digest differs from the lock or snapshot), gone, unloadable by the gateway, or newer tag available',
    )
    .argument('[inputs...]', 'plugins.properties files, or one oci-layout:<bundle>')
    .option('--snapshot <file>', 'Higress release snapshot JSON: its digests are the pins')
    .option(
      '--lock <file>',
      `lock file whose digests are the pins (default: ${DEFAULT_LOCK} next to the first list, when there is one); the lists must agree with it`,
    )
    .addOption(new Option('--lock-file <file>', 'another spelling of --lock'))
    .option('--json', 'stdout: one JSON event per line (docs/cli-events.schema.json), a `tag` event per plugin')
    .addOption(
      new Option('--concurrency <n>', 'tags resolved at once')
        .argParser(concurrency)
        .default(DEFAULT_OUTDATED_CONCURRENCY),
    )
    .addOption(insecureRegistryOption())
    .option(
      '--registry-map <src=dst>',
      'read host[/prefix] src from host[/prefix] dst, in lists, lock and snapshot alike (repeatable): watch a mirror',
      repeatable,
      [] as string[],
    )
    .addOption(
      new Option('--timeout <s>', 'seconds a registry may stay silent during one request')
        .argParser(seconds)
        .default(30),
    )
    .addHelpText(
      'after',
      `\nStatuses: unchanged, newer (a higher SemVer tag exists), moved, unloadable (the gateway's fetcher\nrefuses the form), gone, failed (the registry did not answer). Exit 0 unless a tag moved, is gone or\nis unloadable (9) or a registry failed (4).\n\n${exitCodesHelp()}`,
    )
    .action((args: string[], flags: OutdatedFlags) => outdatedCommand(args, flags));
}
