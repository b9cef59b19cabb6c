/**
 * `pull [lists...] --out <root>`: fetch every plugin of the lists (default image/plugins.properties)
 * and/or a Higress release snapshot into `<root>/plugins/`. Plugins removed from the list stay in
 * the tree unless `--prune` is given (a shared tree may hold versions another list put there).
 *
 * The inputs come from the one input path (src/inputs/resolve.ts): `--lock <file>` reads a lock (as in
 * `bundle` and `mirror`), `--write-lock [file]` writes one; planLockFlags maps the older spellings.
 *
 * Files this command writes besides the tree (the lock file) are checked before anything is
 * downloaded: an existing file must be a lock file this tool wrote, and its folder must be writable.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { sourceDateEpoch } from '../contract/created';
import { DEFAULT_GZIP_LEVEL, GzipLevel, parseGzipLevel } from '../contract/gzip-level';
import { ErrorArea, exitCodesHelp, fromFsError, InputError, PluginServerError, RegistryError } from '../errors';
import { SNAPSHOT_MEDIA_TYPE } from '../inputs/bundle-format';
import { MAX_INPUT_BYTES } from '../inputs/load';
import { parseLock } from '../inputs/lock';
import { DEFAULT_LIST, DEFAULT_LOCK, pullClient, resolveInputs } from '../inputs/resolve';
import { sourceText } from '../inputs/types';
import { layoutPath } from '../oci/layout/layout';
import { PluginEvent, textReporter } from '../pipeline/progress';
import { pruneCandidates } from '../pipeline/prune';
import { runPull } from '../pipeline/pull';
import { concurrency, insecureRegistryOption, repeatable, seconds } from './copy-options';
import { watchInterrupts } from './interrupt';
import { CliOutput, problemFields } from './output';
import { DEFAULT_PULL_CONCURRENCY } from '../contract/concurrency';

interface PullFlags {
  out: string;
  snapshot?: string;
  unmanagedLock?: string;
  snapshotSha256?: string;
  /** `--lock [file]`: a file reads a lock; no value is the deprecated "write a lock". */
  lock?: string | true;
  /** `--write-lock [file]`: true writes plugins.lock.json next to the first list. */
  writeLock?: string | true;
  /** Deprecated: `--lock` (with --frozen) or `--write-lock`. */
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
  minRate: number;
  deadline?: number;
  /** commander's negation of --no-wait. */
  wait: boolean;
  registryMap: string[];
}

export { DEFAULT_LIST, DEFAULT_LOCK };

function gzipLevel(v: string): GzipLevel {
  try {
    return parseGzipLevel(v);
  } catch {
    throw new InvalidArgumentError(`--gzip-level must be an integer from 1 to 9, got "${v}"`);
  }
}

function bytesPerSecond(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`expected bytes per second (0 or more), got "${v}"`);
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
        hint: 'give the lock file its own path with --write-lock <path>, or move the file away',
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

/** The lock flags after the deprecated spellings were read: what to read, what to write, what to say. */
export interface LockPlan {
  lists: string[];
  /** A lock to read: the lists must agree with it and every digest must match. */
  read?: string;
  /** A lock to write after a successful run; true: plugins.lock.json next to the first list. */
  write?: string | true;
  /** One line per deprecated spelling used, saying what to write instead. */
  notices: string[];
}

/**
 * `--lock <file>` reads a lock and `--write-lock [file]` writes one, as in `bundle` and `mirror`. The
 * spellings of before keep their meaning, each with one line saying what to use instead:
 *   --lock (no value)          wrote plugins.lock.json next to the first list: --write-lock
 *   --lock <list>              the old flag followed by a list (`oci-layout:`, `.properties`, or a file
 *                              that is not JSON): the list is read and a lock written next to it:
 *                              <list> --write-lock
 *   --lock <file> (no file there yet, without --frozen)  a lock is written there: --write-lock <file>
 *   --lock-file <file>         with --frozen read (against the lists, default image/plugins.properties),
 *                              otherwise written: --lock <file> / --write-lock <file>
 * Under --frozen the old spellings never wrote a lock, and still do not.
 */
