// Pagination of _catalog and tags/list (src/ociview/pages.ts): the rules, and the files and maps that
// make image/nginx.conf answer by them. The nginx.conf maps are read from the shipped file and
// evaluated the way Nginx evaluates a `map` (exact keys case-insensitively, then regexes in order,
// then the default), so a drift between the config and the rules fails here; the real Nginx answers
// the same walks in test/ociview-pagination.test.ts.
import * as fs from 'fs';
import * as path from 'path';
import { Lines } from '../src/content/lines';
import { alignAt, MAX_PAGE, PAGE_SIZES, pageOf, parsePageN, renderPages } from '../src/ociview/pages';

const entries = Array.from({ length: 1234 }, (_, i) => `plugins/p${String(i).padStart(4, '0')}`);

describe('the rules', () => {
  test('map lines joined in batches are the lines in order (none, fewer than a batch, several batches)', () => {
    for (const n of [0, 1, 1023, 1024, 1025, 5000]) {
      const items = Array.from({ length: n }, (_, i) => i);
      expect(Lines.piecesOf(items, (i) => `"k${i}" "v${i}";\n`).join('')).toBe(
        items.map((i) => `"k${i}" "v${i}";\n`).join(''),
      );
    }
  });

  test('n: digits only, rounded down to a page size; absent means the whole list', () => {
    expect(parsePageN(undefined)).toEqual({ kind: 'all' });
    expect(parsePageN('')).toEqual({ kind: 'all' });
    for (const bad of ['-1', 'abc', '1.5', ' 2', '0x10', '+3', '1e3'])
      expect([bad, parsePageN(bad)]).toEqual([bad, { kind: 'invalid' }]);
    expect(parsePageN('0')).toEqual({ kind: 'none' });
    expect(parsePageN('000')).toEqual({ kind: 'none' });
    const size = (n: string) => {
      const r = parsePageN(n);
      return r.kind === 'page' ? r.size : r.kind;
    };
    expect(['1', '2', '9', '10', '49', '50', '99', '100', '499', '500', '999', '1000', '007'].map(size)).toEqual([
      1, 2, 2, 10, 10, 50, 50, 100, 100, 500, 500, 1000, 2,
    ]);
    expect(size('99999999999999999999999')).toBe(MAX_PAGE);
  });

  test('the page sizes form a divisibility chain, so every aligned start of a size is one of the smaller ones', () => {
    for (let i = 1; i < PAGE_SIZES.length; i++) expect(PAGE_SIZES[i - 1] % PAGE_SIZES[i]).toBe(0);
    expect(alignAt(0, 5000)).toBe(1000);
    expect(alignAt(1500, 5000)).toBe(500);
    expect(alignAt(1234, 5000)).toBe(2);
    expect(alignAt(1233, 5000)).toBe(1);
    // the rest of the list fits a smaller page: no larger page is made at that start
    expect(alignAt(0, 3)).toBe(10);
    expect(alignAt(4990, 5000)).toBe(10);
  });

  test('first page: at most n entries and a Link to the rest', () => {
    expect(pageOf(entries, '100', undefined)).toEqual({ entries: entries.slice(0, 100), next: entries[99] });
    expect(pageOf(entries, '1', undefined)).toEqual({ entries: entries.slice(0, 1), next: entries[0] });
  });

  test('a middle page starts after `last`; a start not aligned to n gives a shorter page, still with a Link', () => {
    expect(pageOf(entries, '100', entries[99])).toEqual({ entries: entries.slice(100, 200), next: entries[199] });
    const odd = pageOf(entries, '100', entries[6]);
    expect(odd).toEqual({ entries: [entries[7]], next: entries[7] });
  });

  test('the last page has no Link; `last` at or past the end, or no entry at all, gives an empty list', () => {
    expect(pageOf(entries, '1000', entries[999])).toEqual({ entries: entries.slice(1000) });
    expect(pageOf(entries, '10', entries[1233])).toEqual({ entries: [] });
    expect(pageOf(entries, '10', 'plugins/zzz')).toEqual({ entries: [] });
    expect(pageOf(entries, undefined, 'plugins/zzz')).toEqual({ entries: [] });
  });

  test('n=0 is an empty list without a Link; a bad n is refused', () => {
    expect(pageOf(entries, '0', undefined)).toEqual({ entries: [] });
    expect(pageOf(entries, '0', entries[3])).toEqual({ entries: [] });
    expect(pageOf(entries, 'x', undefined)).toBe('invalid');
    expect(pageOf(entries, '-5', entries[3])).toBe('invalid');
  });

  test('no n: the whole list; `last` alone: pages of the largest size', () => {
    expect(pageOf(entries, undefined, undefined)).toEqual({ entries });
    expect(pageOf(entries, undefined, entries[999])).toEqual({ entries: entries.slice(1000) });
    expect(pageOf(entries, undefined, entries[0])).toEqual({ entries: [entries[1]], next: entries[1] });
  });

  test('walking the Links from any start visits every entry once, in order, never more than n at a time', () => {
    for (const n of ['1', '3', '10', '37', '100', '1000', '5000']) {
      for (const from of [undefined, entries[0], entries[776]]) {
        const seen: string[] = [];
        let last = from;
        for (let step = 0; step < 5000; step++) {
          const page = pageOf(entries, n, last);
          if (page === 'invalid') throw new Error('invalid');
          expect(page.entries.length).toBeLessThanOrEqual(Number(n));
          seen.push(...page.entries);
          if (!page.next) break;
          last = page.next;
        }
        expect(seen).toEqual(entries.slice(from ? entries.indexOf(from) + 1 : 0));
      }
    }
  });
});

