/**
 * Pagination of the OCI view's lists (`GET /v2/_catalog` and `GET /v2/<name>/tags/list` with `n` and
 * `last`), served by Nginx from static files without any code at request time.
 *
 * The rules (OCI distribution-spec "Listing Tags", the Docker registry's catalog):
 *   - no `n`, no `last`: the whole list, as before pagination existed;
 *   - `n` not a non-negative integer: 400 PAGINATION_NUMBER_INVALID;
 *   - `n=0`: an empty list and no `Link`;
 *   - otherwise entries start after `last` (from the beginning without it), at most `n` of them, and a
 *     `Link: <path?n=<n>&last=<last entry sent>>; rel="next"` when more follow. The spec lets a
 *     response hold fewer than `n` entries when it carries that `Link`, which is what makes static
 *     pages possible: a page is never longer than `n`, but it may be shorter;
 *   - `last` without `n`: a page of at most MAX_PAGE entries, with a `Link` (no `n`) when more follow;
 *   - a `last` that is not an entry of the list (the spec requires a real tag), and the list's final
 *     entry: an empty list and no `Link`.
 *
 * Pages are cut at sizes of one divisibility chain (PAGE_SIZES: each divides the next) and start only
 * at multiples of their size. A request's page is min(its `n` rounded down to the chain, the largest
 * size its start is a multiple of): a walk that starts anywhere reaches full `n`-sized pages within a
 * few steps, and the files are about 1.7 per entry instead of one per (start, n) pair. Pure.
 */
import { Lines } from '../content/lines';

/** Page sizes, largest first: each divides the previous one (the chain image/nginx.conf's `$oci_page_bucket` rounds `n` down to). */
export const PAGE_SIZES = [1000, 500, 100, 50, 10, 2, 1] as const;
export type PageSize = (typeof PAGE_SIZES)[number];
/** The largest page; `last` without `n` gets pages of this size. */
export const MAX_PAGE = PAGE_SIZES[0];

/** What a request's `n` asks for: the whole list (no `n`), nothing (`0`), a page size, or an error. */
export type PageRequest = { kind: 'all' } | { kind: 'none' } | { kind: 'page'; size: PageSize } | { kind: 'invalid' };

/** Parses `n` as image/nginx.conf does (`$oci_page_bucket`): digits only, leading zeros allowed, rounded down to PAGE_SIZES. */
export function parsePageN(n: string | undefined): PageRequest {
  if (n === undefined || n === '') return { kind: 'all' };
  if (!/^[0-9]+$/.test(n)) return { kind: 'invalid' };
  const digits = n.replace(/^0+(?=.)/, '');
  if (/^0+$/.test(digits)) return { kind: 'none' };
  // Beyond 4 digits the value may not fit a number; it is over MAX_PAGE either way.
  const value = digits.length > 4 ? Infinity : Number(digits);
  return { kind: 'page', size: PAGE_SIZES.find((s) => s <= value) ?? 1 };
}

/**
 * The largest page a walk may take from `start`: the largest size of the chain that `start` is a
 * multiple of, but no larger than the smallest size that holds the rest of the list (so the last
 * pages of a list exist once, not once per size).
 */
export function alignAt(start: number, count: number): PageSize {
  const rest = count - start;
  const cap = [...PAGE_SIZES].reverse().find((s) => s >= rest) ?? MAX_PAGE;
  return PAGE_SIZES.find((s) => s <= cap && start % s === 0) ?? 1;
}

export interface Page {
  entries: string[];
  /** The `last` of the next request when more entries follow (the `Link` header), else undefined. */
  next?: string;
}

/**
 * One response of a paginated list, by the rules above: what the files and maps of renderPages make
 * Nginx answer (the integration test walks both and compares). `entries` must be sorted and unique.
 */
export function pageOf(entries: readonly string[], n: string | undefined, last: string | undefined): Page | 'invalid' {
  const req = parsePageN(n);
  if (req.kind === 'invalid') return 'invalid';
  if (req.kind === 'none') return { entries: [] };
  if (req.kind === 'all' && !last) return { entries: [...entries] };
  const start = last ? entries.indexOf(last) + 1 : 0;
  if (last && start === 0) return { entries: [] };
  if (start >= entries.length) return { entries: [] };
  const size = Math.min(req.kind === 'page' ? req.size : MAX_PAGE, alignAt(start, entries.length));
  const page = entries.slice(start, start + size);
  return start + size < entries.length ? { entries: page, next: page[page.length - 1] } : { entries: page };
}

/** The files and map lines that serve one list's pages (see image/nginx.conf, "pagination"). */
export interface RenderedPages {
  /** Page bodies by file name in the list's page folder: `<size>-<start>.json`. */
  files: Map<string, string>;
  /**
   * `pagestarts.map` lines: `"<scope>|<last>" "<align>/<start>"` (`"<scope>|"` for no `last`), `end` after
   * the final entry, `whole` for the start of a one-entry list.
   */
  starts: string;
  /** `pagelinks.map` lines: `"<scope>|<size>|<start>" "<last entry of the page>"` for pages that more entries follow. */
  links: string;
}

function mapLine(key: string, value: string): string {
  return `"${key}" "${value}";\n`;
}

/**
 * The pages of one list. `scope` is the first part of every map key (`_catalog`, or the repository
 * name for its tags), `body` renders a page's entries as the response body. Entries contain only
 * SAFE_SEGMENT characters and `/`; a `/` also gets a `%2F` key, since clients percent-encode `last`
 * (Nginx compares map keys without decoding, and case-insensitively, so `%2f` is the same key).
 */
export function renderPages(
  scope: string,
  entries: readonly string[],
  body: (page: string[]) => string,
): RenderedPages {
  const files = new Map<string, string>();
  // Not `+=` per line: that left a chain of a million string pieces for a view of 20,000 plugins,
  // each a heap object until the text was first written (see lines.ts).
  const starts = new Lines();
  const links = new Lines();
  const count = entries.length;
  for (let start = 0; start <= count; start++) {
    const last = start === 0 ? '' : entries[start - 1];
    // A list of one entry (most plugins have one tag): any page of it is the whole list's file.
    const at = start === count ? 'end' : count === 1 ? 'whole' : `${alignAt(start, count)}/${start}`;
    starts.add(mapLine(`${scope}|${last}`, at));
    if (last.includes('/')) starts.add(mapLine(`${scope}|${last.split('/').join('%2F')}`, at));
    if (start === count || count === 1) break;
    const align = alignAt(start, count);
    for (const size of PAGE_SIZES) {
      if (size > align) continue;
      const page = entries.slice(start, start + size);
      files.set(`${size}-${start}.json`, body(page));
      if (start + size < count) links.add(mapLine(`${scope}|${size}|${start}`, page[page.length - 1]));
    }
  }
  return { files, starts: starts.text(), links: links.text() };
}
