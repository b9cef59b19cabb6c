/**
 * What a command prints. Two audiences, two streams: with `--json`, stdout carries only JSON lines
 * of one schema shared by pull, check, verify and index (docs/cli-events.schema.json); human lines
 * always go to stderr, except `check`'s result lines, which are its report and go to stdout.
 * A reader that closes stdout early (`| head -1`) stops the command quietly: `closed` aborts the work
 * so temp folders are removed by the normal cleanup, and no stack trace is printed.
 */
import {
  EXIT,
  exitCodeFor,
  ErrorArea,
  ErrorCode,
  ErrorContext,
  errorLine,
  fromFsError,
  PluginServerError,
  safeJsonLine,
  safeText,
} from '../errors';

export type CommandName = 'pull' | 'check' | 'verify' | 'index' | 'bundle' | 'mirror' | 'audit' | 'adopt' | 'outdated';

/** A problem as the JSON stream carries it: every failure has its catalogued code, and its context. */
export interface ProblemFields extends ErrorContext {
  code: ErrorCode;
  message: string;
  hint?: string;
}

export type CliEvent =
  | { event: 'start'; command: CommandName; plugins?: number; sources?: number }
  | ({
      event: 'plugin';
      command: CommandName;
      name: string;
      version: string;
      status: 'downloaded' | 'cached' | 'failed' | 'ok' | 'rebuilt' | 'kept' | 'pruned' | 'would-prune';
      size?: number;
      ms?: number;
      aliasOf?: string;
      url?: string;
    } & Partial<ProblemFields>)
  | ({ event: 'problem'; command: CommandName } & ProblemFields)
  | { event: 'skipped'; command: CommandName; path: string; reason: string }
  /** `check`: a path the server answered 404, and how often (its /metrics, docs/metrics.md). */
  | { event: 'missing'; command: CommandName; path: string; requests: number }
  /** `bundle` and `mirror`: one reference copied (or found already there, or failed) with every digest kept. */
  | ({
      event: 'copy';
      command: CommandName;
      source: string;
      target?: string;
      digest?: string;
      status: 'copied' | 'present' | 'updated' | 'failed';
      blobs?: number;
      blobsPresent?: number;
      bytes?: number;
      ms?: number;
    } & Partial<ProblemFields>)
  /** `audit`: one URL the cluster asks for (a WasmPlugin's, the Console's for one plugin, the controller's). */
  | ({
      event: 'url';
      command: CommandName;
      object: string;
      url: string;
      status: 'ok' | 'external' | 'failed';
      sha256?: string;
    } & Partial<ProblemFields>)
  /** `adopt`: one field of one object, planned, written, already as wanted, or whose plugin the server lacks. */
  | ({
      event: 'change';
      command: CommandName;
      object: string;
      field: string;
      from?: string;
      to?: string;
      status: 'planned' | 'applied' | 'unchanged' | 'missing' | 'reverted';
    } & Partial<ProblemFields>)
  /** `outdated`: one plugin's tag resolved now against the digest its lock, snapshot or pin holds. */
  | ({
      event: 'tag';
      command: CommandName;
      name: string;
      version: string;
      source: string;
      status: 'unchanged' | 'moved' | 'gone' | 'unloadable' | 'newer' | 'failed';
      pinned: string;
      digest?: string;
      newer?: string;
      reason?: string;
    } & Partial<ProblemFields>)
  | {
      event: 'summary';
      command: CommandName;
      ok: boolean;
      exitCode: number;
      counts: Record<string, number>;
      ms?: number;
    };

export function problemFields(err: unknown): ProblemFields {
  const e = fromFsError(err);
  if (e instanceof PluginServerError) {
    const c = e.context;
    return {
      code: e.code,
      message: e.message,
      hint: e.hint,
      file: c.file,
      line: c.line,
      plugin: c.plugin,
      version: c.version,
      url: c.url,
      path: c.path,
    };
  }
  return { code: 'E_PULL', message: errorLine(e) };
}

export function areaOfProblem(err: unknown): ErrorArea {
  const e = fromFsError(err);
  return e instanceof PluginServerError ? e.area : 'internal';
}

export class CliOutput {
  /** Aborted when the reader of stdout went away; long work should stop. */
  readonly closed = new AbortController();

  constructor(
    readonly command: CommandName,
    readonly json: boolean,
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly err: NodeJS.WritableStream = process.stderr,
  ) {
    out.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') {
        this.closed.abort(new PluginServerError({ code: 'E_OUTPUT_CLOSED', message: 'stdout was closed' }));
      }
    });
  }

  /** A JSON line on stdout (with --json only); every string escaped (safeJsonLine). */
  event(e: CliEvent): void {
    if (this.json && !this.closed.signal.aborted) this.out.write(`${safeJsonLine(e)}\n`);
  }

  /** A line for people, on stderr. */
  human(line: string): void {
    this.err.write(`${safeText(line)}\n`);
  }

  /** A report line (check's results): stdout for people; with --json the event carries it. */
  report(line: string): void {
    if (!this.json && !this.closed.signal.aborted) this.out.write(`${safeText(line)}\n`);
  }

  /** One line and one event per problem (input errors included). Returns the problems' areas. */
  problems(list: unknown[]): ErrorArea[] {
    for (const p of list) {
      // The code too, as on pull's FAILED lines: it is what docs/troubleshooting.md's table is keyed by.
      const known = fromFsError(p);
      this.human(`error: ${errorLine(p)}${known instanceof PluginServerError ? ` [${known.code}]` : ''}`);
      this.event({ event: 'problem', command: this.command, ...problemFields(p) });
    }
    return list.map(areaOfProblem);
  }

  /** The closing summary line and event; sets the exit code. */
  finish(opts: {
    areas: ErrorArea[];
    partial?: boolean;
    line: string;
    counts: Record<string, number>;
    ms?: number;
  }): void {
    let exitCode = exitCodeFor(opts.areas);
    if (exitCode !== EXIT.ok && opts.partial) exitCode = EXIT.partial;
    this.human(opts.line);
    this.event({
      event: 'summary',
      command: this.command,
      ok: exitCode === EXIT.ok,
      exitCode,
      counts: opts.counts,
      ms: opts.ms,
    });
    if (this.closed.signal.aborted) exitCode = exitCode || EXIT.ok;
    process.exitCode = exitCode;
  }
}
