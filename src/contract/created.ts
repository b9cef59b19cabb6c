/**
 * The `created` time of a published version, chosen so rebuilds are byte-identical: the OCI
 * annotation/config time, else SOURCE_DATE_EPOCH, else (file: sources) the file's mtime, else the
 * Unix epoch. Never the wall clock.
 */
import { ErrorContext, InputError } from '../errors';

/** RFC 3339 UTC with second precision: `2024-05-01T12:00:00Z`. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A created time from metadata or a list: RFC 3339, else a one-line InputError naming the plugin. */
export function parseCreated(created: string, ctx: ErrorContext = {}): Date {
  const d = new Date(created);
  if (Number.isNaN(d.getTime()))
    throw new InputError({
      code: 'E_CREATED',
      message: `invalid created time ${JSON.stringify(created)}`,
      context: ctx,
      hint: 'use RFC 3339, e.g. 2024-05-01T00:00:00Z',
    });
  return d;
}

/** A file's mtime as a created time: whole seconds, so rebuilds on other file systems agree. */
export function createdFromMtime(mtime: Date): string {
  return rfc3339(new Date(Math.floor(mtime.getTime() / 1000) * 1000));
}

export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v))
    throw new InputError({
      code: 'E_SOURCE_DATE_EPOCH',
      message: `SOURCE_DATE_EPOCH=${v} is not a number of seconds`,
      hint: 'set it to an integer Unix time or unset it',
    });
  return rfc3339(new Date(Number(v) * 1000));
}

export function chooseCreated(opts: { annotation?: string; sourceDateEpoch?: string; fileMtime?: Date }): string {
  if (opts.annotation) {
    const d = new Date(opts.annotation);
    if (!Number.isNaN(d.getTime())) return rfc3339(d);
  }
  if (opts.sourceDateEpoch) return opts.sourceDateEpoch;
  if (opts.fileMtime) return createdFromMtime(opts.fileMtime);
  return '1970-01-01T00:00:00Z';
}
