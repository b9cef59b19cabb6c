/**
 * Typed errors shared by every command. Each carries a catalogued code (src/errors/catalogue.ts), the
 * context an operator needs to act on it (file and line, plugin, URL) and a hint that says what to
 * do; the CLI prints one line per error and exits with the code of the error's area.
 */
import { areaOf, ErrorArea, ErrorCode } from './catalogue';
import { EXIT } from './exit-codes';
import { safeText } from './safe-text';

export { allCodes, areaOf, describeCode, ERROR_CATALOGUE, isErrorCode } from './catalogue';
export type { CodeDoc, CodeIn, ErrorArea, ErrorCode } from './catalogue';
export { EXIT, EXIT_MEANINGS, exitCodeFor, exitCodesHelp } from './exit-codes';
export { escapeControl, MAX_LINE_CHARS, safeText } from './safe-text';

export interface ErrorContext {
  /** Input file the problem was found in. */
  file?: string;
  /** 1-based line number in `file`. */
  line?: number;
  /** Plugin name (and version, when known) the problem belongs to. */
  plugin?: string;
  version?: string;
  /** URL or reference involved (registry URL, oci:// reference, server URL). */
  url?: string;
  /** Filesystem path involved. */
  path?: string;
}

/** How every error is built: one object, so call sites name what they pass. */
export interface ErrorOptions {
  code: ErrorCode;
  message: string;
  context?: ErrorContext;
  /** What the operator should do about it. */
  hint?: string;
  cause?: unknown;
}

export class PluginServerError extends Error {
  /** Stable machine-readable code, e.g. `E_PROPERTIES_SYNTAX`, `E_REGISTRY_AUTH`. */
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  /** What the operator should do about it. */
  readonly hint?: string;

  constructor(o: ErrorOptions) {
    super(o.message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = new.target.name;
    this.code = o.code;
    this.context = o.context ?? {};
    this.hint = o.hint;
  }

  /** The catalogue area of the code: decides the exit code. */
  get area(): ErrorArea {
    return areaOf(this.code);
  }

  get exitCode(): number {
    return EXIT[this.area];
  }

  /** One line: `<where>: <message> (<hint>)`, where `<where>` is `file:line` and/or `plugin@version`. */
  toLine(): string {
    const where: string[] = [];
    if (this.context.file)
      where.push(this.context.line ? `${this.context.file}:${this.context.line}` : this.context.file);
    if (this.context.plugin)
      where.push(this.context.version ? `${this.context.plugin}@${this.context.version}` : this.context.plugin);
    const prefix = where.length ? `${where.join(' ')}: ` : '';
    // Messages quote what registries, servers and files said: one escaped, bounded line whatever they held.
    return safeText(`${prefix}${this.detail()}`);
  }

  /** The message and the hint, without the location (for lines that already name the plugin). */
  detail(): string {
    return `${this.message}${this.hint ? ` (${this.hint})` : ''}`;
  }
}

/** Bad user input: plugin list, lock file, snapshot, values, index. */
export class InputError extends PluginServerError {}
/** Talking to an OCI registry failed (auth, not found, server error, timeout). */
export class RegistryError extends PluginServerError {
  /** True for faults worth retrying (connection errors, 5xx other than 501/505). */
  readonly transient: boolean;
  constructor(o: ErrorOptions & { transient?: boolean }) {
    super(o);
    this.transient = o.transient ?? false;
  }
}
/** Bytes are not what they claim to be: digest mismatch, not wasm, truncated, oversize. */
export class IntegrityError extends PluginServerError {}
/** A published tree or server does not match its index/metadata. */
export class VerifyError extends PluginServerError {}
/** A command line that cannot work as given (beyond what the option parser checks). */
export class UsageError extends PluginServerError {}
/** The machine: permissions, disk space, missing tools, ports. */
export class EnvironmentError extends PluginServerError {}

const FS_CODES: Record<string, { code: ErrorCode; hint: (p: string) => string }> = {
  EACCES: {
    code: 'E_FS_ACCESS',
    hint: (p) => `permission denied: make ${p} writable for this user or choose another path`,
  },
  EPERM: { code: 'E_FS_ACCESS', hint: (p) => `operation not permitted on ${p}: check its permissions and owner` },
  EROFS: { code: 'E_FS_ACCESS', hint: (p) => `${p} is on a read-only file system: choose another path` },
  ENOSPC: {
    code: 'E_FS_NO_SPACE',
    hint: (p) => `no space left on the file system of ${p}: free space or choose another --out`,
  },
  EISDIR: { code: 'E_FS_IS_DIRECTORY', hint: (p) => `${p} is a directory: give a file path` },
  ENOTDIR: {
    code: 'E_FS_IS_DIRECTORY',
    hint: (p) => `a parent of ${p} is a file, not a directory: choose another path`,
  },
};

/**
 * A Node filesystem error (EACCES, ENOSPC, EISDIR...) as a catalogued EnvironmentError naming the
 * path and what to do; anything else is returned unchanged.
 */
export function fromFsError(err: unknown, fallbackPath?: string): unknown {
  const e = err as NodeJS.ErrnoException;
  const known = e && typeof e === 'object' && typeof e.code === 'string' ? FS_CODES[e.code] : undefined;
  if (!known) return err;
  const p = e.path ?? fallbackPath ?? '(unknown path)';
  return new EnvironmentError({
    code: known.code,
    message: `${e.code} on ${p}`,
    context: { path: p },
    hint: known.hint(p),
    cause: err,
  });
}

/** Formats any thrown value as one line for the CLI. */
export function errorLine(err: unknown): string {
  const known = fromFsError(err);
  if (known instanceof PluginServerError) return known.toLine();
  if (known instanceof Error) return safeText(known.message);
  return safeText(String(known));
}
