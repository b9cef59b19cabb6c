/**
 * Starts the real Nginx on the shipped image/nginx.conf (only paths and the listen address rewritten,
 * by the same function `serve` uses) on 127.0.0.1 and a free port. The caller stops it in afterAll.
 */
import * as path from 'path';
import { prepareNginx, spawnNginx, stopNginx, waitForHealthy } from '../../src/serve/nginx-runtime';

import { freePort } from './ports';

export { freePort };
import { tool } from './tools';

export interface RunningNginx {
  url: string;
  port: number;
  /** Private folder holding the rewritten config, pid, temp paths and access.log. */
  dir: string;
  /** Everything nginx wrote to stderr so far (error log). */
  stderr(): string;
  stop(): Promise<void>;
}

export interface StartNginxOptions {
  /** A config other than image/nginx.conf (the benchmark's upstream config). */
  sourceConfig?: string;
  workerProcesses?: number;
  /** Default: a file in the private folder, so tests can read it. */
  accessLog?: string;
  /** Path polled until it answers 200 (the upstream config has no /healthz). */
  readyPath?: string;
  /** false: run as the image's gzip-static-off config (the chart's gzip.enabled=false). */
  gzipStatic?: boolean;
}

export async function startNginx(root: string, opts: StartNginxOptions = {}): Promise<RunningNginx> {
  const binary = tool('nginx');
  const port = await freePort();
  const prepared = prepareNginx({
    root: path.resolve(root),
    host: '127.0.0.1',
    port,
    sourceConfig: opts.sourceConfig,
    workerProcesses: opts.workerProcesses,
    accessLog: opts.accessLog ?? 'access.log',
    gzipStatic: opts.gzipStatic,
    binary,
  });
  // The access log path is relative to the -p prefix (the private folder).
  const child = spawnNginx(prepared, ['ignore', 'ignore', 'pipe'], binary);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopNginx(child);
    prepared.cleanup();
  };
  try {
    await waitForHealthy(`${url}${opts.readyPath ?? '/healthz'}`, child, 15000, () => err);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, port, dir: prepared.dir, stderr: () => err, stop };
}
