/**
 * Pure rendering of the OCI view's text files from view.json's model. Same model, same bytes; `verify`
 * renders them again and compares.
 */
import {
  CATALOG_FILE,
  CATALOG_PAGES,
  hexOf,
  manifestFileName,
  MAPS_DIR,
  PAGES_DIR,
  repositoryName,
  TAG_PAGES,
  TAGS_DIR,
  ViewFile,
  ViewTag,
} from './layout';
import { renderPages } from './pages';
import { Lines, prettyJsonAt } from '../content/lines';

/** One tag as view.json holds it: only the model's fields, in this order. */
function viewTag(t: ViewTag): object {
  return {
    name: t.name,
    version: t.version,
    digest: t.digest,
    form: t.form,
    manifests: t.manifests.map((m) => ({ digest: m.digest, mediaType: m.mediaType })),
    blobs: t.blobs.map((b) => ({ digest: b.digest, size: b.size })),
    ...(t.from
      ? { from: { sha256: t.from.sha256, gzipSha256: t.from.gzipSha256, size: t.from.size, created: t.from.created } }
      : {}),
  };
}

/**
 * view.json in pieces, tag by tag: the bytes of `JSON.stringify(view, null, 2)` (each tag rendered alone
 * and indented to its depth; JSON strings hold no raw newline), so a writer never holds the whole
 * text of 20,000 tags (about 1 KB each) nor a copy of every tag at once.
 */
export function* viewChunks(view: ViewFile): Generator<string> {
  const head = `{\n  "schemaVersion": ${JSON.stringify(view.schemaVersion)},\n  "tags": `;
  if (view.tags.length === 0) {
    yield `${head}[]\n}\n`;
    return;
  }
  yield `${head}[\n`;
  for (const [i, t] of view.tags.entries())
    yield `    ${prettyJsonAt(viewTag(t), '    ')}${i + 1 < view.tags.length ? ',' : ''}\n`;
  yield '  ]\n}\n';
}

export function renderView(view: ViewFile): string {
  return [...viewChunks(view)].join('');
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Each plugin's tags, sorted, by plugin name in sorted order, from one pass over the view: a filter of
 * the whole view per name would be quadratic (20,000 one-tag plugins: 400 million comparisons, seconds
 * of a blocked event loop).
 */
function tagsByName(view: ViewFile): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const t of view.tags) {
    const versions = byName.get(t.name);
    if (versions) versions.push(t.version);
    else byName.set(t.name, [t.version]);
  }
  return new Map(
    [...byName.keys()].sort(byText).map((name) => [name, (byName.get(name) as string[]).sort(byText)] as const),
  );
}

/** GET /v2/_catalog: every repository, sorted (the spec's lexical order). */
export function renderCatalog(view: ViewFile, byName = tagsByName(view)): string {
  return catalogBody([...byName.keys()].map(repositoryName));
}

function catalogBody(repositories: string[]): string {
  return `${JSON.stringify({ repositories })}\n`;
}

function tagListBody(name: string, tags: string[]): string {
  return `${JSON.stringify({ name: repositoryName(name), tags })}\n`;
}

/** The tag list files of one plugin, by path under tags/ (see renderTagList). */
function* tagListFiles(name: string, tags: string[]): Generator<[string, string]> {
  yield [`${name}.json`, tagListBody(name, tags)];
  yield [`${name}/empty.json`, tagListBody(name, [])];
}

/**
 * Bodies of GET /v2/plugins/<name>/tags/list, by path under tags/: `<name>.json` (every tag, the answer
 * without `n` and `last`) and `<name>/empty.json` (`n=0`, a `last` that is no tag or the final one).
 */
export function renderTagList(view: ViewFile): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, tags] of tagsByName(view)) for (const [rel, text] of tagListFiles(name, tags)) out.set(rel, text);
  return out;
}

/** The scope of the catalog's keys in pagestarts.map and pagelinks.map (a repository name never starts with `_`). */
export const CATALOG_SCOPE = '_catalog';

/** The lines of pagestarts.map and pagelinks.map, gathered list by list while the pages are written. */
interface PageMaps {
  starts: string[];
  links: string[];
}

/**
 * The paginated lists (pages.ts), one list at a time: page bodies by path under pages/
 * (`catalog/<size>-<start>.json`, `catalog/empty.json`, `tags/<name>/<size>-<start>.json`), each list's
 * map lines added to `maps` as its pages are made.
 */
function* paginatedFiles(byName: Map<string, string[]>, maps: PageMaps): Generator<[string, string]> {
  const catalog = renderPages(CATALOG_SCOPE, [...byName.keys()].map(repositoryName), (repositories) =>
    catalogBody(repositories),
  );
  maps.starts.push(catalog.starts);
  maps.links.push(catalog.links);
  for (const [rel, text] of catalog.files) yield [`${CATALOG_PAGES}/${rel}`, text];
  yield [`${CATALOG_PAGES}/empty.json`, catalogBody([])];
  for (const [name, tags] of byName) {
    const pages = renderPages(repositoryName(name), tags, (page) => tagListBody(name, page));
    maps.starts.push(pages.starts);
    maps.links.push(pages.links);
    for (const [rel, text] of pages.files) yield [`${TAG_PAGES}/${name}/${rel}`, text];
  }
}

