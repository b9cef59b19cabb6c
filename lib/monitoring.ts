/**
 * Monitoring: the Prometheus Operator's ServiceMonitor for the server's `GET /metrics`, and the
 * Grafana dashboard (lib/dashboard.ts) in a ConfigMap for Grafana's dashboard sidecar. Both are off by
 * default (the first needs the operator's CRDs, the second a Grafana that looks for it) and both need
 * `metrics.enabled`: the chart refuses them without it rather than render something that scrapes or
 * charts an image that was declared to have no metrics.
 */
import { Construct } from 'constructs';
import { ServiceMonitorSpec } from '../imports/monitoring.coreos.com';
import { METRICS_PATH } from '../src/contract/metrics';
import { dashboardJson, DASHBOARD_FILE } from './dashboard';
import {
  chartFile,
  Cond,
  Expr,
  failIf,
  lit,
  merged,
  not,
  omit,
  optional,
  orElse,
  releaseNamespace,
  suffixed,
  TemplateObject,
  userBlock,
} from './helm';
import { commonLabels, LABEL_KEYS, labels, name, selectorLabels } from './helpers';
import { PORT_NAME } from './pod-common';
import { V } from './values';

const SOURCE = 'lib/monitoring.ts';

/** `x`, unless metrics are off: a ServiceMonitor or dashboard of an image without /metrics is a mistake. */
function needsMetrics<T>(what: string, x: Expr<T>): Expr<T> {
  return failIf(
    not(V('metrics.enabled')),
    lit(
      `${what}=true needs metrics.enabled=true (with metrics.enabled=false the image is taken to have no /metrics); set metrics.enabled=true, or ${what}=false`,
    ),
    x,
  );
}

export class Monitoring extends Construct {
  readonly serviceMonitor: TemplateObject<ServiceMonitorSpec>;
  readonly dashboard: TemplateObject;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const serviceMonitorOn: Cond = V('metrics.serviceMonitor.enabled');
    this.serviceMonitor = new TemplateObject<ServiceMonitorSpec>(this, 'service-monitor', {
      file: 'servicemonitor.yaml',
      source: SOURCE,
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: {
        name,
        namespace: needsMetrics(
          'metrics.serviceMonitor.enabled',
          orElse(V('metrics.serviceMonitor.namespace'), releaseNamespace),
        ),
        labels: merged(labels, omit(V('metrics.serviceMonitor.labels'), ...LABEL_KEYS)),
      },
      spec: {
        // The Service's own labels select it; the namespace is named, so the ServiceMonitor may live
        // elsewhere (where the Prometheus looks for ServiceMonitors).
        selector: { matchLabels: merged(selectorLabels) },
        namespaceSelector: { matchNames: [releaseNamespace] },
        endpoints: [
          {
            // Metrics share the http port with the plugins: the Service port of that name.
            port: PORT_NAME,
            path: METRICS_PATH,
            interval: optional(V('metrics.serviceMonitor.interval')),
            scrapeTimeout: optional(V('metrics.serviceMonitor.scrapeTimeout')),
          },
        ],
      },
      condition: serviceMonitorOn,
      conditionNote:
        'Only with metrics.serviceMonitor.enabled: the kind exists only where the Prometheus Operator CRDs are installed.',
    });

    this.dashboard = new TemplateObject(this, 'dashboard', {
      file: 'dashboard-configmap.yaml',
      source: SOURCE,
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: suffixed(name, '-dashboard'),
        namespace: needsMetrics(
          'metrics.dashboard.enabled',
          orElse(V('metrics.dashboard.namespace'), releaseNamespace),
        ),
        labels: merged(
          { 'app.kubernetes.io/component': 'dashboard' },
          commonLabels,
          omit(V('metrics.dashboard.labels'), ...LABEL_KEYS),
        ),
        annotations: userBlock(V('metrics.dashboard.annotations')),
      },
      // The file shipped in the chart, read with .Files.Get: its `{{plugin}}` legends never meet the template engine.
      data: { 'higress-plugin-server.json': chartFile(DASHBOARD_FILE, dashboardJson) },
      condition: V('metrics.dashboard.enabled'),
      conditionNote: "Only with metrics.dashboard.enabled: Grafana's sidecar loads it from its label.",
    });
  }
}
