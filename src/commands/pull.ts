/**
 * `pull [lists...] --out <root>`: fetch every plugin of the lists (default image/plugins.properties)
 * and/or a Higress release snapshot into `<root>/plugins/`. Plugins removed from the list stay in
 * the tree unless `--prune` is given (a shared tree may hold versions another list put there).
 */
import { Command, Option } from 'commander';
import * as path from 'path';
import { bundlePullSource, isLayoutArg } from '../airgap/pull-source';
import { diffLock, LockFile } from '../inputs/lock';
import { loadInputs, loadLock } from '../inputs/load';
import { mapEntries, mapLock, parseRegistryMap } from '../inputs/registry-map';
import { sourceText } from '../inputs/types';
import { OciClient, OciClientOptions } from '../oci/types';
import { sourceDateEpoch } from '../pipeline/created';
import { jsonReporter, textReporter } from '../pipeline/progress';
import { runPull } from '../pipeline/pull';
import { reportProblems } from './report';

interface PullFlags {
  out: string;
  snapshot?: string;
  lock?: string | boolean;
  frozen?: boolean;
  keepGoing?: boolean;
  json?: boolean;
  concurrency: number;
  insecureRegistry: string[];
  prune?: boolean;
  gzipLevel: number;
  registryMap: string[];
}

export const DEFAULT_LIST = path.join('image', 'plugins.properties');
export const DEFAULT_LOCK = 'plugins.lock.json';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--concurrency must be an integer from 1 to 64, got "${v}"`);
  return n;
}

function gzipLevel(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`--gzip-level must be an integer from 1 to 9, got "${v}"`);
  return n;
}

export async function pullCommand(lists: string[], flags: PullFlags): Promise<void> {
  const listFiles = lists.length || flags.snapshot ? lists : [DEFAULT_LIST];
  const bundle = lists.some(isLayoutArg) ? await bundlePullSource(lists, flags.snapshot) : undefined;
  const inputs = bundle ?? loadInputs({ lists: listFiles, snapshot: flags.snapshot });
  const inputName = bundle?.name ?? [...listFiles, flags.snapshot].filter(Boolean).join(' + ');
  const registryMap = parseRegistryMap(flags.registryMap);
  inputs.entries = mapEntries(inputs.entries, registryMap);
  if (inputs.problems.length) return reportProblems(inputs.problems, `${inputs.problems.length} problem(s) in ${inputName}; nothing was pulled`);
  if (!inputs.entries.length) return reportProblems([], `no plugins in ${inputName}; nothing was pulled`);

  const base = listFiles.find((l) => !isLayoutArg(l)) ?? flags.snapshot ?? (bundle ? DEFAULT_LOCK : DEFAULT_LIST);
  let lockFile = typeof flags.lock === 'string' ? flags.lock : path.join(path.dirname(base), DEFAULT_LOCK);
  let frozen: LockFile | undefined;
  if (flags.frozen) {
    const fromBundle = bundle?.lock && typeof flags.lock !== 'string';
    const { lock, problems } = fromBundle ? { lock: bundle?.lock, problems: [] } : loadLock(lockFile);
    if (fromBundle) lockFile = bundle?.lockName ?? lockFile;
    const wanted = inputs.entries.map((e) => ({ name: e.name, version: e.version, source: sourceText(e.source), aliasOf: e.aliasOf }));
    const mapped = lock && mapLock(lock, registryMap);
    const all = mapped ? [...problems, ...diffLock(wanted, mapped, lockFile)] : problems;
    if (all.length) return reportProblems(all, `${all.length} problem(s) with ${lockFile} (--frozen); nothing was pulled`);
    frozen = mapped;
  }
  const { createOciClient } = require('../oci/client') as { createOciClient(o: OciClientOptions): OciClient & { close?(): Promise<void> } };
  const client = bundle?.client ?? createOciClient({ insecureHosts: flags.insecureRegistry });
  const result = await runPull({
    root: flags.out,
    entries: inputs.entries,
    client,
    concurrency: flags.concurrency,
    keepGoing: flags.keepGoing,
    prune: flags.prune,
    sourceDateEpoch: sourceDateEpoch(),
    frozen,
    writeLock: flags.lock !== undefined && flags.lock !== false && !flags.frozen ? lockFile : undefined,
    reporter: flags.json ? jsonReporter() : textReporter(),
    gzipLevel: flags.gzipLevel,
  }).finally(() => client.close?.());
  if (!result.ok) {
    reportProblems(result.failed, `${result.failed.length} plugin version(s) failed${flags.keepGoing ? '' : '; the tree was left as it was'}`);
  }
}

export function register(program: Command): void {
  program
    .command('pull')
    .description('pull the plugins of one or more lists (default image/plugins.properties) into <root>/plugins/')
    .argument('[lists...]', 'plugins.properties files; several lists are merged (same name, other tag: another version); oci-layout:<bundle> pulls from a bundle')
    .requiredOption('-o, --out <root>', 'output root (contains plugins/)')
    .option('--snapshot <file>', 'Higress release snapshot JSON (digest-pinned) to pull')
    .option('--lock [file]', `write the resolved digests to a lock file (default: ${DEFAULT_LOCK} next to the first list)`)
    .option('--frozen', 'fail if the list differs from the lock file or a digest moved')
    .option('--keep-going', 'publish what succeeded even when some plugins fail (still exits non-zero)')
    .option('--json', 'one JSON object per event on stdout')
    .addOption(new Option('--concurrency <n>', 'parallel downloads').argParser(positiveInt).default(8))
    .option('--insecure-registry <host>', 'allow plain HTTP to this host[:port] (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--registry-map <src=dst>', 'read host[/prefix] src from host[/prefix] dst, in lists, lock and snapshot alike (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--prune', 'remove version folders that are not in the list')
    .addOption(new Option('--gzip-level <1-9>', 'gzip level of plugin.wasm.gz: 9 is smallest (default); 6 compresses ~3x faster for ~1% more bytes').argParser(gzipLevel).default(9))
    .action((lists: string[], flags: PullFlags) => pullCommand(lists, flags));
}
