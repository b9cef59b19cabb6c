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
} from './layout';
import { eachPage } from './pages';

export function renderView(view: ViewFile): string {
  const tags = view.tags.map((t) => ({
    name: t.name,
    version: t.version,
    digest: t.digest,
    form: t.form,
    manifests: t.manifests.map((m) => ({ digest: m.digest, mediaType: m.mediaType })),
    blobs: t.blobs.map((b) => ({ digest: b.digest, size: b.size })),
    ...(t.from
      ? { from: { sha256: t.from.sha256, gzipSha256: t.from.gzipSha256, size: t.from.size, created: t.from.created } }
      : {}),
  }));
  return `${JSON.stringify({ schemaVersion: view.schemaVersion, tags }, null, 2)}\n`;
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function pluginNames(view: ViewFile): string[] {
  return [...new Set(view.tags.map((t) => t.name))].sort(byCodeUnit);
}

/** GET /v2/_catalog: every repository, sorted (the spec's lexical order). */
export function renderCatalog(view: ViewFile): string {
  return catalogBody(pluginNames(view).map(repositoryName));
}

function catalogBody(repositories: string[]): string {
  return `${JSON.stringify({ repositories })}\n`;
}

/**
 * Each plugin's versions, sorted, from one pass over the tags: a lookup per plugin over every tag
 * would cost (plugins x tags), 25 million steps at 5,000 plugins and 400 million at 20,000.
 */
function tagsByName(view: ViewFile): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const t of view.tags) {
    const list = out.get(t.name);
    if (list) list.push(t.version);
    else out.set(t.name, [t.version]);
  }
  for (const list of out.values()) list.sort(byCodeUnit);
  return out;
}

function tagListBody(name: string, tags: string[]): string {
  return `${JSON.stringify({ name: repositoryName(name), tags })}\n`;
}

/**
 * Bodies of GET /v2/plugins/<name>/tags/list, by path under tags/: `<name>.json` (every tag, the answer
 * without `n` and `last`) and `<name>/empty.json` (`n=0`, a `last` that is no tag or the final one).
 */
export function renderTagList(view: ViewFile): Map<string, string> {
  return new Map(eachTagList(pluginNames(view), tagsByName(view)));
}

function* eachTagList(names: string[], tags: Map<string, string[]>): Generator<[string, string]> {
  for (const name of names) {
    yield [`${name}.json`, tagListBody(name, tags.get(name) ?? [])];
    yield [`${name}/empty.json`, tagListBody(name, [])];
  }
}

/** The scope of the catalog's keys in pagestarts.map and pagelinks.map (a repository name never starts with `_`). */
export const CATALOG_SCOPE = '_catalog';

/** The lines of pagestarts.map and pagelinks.map (pages.ts). */
interface PageMaps {
  starts: string;
  links: string;
}

/**
 * The paginated lists (pages.ts): page bodies by path under pages/ (`catalog/<size>-<start>.json`,
 * `catalog/empty.json`, `tags/<name>/<size>-<start>.json`) and the two maps that find them.
 */
export function renderPaginated(view: ViewFile): { files: Map<string, string> } & PageMaps {
  const maps: PageMaps = { starts: '', links: '' };
  const files = new Map(eachPaginated(pluginNames(view), tagsByName(view), maps));
  return { files, ...maps };
}

/** renderPaginated one file at a time; `maps` holds the two maps' lines once the last file is out. */
function* eachPaginated(names: string[], versions: Map<string, string[]>, maps: PageMaps): Generator<[string, string]> {
  const catalog = yield* prefixed(
    `${CATALOG_PAGES}/`,
    eachPage(CATALOG_SCOPE, names.map(repositoryName), (repositories) => catalogBody(repositories)),
  );
  yield [`${CATALOG_PAGES}/empty.json`, catalogBody([])];
  // Joined once at the end (a `+=` per plugin left a chain of string pieces as long as the view).
  const starts = [catalog.starts];
  const links = [catalog.links];
  for (const name of names) {
    const tags = yield* prefixed(
      `${TAG_PAGES}/${name}/`,
      eachPage(repositoryName(name), versions.get(name) ?? [], (page) => tagListBody(name, page)),
    );
    starts.push(tags.starts);
    links.push(tags.links);
  }
  maps.starts = starts.join('');
  maps.links = links.join('');
}

/** The files of `files` with `prefix` before their paths; its return value. */
function* prefixed<R>(prefix: string, files: Generator<[string, string], R>): Generator<[string, string], R> {
  for (;;) {
    const next = files.next();
    if (next.done) return next.value;
    yield [`${prefix}${next.value[0]}`, next.value[1]];
  }
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
export function renderMaps(view: ViewFile, paginated: PageMaps = renderPaginated(view)): Map<string, string> {
  const manifests = new Map<string, string>();
  const blobs = new Map<string, string>();
  for (const t of view.tags) {
    const base = `/v2/${repositoryName(t.name)}`;
    manifests.set(`${base}/manifests/${t.version}`, manifestFileName(t.manifests[0]));
    for (const m of t.manifests) manifests.set(`${base}/manifests/${m.digest}`, manifestFileName(m));
    for (const b of t.blobs) blobs.set(`${base}/blobs/${b.digest}`, hexOf(b.digest));
  }
  const lines = (m: Map<string, string>) =>
    [...m.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => mapLine(k, v))
      .join('');
  return new Map([
    ['manifests.map', lines(manifests)],
    ['blobs.map', lines(blobs)],
    [
      'repositories.map',
      pluginNames(view)
        .map((n) => mapLine(repositoryName(n), n))
        .join(''),
    ],
    ['pagestarts.map', paginated.starts],
    ['pagelinks.map', paginated.links],
  ]);
}

/**
 * Every text file of the view besides view.json, by path under oci/ (`/`-separated): the catalog, the
 * tag lists, their pages and the Nginx maps. `pull` writes them, `verify` and an unchanged-view check compare them.
 */
export function renderTextFiles(view: ViewFile): Map<string, string> {
  return new Map(eachTextFile(view));
}

/**
 * renderTextFiles one file at a time, in the same order: `verify` compares each with the file on disk
 * and drops it (the view of 20,000 plugins has about 70,000 of them).
 */
export function* eachTextFile(view: ViewFile): Generator<[string, string]> {
  yield [CATALOG_FILE, renderCatalog(view)];
  const names = pluginNames(view);
  const versions = tagsByName(view);
  for (const [rel, text] of eachTagList(names, versions)) yield [`${TAGS_DIR}/${rel}`, text];
  const maps: PageMaps = { starts: '', links: '' };
  for (const [rel, text] of eachPaginated(names, versions, maps)) yield [`${PAGES_DIR}/${rel}`, text];
  for (const [file, text] of renderMaps(view, maps)) yield [`${MAPS_DIR}/${file}`, text];
}