/**
 * The paginated lists (pages.ts): page bodies by path under pages/ (`catalog/<size>-<start>.json`,
 * `catalog/empty.json`, `tags/<name>/<size>-<start>.json`) and the two maps that find them.
 */
export function renderPaginated(
  view: ViewFile,
  byName = tagsByName(view),
): { files: Map<string, string>; starts: string; links: string } {
  const maps: PageMaps = { starts: [], links: [] };
  const files = new Map(paginatedFiles(byName, maps));
  return { files, starts: maps.starts.join(''), links: maps.links.join('') };
}

function mapLine(key: string, value: string): string {
  return `"${key}" "${value}";\n`;
}

/**
 * Nginx `map` bodies, keyed by the request path ($uri) so Nginx only opens files listed here:
 *   manifests.map     /v2/plugins/<name>/manifests/<tag or digest>  ->  <hex>.<kind>
 *   blobs.map         /v2/plugins/<name>/blobs/<digest>             ->  <hex>
 *   repositories.map  plugins/<name>                                ->  <name> (tags/<name>.json)
 *   pagestarts.map    <scope>|<last>                                ->  <align>/<start> of the next page (pages.ts)
 *   pagelinks.map     <scope>|<size>|<start>                        ->  the page's last entry, when more follow
 * (<scope>: `_catalog`, or `plugins/<name>` for its tags)
 */
export function renderMaps(
  view: ViewFile,
  paginated: { starts: string; links: string } = renderPaginated(view),
  byName = tagsByName(view),
): Map<string, string> {
  return new Map([...mapFiles(view, paginated, byName)].map(([file, pieces]) => [file, pieces.join('')]));
}

/**
 * The maps of renderMaps one at a time, each made when the one before it has been taken, and each in
 * pieces (TextPieces): the manifests and blobs maps of 20,000 versions each gather over 40,000 keys
 * before they are sorted, and making both before writing either, then each as one 6 MB string and its
 * 6 MB of bytes to write, was the peak of a pull's memory.
 */
function* mapFiles(
  view: ViewFile,
  paginated: { starts: string | string[]; links: string | string[] },
  byName: Map<string, string[]>,
): Generator<[string, TextPieces]> {
  yield [
    'manifests.map',
    sortedLines(function* () {
      for (const t of view.tags) {
        const base = `/v2/${repositoryName(t.name)}`;
        yield [`${base}/manifests/${t.version}`, manifestFileName(t.manifests[0])];
        for (const m of t.manifests) yield [`${base}/manifests/${m.digest}`, manifestFileName(m)];
      }
    }),
  ];
  yield [
    'blobs.map',
    sortedLines(function* () {
      for (const t of view.tags)
        for (const b of t.blobs) yield [`/v2/${repositoryName(t.name)}/blobs/${b.digest}`, hexOf(b.digest)];
    }),
  ];
  yield ['repositories.map', Lines.piecesOf(byName.keys(), (n) => mapLine(repositoryName(n), n))];
  yield ['pagestarts.map', [paginated.starts].flat()];
  yield ['pagelinks.map', [paginated.links].flat()];
}

/** The lines of a map, one per key (the last value given for it), sorted by key. */
function sortedLines(pairs: () => Iterable<readonly [string, string]>): TextPieces {
  const byKey = new Map(pairs());
  return Lines.piecesOf(
    [...byKey.entries()].sort(([a], [b]) => byText(a, b)),
    ([k, v]) => mapLine(k, v),
  );
}

/** A text as pieces that follow each other: written and compared piece by piece, never joined. */
export type TextPieces = readonly string[];

/**
 * Every text file of the view besides view.json, by path under oci/ (`/`-separated), one at a time and
 * in pieces (TextPieces): the catalog, the tag lists, their pages and the Nginx maps (last: the page
 * maps gather their lines while the pages are made). A writer holds one file at a time, not the whole
 * set (at 20,000 versions tens of thousands of files). Each path comes once.
 */
export function* textFiles(view: ViewFile): Generator<[string, TextPieces]> {
  const byName = tagsByName(view);
  yield [CATALOG_FILE, [renderCatalog(view, byName)]];
  for (const [name, tags] of byName)
    for (const [rel, text] of tagListFiles(name, tags)) yield [`${TAGS_DIR}/${rel}`, [text]];
  const maps: PageMaps = { starts: [], links: [] };
  for (const [rel, text] of paginatedFiles(byName, maps)) yield [`${PAGES_DIR}/${rel}`, [text]];
  const paginated = { starts: maps.starts, links: maps.links };
  maps.starts = [];
  maps.links = [];
  for (const [file, pieces] of mapFiles(view, paginated, byName)) yield [`${MAPS_DIR}/${file}`, pieces];
}

/** textFiles as a map of whole texts: `verify`'s tests and the others look files up by path. */
export function renderTextFiles(view: ViewFile): Map<string, string> {
  return new Map([...textFiles(view)].map(([rel, pieces]) => [rel, pieces.join('')]));
}
