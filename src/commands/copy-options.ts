/** Option parsers shared by the commands that fetch plugins (`pull`, `bundle`, `mirror`, `outdated`), and how `bundle` and `mirror` load their inputs. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { resolveInputs, ResolvedInputs } from '../inputs/resolve';
import { CliOutput } from './output';
import { DEFAULT_COPY_CONCURRENCY, MAX_CONCURRENCY } from '../contract/concurrency';
import { exitCodesHelp } from '../errors';

export function concurrency(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_CONCURRENCY)
    throw new InvalidArgumentError(`--concurrency must be an integer from 1 to ${MAX_CONCURRENCY}, got "${v}"`);
  return n;
}

export function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number of seconds above 0, got "${v}"`);
  return n;
}

export function repeatable(v: string, acc: string[]): string[] {
  return [...acc, v];
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * The inputs of `bundle` / `mirror` (lists, snapshot, lock or a bundle) through the one input path
 * (src/inputs/resolve.ts), or undefined after the command has finished with one line per problem
 * ("nothing was <verb>").
 */
export async function loadCopyInputs(
  o: CliOutput,
  command: 'bundle' | 'mirror',
  args: string[],
  flags: { snapshot?: string; lock?: string },
  verb: string,
): Promise<ResolvedInputs | undefined> {
  const refuse = (problems: unknown[], line: string): undefined => {
    o.finish({ areas: o.problems(problems), line, counts: { problems: problems.length } });
    return undefined;
  };
  let loaded;
  try {
    loaded = await resolveInputs({ command, args, snapshot: flags.snapshot, lock: flags.lock });
  } catch (e) {
    return refuse([e], `nothing was ${verb}`);
  }
  const { inputs, problems } = loaded;
  return inputs ?? refuse(problems, `${problems.length} problem(s) in the inputs; nothing was ${verb}`);
}

/** `--insecure-registry`, one definition for every command that talks to registries. */
export function insecureRegistryOption(): Option {
  return new Option('--insecure-registry <host>', 'allow plain HTTP to this host[:port] (repeatable)')
    .argParser(repeatable)
    .default([] as string[]);
}

/** The options `bundle` and `mirror` share, after their own: copy concurrency, plain-HTTP hosts, exit codes. */
export function withCopyOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--concurrency <n>', 'references copied in parallel')
        .argParser(concurrency)
        .default(DEFAULT_COPY_CONCURRENCY),
    )
    .addOption(insecureRegistryOption())
    .addHelpText('after', `\n${exitCodesHelp()}`);
}
