/**
 * What the server's `GET /metrics` exports (image/nginx.conf, Prometheus text exposition format), in
 * one place: the chart's scrape settings and Grafana dashboard (lib/) are written against these names,
 * and the server side (the njs code in image/, its tests, `check`'s reader of the top missing paths)
 * against the same ones. A test holds every dashboard query to this list: a metric renamed here and
 * not in a query (or the other way round) fails it.
 */

/** The path the metrics are answered on, on the server's http port (8080, the container port named `http`). */
export const METRICS_PATH = '/metrics';

/** Every metric name starts with it (Prometheus naming: `<namespace>_<subsystem>_<name>_<unit>`). */
export const METRIC_PREFIX = 'higress_plugin_server_';

export type MetricType = 'counter' | 'gauge';

export interface MetricSpec {
  readonly name: string;
  readonly type: MetricType;
  /** The labels the server writes, in order (Prometheus adds the target's own, see SCRAPE_TARGET_LABELS). */
  readonly labels: readonly string[];
  readonly help: string;
}

/**
 * The label value a series folds into once a fixed number of distinct values has been seen (a flood of
 * distinct missing paths, or of names that pass the name rules but are not in the tree), so neither the
 * server's memory nor a scrape grows without bound.
 */
export const OTHER_LABEL_VALUE = '_other';

export const METRICS = {
  /** Every request under `/plugins/<name>/<version>/` (any file) and the OCI view's under the plugin it reads. */
  requests: {
    name: `${METRIC_PREFIX}requests_total`,
    type: 'counter',
    labels: ['plugin', 'version', 'status'],
    help: 'Requests for plugin files (plain, OCI view), by plugin, version and HTTP status.',
  },
  /** Body bytes sent for those requests (gzip bodies count their compressed size). */
  sentBytes: {
    name: `${METRIC_PREFIX}sent_bytes_total`,
    type: 'counter',
    labels: ['plugin', 'version'],
    help: 'Bytes of response bodies sent for plugin files, by plugin and version.',
  },
  /**
   * The bounded top-missing-paths record: requests answered 404 for the most asked missing paths,
   * counted since the server started (a Space-Saving estimate: a path that enters the record may carry
   * the count of the one it replaced), so a gauge, not a counter.
   */
  missingPaths: {
    name: `${METRIC_PREFIX}missing_path_requests`,
    type: 'gauge',
    labels: ['path'],
    help: 'Requests answered 404 for the most asked missing paths, since the server started.',
  },
  /** Always 1: the facts of the tree the server was built with. */
  buildInfo: {
    name: `${METRIC_PREFIX}build_info`,
    type: 'gauge',
    labels: ['version', 'snapshot_sha256', 'plugins', 'plugin_versions'],
    help: 'Always 1; labels: the plugin server version, the release snapshot sha256, the plugin and plugin version counts.',
  },
} as const satisfies Record<string, MetricSpec>;

export type MetricName = (typeof METRICS)[keyof typeof METRICS]['name'];

/** Every exported metric name. */
export const METRIC_NAMES: readonly string[] = Object.values(METRICS).map((m) => m.name);

/**
 * Labels Prometheus puts on every scraped series itself (not the server): the target's namespace and
 * pod, from Kubernetes service discovery, with both the ServiceMonitor and the `prometheus.io/*` pod
 * annotations of the common `kubernetes-pods` job. Queries may group or filter by them.
 */
export const SCRAPE_TARGET_LABELS = ['namespace', 'pod', 'job', 'instance'] as const;
