/**
 * Interruptions of `bundle`, `mirror` and `pull`. The first SIGINT (Ctrl-C) or SIGTERM aborts the command's
 * signal with E_INTERRUPTED: the work stops, its staging is removed, and the command prints its
 * summary (with `--json`, a `summary` event) and exits 130 (EXIT.interrupted). A second signal
 * exits 130 at once; whatever staging that leaves is removed by the next run (src/airgap/staging.ts).
 */
import { EXIT, PluginServerError } from '../errors';
import type { CliOutput } from './output';

export interface Interrupts {
  signal: AbortSignal;
  /**
   * Stops listening; when the run was interrupted, exits once stdout and stderr are flushed, with the
   * code its summary set (130 when the interruption stopped it; a pull that had already published
   * keeps its 0).
   */
  done(): Promise<void>;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

function flushed(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    if (!stream.write('', () => resolve())) stream.once('drain', () => resolve());
  });
}

export function watchInterrupts(o: CliOutput): Interrupts {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    o.human(`interrupted (${sig}): stopping and removing staging; a second ${sig} stops at once`);
    controller.abort(
      new PluginServerError({
        code: 'E_INTERRUPTED',
        message: `${o.command} was interrupted by ${sig}`,
        hint: `run it again; its staging was removed`,
      }),
    );
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return {
    signal: controller.signal,
    async done() {
      for (const s of SIGNALS) process.off(s, onSignal);
      if (!controller.signal.aborted) return;
      // Copies still in flight (a blob upload) would keep the process alive: the run is over.
      await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
      process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT.interrupted);
    },
  };
}

/** Whether `err` is this run's interruption. */
export function isInterruption(err: unknown): boolean {
  return err instanceof PluginServerError && err.code === 'E_INTERRUPTED';
}
