/**
 * What a failed `fetch` says, for one report line: Node's fetch rejects with "fetch failed" and keeps
 * the reason (ECONNREFUSED, ENOTFOUND, a TLS error...) in `cause`, which `pull`'s client already
 * names. `check` names it too, so a closed port reads as "connection refused", not "fetch failed".
 */
export function fetchFailure(err: unknown): string {
  const e = err as Error & { cause?: unknown };
  const parts = [e?.message || String(err)];
  for (let cause = e?.cause, depth = 0; cause && depth < 3; depth++) {
    const c = cause as Error & { code?: string; cause?: unknown; errors?: unknown[] };
    const text = c.message || c.code || (c.errors?.[0] as Error | undefined)?.message;
    if (text && !parts.includes(text)) parts.push(text);
    if (c.code && !parts.some((p) => p.includes(c.code!))) parts.push(c.code);
    cause = c.cause ?? c.errors?.[0];
  }
  return parts.join(': ');
}
