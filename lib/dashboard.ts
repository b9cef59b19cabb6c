/**
 * The Grafana dashboard of the server's metrics, built from typed panels: the synthesiser writes it
 * to the chart as `dashboards/higress-plugin-server.json` (import it by hand, or let the chart ship it
 * in a ConfigMap for the Grafana sidecar, lib/monitoring.ts). Every query names its metrics through
 * src/contract/metrics.ts, and test/lib-dashboard.test.ts parses each query and holds it to that list.
 */
import { METRICS, OTHER_LABEL_VALUE } from '../src/contract/metrics';

export const DASHBOARD_FILE = 'dashboards/higress-plugin-server.json';
/** Stable, so a re-import replaces the dashboard instead of adding a copy. */
export const DASHBOARD_UID = 'higress-plugin-server';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
/** Every query is narrowed to the namespaces picked in the dashboard's `namespace` variable. */
const IN_NAMESPACE = 'namespace=~"$namespace"';

export interface Target {
  readonly expr: string;
  readonly legendFormat?: string;
  /** A table of the current values (top missing paths, build facts) rather than a series over time. */
  readonly instant?: boolean;
}

export interface Panel {
  readonly title: string;
  readonly description: string;
  readonly type: 'timeseries' | 'table' | 'stat';
  readonly unit: string;
  readonly targets: readonly Target[];
  /** Grid position: width and height in Grafana's 24-column grid. */
  readonly w: number;
  readonly h: number;
}

/** `<metric>{namespace=~"$namespace"<, extra>}`. */
function selector(metric: string, extra = ''): string {
  return `${metric}{${IN_NAMESPACE}${extra ? `, ${extra}` : ''}}`;
}

const rate = (metric: string, extra = '') => `rate(${selector(metric, extra)}[$__rate_interval])`;
const REQUESTS = METRICS.requests.name;
const NOT_FOUND = 'status="404"';

export const PANELS: readonly Panel[] = [
  {
    title: 'Requests per second',
    description: 'All plugin file requests (plain files and the OCI view), every server pod together.',
    type: 'stat',
    unit: 'reqps',
    targets: [{ expr: `sum(${rate(REQUESTS)})` }],
    w: 6,
    h: 4,
  },
  {
    title: 'Share of 404s',
    description:
      'Requests for plugins or versions the image does not hold: a gateway or the Console asking for something the tree lacks.',
    type: 'stat',
    unit: 'percentunit',
    targets: [{ expr: `sum(${rate(REQUESTS, NOT_FOUND)}) / sum(${rate(REQUESTS)})` }],
    w: 6,
    h: 4,
  },
  {
    title: 'Bytes sent per second',
    description: 'Response body bytes (gzip bodies at their compressed size), every server pod together.',
    type: 'stat',
    unit: 'Bps',
    targets: [{ expr: `sum(${rate(METRICS.sentBytes.name)})` }],
    w: 6,
    h: 4,
  },
  {
    title: 'Server pods',
    description: 'Pods answering the scrape, from their build info.',
    type: 'stat',
    unit: 'none',
    targets: [{ expr: `count(${selector(METRICS.buildInfo.name)})` }],
    w: 6,
    h: 4,
  },
  {
    title: 'Requests per plugin and version',
    description: 'Requests per second for each plugin version.',
    type: 'timeseries',
    unit: 'reqps',
    targets: [{ expr: `sum by (plugin, version) (${rate(REQUESTS)})`, legendFormat: '{{plugin}} {{version}}' }],
    w: 12,
    h: 8,
  },
  {
    title: '404s per plugin and version',
    description: `Requests answered 404 per second, by the plugin and version they asked for ("${OTHER_LABEL_VALUE}" past the server's cap on distinct names).`,
    type: 'timeseries',
    unit: 'reqps',
    targets: [
      { expr: `sum by (plugin, version) (${rate(REQUESTS, NOT_FOUND)})`, legendFormat: '{{plugin}} {{version}}' },
    ],
    w: 12,
    h: 8,
  },
  {
    title: 'Responses by status',
    description: 'Requests per second by HTTP status (200, 206, 304, 404...).',
    type: 'timeseries',
    unit: 'reqps',
    targets: [{ expr: `sum by (status) (${rate(REQUESTS)})`, legendFormat: '{{status}}' }],
    w: 12,
    h: 8,
  },
  {
    title: 'Bytes sent per plugin and version',
    description: 'Response body bytes per second for each plugin version.',
    type: 'timeseries',
    unit: 'Bps',
    targets: [
      { expr: `sum by (plugin, version) (${rate(METRICS.sentBytes.name)})`, legendFormat: '{{plugin}} {{version}}' },
    ],
    w: 12,
    h: 8,
  },
  {
    title: 'Top missing paths',
    description:
      "The paths asked for most often that the servers do not have, counted since each pod started (each pod keeps a bounded record of its most asked ones): what to add to the image, or which client asks for a wrong URL. `check <server>` prints one server's list.",
    type: 'table',
    unit: 'short',
    targets: [{ expr: `topk(20, sum by (path) (${selector(METRICS.missingPaths.name)}))`, instant: true }],
    w: 12,
    h: 10,
  },
  {
    title: 'Build',
    description:
      'What each pod serves: the image version, the Higress release snapshot it was built from, its plugin count.',
    type: 'table',
    unit: 'none',
    targets: [
      {
        expr: `max by (namespace, pod, version, snapshot_sha256, plugins, plugin_versions) (${selector(METRICS.buildInfo.name)})`,
        instant: true,
      },
    ],
    w: 12,
    h: 10,
  },
];

