/**
 * The Grafana dashboard against the metrics contract (src/contract/metrics.ts): every query of every
 * panel and variable reads only metrics the server exports, with only labels those metrics carry (or
 * that Prometheus adds to every target), and every exported metric is on the dashboard. The file the
 * chart ships is the builder's output (the synth drift test in lib-synth holds it byte for byte).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CHART_DIR } from '../lib/synth';
import { DASHBOARD_FILE, dashboardJson, PANELS } from '../lib/dashboard';
import { METRIC_NAMES, METRICS, SCRAPE_TARGET_LABELS } from '../src/contract/metrics';
import { labelValuesNames, namesOf, QueryNames } from './support/promql';
import { REPO_ROOT } from './support/tools';

type Obj = Record<string, any>;
const shipped = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, CHART_DIR, DASHBOARD_FILE), 'utf8')) as Obj;

/** Every query in the dashboard file, with where it is. */
function queries(dashboard: Obj): Array<{ where: string; names: QueryNames; expr: string }> {
  const out: Array<{ where: string; names: QueryNames; expr: string }> = [];
  for (const p of dashboard.panels as Obj[])
    for (const t of p.targets as Obj[])
      out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr, names: namesOf(t.expr) });
  for (const v of dashboard.templating.list as Obj[])
    if (v.type === 'query') {
      const expr = typeof v.query === 'string' ? v.query : v.query.query;
      out.push({ where: `variable $${v.name}`, expr, names: labelValuesNames(expr) });
    }
  return out;
}

/** Problems of one query against the contract, one line each. */
function problems(q: { where: string; names: QueryNames }): string[] {
  const out: string[] = [];
  if (q.names.metrics.length === 0) out.push(`${q.where}: reads no metric`);
  const allowed = new Set<string>(SCRAPE_TARGET_LABELS);
  for (const m of q.names.metrics) {
    const spec = Object.values(METRICS).find((s) => s.name === m);
    if (!spec) out.push(`${q.where}: ${m} is not a metric the server exports`);
    else spec.labels.forEach((l) => allowed.add(l));
  }
  for (const l of q.names.labels) if (!allowed.has(l)) out.push(`${q.where}: label ${l} is on none of its metrics`);
  return out;
}

test('the shipped file is the builder output', () => {
  expect(JSON.stringify(shipped, null, 2) + '\n').toBe(dashboardJson());
});

test('every query reads only exported metrics and their labels', () => {
  const all = queries(shipped);
  expect(all.length).toBeGreaterThanOrEqual(PANELS.length + 1);
  expect(all.flatMap(problems)).toEqual([]);
});

test('every exported metric is on the dashboard', () => {
  const used = new Set(queries(shipped).flatMap((q) => q.names.metrics));
  expect(METRIC_NAMES.filter((m) => !used.has(m))).toEqual([]);
});

test('panels asked for by the chart: requests and 404s per plugin/version, bytes sent, top missing paths', () => {
  const byTitle = Object.fromEntries((shipped.panels as Obj[]).map((p) => [p.title, p.targets[0].expr as string]));
  expect(byTitle['Requests per plugin and version']).toMatch(
    /^sum by \(plugin, version\) \(rate\(higress_plugin_server_requests_total\{/,
  );
  expect(byTitle['404s per plugin and version']).toContain('status="404"');
  expect(byTitle['Bytes sent per plugin and version']).toContain(METRICS.sentBytes.name);
  expect(byTitle['Top missing paths']).toMatch(
    /^topk\(20, sum by \(path\) \(higress_plugin_server_missing_path_requests\{/,
  );
  // Legends use Grafana's {{label}}: the chart ships the file through .Files.Get, never through tpl.
  expect(JSON.stringify(shipped)).toContain('{{plugin}} {{version}}');
});

describe('the query reader (negative controls: the checks above can fail)', () => {
  test.each([
    ['sum(rate(higress_plugin_server_request_total[5m]))', 'higress_plugin_server_request_total is not a metric'],
    ['up{job="x"}', 'up is not a metric'],
    ['sum by (plugin) (higress_plugin_server_missing_path_requests)', 'label plugin is on none of its metrics'],
    ['higress_plugin_server_sent_bytes_total{status="404"}', 'label status is on none of its metrics'],
    [
      'sum(rate(higress_plugin_server_requests_total[5m])) / on(pod) group_left kube_pod_info',
      'kube_pod_info is not a metric',
    ],
    ['vector(1)', 'reads no metric'],
  ])('%s', (expr, problem) => {
    expect(problems({ where: 'q', names: namesOf(expr) }).join('\n')).toContain(problem);
  });

  test('names in strings, ranges, variables and function calls are not metrics', () => {
    expect(
      namesOf(
        'topk(5, sum without (pod) (increase(higress_plugin_server_requests_total{path=~"a{b}c", namespace=~"$namespace"}[$__range])))',
      ),
    ).toEqual({ metrics: ['higress_plugin_server_requests_total'], labels: ['path', 'namespace', 'pod'] });
    expect(labelValuesNames('label_values(higress_plugin_server_build_info, namespace)')).toEqual({
      metrics: ['higress_plugin_server_build_info'],
      labels: ['namespace'],
    });
  });
});

test('the layout: unique panel ids, every panel inside the 24-column grid, none overlapping', () => {
  const panels = shipped.panels as Array<{ id: number; gridPos: { x: number; y: number; w: number; h: number } }>;
  expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
  for (const { gridPos: g } of panels) expect(g.x + g.w).toBeLessThanOrEqual(24);
  const overlap = (a: (typeof panels)[0]['gridPos'], b: (typeof panels)[0]['gridPos']) =>
    a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  const pairs = panels.flatMap((a, i) =>
    panels
      .slice(i + 1)
      .filter((b) => overlap(a.gridPos, b.gridPos))
      .map((b) => [a.id, b.id]),
  );
  expect(pairs).toEqual([]);
});
