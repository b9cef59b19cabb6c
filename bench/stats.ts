/** Median of a non-empty sample (the mean of the two middle values for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Smallest and largest value: the spread reported next to a median. */
export function spread(xs: number[]): { min: number; max: number } {
  return { min: Math.min(...xs), max: Math.max(...xs) };
}

/**
 * ABBA order for `rounds` rounds of two variants: A B B A, A B B A, ... Interleaving cancels a load
 * that drifts during the run (other work on the machine), which a block of A then a block of B would not.
 */
export function abbaOrder<T>(a: T, b: T, rounds: number): T[] {
  const out: T[] = [];
  for (let r = 0; r < rounds; r++) out.push(a, b, b, a);
  return out;
}