/** One `map` block of image/nginx.conf: its source expression, the variable it sets, and its lines. */
interface NginxMap {
  source: string;
  exact: Map<string, string>;
  regexes: Array<[RegExp, string]>;
  fallback: string;
}

const CONF = fs.readFileSync(path.join(__dirname, '..', 'image', 'nginx.conf'), 'utf8');

function unquote(token: string): string {
  return token.startsWith('"') ? token.slice(1, -1).replace(/\\"/g, '"') : token;
}

/** Parses `map <source> $<name> { ... }` of the shipped config; `include`d files come from `included`. */
function parseMap(name: string, included: Record<string, string>): NginxMap {
  const m = new RegExp(`map\\s+("[^"]*"|\\S+)\\s+\\$${name}\\s*\\{([\\s\\S]*?)\\n\\s*\\}`).exec(CONF);
  if (!m) throw new Error(`no map $${name} in image/nginx.conf`);
  const out: NginxMap = { source: unquote(m[1]), exact: new Map(), regexes: [], fallback: '' };
  const lines: string[] = [];
  for (const line of m[2].split('\n')) {
    const inc = /^\s*include\s+\S*\/([a-z]+\.map)\*;/.exec(line);
    if (inc) lines.push(...(included[inc[1]] ?? '').split('\n'));
    else lines.push(line);
  }
  for (const line of lines) {
    const t = /^\s*("(?:[^"\\]|\\.)*"|\S+)\s+("(?:[^"\\]|\\.)*"|\S+);/.exec(line);
    if (!t) continue;
    const [key, value] = [unquote(t[1]), unquote(t[2])];
    if (t[1] === 'default') out.fallback = value;
    else if (key.startsWith('~')) out.regexes.push([new RegExp(key.slice(1)), value]);
    else out.exact.set(key.toLowerCase(), value);
  }
  return out;
}

/** Expands `$name` and `${name}` from `vars` (unknown names are left to `lookup`). */
function expand(template: string, lookup: (name: string) => string): string {
  return template.replace(/\$\{?([a-z_0-9]+)\}?/g, (_, v: string) => lookup(v));
}

const parsed = new WeakMap<object, Map<string, NginxMap>>();

/** What the shipped config answers for a list request: the page file and the Link, or the 400. */
function nginxAnswer(
  scope: string,
  uri: string,
  args: { n?: string; last?: string },
  included: Record<string, string>,
): { file: string; link: string } | 'invalid' {
  const names = [
    'oci_page_bucket',
    'oci_page_at',
    'oci_page_start',
    'oci_page_size',
    'oci_page_next',
    'oci_page_link_n',
    'oci_page_link',
  ];
  let maps = parsed.get(included);
  if (!maps) parsed.set(included, (maps = new Map(names.map((n) => [n, parseMap(n, included)]))));
  const cache = new Map<string, string>();
  const get = (v: string): string => {
    if (v === 'arg_n') return args.n ?? '';
    if (v === 'arg_last') return args.last ?? '';
    if (v === 'oci_page_scope') return scope;
    if (v === 'uri') return uri;
    const cached = cache.get(v);
    if (cached !== undefined) return cached;
    const map = maps.get(v);
    if (!map) throw new Error(`unknown variable $${v}`);
    const key = expand(map.source, get);
    const exact = map.exact.get(key.toLowerCase());
    let value = exact === undefined ? undefined : expand(exact, get);
    if (value === undefined) {
      for (const [re, template] of map.regexes) {
        const hit = re.exec(key);
        if (hit) {
          value = expand(template, (g) => hit.groups?.[g] ?? get(g));
          break;
        }
      }
    }
    value ??= expand(map.fallback, get);
    cache.set(v, value);
    return value;
  };
  if (get('oci_page_bucket') === 'bad') return 'invalid';
  const size = get('oci_page_size');
  if (size === 'all') return { file: 'all', link: '' };
  if (size === '0') return { file: 'empty', link: '' };
  return { file: `${size}-${get('oci_page_start')}.json`, link: get('oci_page_link') };
}

describe('image/nginx.conf with the maps the view writes', () => {
  test.each([
    ['a catalog of 1234 repositories', '_catalog', '/v2/_catalog', entries],
    [
      'a repository with 23 tags',
      'plugins/many',
      '/v2/plugins/many/tags/list',
      entries.slice(0, 23).map((e) => e.slice(9)),
    ],
    ['a repository with one tag', 'plugins/one', '/v2/plugins/one/tags/list', ['1.0.0']],
  ])('%s: every request answers as the rules say', (_what, scope, uri, list) => {
    const pages = renderPages(scope, list, (page) => JSON.stringify(page));
    const included = { 'pagestarts.map': pages.starts, 'pagelinks.map': pages.links };
    const lasts = [undefined, 'nope', ...list.filter((_, i) => i % 7 === 0 || i > list.length - 3)];
    const ns = [
      undefined,
      '0',
      '00',
      '1',
      '2',
      '3',
      '9',
      '10',
      '25',
      '50',
      '99',
      '100',
      '250',
      '500',
      '1000',
      '9999',
      'x',
      '-1',
    ];
    for (const last of lasts) {
      for (const n of ns) {
        const want = pageOf(list, n, last);
        const got = nginxAnswer(scope, uri, { n, last }, included);
        if (want === 'invalid') {
          expect([n, last, got]).toEqual([n, last, 'invalid']);
          continue;
        }
        if (got === 'invalid') throw new Error(`n=${n} last=${last}: nginx refuses a valid request`);
        const body = got.file === 'all' ? list : got.file === 'empty' ? [] : JSON.parse(pages.files.get(got.file)!);
        expect([n, last, body]).toEqual([n, last, want.entries]);
        const link = want.next ? `<${uri}?${n === undefined ? '' : `n=${n}&`}last=${want.next}>; rel="next"` : '';
        expect([n, last, got.link]).toEqual([n, last, link]);
      }
    }
  });

  test('a client that percent-encodes the `/` of a repository name in `last` gets the same page', () => {
    const pages = renderPages('_catalog', entries, (page) => JSON.stringify(page));
    const included = { 'pagestarts.map': pages.starts, 'pagelinks.map': pages.links };
    for (const last of ['plugins%2Fp0099', 'plugins%2fp0099'])
      expect(nginxAnswer('_catalog', '/v2/_catalog', { n: '100', last }, included)).toEqual(
        nginxAnswer('_catalog', '/v2/_catalog', { n: '100', last: 'plugins/p0099' }, included),
      );
  });

  test('the files: about 1.7 pages per entry, the largest no more than MAX_PAGE entries', () => {
    const pages = renderPages('_catalog', entries, (page) => JSON.stringify(page));
    expect(pages.files.size).toBeLessThan(entries.length * 1.7);
    expect(Math.max(...[...pages.files.values()].map((b) => (JSON.parse(b) as string[]).length))).toBe(MAX_PAGE);
  });
});
