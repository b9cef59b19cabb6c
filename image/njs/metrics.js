// Prometheus metrics answered by Nginx itself (GET /metrics, image/nginx.conf), see docs/metrics.md.
//
// `record` is a js_set variable that image/nginx.conf references from an access_log's `if=`: Nginx
// evaluates it in the log phase, when the status and $body_bytes_sent are known, once per request. It
// counts into shared dict zones (atomic `incr` across workers) and returns "" so that log line is never
// written. `scrape` renders the zones in the text exposition format. njs 0.8 is not ECMAScript 2015+
// in full: no destructuring and no for...of, so arrays are indexed and walked with forEach.
//
// Label values come only from path segments that pass the tree's name rule (SAFE_SEGMENT below, the
// same regex as src/contract/plugin-identity.ts; test/image-metrics.test.ts proves they agree); every
// other request under /plugins/<a>/<b>/ or /v2/plugins/<a>/ is counted as plugin="_other". Series are
// bounded: past MAX_SERIES request label sets, new ones fold into plugin="_other",version="_other"
// (their bytes with them).
import fs from 'fs';

// Keep in sync with SAFE_SEGMENT in src/contract/plugin-identity.ts (a test compares the two).
const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** requests_total label sets before new ones fold into `_other` (sent_bytes_total follows them). */
const MAX_SERIES = 1000;
/** Missing paths remembered (Space-Saving: a new path replaces the least-asked one). */
const MAX_MISSING = 100;
/** Every entry: items() returns at most 1,024 unless told more; the zones hold fewer than this. */
const ITEMS_MAX = 4 * MAX_SERIES + 2 * MAX_MISSING;
const OTHER = '_other';
/** Version label of OCI requests that name no version: by digest, and the tag list. */
const BY_DIGEST = '_digest';
const TAG_LIST = '_tags';

const PREFIX = 'higress_plugin_server_';
// Keys of the counters zone: family, then labels, tab-separated (a tab is in no SAFE_SEGMENT).
const REQUESTS = 'r';
const BYTES = 'b';
/** The requests_total label sets admitted so far (one counter for the cap). */
const ADMITTED = 'n';
const OTHER_LABELS = `${OTHER}\t${OTHER}`;

function safe(segment) {
  return SAFE_SEGMENT.test(segment);
}

/**
 * The plugin version a request path reads, as [plugin, version, missingPathOrNull], or null when the
 * request is not one of a plugin version (listings, index.json, /v2/ itself, the catalog, /metrics).
 */
function classify(path) {
  const parts = path.split('/');
  // /plugins/<name>/<version>/<file>...: parts = ['', 'plugins', name, version, ...rest]
  if (parts[1] === 'plugins' && parts.length >= 5) {
    const name = parts[2];
    const version = parts[3];
    if (!safe(name) || !safe(version)) return [OTHER, OTHER, null];
    const rest = parts.slice(4);
    const fileOk = rest.length === 1 && (rest[0] === '' || safe(rest[0]));
    return [name, version, fileOk ? path : null];
  }
  // /v2/plugins/<name>/manifests/<ref>, /v2/plugins/<name>/blobs/<digest>, /v2/plugins/<name>/tags/list
  if (parts[1] === 'v2' && parts[2] === 'plugins' && parts.length === 6) {
    const name = parts[3];
    const kind = parts[4];
    const ref = parts[5];
    if (kind !== 'manifests' && kind !== 'blobs' && !(kind === 'tags' && ref === 'list')) return null;
    if (!safe(name)) return [OTHER, OTHER, null];
    if (kind === 'tags') return [name, TAG_LIST, path];
    if (DIGEST.test(ref)) return [name, BY_DIGEST, path];
    if (kind === 'manifests' && safe(ref)) return [name, ref, path];
    return [name, OTHER, null];
  }
  return null;
}

function failSoft(fn) {
  // A full zone or any surprise must never fail the request being logged.
  try {
    fn();
  } catch (e) {
    ngx.log(ngx.WARN, `metrics: ${e.message}`);
  }
}

/**
 * Counts one request of `labels` (plugin, version) answered `status` that sent `sent` body bytes, in
 * two shared-dict operations on the common path (an `incr` per family: every operation takes the
 * zone's lock). A requests series is new when its first `incr` returns 1; only then is the cap asked,
 * and a set past it is moved into `_other`. The bytes series of a request follows its requests
 * series: it has its own (plugin, version) only when that set was admitted, so it holds at most as
 * many sets as requests_total.
 */
function countRequest(dict, labels, status, sent) {
  const key = `${REQUESTS}\t${labels}\t${status}`;
  let counted = labels;
  if (dict.incr(key, 1, 0) === 1 && labels !== OTHER_LABELS) {
    if (dict.incr(ADMITTED, 1, 0) > MAX_SERIES) {
      dict.delete(key);
      dict.incr(`${REQUESTS}\t${OTHER_LABELS}\t${status}`, 1, 0);
      counted = OTHER_LABELS;
    }
  }
  dict.incr(`${BYTES}\t${counted}`, sent, 0);
}

