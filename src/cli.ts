#!/usr/bin/env node
/**
 * higress-plugin-server CLI. Each command lives in src/commands/<name>.ts and exports
 * `register(program)`; this file only wires them together and turns errors into exit codes
 * (src/errors/exit-codes.ts, listed by `--help`).
 */
import { Command, CommanderError } from 'commander';
import * as v8 from 'v8';
import { sweepStaleStaging } from './airgap/staging';
import { packageVersion } from './contract/package-layout';
import { EXIT, errorLine, exitCodesHelp, fromFsError, PluginServerError, safeJsonLine } from './errors';

/**
 * Each command module is loaded lazily: a run of one command loads only that command's code (a warm
 * `pull` is over in about a second, and loading every command cost a fifth of it), and a broken
 * optional dependency of one command cannot break the others. Help, `help <command>` and an unknown
 * command load them all, so the overview and commander's suggestions see every command.
 */
type CommandModule = { register(program: Command): void };
/* eslint-disable @typescript-eslint/no-require-imports -- lazy loading is the point of this table (see above) */
const COMMANDS: Record<string, () => CommandModule> = {
  // COMMAND-LIST (keep one line per command)
  pull: () => require('./commands/pull') as CommandModule,
  index: () => require('./commands/index') as CommandModule,
  verify: () => require('./commands/verify') as CommandModule,
  serve: () => require('./commands/serve') as CommandModule,
  wasmplugins: () => require('./commands/wasmplugins') as CommandModule,
  check: () => require('./commands/check') as CommandModule,
  bundle: () => require('./commands/bundle') as CommandModule,
  mirror: () => require('./commands/mirror') as CommandModule,
  audit: () => require('./commands/audit') as CommandModule,
  adopt: () => require('./commands/adopt') as CommandModule,
  outdated: () => require('./commands/outdated') as CommandModule,
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** Commands whose --json output follows docs/cli-events.schema.json. */
const JSON_COMMANDS = new Set(['pull', 'check', 'verify', 'index', 'bundle', 'mirror', 'audit', 'adopt', 'outdated']);

/** The command a run names (its first argument that is not an option), when it is one of ours. */
function namedCommand(argv: readonly string[]): string | undefined {
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  return first !== undefined && Object.prototype.hasOwnProperty.call(COMMANDS, first) ? first : undefined;
}

/** The line printed under a usage error. */
function helpPointer(command?: string): string {
  return `(run \`higress-plugin-server${command ? ` ${command}` : ''} --help\` for usage)`;
}

export function buildProgram(argv: readonly string[] = []): Command {
  const program = new Command('higress-plugin-server')
    .description(
      'Pull Higress Wasm plugins from OCI registries into a verified folder, serve it, and check what a server serves.',
    )
    .version(packageVersion())
    .showHelpAfterError(helpPointer())
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) })
    .addHelpText('after', `\n${exitCodesHelp()}`);
  const only = namedCommand(argv);
  for (const [name, load] of Object.entries(COMMANDS))
    if (only === undefined || name === only) load().register(program);
  // A usage error is one line plus where to read more, never the whole help (which buried the error
  // and, written into a closed pipe, turned exit 2 into a crash).
  for (const command of program.commands) command.showHelpAfterError(helpPointer(command.name()));
  return program;
}

/**
 * The exit code for an error that ended a command, after printing its one line. Commander has
 * already printed its own message for usage errors; help and --version are not errors.
 */
export function exitCodeForError(
  err: unknown,
  args: string[] = process.argv.slice(2),
  stderr: NodeJS.WritableStream = process.stderr,
  stdout: NodeJS.WritableStream = process.stdout,
): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
      return EXIT.ok;
    // With --json a script reads stdout only: the usage error is an event there too.
    const command = args.find((a) => JSON_COMMANDS.has(a));
    if (command && args.includes('--json')) {
      const message = err.message.replace(/^error: /, '');
      stdout.write(
        `${safeJsonLine({ event: 'problem', command, code: 'E_USAGE', message, hint: `run \`higress-plugin-server ${command} --help\`` })}\n`,
      );
    }
    return EXIT.usage;
  }
  const known = fromFsError(err);
  if ((known as NodeJS.ErrnoException)?.code === 'EPIPE') return EXIT.ok; // the reader went away: stop quietly
  stderr.write(`error: ${errorLine(known)}${known instanceof PluginServerError ? ` [${known.code}]` : ''}\n`);
  return known instanceof PluginServerError ? known.exitCode : EXIT.internal;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  // A reader that closes stdout (`| head -1`) must not turn into an uncaught EPIPE with a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  // Staging that killed `bundle` / `mirror` runs left in $TMPDIR (their pid is gone) is removed by
  // the next run of any command (src/airgap/staging.ts).
  await sweepStaleStaging();
  // The same for stderr (`2>&1 | head -1`): the exit code stays the command's own (2 for usage).
  process.stderr.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  try {
    await buildProgram(argv).parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeForError(err);
  }
}

/**
 * A command holds a few KB per plugin version (lists, metadata, the OCI view's maps), and V8's default
 * on a machine with gigabytes of memory lets the heap grow to several times what is live before it
 * collects: at 20,000 versions `index` peaked at 297 MB of heap for 89 MB live. `--optimize-for-size`
 * caps that growth; the flag is read each time V8 sizes the heap, so setting it first thing here (not
 * in the library, whose host decides) takes effect for this process and the CPU pool's threads. In the
 * scale bench it cut every command's peak RSS at 20,000 versions by a third or more at no cost in time
 * (BENCHMARKS.md, scale; docs/troubleshooting.md).
 */
function preferSmallHeap(): void {
  v8.setFlagsFromString('--optimize-for-size');
}

if (require.main === module) {
  preferSmallHeap();
  void main();
}
