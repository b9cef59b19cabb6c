/**
 * The `created` time of a published version, chosen so rebuilds are byte-identical: the OCI
 * annotation/config time, else SOURCE_DATE_EPOCH, else (file: sources) the file's mtime, else the
 * Unix epoch. Never the wall clock.
 */
import { InputError } from '../errors';
import { rfc3339 } from '../content/fsutil';

export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new InputError('E_SOURCE_DATE_EPOCH', `SOURCE_DATE_EPOCH=${v} is not a number of seconds`, {}, 'set it to an integer Unix time or unset it');
  return rfc3339(new Date(Number(v) * 1000));
}

export function chooseCreated(opts: { annotation?: string; sourceDateEpoch?: string; fileMtime?: Date }): string {
  if (opts.annotation) {
    const d = new Date(opts.annotation);
    if (!Number.isNaN(d.getTime())) return rfc3339(d);
  }
  if (opts.sourceDateEpoch) return opts.sourceDateEpoch;
  if (opts.fileMtime) return rfc3339(new Date(Math.floor(opts.fileMtime.getTime() / 1000) * 1000));
  return '1970-01-01T00:00:00Z';
}