/**
 * Space-Saving top-k: a known path counts up; a new one takes the place of the least-asked one and
 * starts from its count. The steps are atomic one by one, not together: two workers adding at once can
 * leave an entry too many, so every eviction trims back to MAX_MISSING - 1 before adding (the record
 * never grows past MAX_MISSING plus the workers adding at that moment).
 */
function rememberMissing(dict, path) {
  if (dict.get(path) !== undefined) {
    dict.incr(path, 1, 0);
    return;
  }
  if (dict.size() < MAX_MISSING) {
    dict.incr(path, 1, 0);
    return;
  }
  const items = dict.items(ITEMS_MAX).sort((a, b) => a[1] - b[1]);
  const evict = items.length - MAX_MISSING + 1;
  let floor = 0;
  for (let i = 0; i < evict; i++) {
    dict.delete(items[i][0]);
    floor = items[i][1];
  }
  dict.set(path, floor + 1);
}

function requestPath(r) {
  // The path the client sent (before the /v2/ rewrites to /oci/), without the query.
  const raw = r.variables.request_uri || '';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q);
}

function record(r) {
  failSoft(() => {
    const path = requestPath(r);
    const c = classify(path);
    if (c === null) return;
    const plugin = c[0];
    const version = c[1];
    const missingPath = c[2];
    const status = r.variables.status;
    const sent = Number(r.variables.body_bytes_sent) || 0;
    countRequest(ngx.shared.hps_metrics, `${plugin}\t${version}`, status, sent);
    if (status === '404' && missingPath !== null) rememberMissing(ngx.shared.hps_missing, missingPath);
  });
  return '';
}

function sortedItems(dict) {
  return dict.items(ITEMS_MAX).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return null;
  }
}

/** Build facts: build-info.json (written by `pull`) and plugins/index.json of the served tree. */
function buildInfoLine(root) {
  const info = readJson(`${root}/build-info.json`) || {};
  const index = readJson(`${root}/plugins/index.json`) || {};
  const entries = Array.isArray(index.plugins) ? index.plugins : [];
  const names = {};
  entries.forEach((e) => (names[e.name] = true));
  const str = (v, re) => (typeof v === 'string' && re.test(v) ? v : '');
  const labels = [
    `version="${str(info.version, SAFE_SEGMENT)}"`,
    `snapshot_sha256="${str(info.snapshotSha256, /^[0-9a-f]{64}$/)}"`,
    `plugins="${Object.keys(names).length}"`,
    `plugin_versions="${entries.length}"`,
  ];
  return `${PREFIX}build_info{${labels.join(',')}} 1`;
}

function help(lines, name, type, text) {
  lines.push(`# HELP ${PREFIX}${name} ${text}`);
  lines.push(`# TYPE ${PREFIX}${name} ${type}`);
}

function scrape(r) {
  const lines = [];
  const counters = sortedItems(ngx.shared.hps_metrics);
  help(
    lines,
    'requests_total',
    'counter',
    'Requests for a plugin version (/plugins/<name>/<version>/ and the OCI view /v2/plugins/<name>/), by status.',
  );
  counters.forEach((item) => {
    const f = item[0].split('\t');
    if (f[0] === REQUESTS)
      lines.push(`${PREFIX}requests_total{plugin="${f[1]}",version="${f[2]}",status="${f[3]}"} ${item[1]}`);
  });
  help(lines, 'sent_bytes_total', 'counter', 'Response body bytes sent for a plugin version.');
  counters.forEach((item) => {
    const f = item[0].split('\t');
    if (f[0] === BYTES) lines.push(`${PREFIX}sent_bytes_total{plugin="${f[1]}",version="${f[2]}"} ${item[1]}`);
  });
  help(
    lines,
    'missing_path_requests',
    'gauge',
    `Requests answered 404 for the ${MAX_MISSING} most asked missing paths (Space-Saving estimate: may over-count by the count of the path it replaced).`,
  );
  sortedItems(ngx.shared.hps_missing).forEach((item) =>
    lines.push(`${PREFIX}missing_path_requests{path="${item[0]}"} ${item[1]}`),
  );
  help(
    lines,
    'build_info',
    'gauge',
    'Build facts of the served tree: plugin server version, release snapshot sha256, plugin and version counts.',
  );
  lines.push(buildInfoLine(r.variables.document_root));
  r.headersOut['Content-Type'] = 'text/plain; version=0.0.4; charset=utf-8';
  r.return(200, `${lines.join('\n')}\n`);
}

export default { record, scrape, classify, MAX_SERIES, MAX_MISSING };
