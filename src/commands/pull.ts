/**
 * `pull [lists...] --out <root>`: fetch every plugin of the lists (default image/plugins.properties)
 * and/or a Higress release snapshot into `<root>/plugins/`. Plugins removed from the list stay in
 * the tree unless `--prune` is given (a shared tree may hold versions another list put there).
 *
 * Files this command writes besides the tree (the lock file) are checked before anything is
 * downloaded: an existing file must be a lock file this tool wrote, and its folder must be writable.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { BundlePullSource, bundlePullSource, isLayoutArg } from '../airgap/pull-source';
import { sourceDateEpoch } from '../contract/created';
import { DEFAULT_GZIP_LEVEL, GzipLevel, parseGzipLevel } from '../contract/gzip-level';
import { ErrorArea, exitCodesHelp, fromFsError, InputError, PluginServerError, RegistryError } from '../errors';
import { diffLock, LockFile, parseLock } from '../inputs/lock';
import { loadInputs, loadLock } from '../inputs/load';
import { mapEntries, mapLock, parseRegistryMap, RegistryMapping } from '../inputs/registry-map';
import { PluginEntry, sourceText } from '../inputs/types';
import type * as OciClientModule from '../oci/client';
import { PluginEvent, textReporter } from '../pipeline/progress';
import { runPull } from '../pipeline/pull';
import { listVersionDirs, readMetadata } from '../tree/read';
import { concurrency, repeatable } from './copy-options';
import { CliOutput, problemFields } from './output';

interface PullFlags {
  out: string;
  snapshot?: string;
  lock?: boolean;
  lockFile?: string;
  frozen?: boolean;
  keepGoing?: boolean;
  json?: boolean;
  concurrency: number;
  insecureRegistry: string[];
  prune?: boolean;
  dryRun?: boolean;
  gzipLevel: GzipLevel;
  timeout: number;
  deadline?: number;
  /** commander's negation of --no-wait. */
  wait: boolean;
  registryMap: string[];
}

export const DEFAULT_LIST = path.join('image', 'plugins.properties');
export const DEFAULT_LOCK = 'plugins.lock.json';

