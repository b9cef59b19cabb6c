/**
 * The defaults of `--concurrency`, one place for each command's: the option (and so its help text,
 * commander prints `(default: n)`) and the code that applies it when a caller passes none read them
 * from here.
 */

/** `pull`: distinct sources staged (resolved, downloaded, checked) at once. */
export const DEFAULT_PULL_CONCURRENCY = 8;
/** `bundle` and `mirror`: references copied in parallel. */
export const DEFAULT_COPY_CONCURRENCY = 4;
/** `check` and `check --oci`: downloads from the server in flight. */
export const DEFAULT_CHECK_CONCURRENCY = 4;
/** `outdated`: tags resolved (manifest and tag list requests, no blob) at once. */
export const DEFAULT_OUTDATED_CONCURRENCY = 8;
/** The most `--concurrency` accepts. */
export const MAX_CONCURRENCY = 64;
