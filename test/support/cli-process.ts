/**
 * Runs the compiled CLI (build/src/cli.js, built by the integration tier's global setup) as its own
 * process and measures its peak resident memory (VmHWM from /proc, polled until it exits), so a
 * test can state a memory bound for what a hostile server makes the CLI do.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT } from './tools';

export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Peak RSS in MiB seen while it ran. */
  peakRssMiB: number;
  ms: number;
}

function hwmKiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function runCliProcess(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<ProcessRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'build', 'src', 'cli.js'), ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let peak = 0;
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const poll = setInterval(() => (peak = Math.max(peak, hwmKiB(child.pid ?? 0))), 10);
  const kill = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearInterval(poll);
      clearTimeout(kill);
      child.on('close', () =>
        resolve({ code, stdout, stderr, peakRssMiB: Math.round(peak / 102.4) / 10, ms: Date.now() - started }),
      );
    });
  });
}
