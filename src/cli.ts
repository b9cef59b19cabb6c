#!/usr/bin/env node
/**
 * higress-plugin-server CLI. Each command lives in src/commands/<name>.ts and exports
 * `register(program)`; this file only wires them together and turns errors into exit codes.
 */
import { Command } from 'commander';
import { errorLine } from './errors';

const COMMANDS: Array<() => { register(program: Command): void }> = [
  // Each command module is loaded lazily so a broken optional dependency of one command
  // cannot break the others.
  // COMMAND-LIST (keep one line per command)
  () => require('./commands/pull'),
  () => require('./commands/index'),
  () => require('./commands/verify'),
  () => require('./commands/serve'),
  () => require('./commands/wasmplugins'),
  () => require('./commands/check'),
  () => require('./commands/bundle'),
  () => require('./commands/mirror'),
];

/** package.json sits one folder up from src/ and two from build/src/. */
function packageVersion(): string {
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      return (require(candidate) as { version: string }).version;
    } catch {
      /* try the next layout */
    }
  }
  return 'unknown';
}

export function buildProgram(): Command {
  const program = new Command('higress-plugin-server')
    .description('Pull Higress Wasm plugins from OCI registries into a verified folder, serve it, and check what a server serves.')
    .version(packageVersion())
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(str) });
  for (const load of COMMANDS) load().register(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    process.stderr.write(`error: ${errorLine(err)}\n`);
    process.exitCode = process.exitCode || 1;
  }
}

if (require.main === module) void main();
