/**
 * Staging folders of `bundle` (`<out>.partial-…` beside the output) and `mirror`
 * (`$TMPDIR/hps-mirror-…`), named so that a later run can prove they are stale.
 *
 * A run removes its own staging when it ends, also when it is interrupted (SIGINT/SIGTERM, see
 * src/commands/interrupt.ts). A run killed outright (SIGKILL, a second Ctrl-C, a crash) cannot, so
 * every name carries its owner: `<pid>-<start>-<random>`, the pid and the process start time from
 * /proc (`x` where there is none). Staging is stale when that pid is gone, or now belongs to a process
 * with another start time (pid reuse); only then is it removed. A bundle's staging lies beside its
 * output, wherever that is, so its run also leaves a marker `$TMPDIR/hps-staging-<owner>` naming the
 * folder: the next run of any command sweeps `$TMPDIR` (sweepStaleStaging, called by src/cli.ts) and
 * removes stale mirror folders and the bundle folders their markers name. `bundle` also sweeps the
 * folder of its `--out` (for a marker lost with another `$TMPDIR`). Nothing else is ever touched:
 * names must match exactly, entries must belong to this user (no symlinks), and a marker's folder
 * must carry the marker's own owner in its name.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomSuffix } from '../content/fsutil';
import { processStart } from '../tree/output-lock';

const OWNER_RE = '(\\d+)-(\\d+|x)-([0-9a-f]{12})';
const MIRROR_RE = new RegExp(`^hps-mirror-${OWNER_RE}$`);
const MARKER_RE = new RegExp(`^hps-staging-${OWNER_RE}$`);
const PARTIAL_RE = new RegExp(`\\.partial-${OWNER_RE}$`);

/** `<pid>-<start>-<random>` of this process: a name part only this run uses. */
function ownerPart(): string {
  return `${process.pid}-${processStart(process.pid) ?? 'x'}-${randomSuffix()}`;
}

/** Whether the owner named by pid and start time may still be running (in doubt: yes). */
export function ownerAlive(pid: number, start: string): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const now = processStart(pid);
  return !(start !== 'x' && now && now !== start);
}

export interface Staging {
  dir: string;
  /** Removes the folder (and its marker); safe to call twice. */
  remove(): Promise<void>;
}

const rmTree = (p: string) => fs.promises.rm(p, { recursive: true, force: true, maxRetries: 3 });

/** `$TMPDIR/hps-mirror-<owner>/`. */
export async function mirrorStaging(): Promise<Staging> {
  const dir = path.join(os.tmpdir(), `hps-mirror-${ownerPart()}`);
  await fs.promises.mkdir(dir, { mode: 0o700 });
  return { dir, remove: () => rmTree(dir) };
}

/** `<out>.partial-<owner>/` beside the output, and its marker in `$TMPDIR`. */
export async function bundleStaging(out: string): Promise<Staging> {
  const owner = ownerPart();
  const dir = `${out}.partial-${owner}`;
  const marker = path.join(os.tmpdir(), `hps-staging-${owner}`);
  await fs.promises.mkdir(dir);
  // Best effort: without a marker only `bundle` into the same folder finds a leftover.
  await fs.promises.writeFile(marker, dir, { flag: 'wx', mode: 0o600 }).catch(() => undefined);
  return {
    dir,
    remove: async () => {
      await rmTree(dir);
      await fs.promises.rm(marker, { force: true });
    },
  };
}

function staleOwner(m: RegExpExecArray | null): boolean {
  return Boolean(m && !ownerAlive(Number(m[1]), m[2]));
}

/** Only entries this user made are swept (a shared `$TMPDIR` holds other users' names too). */
async function ours(p: string, kind: 'file' | 'dir'): Promise<boolean> {
  const st = await fs.promises.lstat(p).catch(() => undefined);
  if (!st || (kind === 'file' ? !st.isFile() : !st.isDirectory())) return false;
  return typeof process.getuid !== 'function' || st.uid === process.getuid();
}

/** A marker's folder: an absolute path whose name ends in `.partial-<the marker's owner>`. */
async function markedFolder(marker: string, owner: string): Promise<string | undefined> {
  if (!(await ours(marker, 'file'))) return undefined;
  const fh = await fs.promises.open(marker, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW).catch(() => undefined);
  if (!fh) return undefined;
  let text: string;
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    text = buf.subarray(0, bytesRead).toString('utf8').trim();
  } finally {
    await fh.close();
  }
  if (!path.isAbsolute(text) || !text.endsWith(`.partial-${owner}`)) return undefined;
  return (await ours(text, 'dir')) ? text : undefined;
}

/**
 * Removes stale staging of killed runs: `hps-mirror-<owner>` folders and `hps-staging-<owner>` markers
 * (with the `<out>.partial-<owner>` folder each names) in `$TMPDIR`, and, when `bundleDir` is given,
 * `*.partial-<owner>` folders in it. Returns what was removed. Never throws: a sweep is housekeeping.
 */
export async function sweepStaleStaging(bundleDir?: string): Promise<string[]> {
  const removed: string[] = [];
  const tmp = os.tmpdir();
  try {
    for (const name of await fs.promises.readdir(tmp)) {
      const mirror = MIRROR_RE.exec(name);
      if (staleOwner(mirror) && (await ours(path.join(tmp, name), 'dir'))) {
        await rmTree(path.join(tmp, name));
        removed.push(path.join(tmp, name));
        continue;
      }
      const marker = MARKER_RE.exec(name);
      if (marker && staleOwner(marker) && (await ours(path.join(tmp, name), 'file'))) {
        const folder = await markedFolder(path.join(tmp, name), `${marker[1]}-${marker[2]}-${marker[3]}`);
        if (folder) {
          await rmTree(folder);
          removed.push(folder);
        }
        await fs.promises.rm(path.join(tmp, name), { force: true });
      }
    }
    if (bundleDir) {
      for (const name of await fs.promises.readdir(bundleDir)) {
        if (!staleOwner(PARTIAL_RE.exec(name))) continue;
        const folder = path.join(bundleDir, name);
        if (!(await ours(folder, 'dir'))) continue;
        await rmTree(folder);
        removed.push(folder);
      }
    }
  } catch {
    // A sweep that cannot read a folder leaves it as it is.
  }
  return removed;
}

/**
 * `work`, or the signal's reason as soon as it aborts (whatever is still in flight is left to finish
 * or fail on its own: the caller removes the staging it writes into and ends the run).
 */
export function stopOn<T>(signal: AbortSignal | undefined, work: Promise<T>): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () =>
      reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted')));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
