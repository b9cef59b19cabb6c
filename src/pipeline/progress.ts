/**
 * Progress events of a pull run, as they happen: `begin` when a source starts staging, `plugin` the
 * moment a version is published, found cached, pruned or failed. The command turns them into lines
 * (one per plugin, a live counter on a TTY) or JSON events.
 */
import { safeText, type PluginServerError } from '../errors';

export interface PluginEvent {
  event: 'plugin';
  name: string;
  version: string;
  /** `downloaded` from a registry, `copied` from a file: source, `aliased` a version alias folder. */
  status: 'downloaded' | 'copied' | 'aliased' | 'cached' | 'failed' | 'pruned';
  size?: number;
  ms: number;
  aliasOf?: string;
  error?: PluginServerError;
}
export type PullEvent =
  PluginEvent | { event: 'start'; plugins: number; sources: number } | { event: 'begin'; plugins: number };

export interface Reporter {
  emit(e: PullEvent): void;
}

export function humanSize(bytes: number | undefined): string {
  if (bytes === undefined) return '-';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * How the human line names a `downloaded` version: from a registry, or read from a bundle
 * (`pull oci-layout:<bundle>`: nothing is downloaded; `--json` keeps the status `downloaded`).
 */
export type FetchWord = 'downloaded' | 'unbundled';

/** The one line a plugin event gets (failures included: they are not repeated at the end). */
export function formatPluginEvent(e: PluginEvent, fetched: FetchWord = 'downloaded'): string {
  const alias = e.aliasOf ? ` (alias of ${e.aliasOf})` : '';
  if (e.status === 'failed') {
    const c = e.error?.context;
    const where = c?.file ? `${c.line ? `${c.file}:${c.line}` : c.file}: ` : '';
    return `FAILED ${e.name}@${e.version}${alias}: ${where}${e.error ? `${e.error.detail()} [${e.error.code}]` : 'unknown error'}`;
  }
  if (e.status === 'pruned') return `pruned     ${e.name}@${e.version}`;
  const status = e.status === 'downloaded' ? fetched : e.status;
  return `${status.padEnd(10)} ${e.name}@${e.version}${alias} ${humanSize(e.size)} ${e.ms} ms`;
}

/**
 * Lines on `err`; on a TTY a live line (done/total, in flight, bytes) is redrawn below them. Elsewhere
 * (a pipe, a file, a CI log) the lines of one turn of the event loop go out in one write: a warm pull of
 * 5,000 versions reports 5,000 `cached` lines at once, and a write each cost a tenth of its time.
 */
export function textReporter(
  err: NodeJS.WriteStream = process.stderr,
  fetched: FetchWord = 'downloaded',
): Reporter & { clear(): void } {
  const tty = Boolean(err.isTTY);
  let total = 0;
  let done = 0;
  let inFlight = 0;
  let bytes = 0;
  let pending = '';
  const flush = () => {
    const lines = pending;
    pending = '';
    if (lines) err.write(lines);
  };
  const line = (text: string) => {
    if (tty) err.write(text);
    else if (!pending) {
      pending = text;
      setImmediate(flush);
    } else pending += text;
  };
  const live = () => {
    if (tty) err.write(`\r\x1b[2K[${done}/${total}] ${inFlight} in flight, ${humanSize(bytes)}`);
  };
  return {
    emit(e) {
      if (tty) err.write('\r\x1b[2K');
      if (e.event === 'start') total = e.plugins;
      if (e.event === 'begin') inFlight += e.plugins;
      if (e.event === 'plugin') {
        if (e.status !== 'pruned') {
          done++;
          if (e.status !== 'aliased' && !e.aliasOf) inFlight = Math.max(0, inFlight - 1);
        }
        if (e.status !== 'cached') bytes += e.size ?? 0;
        // Names, versions and error details came from lists and registries: one escaped line each.
        line(`${safeText(formatPluginEvent(e, fetched))}\n`);
      }
      live();
    },
    clear() {
      flush();
      if (tty) err.write('\r\x1b[2K');
    },
  };
}

export const silentReporter: Reporter = { emit: () => undefined };
