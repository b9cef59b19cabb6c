/**
 * One run at a time per output root. Two runs in the same folder would delete each other's temp
 * folders and race on index.json, so `pull` and `index` take `<root>/.higress-plugin-server.lock`,
 * created with O_EXCL and holding the owner's pid, the process start time (from /proc, so a reused
 * pid is not mistaken for the owner), the host and the run id. A second run waits (and says so once)
 * or, with --no-wait, fails with E_TREE_LOCKED. A lock whose owner is gone (killed run) is stale: it
 * is moved aside and re-checked before removal, so two runs breaking it at once cannot both win.
 * No dependency: npm lock packages (proper-lockfile) judge staleness by mtime, not by the owner.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EnvironmentError } from '../errors';
import { LOCK_FILE } from '../contract/tree-format';
import { randomSuffix, RUN_ID } from '../content/fsutil';

export interface LockHolder {
  pid: number;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22); null where unknown. */
  start: string | null;
  host: string;
  runId: string;
  since: string;
}

export interface LockOptions {
  /** Wait for another run to finish (default); false fails at once with E_TREE_LOCKED. */
  wait?: boolean;
  /** Called once when this run starts waiting. */
  onWait?: (holder: LockHolder, lockFile: string) => void;
  pollMs?: number;
  signal?: AbortSignal;
}

export interface OutputLock {
  readonly file: string;
  release(): Promise<void>;
}

/** Start time of a process, or null when /proc is not there (then only the pid is compared). */
export function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the holder may still run. Another host's lock cannot be checked, so it counts as alive. */
export function holderAlive(h: LockHolder): boolean {
  if (h.host !== os.hostname()) return true;
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = processStart(h.pid);
  return !(h.start && start && start !== h.start);
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as LockHolder;
    if (h && typeof h.pid === 'number' && typeof h.runId === 'string' && typeof h.host === 'string') return h;
  } catch {
    /* being written, or not ours */
  }
  return undefined;
}

async function tryCreate(file: string, holder: LockHolder): Promise<boolean> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(
      file,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
      0o644,
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await fh.writeFile(`${JSON.stringify(holder)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

/** Moves a stale lock aside; puts it back if it turned out to be a fresh one another run just took. */
async function breakStale(file: string, seen: string): Promise<void> {
  const aside = `${file}.stale-${randomSuffix()}`;
  try {
    await fs.promises.rename(file, aside);
  } catch {
    return; // gone already
  }
  const text = await fs.promises.readFile(aside, 'utf8').catch(() => '');
  if (text === seen) {
    await fs.promises.rm(aside, { force: true });
    return;
  }
  await fs.promises.link(aside, file).catch(() => undefined);
  await fs.promises.rm(aside, { force: true });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Takes the output root's lock (the root must exist). */
export async function lockOutputRoot(root: string, opts: LockOptions = {}): Promise<OutputLock> {
  const file = path.join(root, LOCK_FILE);
  const me: LockHolder = {
    pid: process.pid,
    start: processStart(process.pid),
    host: os.hostname(),
    runId: RUN_ID,
    since: new Date().toISOString(),
  };
  let told = false;
  let unreadableSince: number | undefined;
  for (;;) {
    opts.signal?.throwIfAborted();
    if (await tryCreate(file, me)) break;
    const text = await fs.promises.readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue; // released meanwhile
    const holder = parseHolder(text);
    if (!holder) {
      // Just created and not yet written, or garbage: garbage older than 10 s is stale.
      unreadableSince ??= Date.now();
      if (Date.now() - unreadableSince > 10_000) await breakStale(file, text);
    } else if (!holderAlive(holder)) {
      await breakStale(file, text);
      continue;
    } else if (opts.wait === false) {
      throw new EnvironmentError({
        code: 'E_TREE_LOCKED',
        message: `${root} is in use by another run (pid ${holder.pid} on ${holder.host}, since ${holder.since})`,
        context: { file },
        hint: 'wait for it to finish, or run without --no-wait to wait',
      });
    } else if (!told) {
      told = true;
      opts.onWait?.(holder, file);
    }
    await sleep(opts.pollMs ?? 200);
  }
  return {
    file,
    release: async () => {
      const text = await fs.promises.readFile(file, 'utf8').catch(() => undefined);
      if (text !== undefined && parseHolder(text)?.runId === RUN_ID && parseHolder(text)?.pid === process.pid)
        await fs.promises.rm(file, { force: true });
    },
  };
}