export function planLockFlags(
  lists: string[],
  flags: Pick<PullFlags, 'lock' | 'writeLock' | 'lockFile' | 'frozen' | 'snapshot'>,
): LockPlan {
  const plan: LockPlan = { lists, notices: [], write: flags.writeLock };
  const frozen = Boolean(flags.frozen);
  if (flags.lockFile !== undefined) {
    if (frozen) {
      plan.read = flags.lockFile;
      // As before: the default list is checked against it (a --lock given alone is the input itself).
      if (!lists.length && !flags.snapshot) plan.lists = [DEFAULT_LIST];
    } else plan.write ??= flags.lockFile;
    plan.notices.push(
      `warning: --lock-file is deprecated: use ${frozen ? `--lock ${flags.lockFile} (reads a lock)` : `--write-lock ${flags.lockFile} (writes a lock)`}`,
    );
  }
  if (flags.lock === true) {
    if (!frozen) plan.write ??= true;
    plan.notices.push(
      `warning: --lock without a file is deprecated: use --write-lock to write ${DEFAULT_LOCK} next to the first list (--lock <file> reads a lock)`,
    );
  } else if (typeof flags.lock === 'string') {
    const file = flags.lock;
    const kind = lockArgKind(file);
    if (kind === 'missing' && !frozen) {
      plan.write ??= file;
      plan.notices.push(
        `warning: --lock <file> reads a lock now; ${file} does not exist, so the lock is written there as before: use --write-lock ${file}`,
      );
    } else if (kind === 'list') {
      plan.lists = [file, ...lists];
      if (!frozen) plan.write ??= true;
      plan.notices.push(
        `warning: ${file} is not a lock file, so it is read as a plugin list${frozen ? '' : ` and ${DEFAULT_LOCK} is written next to it`}, as before: write \`pull ${file}${frozen ? '' : ' --write-lock'}\` (--lock <file> reads a lock)`,
      );
    } else plan.read = file;
  }
  return plan;
}

/**
 * What `--lock <value>` names: a plugin list or a bundle (the old flag followed by a list: an
 * `oci-layout:` argument, a `.properties` path, or a file that is not JSON), nothing yet, or a lock.
 */
function lockArgKind(file: string): 'missing' | 'list' | 'lock' {
  if (layoutPath(file) !== undefined || file.endsWith('.properties')) return 'list';
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile() || st.size > MAX_INPUT_BYTES) return 'lock'; // the resolver names the problem
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'lock';
  }
  try {
    JSON.parse(text);
    return 'lock';
  } catch {
    return 'list';
  }
}

export async function pullCommand(args: string[], flags: PullFlags): Promise<void> {
  const o = new CliOutput('pull', Boolean(flags.json));
  const plan = planLockFlags(args, flags);
  for (const line of plan.notices) o.human(line);
  const frozen = Boolean(flags.frozen || plan.read);
  const refuse = (problems: unknown[], line: string): void =>
    o.finish({ areas: o.problems(problems), line, counts: { problems: problems.length } });
  const { inputs, problems } = await resolveInputs({
    command: 'pull',
    args: plan.lists,
    snapshot: flags.snapshot,
    lock: plan.read,
    frozen,
    registryMap: flags.registryMap,
    unmanagedLock: flags.unmanagedLock,
    snapshotSha256: flags.snapshotSha256,
  });
  if (!inputs) {
    const name = [...plan.lists, flags.snapshot, plan.read].filter(Boolean).join(' + ') || DEFAULT_LIST;
    const against = frozen ? ` (--frozen against ${plan.read ?? 'the lock'})` : '';
    return refuse(problems, `${problems.length} problem(s) in ${name}${against}; nothing was pulled`);
  }
  const writeLock = plan.write === true ? inputs.defaultLockPath : plan.write;
  try {
    if (writeLock) assertLockWritable(writeLock);
    if (fs.existsSync(flags.out) && !fs.statSync(flags.out).isDirectory())
      throw fromFsError(Object.assign(new Error('not a directory'), { code: 'ENOTDIR', path: flags.out }));
  } catch (e) {
    return refuse([e], 'nothing was pulled');
  }
  if (flags.dryRun) {
    const gone = flags.prune ? await pruneCandidates(path.resolve(flags.out), inputs.entries) : [];
    for (const { name, version } of gone) {
      o.human(`would prune ${name}@${version}`);
      o.event({ event: 'plugin', command: 'pull', name, version, status: 'would-prune' });
    }
    return o.finish({
      areas: [],
      line: `dry run: ${inputs.entries.length} plugin version(s) listed, ${gone.length} version folder(s) would be pruned; nothing was changed`,
      counts: { listed: inputs.entries.length, wouldPrune: gone.length },
    });
  }

  const client = pullClient(inputs, {
    insecureHosts: flags.insecureRegistry,
    timeoutMs: flags.timeout * 1000,
    minRate: { bytesPerSecond: flags.minRate },
  });
  const stop = new AbortController();
  const onClosed = () => stop.abort(o.closed.signal.reason);
  o.closed.signal.addEventListener('abort', onClosed);
  // Ctrl-C / SIGTERM stop staging like --deadline: the tree is left as it was, exit 130.
  const interrupts = watchInterrupts(o);
  const onInterrupt = () => stop.abort(interrupts.signal.reason);
  interrupts.signal.addEventListener('abort', onInterrupt);
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
  const text = textReporter(process.stderr, inputs.layout ? 'unbundled' : 'downloaded');
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
      frozen: inputs.lock,
      writeLock,
      wasmPins: inputs.snapshotBuild?.wasmPins,
      inventory: inputs.snapshotBuild?.inventory,
      sameBytes: inputs.snapshotBuild?.sameBytes,
      snapshotSha256: snapshotSha256(inputs.files),
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
    const parts = `${total} plugin version(s): ${c.downloaded} ${inputs.layout ? 'read from the bundle' : 'downloaded'}, ${c.copied} copied from files, ${c.aliased} aliases, ${c.cached} cached, ${c.failed} failed${c.pruned ? `, ${c.pruned} pruned` : ''} in ${(result.ms / 1000).toFixed(1)} s`;
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
    interrupts.signal.removeEventListener('abort', onInterrupt);
    await interrupts.done();
    await client.close?.();
  }
}