/** The dashboard's variables: the Prometheus data source, and the namespaces that run a server. */
export const NAMESPACE_VARIABLE_QUERY = `label_values(${METRICS.buildInfo.name}, namespace)`;

function panelJson(p: Panel, id: number, x: number, y: number): Record<string, unknown> {
  return {
    id,
    type: p.type,
    title: p.title,
    description: p.description,
    datasource: DATASOURCE,
    gridPos: { x, y, w: p.w, h: p.h },
    fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
    options:
      p.type === 'table'
        ? { showHeader: true, sortBy: [{ displayName: 'Value', desc: true }] }
        : p.type === 'stat'
          ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, graphMode: 'area' }
          : { legend: { displayMode: 'table', placement: 'right', calcs: ['mean', 'max'] } },
    targets: p.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: t.expr,
      ...(t.legendFormat ? { legendFormat: t.legendFormat } : {}),
      ...(t.instant ? { instant: true, range: false, format: 'table' } : { range: true }),
    })),
    ...(p.type === 'table'
      ? { transformations: [{ id: 'organize', options: { excludeByName: { Time: true } } }] }
      : {}),
  };
}

/** The dashboard model (Grafana's JSON, schemaVersion 39: Grafana 10 and later). */
export function dashboardModel(): Record<string, unknown> {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  const panels = PANELS.map((p, i) => {
    if (x + p.w > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const json = panelJson(p, i + 1, x, y);
    x += p.w;
    rowHeight = Math.max(rowHeight, p.h);
    return json;
  });
  return {
    uid: DASHBOARD_UID,
    title: 'Higress plugin server',
    description:
      'Plugin requests, 404s, bytes sent and the top missing paths of the Higress plugin server (GET /metrics).',
    tags: ['higress', 'plugin-server'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    annotations: { list: [] },
    links: [],
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0 },
        {
          name: 'namespace',
          label: 'Namespace',
          type: 'query',
          datasource: DATASOURCE,
          query: { query: NAMESPACE_VARIABLE_QUERY, refId: 'namespace' },
          definition: NAMESPACE_VARIABLE_QUERY,
          refresh: 2,
          multi: true,
          includeAll: true,
          current: {},
          hide: 0,
          sort: 1,
        },
      ],
    },
    panels,
  };
}

/** The file's text: 2-space JSON and a final newline, byte-stable across synths. */
export function dashboardJson(): string {
  return JSON.stringify(dashboardModel(), null, 2) + '\n';
}
