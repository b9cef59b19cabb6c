/**
 * Exit codes of every command, derived from the error catalogue's areas so a script can tell a typo
 * from a registry outage without parsing text. Documented in README.md and each command's --help.
 */
import type { ErrorArea } from './catalogue';

export const EXIT = {
  ok: 0,
  /** An unexpected error: a bug, report it. */
  internal: 1,
  usage: 2,
  input: 3,
  registry: 4,
  integrity: 5,
  verify: 6,
  environment: 7,
  /** --keep-going published what it could, but some plugin versions failed. */
  partial: 8,
  /** `outdated`: an upstream tag moved, vanished or became unloadable since the lock. */
  drift: 9,
  /** SIGINT or SIGTERM stopped the command (128 + SIGINT, as a shell reports a Ctrl-C). */
  interrupted: 130,
} as const satisfies Record<ErrorArea | 'ok' | 'partial', number>;

export type ExitName = keyof typeof EXIT;

/** What each exit code means, in the order of the codes (README table and --help). */
export const EXIT_MEANINGS: ReadonlyArray<[ExitName, string]> = [
  ['ok', 'success'],
  ['internal', 'unexpected error (a bug: please report it)'],
  ['usage', 'bad command line (unknown option, missing argument, bad value)'],
  ['input', 'bad input: plugin list, lock file, snapshot, index, or a file that is not ours to overwrite'],
  ['registry', 'a registry could not be reached or refused the request'],
  ['integrity', 'downloaded or staged bytes are not what they claim to be'],
  ['verify', 'a tree or server does not match its index (verify, check)'],
  ['environment', 'the machine: permissions, disk full, nginx missing, port in use'],
  ['partial', '--keep-going: some plugin versions were published, others failed'],
  ['drift', 'outdated: a tag moved, is gone, or is in a form the gateway cannot load since the lock or snapshot'],
  ['interrupted', 'interrupted (Ctrl-C / SIGINT or SIGTERM): staging removed, summary printed (bundle, mirror, pull)'],
];

/**
 * The exit code for a set of failures. Areas are ranked so the most actionable one wins: input first
 * (fix the list), then the machine, then integrity, registry and verify. An interruption outranks them
 * all: what failed before it may be a consequence of it.
 */
const PRECEDENCE: ErrorArea[] = [
  'interrupted',
  'usage',
  'input',
  'environment',
  'integrity',
  'registry',
  'verify',
  'drift',
  'internal',
];

export function exitCodeFor(areas: Iterable<ErrorArea>): number {
  const seen = new Set(areas);
  for (const a of PRECEDENCE) if (seen.has(a)) return EXIT[a];
  return EXIT.ok;
}

/** `0 ok · 2 usage · ...`, for --help. */
export function exitCodesHelp(): string {
  return `Exit codes:\n${EXIT_MEANINGS.map(([name, text]) => `  ${String(EXIT[name]).padStart(2)}  ${text}`).join('\n')}\n`;
}