/** The sha256 of the release snapshot read (a --snapshot file or a bundle's), for build-info.json. */
function snapshotSha256(files: { mediaType: string; bytes: Buffer }[]): string | null {
  const snapshot = files.find((f) => f.mediaType === SNAPSHOT_MEDIA_TYPE);
  return snapshot ? crypto.createHash('sha256').update(snapshot.bytes).digest('hex') : null;
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
    .option(
      '--snapshot <file>',
      'Higress release snapshot JSON (digest-pinned) to pull; writes plugins/snapshot-inventory.json',
    )
    .option(
      '--unmanaged-lock <file>',
      "with --snapshot: upstream's unmanaged-plugins.lock.json, pinning the first list's entries the snapshot does not manage (digest and wasmSha256)",
    )
    .option(
      '--snapshot-sha256 <hex>',
      "with --snapshot: the snapshot's published sha256; any other file is refused before anything is read from it",
    )
    .option(
      '--lock [file]',
      `read this lock file: the lists must agree with it and every digest must match (as --frozen); alone, pull exactly its digests. Without a file: deprecated spelling of --write-lock`,
    )
    .option(
      '--write-lock [file]',
      `write the resolved digests to a lock file after a successful run (default: ${DEFAULT_LOCK} next to the first list)`,
    )
    .addOption(
      new Option(
        '--lock-file <path>',
        'deprecated: --lock <path> with --frozen, --write-lock <path> without',
      ).hideHelp(),
    )
    .option(
      '--frozen',
      `fail if the list differs from the lock file or a digest moved (the lock: --lock <file>, the bundle's own, or ${DEFAULT_LOCK} next to the first list)`,
    )
    .option('--keep-going', `publish what succeeded even when some plugins fail (exits 8 when some succeeded)`)
    .option('--json', 'stdout: one JSON event per line (docs/cli-events.schema.json); human lines stay on stderr')
    .addOption(
      new Option('--concurrency <n>', 'parallel downloads').argParser(concurrency).default(DEFAULT_PULL_CONCURRENCY),
    )
    .addOption(insecureRegistryOption())
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
      new Option(
        '--timeout <s>',
        'seconds a registry may stay silent during one request before it is retried (silence only: see --min-rate)',
      )
        .argParser(seconds)
        .default(30),
    )
    .addOption(
      new Option(
        '--min-rate <bytes/s>',
        'least average rate of every response body over any 30 s (a trickling registry fails E_REGISTRY_TOO_SLOW, not retried); 0 turns it off',
      )
        .argParser(bytesPerSecond)
        .default(1024),
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
      if (flags.registryMap.length && lists.some((a) => layoutPath(a) !== undefined)) {
        cmd.error(
          'error: --registry-map does not apply to an oci-layout: source (a bundle keeps the registry names it was made with); leave it out, or mirror the bundle and pull from the mirror with it',
          { code: 'commander.conflictingOption', exitCode: 2 },
        );
      }
      if (
        (flags.unmanagedLock !== undefined || flags.snapshotSha256 !== undefined) &&
        (!flags.snapshot || lists.some((a) => layoutPath(a) !== undefined))
      ) {
        cmd.error(
          `error: ${flags.unmanagedLock !== undefined ? '--unmanaged-lock' : '--snapshot-sha256'} applies to a snapshot build: give --snapshot <file> with plugin lists (not an oci-layout: source)`,
          { code: 'commander.conflictingOption', exitCode: 2 },
        );
      }
      return pullCommand(lists, flags);
    });
}
