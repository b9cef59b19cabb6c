/** What `bundle` and `mirror` record when one copy fails. */
import { PluginServerError } from '../errors';

/** A copy's failure as a typed error: ours as thrown, anything else (a stream's own error) as E_COPY with it as cause. */
export function copyFailure(err: unknown, url: string): PluginServerError {
  return err instanceof PluginServerError
    ? err
    : new PluginServerError({
        code: 'E_COPY',
        message: (err as Error).message ?? String(err),
        context: { url },
        cause: err,
      });
}
