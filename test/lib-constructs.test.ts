/**
 * Constructs synthesised alone (the Testing.synth style of cdk8s-plus): a construct in a bare App
 * renders its objects for given values without the rest of the chart, and registers its template
 * files through the construct tree.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App } from 'cdk8s';
import { Autoscaler } from '../lib/autoscaler';
import { ChartValueError, synthObjects, templatesOf } from '../lib/helm';
import { Monitoring } from '../lib/monitoring';
import { PluginServer } from '../lib/plugin-server';
import { ServerTest } from '../lib/server-test';
import { plainObjects, PluginServerChart, scopeFor } from '../lib/synth';
import { chartInfo } from '../main';
import { REPO_ROOT } from './support/tools';

type Obj = Record<string, any>;
const chart = chartInfo(REPO_ROOT);

describe('PluginServer alone', () => {
  test('registers its three template files through the construct tree', () => {
    const server = new PluginServer(new App(), 'server');
    expect(templatesOf(server).map((t) => t.props.file)).toEqual([
      'deployment.yaml',
      'service.yaml',
      'poddisruptionbudget.yaml',
    ]);
  });

  test('renders its objects for the given values', () => {
    const objs = synthObjects(
      new PluginServer(new App(), 'server', { containerName: 'nginx' }),
      scopeFor(chart, { replicas: 1, name: 'ps' }),
    ) as Obj[];
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Deployment/ps', 'Service/ps']);
    const dep = objs[0];
    expect(dep.spec.replicas).toBe(1);
    expect(dep.spec.template.spec.containers[0].name).toBe('nginx');
    expect(dep.spec.template.spec.containers[0].ports[0].containerPort).toBe(8080);
  });

  test('a props default can be overridden', () => {
    const objs = synthObjects(new PluginServer(new App(), 'server', { containerPort: 9090 }), scopeFor(chart)) as Obj[];
    expect(objs[0].spec.template.spec.containers[0].ports[0]).toEqual({
      name: 'http',
      containerPort: 9090,
      protocol: 'TCP',
    });
  });

  test('its template is the same tree written as Go template', () => {
    const server = new PluginServer(new App(), 'server');
    const text = server.deployment.template({
      kind: 'boolean',
      eval: () => true,
      tpl: () => 'true',
      arg: () => 'true',
      body: () => '',
    });
    expect(text).toContain('replicas: {{ int .Values.replicas }}');
    expect(text).toContain('image: {{ include "higress-plugin-server.image" . | quote }}');
  });
});

describe('Autoscaler and Monitoring alone', () => {
  test('render nothing by default, their objects when enabled', () => {
    const hpa = new Autoscaler(new App(), 'autoscaler');
    const mon = new Monitoring(new App(), 'monitoring');
    expect(synthObjects(hpa, scopeFor(chart))).toEqual([]);
    expect(synthObjects(mon, scopeFor(chart))).toEqual([]);
    const [obj] = synthObjects(hpa, scopeFor(chart, { autoscaling: { enabled: true, maxReplicas: 7 } })) as Obj[];
    expect(obj.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'higress-plugin-server' },
      minReplicas: 2,
      maxReplicas: 7,
    });
    const on = { metrics: { serviceMonitor: { enabled: true }, dashboard: { enabled: true } } };
    expect((synthObjects(mon, scopeFor(chart, on)) as Obj[]).map((o) => o.kind)).toEqual([
      'ServiceMonitor',
      'ConfigMap',
    ]);
  });
});

/**
 * The scaling and monitoring rules at synth time: the TypeScript back-end evaluating typed values
 * (what dist/ and any program building the chart's objects do) refuses the same combinations with the
 * same message as helm's `fail` (test/reliability-values.test.ts checks helm's side).
 */
describe('refused combinations, in TypeScript', () => {
  const root = new PluginServerChart(new App(), 'chart');
  const render = (values: unknown) => () => plainObjects(root, scopeFor(chart, values));

  test.each([
    [
      { autoscaling: { enabled: true, minReplicas: 6, maxReplicas: 5 } },
      'autoscaling.minReplicas (6) is above autoscaling.maxReplicas (5)',
    ],
    [
      { autoscaling: { enabled: true, minReplicas: 2 }, podDisruptionBudget: { minAvailable: 2 } },
      'podDisruptionBudget.minAvailable (2) is not below autoscaling.minReplicas (2)',
    ],
    [
      { autoscaling: { enabled: true }, resources: { limits: { cpu: '1' } } },
      'autoscaling.enabled needs resources.requests.cpu',
    ],
    [
      { replicas: 2, podDisruptionBudget: { minAvailable: 3 } },
      'podDisruptionBudget.minAvailable (3) is above replicas (2)',
    ],
    [
      { metrics: { enabled: false, serviceMonitor: { enabled: true } } },
      'metrics.serviceMonitor.enabled=true needs metrics.enabled=true',
    ],
    [
      { metrics: { enabled: false, dashboard: { enabled: true } } },
      'metrics.dashboard.enabled=true needs metrics.enabled=true',
    ],
  ])('%j', (values, message) => {
    // resources is replaced whole here (mergeValues merges maps, so drop the default requests first).
    const v = values as { resources?: unknown };
    const scope = scopeFor(chart, values);
    if (v.resources) (scope.values as { resources: unknown }).resources = v.resources;
    const run = () => plainObjects(root, scope);
    expect(run).toThrow(ChartValueError);
    expect(run).toThrow(message);
  });

  test('the allowed neighbours render: minAvailable below the floor, one replica at the floor (no PDB)', () => {
    expect(
      render({ autoscaling: { enabled: true, minReplicas: 3 }, podDisruptionBudget: { minAvailable: 2 } }),
    ).not.toThrow();
    const objs = render({ autoscaling: { enabled: true, minReplicas: 1 }, podDisruptionBudget: { minAvailable: 1 } })();
    expect(objs.map((o) => o.kind)).not.toContain('PodDisruptionBudget');
    const dep = objs.find((o) => o.kind === 'Deployment') as Obj;
    expect(dep.spec.replicas).toBeUndefined();
  });
});

describe('ServerTest alone', () => {
  test('only when test.enabled', () => {
    const pod = new ServerTest(new App(), 'test', { script: 'true' });
    expect(synthObjects(pod, scopeFor(chart, { test: { enabled: false } }))).toEqual([]);
    const [obj] = synthObjects(pod, scopeFor(chart)) as Obj[];
    expect(obj.spec.containers[0].command).toEqual(['/bin/sh', '-c', 'true']);
    expect(obj.metadata.name).toBe('higress-plugin-server-test');
  });
});

test('lib/ has no `as unknown as` cast', () => {
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts') && /as unknown as/.test(fs.readFileSync(p, 'utf8')))
        offenders.push(path.relative(REPO_ROOT, p));
    }
  };
  walk(path.join(REPO_ROOT, 'lib'));
  expect(offenders).toEqual([]);
});
