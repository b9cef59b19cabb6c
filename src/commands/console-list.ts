/** `--console-list <file>` of `check` and `audit`: the Console's plugin list, read as a plugin list. */
import { loadInputs } from '../inputs/load';
import type { PluginEntry } from '../inputs/types';
import type { CliOutput } from './output';

/** Its entries, or undefined after one line per problem and the command's summary (its exit code set). */
export function readConsoleList(o: CliOutput, file: string): PluginEntry[] | undefined {
  const list = loadInputs({ lists: [file] });
  if (!list.problems.length) return list.entries;
  o.finish({
    areas: o.problems(list.problems),
    line: `${o.command}: ${list.problems.length} problem(s) in ${file}`,
    counts: { problems: list.problems.length },
  });
  return undefined;
}
