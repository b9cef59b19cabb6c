/**
 * Runs CLI commands in-process (fast) through the program src/cli.ts builds, and captures what they
 * write and the exit code they set.
 */
import { Command } from 'commander';
import { buildProgram, exitCodeForError } from '../../src/cli';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function buildTestProgram(): Command {
  return buildProgram().exitOverride();
}

export async function runCli(...args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const out = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((c: string | Uint8Array) => ((stdout += c.toString()), true));
  const err = jest
    .spyOn(process.stderr, 'write')
    .mockImplementation((c: string | Uint8Array) => ((stderr += c.toString()), true));
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    try {
      await buildTestProgram().parseAsync(['node', 'higress-plugin-server', ...args]);
    } catch (e) {
      // Same handling as main() in src/cli.ts.
      process.exitCode = exitCodeForError(e, args);
    }
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    process.exitCode = before;
    out.mockRestore();
    err.mockRestore();
  }
}
