/** Runs one tool of a release step; a failure becomes one ReleaseError line. */
import { spawnSync } from 'child_process';
import { ReleaseError } from './errors';

export interface Ran {
  /** stdout and stderr, when captured (helm prints `Pushed:` and `Digest:` to stderr). */
  output: string;
}

/**
 * `capture` keeps the output (for a step that parses it, e.g. a pushed digest) and echoes it to
 * stderr; otherwise it goes straight to stderr so CI logs show the tool's progress as it happens.
 */
export function runTool(
  step: string,
  cmd: string,
  args: string[],
  opts: { cwd?: string; capture?: boolean } = {},
): Ran {
  // Tool output goes to stderr: stdout carries only the step's one-line result.
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    stdio: ['ignore', opts.capture ? 'pipe' : 2, opts.capture ? 'pipe' : 2],
    encoding: 'utf8',
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (opts.capture) process.stderr.write(output);
  if (r.error) {
    throw new ReleaseError({
      code: 'E_RELEASE_TOOL',
      message: `${step}: cannot run ${cmd}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`,
      hint: `install ${cmd} or put it on PATH`,
    });
  }
  if (r.status !== 0) {
    const tail = opts.capture ? ` (${output.trim().split('\n').pop()})` : '';
    throw new ReleaseError({
      code: 'E_RELEASE_TOOL',
      message: `${step}: ${cmd} ${args[0] ?? ''} exited with ${r.status ?? r.signal}${tail}`,
      hint: 'see its output above',
    });
  }
  return { output };
}

/** helm from $HELM, else PATH (the workflow installs it; tests point $HELM at .tools/bin/helm). */
export function helmBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.HELM || 'helm';
}
