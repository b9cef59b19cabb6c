/**
 * Pure rendering of the OCI view's text files from view.json's model. Same model, same bytes; `verify`
 * renders them again and compares.
 */
import { CATALOG_FILE, hexOf, manifestFileName, MAPS_DIR, repositoryName, TAGS_DIR, ViewFile } from './layout';

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

function pluginNames(view: ViewFile): string[] {
  return [...new Set(view.tags.map((t) => t.name))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** GET /v2/_catalog: every repository, sorted (the spec's lexical order). */
export function renderCatalog(view: ViewFile): string {
  return `${JSON.stringify({ repositories: pluginNames(view).map(repositoryName) })}\n`;
}

function tagsOf(view: ViewFile, name: string): string[] {
  return view.tags
    .filter((t) => t.name === name)
    .map((t) => t.version)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function tagListBody(name: string, tags: string[]): string {
  return `${JSON.stringify({ name: repositoryName(name), tags })}\n`;
}

/**
 * Bodies of GET /v2/plugins/<name>/tags/list, by path under tags/: `<name>.json` (every tag), and for
 * the spec's `?last=<tag>` pagination `<name>/after/<tag>.json` (the tags after it) and
 * `<name>/empty.json` (a `last` that is no tag). `n` is not honoured: a plugin has a handful of tags.
 */
export function renderTagList(view: ViewFile): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of pluginNames(view)) {
    const tags = tagsOf(view, name);
    out.set(`${name}.json`, tagListBody(name, tags));
    out.set(`${name}/empty.json`, tagListBody(name, []));
    tags.forEach((tag, i) => out.set(`${name}/after/${tag}.json`, tagListBody(name, tags.slice(i + 1))));
  }
  return out;
}

function mapLine(key: string, value: string): string {
  return `"${key}" "${value}";\n`;
}

/**
 * Nginx `map` bodies, keyed by the request path ($uri) so Nginx only opens files listed here:
 *   manifests.map     /v2/plugins/<name>/manifests/<tag or digest>  ->  <hex>.<kind>
 *   blobs.map         /v2/plugins/<name>/blobs/<digest>             ->  <hex>
 *   repositories.map  plugins/<name>                                ->  <name> (tags/<name>.json)
 *   tagpages.map      plugins/<name>|<last>                         ->  page under tags/ (`?last=`)
 */
export function renderMaps(view: ViewFile): Map<string, string> {
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
    [
      'tagpages.map',
      pluginNames(view)
        .map((n) =>
          [
            mapLine(`${repositoryName(n)}|`, n),
            ...tagsOf(view, n).map((tag) => mapLine(`${repositoryName(n)}|${tag}`, `${n}/after/${tag}`)),
          ].join(''),
        )
        .join(''),
    ],
  ]);
}

/**
 * Every text file of the view besides view.json, by path under oci/ (`/`-separated): the catalog, the
 * tag lists and the Nginx maps. `pull` writes them, `verify` and an unchanged-view check compare them.
 */
export function renderTextFiles(view: ViewFile): Map<string, string> {
  const out = new Map<string, string>([[CATALOG_FILE, renderCatalog(view)]]);
  for (const [rel, text] of renderTagList(view)) out.set(`${TAGS_DIR}/${rel}`, text);
  for (const [file, text] of renderMaps(view)) out.set(`${MAPS_DIR}/${file}`, text);
  return out;
}
