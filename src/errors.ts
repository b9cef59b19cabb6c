/**
 * Typed errors shared by every command. Each carries the context an operator needs to act on it
 * (file and line, plugin, URL) and a hint that says what to do; the CLI prints one line per error.
 */
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
}

export class PluginServerError extends Error {
  /** Stable machine-readable code, e.g. `E_PROPERTIES_SYNTAX`, `E_REGISTRY_AUTH`. */
  readonly code: string;
  readonly context: ErrorContext;
  /** What the operator should do about it. */
  readonly hint?: string;

  constructor(code: string, message: string, context: ErrorContext = {}, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.context = context;
    this.hint = hint;
  }

  /** One line: `<where>: <message> (<hint>)`, where `<where>` is `file:line` and/or `plugin@version`. */
  toLine(): string {
    const where: string[] = [];
    if (this.context.file) where.push(this.context.line ? `${this.context.file}:${this.context.line}` : this.context.file);
    if (this.context.plugin) where.push(this.context.version ? `${this.context.plugin}@${this.context.version}` : this.context.plugin);
    const prefix = where.length ? `${where.join(' ')}: ` : '';
    return `${prefix}${this.detail()}`;
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
  constructor(code: string, message: string, context: ErrorContext = {}, hint?: string, transient = false, options?: { cause?: unknown }) {
    super(code, message, context, hint, options);
    this.transient = transient;
  }
}
/** Bytes are not what they claim to be: digest mismatch, not wasm, truncated, oversize. */
export class IntegrityError extends PluginServerError {}
/** A published tree or server does not match its index/metadata. */
export class VerifyError extends PluginServerError {}

/** Formats any thrown value as one line for the CLI. */
export function errorLine(err: unknown): string {
  if (err instanceof PluginServerError) return err.toLine();
  if (err instanceof Error) return err.message;
  return String(err);
}