function gzipLevel(v: string): GzipLevel {
  try {
    return parseGzipLevel(v);
  } catch {
    throw new InvalidArgumentError(`--gzip-level must be an integer from 1 to 9, got "${v}"`);
  }
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number of seconds above 0, got "${v}"`);
  return n;
}

/**
 * The lock path may be written only when it does not exist or holds a lock file this tool wrote, and
 * only when its folder is writable; checked before any download so a refusal costs nothing.
 */
export function assertLockWritable(file: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(e, file);
  }
  if (st?.isDirectory()) throw fromFsError(Object.assign(new Error('is a directory'), { code: 'EISDIR', path: file }));
  if (st) {
    const { problems } = parseLock(fs.readFileSync(file, 'utf8'), file);
    if (problems.length) {
      throw new InputError({
        code: 'E_OUTPUT_NOT_OURS',
        message: `${file} exists and is not a lock file written by this tool; it was left unchanged`,
        context: { path: file },
        hint: 'give the lock file its own path with --lock-file <path>, or move the file away',
      });
    }
  }
  try {
    fs.accessSync(path.dirname(path.resolve(file)), fs.constants.W_OK);
    if (st) fs.accessSync(file, fs.constants.W_OK);
  } catch (e) {
    // Name the lock file, not only its folder: that is the path the user gave.
    throw fromFsError(Object.assign(e as NodeJS.ErrnoException, { path: file }), file);
  }
}

/** Version folders `--prune` would remove: not in the lists, and not a spec.yaml alias of a listed version. */
async function pruneCandidates(root: string, entries: PluginEntry[]): Promise<string[]> {
  const wanted = new Set(entries.map((e) => `${e.name}/${e.version}`));
  const out: string[] = [];
  for (const v of await listVersionDirs(root)) {
    const id = `${v.name}/${v.version}`;
    if (wanted.has(id)) continue;
    const m = await readMetadata(v.dir);
    if (m?.aliasOf && wanted.has(`${v.name}/${m.aliasOf}`) && !entries.some((e) => e.name === v.name && e.aliasOf))
      continue;
    out.push(id);
  }
  return out;
}

function pluginEvent(o: CliOutput, e: PluginEvent): void {
  const status = e.status === 'copied' || e.status === 'aliased' ? 'downloaded' : e.status;
  // Problem fields first: the event's own name and version win over the error's (often empty) context.
  o.event({
    ...(e.error ? problemFields(e.error) : {}),
    event: 'plugin',
    command: 'pull',
    name: e.name,
    version: e.version,
    status,
    size: e.size,
    ms: e.ms,
    aliasOf: e.aliasOf,
  });
}

export async function pullCommand(lists: string[], flags: PullFlags): Promise<void> {
  const o = new CliOutput('pull', Boolean(flags.json));
  const listFiles = lists.length || flags.snapshot ? lists : [DEFAULT_LIST];
  let inputName = [...listFiles, flags.snapshot].filter(Boolean).join(' + ');
  const refuse = (problems: unknown[], line: string): void =>
    o.finish({ areas: o.problems(problems), line, counts: { problems: problems.length } });
  let inputs;
  let bundle: BundlePullSource | undefined;
  let registryMap: RegistryMapping[];
  try {
    registryMap = parseRegistryMap(flags.registryMap);
    // oci-layout:<bundle>: the bundle's own lists (or the lists given) are pulled from the bundle, offline.
    bundle = lists.some(isLayoutArg) ? await bundlePullSource(lists, flags.snapshot) : undefined;
    inputs = bundle ?? loadInputs({ lists: listFiles, snapshot: flags.snapshot });
    inputName = bundle?.name ?? inputName;
    inputs.entries = mapEntries(inputs.entries, registryMap);
  } catch (e) {
    return refuse([e], `${inputName}: nothing was pulled`);
  }
  if (inputs.problems.length)
    return refuse(inputs.problems, `${inputs.problems.length} problem(s) in ${inputName}; nothing was pulled`);
  if (!inputs.entries.length)
    return refuse(
      [
        new InputError({
          code: 'E_PROPERTIES_SYNTAX',
          message: `no plugins in ${inputName}`,
          hint: 'add a line name=oci://host/repository:tag',
        }),
      ],
      'nothing was pulled',
    );

  const base = listFiles.find((l) => !isLayoutArg(l)) ?? flags.snapshot ?? (bundle ? DEFAULT_LOCK : DEFAULT_LIST);
  // With a bundle, --frozen checks the lock inside it unless --lock-file names another.
  const bundleLock = flags.frozen && bundle?.lock && flags.lockFile === undefined ? bundle : undefined;
  const lockFile = flags.lockFile ?? bundleLock?.lockName ?? path.join(path.dirname(base), DEFAULT_LOCK);
  const writeLock = (flags.lock || flags.lockFile !== undefined) && !flags.frozen ? lockFile : undefined;
  let frozen: LockFile | undefined;
  try {
    if (writeLock) assertLockWritable(writeLock);
    if (fs.existsSync(flags.out) && !fs.statSync(flags.out).isDirectory())
      throw fromFsError(Object.assign(new Error('not a directory'), { code: 'ENOTDIR', path: flags.out }));
  } catch (e) {
    return refuse([e], 'nothing was pulled');
  }
  if (flags.frozen) {
    const { lock: read, problems } = bundleLock ? { lock: bundleLock.lock, problems: [] } : loadLock(lockFile);
    // The lock names the hosts it was made against: --registry-map moves them like the list's.
    const lock = read && mapLock(read, registryMap);
    const wanted = inputs.entries.map((e) => ({
      name: e.name,
      version: e.version,
      source: sourceText(e.source),
      aliasOf: e.aliasOf,
    }));
    const all = lock ? [...problems, ...diffLock(wanted, lock, lockFile)] : problems;
    if (all.length) return refuse(all, `${all.length} problem(s) with ${lockFile} (--frozen); nothing was pulled`);
    frozen = lock;
  }
  if (flags.dryRun) {
    const gone = flags.prune ? await pruneCandidates(path.resolve(flags.out), inputs.entries) : [];
    for (const id of gone) {
      const [name, version] = id.split('/') as [string, string];
      o.human(`would prune ${name}@${version}`);
      o.event({ event: 'plugin', command: 'pull', name, version, status: 'would-prune' });
    }
    return o.finish({
      areas: [],
      line: `dry run: ${inputs.entries.length} plugin version(s) listed, ${gone.length} version folder(s) would be pruned; nothing was changed`,
      counts: { listed: inputs.entries.length, wouldPrune: gone.length },
    });
  }

  // Loaded here, not imported: a dry run or a bad list never loads the HTTP stack.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy, see above
  const { createOciClient } = require('../oci/client') as typeof OciClientModule;
  const client =
    bundle?.client ?? createOciClient({ insecureHosts: flags.insecureRegistry, timeoutMs: flags.timeout * 1000 });
  const stop = new AbortController();
  const onClosed = () => stop.abort(o.closed.signal.reason);
  o.closed.signal.addEventListener('abort', onClosed);
  const deadline = flags.deadline
    ? setTimeout(
        () =>
          stop.abort(
            new RegistryError({
              code: 'E_DEADLINE',
              message: `pull did not finish within --deadline ${flags.deadline} s`,
              hint: 'raise --deadline or pull fewer plugins per run',
            }),
          ),
        flags.deadline * 1000,
      )
    : undefined;
  const text = textReporter(process.stderr, bundle ? 'unbundled' : 'downloaded');
  o.event({
    event: 'start',
    command: 'pull',
    plugins: inputs.entries.length,
    sources: new Set(inputs.entries.map((e) => sourceText(e.source))).size,
  });
  try {
    const result = await runPull({
      root: flags.out,
      entries: inputs.entries,
      client,
      concurrency: flags.concurrency,
      keepGoing: flags.keepGoing,
      prune: flags.prune,
      sourceDateEpoch: sourceDateEpoch(),
      frozen,
      writeLock,
      reporter: {
        emit: (e) => {
          text.emit(e);
          if (e.event === 'plugin') pluginEvent(o, e);
        },
      },
      gzipLevel: flags.gzipLevel,
      signal: stop.signal,
      lock: {
        wait: flags.wait !== false,
        onWait: (h, file) =>
          o.human(`waiting: ${flags.out} is in use by pid ${h.pid} (since ${h.since}); the lock is ${file}`),
      },
    });
    text.clear();
    const c = result.counts;
    const total = c.downloaded + c.copied + c.aliased + c.cached + c.failed;
    const parts = `${total} plugin version(s): ${c.downloaded} ${bundle ? 'read from the bundle' : 'downloaded'}, ${c.copied} copied from files, ${c.aliased} aliases, ${c.cached} cached, ${c.failed} failed${c.pruned ? `, ${c.pruned} pruned` : ''} in ${(result.ms / 1000).toFixed(1)} s`;
    const areas: ErrorArea[] = result.failed.map((f) => f.error.area);
    const succeeded = result.published + result.cached > 0;
    const tail = result.ok ? '' : flags.keepGoing ? '; the rest was published' : '; the tree was left as it was';
    o.finish({
      areas,
      partial: Boolean(flags.keepGoing && succeeded),
      line: `${result.ok ? 'ok' : 'failed'}: ${parts}${tail}${writeLock && result.ok ? `; lock written to ${writeLock}` : ''}`,
      counts: { ...c, total },
      ms: result.ms,
    });
  } catch (e) {
    text.clear();
    return refuse([e instanceof PluginServerError ? e : fromFsError(e)], 'nothing was published');
  } finally {
    if (deadline) clearTimeout(deadline);
    o.closed.signal.removeEventListener('abort', onClosed);
    await client.close?.();
  }
}

export function register(program: Command): void {
  program
    .command('pull')
    .description('pull the plugins of one or more lists (default image/plugins.properties) into <root>/plugins/')
    .argument(
      '[lists...]',
      'plugins.properties files; several lists are merged (same name, other tag: another version); oci-layout:<bundle> pulls from a bundle, offline',
    )
    .requiredOption('-o, --out <root>', 'output root (contains plugins/)')
    .option('--snapshot <file>', 'Higress release snapshot JSON (digest-pinned) to pull')
    .option(
      '--lock',
      `write the resolved digests to a lock file (${DEFAULT_LOCK} next to the first list, or --lock-file)`,
    )
    .option(
      '--lock-file <path>',
      `the lock file to write (implies --lock) or, with --frozen, to check against (default: ${DEFAULT_LOCK} next to the first list)`,
    )
    .option('--frozen', 'fail if the list differs from the lock file or a digest moved')
    .option('--keep-going', `publish what succeeded even when some plugins fail (exits 8 when some succeeded)`)
    .option('--json', 'stdout: one JSON event per line (docs/cli-events.schema.json); human lines stay on stderr')
    .addOption(new Option('--concurrency <n>', 'parallel downloads').argParser(concurrency).default(8))
    .option(
      '--insecure-registry <host>',
      'allow plain HTTP to this host[:port] (repeatable)',
      repeatable,
      [] as string[],
    )
    .option(
      '--registry-map <src=dst>',
      'read host[/prefix] src from host[/prefix] dst, in lists, lock and snapshot alike (repeatable)',
      repeatable,
      [] as string[],
    )
    .option('--prune', 'remove version folders that are not in the list (each removal is listed)')
    .option('--dry-run', 'change nothing: with --prune, list the folders that would be removed')
    .addOption(
      new Option(
        '--gzip-level <1-9>',
        'gzip level of plugin.wasm.gz: 6 (default) compresses ~2.5x faster than 9 for ~0.8% more bytes',
      )
        .argParser(gzipLevel)
        .default(DEFAULT_GZIP_LEVEL),
    )
    .addOption(
      new Option('--timeout <s>', 'seconds a registry may stay silent during one request before it is retried')
        .argParser(seconds)
        .default(30),
    )
    .option(
      '--no-wait',
      'fail at once (exit 7, E_TREE_LOCKED) if another run holds the output folder, instead of waiting',
    )
    .addOption(
      new Option('--deadline <s>', 'seconds the whole pull may take; plugins not staged by then fail').argParser(
        seconds,
      ),
    )
    .addHelpText('after', `\n${exitCodesHelp()}`)
    .action((lists: string[], flags: PullFlags, cmd: Command) => {
      // A bundle holds its plugins under the names it was made with; a map would look for others there.
      if (flags.registryMap.length && lists.some(isLayoutArg)) {
        cmd.error(
          'error: --registry-map does not apply to an oci-layout: source (a bundle keeps the registry names it was made with); leave it out, or mirror the bundle and pull from the mirror with it',
          { code: 'commander.conflictingOption', exitCode: 2 },
        );
      }
      return pullCommand(lists, flags);
    });
}
