/**
 * Progress output of `pull`: one line per plugin on stderr (name, version, size, downloaded or
 * cached, time), a live "n/m" line on a TTY, or one JSON object per event on stdout with --json.
 */
export interface PluginEvent {
  event: 'plugin';
  name: string;
  version: string;
  status: 'downloaded' | 'cached' | 'failed';
  size?: number;
  ms: number;
  aliasOf?: string;
  error?: string;
}
export interface SummaryEvent {
  event: 'summary';
  ok: boolean;
  plugins: number;
  downloaded: number;
  cached: number;
  failed: number;
  pruned: number;
  ms: number;
}
export type PullEvent = PluginEvent | SummaryEvent | { event: 'start'; plugins: number; sources: number };

export interface Reporter {
  emit(e: PullEvent): void;
}

function human(bytes: number | undefined): string {
  if (bytes === undefined) return '-';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatEvent(e: PullEvent): string {
  if (e.event === 'plugin') {
    const alias = e.aliasOf ? ` (alias of ${e.aliasOf})` : '';
    if (e.status === 'failed') return `FAILED ${e.name}@${e.version}${alias}: ${e.error ?? 'unknown error'}`;
    return `${e.status === 'cached' ? 'cached    ' : 'downloaded'} ${e.name}@${e.version}${alias} ${human(e.size)} ${e.ms} ms`;
  }
  if (e.event === 'summary') {
    return `${e.ok ? 'ok' : 'FAILED'}: ${e.plugins} plugin versions, ${e.downloaded} downloaded, ${e.cached} cached, ${e.failed} failed${e.pruned ? `, ${e.pruned} pruned` : ''} in ${(e.ms / 1000).toFixed(1)} s`;
  }
  return `pulling ${e.plugins} plugin versions from ${e.sources} sources`;
}

export function jsonReporter(out: NodeJS.WritableStream = process.stdout): Reporter {
  return { emit: (e) => void out.write(`${JSON.stringify(e)}\n`) };
}

/** Lines on stderr; on a TTY a live counter line is redrawn below them. */
export function textReporter(err: NodeJS.WriteStream = process.stderr): Reporter {
  const tty = Boolean(err.isTTY);
  let total = 0;
  let done = 0;
  return {
    emit(e) {
      if (e.event === 'start') total = e.plugins;
      if (e.event === 'plugin') done++;
      if (tty) err.write('\r\x1b[2K');
      if (e.event !== 'start' || !tty) err.write(`${formatEvent(e)}\n`);
      if (tty && e.event !== 'summary') err.write(`[${done}/${total}] pulling...`);
    },
  };
}

export const silentReporter: Reporter = { emit: () => undefined };
