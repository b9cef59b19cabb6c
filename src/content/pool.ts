/**
 * How many small tree reads (a folder listing, a metadata.json, an lstat) are in flight at once. One
 * at a time, a tree of thousands of versions waits for each round trip to libuv's threads in turn
 * (5,000 versions: seconds of idle main thread, BENCHMARKS.md section `scale`); a few dozen keep
 * those threads and the disk busy.
 */
export const TREE_READ_CONCURRENCY = 32;

/**
 * How many durable writes (a file written and fsynced, a folder published) are in flight at once.
 * ext4 commits concurrent fsyncs in one journal transaction: 2 KB files written and fsynced one at a
 * time took 2.6 ms each on this project's machine, 16 at once 0.24 ms each (64 at once no better), so
 * a tree of thousands of versions is written in seconds rather than minutes (BENCHMARKS.md, `scale`).
 */
export const DURABLE_WRITE_CONCURRENCY = 16;

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/**
 * Runs `fn` over what `items` yields, at most `limit` in flight, taking the next item only when a slot
 * frees: a generator of thousands of rendered files is held a few at a time, never whole.
 */
export async function forEachLimit<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const it = items[Symbol.iterator]();
  let done = false;
  const worker = async (): Promise<void> => {
    while (!done) {
      const next = it.next();
      if (next.done) {
        done = true;
        return;
      }
      await fn(next.value);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  } finally {
    // A failed call stops the others at their next item; the generator's own clean-up runs.
    done = true;
    it.return?.();
  }
}

/** A gate for at most `limit` calls of `fn` in flight at once, across every caller that shares it; others wait in order. */
export function limiter(limit: number): <R>(fn: () => Promise<R>) => Promise<R> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <R>(fn: () => Promise<R>): Promise<R> => {
    while (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
