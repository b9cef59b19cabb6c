/** Shared by commands: print one line per problem plus a summary, and set a failing exit code. */
import { errorLine } from '../errors';

export function reportProblems(problems: unknown[], summary: string, err: NodeJS.WritableStream = process.stderr): void {
  for (const p of problems) err.write(`error: ${errorLine(p)}\n`);
  err.write(`${summary}\n`);
  process.exitCode = 1;
}
