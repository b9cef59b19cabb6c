/**
 * The generated chart through the real helm: lint, defaults equal dist/, the gate, every value key
 * landing where it should, and bad values rejected with the key named.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { TARGET_HIGRESS_VERSION } from '../lib/chart-files';
import { DASHBOARD_FILE } from '../lib/dashboard';
import { DIST_CONSOLE_PATCH, DIST_MANIFESTS, DIST_MCP_PATCH } from '../lib/synth';
import { walkSpec } from '../lib/helm';
import { VALUES_SPEC } from '../lib/values';
import { byKind, CHART_PATH, helm, helmEnv, helmTemplate, parseDocs, renderNotes, renderObjects } from './support/helm';
import { FakeKube, startFakeKube } from './support/fake-kube';
import { REPO_ROOT, tool } from './support/tools';

type Obj = Record<string, any>;
const CI_DIR = path.join(CHART_PATH, 'ci');
const ON = 'global.enablePluginServer=true';

const pod = (objs: Obj[]) => byKind(objs, 'Deployment').spec.template.spec;
const container = (objs: Obj[]) => pod(objs).containers[0];

describe('helm lint --strict', () => {
  test('with the gate on', () => {
    const r = helm(['lint', '--strict', CHART_PATH, '--set', ON]);
    expect({ status: r.status, out: r.stdout + r.stderr }).toMatchObject({ status: 0 });
  });

  test('with the gate off (renders nothing, still lints)', () => {
    const r = helm(['lint', '--strict', CHART_PATH]);
    expect({ status: r.status, out: r.stdout + r.stderr }).toMatchObject({ status: 0 });
  });

  test.each(fs.readdirSync(CI_DIR).filter((f) => f.endsWith('-values.yaml')))('with ci/%s', (file) => {
    const r = helm(['lint', '--strict', CHART_PATH, '-f', path.join(CI_DIR, file)]);
    expect({ status: r.status, out: r.stdout + r.stderr }).toMatchObject({ status: 0 });
  });
});

describe('helm template', () => {
  test('defaults deep-equal the plain manifests in dist/', () => {
    const rendered = renderObjects({ set: [ON], skipTests: true });
    const dist = parseAllDocuments(fs.readFileSync(path.join(REPO_ROOT, DIST_MANIFESTS), 'utf8'))
      .map((d) => d.toJS())
      .filter(Boolean);
    const key = (o: Obj) => `${o.kind}/${o.metadata.name}`;
    const sorted = (objs: Obj[]) => [...objs].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sorted(rendered)).toEqual(sorted(dist));
    expect(rendered.map(key)).toEqual(dist.map(key));
  });

  test('with the gate off it renders nothing and fails nothing', () => {
    const r = helmTemplate();
    expect(r.status).toBe(0);
    expect(parseDocs(r.stdout)).toEqual([]);
    expect(r.stdout.trim()).toBe('');
  });

  test('the test pod is a helm test hook with the restricted security context', () => {
    const testPod = renderObjects({ set: [ON] }).find((o) => o.kind === 'Pod')!;
    expect(testPod.metadata.annotations['helm.sh/hook']).toBe('test');
    expect(testPod.metadata.labels.app).toBeUndefined();
    expect(testPod.spec.securityContext.runAsNonRoot).toBe(true);
    expect(testPod.spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
    expect(testPod.spec.containers[0].env).toContainEqual({
      name: 'BASE_URL',
      value: 'http://higress-plugin-server:80',
    });
  });
});

/** Each row: the key(s) it covers, the overrides, and where the value must show up. */
interface Row {
  keys: string[];
  set?: readonly string[];
  json?: readonly string[];
  /** Written to a values file, so numbers arrive as helm reads them from YAML (float64). */
  values?: Record<string, unknown>;
  check: (objs: Obj[]) => void;
}

const ROWS: Row[] = [
  {
    keys: ['name'],
    set: ['name=my-ps'],
    check: (o) => {
      expect(byKind(o, 'Deployment').metadata.name).toBe('my-ps');
      expect(byKind(o, 'Service').metadata.name).toBe('my-ps');
      expect(byKind(o, 'Service').spec.selector).toEqual({ app: 'my-ps', higress: 'my-ps' });
    },
  },
  { keys: ['replicas'], set: ['replicas=3'], check: (o) => expect(byKind(o, 'Deployment').spec.replicas).toBe(3) },
  {
    keys: ['gzip.enabled'],
    set: ['gzip.enabled=false'],
    check: (o) => expect(container(o).args).toEqual(['-c', '/etc/nginx/gzip-static-off/nginx.conf']),
  },
  { keys: [], check: (o) => expect(container(o).args).toEqual(['-c', '/etc/nginx/nginx.conf']) },
  {
    keys: [],
    values: { replicas: '3' },
    check: (o) => {
      expect(byKind(o, 'Deployment').spec.replicas).toBe(3);
      expect(o.map((x) => x.kind)).toContain('PodDisruptionBudget');
    },
  },
  {
    keys: [],
    values: { replicas: '1' },
    check: (o) => expect(o.map((x) => x.kind)).not.toContain('PodDisruptionBudget'),
  },
  { keys: ['enabled'], set: ['enabled=false'], check: (o) => expect(o.map((x) => x.kind)).toContain('Deployment') },
  {
    keys: ['service.type'],
    set: ['service.type=LoadBalancer'],
    check: (o) => expect(byKind(o, 'Service').spec.type).toBe('LoadBalancer'),
  },
  { keys: [], check: (o) => expect(byKind(o, 'Service').spec.type).toBe('ClusterIP') },
  {
    keys: ['probes.path', 'probes.port'],
    set: ['probes.path=/', 'probes.port=8080'],
    check: (o) => {
      for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe'])
        expect(container(o)[p].httpGet).toEqual({ path: '/', port: 8080 });
    },
  },
  {
    keys: ['image', 'hub', 'tag'],
    set: ['image=ps', 'hub=reg.local:5000', 'tag=9.9.9'],
    check: (o) => expect(container(o).image).toBe('reg.local:5000/higress/ps:9.9.9'),
  },
  // A tag written as a number: --set gives an int64, a values file a float64; both render as typed.
  ...(
    [
      [{ set: ['tag=20260101'] }, '20260101'],
      [{ values: { tag: 20260101 } }, '20260101'],
      [{ values: { tag: 2.2 } }, '2.2'],
      [{ values: { tag: '2.2' } }, '2.2'],
      [{ values: { tag: 'v1.0.0-rc.1' } }, 'v1.0.0-rc.1'],
    ] as const
  ).map(([input, tag]): Row => ({
    keys: [],
    ...input,
    check: (o) => {
      expect(container(o).image).toBe(`higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:${tag}`);
      expect(byKind(o, 'Service').metadata.labels['app.kubernetes.io/version']).toBe(tag);
    },
  })),
  {
    keys: ['global.hub'],
    set: ['global.hub=mirror.local'],
    check: (o) => expect(container(o).image).toBe(`mirror.local/higress/plugin-server:${TARGET_HIGRESS_VERSION}`),
  },
  {
    keys: ['imagePullPolicy'],
    set: ['imagePullPolicy=Always', 'global.imagePullPolicy=Never'],
    check: (o) => expect(container(o).imagePullPolicy).toBe('Always'),
  },
  {
    keys: ['global.imagePullPolicy'],
    set: ['global.imagePullPolicy=Never'],
    check: (o) => expect(container(o).imagePullPolicy).toBe('Never'),
  },
  {
    keys: ['imagePullSecrets'],
    set: ['imagePullSecrets[0].name=regcred'],
    check: (o) => expect(pod(o).imagePullSecrets).toEqual([{ name: 'regcred' }]),
  },
  {
    keys: ['labels'],
    set: ['labels.team=edge'],
    check: (o) => {
      expect(byKind(o, 'Deployment').metadata.labels.team).toBe('edge');
      expect(byKind(o, 'Service').metadata.labels.team).toBe('edge');
    },
  },
  // Upstream's selector rule: labels.app / labels.higress replace the selector labels (an empty value drops them).
  ...(
    [
      [{ app: 'plugins' }, { app: 'plugins', higress: 'higress-plugin-server' }],
      [
        { higress: 'gw', team: 'edge' },
        { app: 'higress-plugin-server', higress: 'gw' },
      ],
      [
        { app: 'a', higress: 'h' },
        { app: 'a', higress: 'h' },
      ],
      [{ app: '' }, { higress: 'higress-plugin-server' }],
      [{ app: '123' }, { app: '123', higress: 'higress-plugin-server' }],
    ] as const
  ).map(([labels, selector]): Row => ({
    keys: [],
    values: { labels },
    check: (o) => {
      const dep = byKind(o, 'Deployment');
      expect(dep.spec.selector.matchLabels).toEqual(selector);
      expect(byKind(o, 'Service').spec.selector).toEqual(selector);
      expect(byKind(o, 'PodDisruptionBudget').spec.selector.matchLabels).toEqual(selector);
      for (const [k, v] of Object.entries(selector)) {
        expect(dep.spec.template.metadata.labels[k]).toBe(v);
        expect(dep.metadata.labels[k]).toBe(v);
      }
    },
  })),
  {
    keys: [],
    set: ['podLabels.app=other', 'podLabels.tier=web'],
    check: (o) => {
      const pod = byKind(o, 'Deployment').spec.template.metadata.labels;
      expect(pod.app).toBe('higress-plugin-server');
      expect(pod.tier).toBe('web');
    },
  },
  {
    keys: ['podLabels'],
    set: ['podLabels.tier=web'],
    check: (o) => expect(byKind(o, 'Deployment').spec.template.metadata.labels.tier).toBe('web'),
  },
  {
    keys: ['podAnnotations'],
    set: ['podAnnotations.note=x'],
    check: (o) => expect(byKind(o, 'Deployment').spec.template.metadata.annotations).toMatchObject({ note: 'x' }),
  },
  {
    keys: ['service.port'],
    set: ['service.port=8081'],
    check: (o) => {
      expect(byKind(o, 'Service').spec.ports[0]).toEqual({
        name: 'http',
        port: 8081,
        targetPort: 'http',
        protocol: 'TCP',
      });
      expect(byKind(o, 'Pod').spec.containers[0].env[0].value).toBe('http://higress-plugin-server:8081');
    },
  },
  {
    keys: ['resources'],
    json: ['resources={"limits":{"cpu":"1"}}'],
    check: (o) => expect(container(o).resources.limits.cpu).toBe('1'),
  },
  {
    keys: ['extraEnv'],
    json: ['extraEnv=[{"name":"HTTPS_PROXY","value":"http://proxy:3128"}]'],
    check: (o) => expect(container(o).env).toEqual([{ name: 'HTTPS_PROXY', value: 'http://proxy:3128' }]),
  },
  {
    keys: ['extraVolumes', 'extraVolumeMounts'],
    json: [
      'extraVolumes=[{"name":"conf","configMap":{"name":"extra-conf"}}]',
      'extraVolumeMounts=[{"name":"conf","mountPath":"/etc/nginx/extra","readOnly":true}]',
    ],
    check: (o) => {
      // After the chart's own /tmp emptyDir, which stays.
      expect(pod(o).volumes.map((v: { name: string }) => v.name)).toEqual(['tmp', 'conf']);
      expect(container(o).volumeMounts).toEqual([
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'conf', mountPath: '/etc/nginx/extra', readOnly: true },
      ]);
    },
  },
  {
    keys: ['nodeSelector'],
    set: ['nodeSelector.disk=ssd'],
    check: (o) => expect(pod(o).nodeSelector).toEqual({ disk: 'ssd' }),
  },
  {
    keys: ['tolerations'],
    json: ['tolerations=[{"key":"k","operator":"Exists"}]'],
    check: (o) => expect(pod(o).tolerations).toEqual([{ key: 'k', operator: 'Exists' }]),
  },
  {
    keys: ['affinity'],
    json: ['affinity={"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[]}}'],
    check: (o) =>
      expect(pod(o).affinity).toEqual({ nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } }),
  },
  {
    keys: ['antiAffinity'],
    set: ['antiAffinity=required'],
    check: (o) => {
      expect(pod(o).affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]).toEqual({
        labelSelector: { matchLabels: { app: 'higress-plugin-server', higress: 'higress-plugin-server' } },
        topologyKey: 'kubernetes.io/hostname',
      });
      // One pod per node: a surge pod could not schedule when nodes == replicas, so replace one at a time.
      expect(byKind(o, 'Deployment').spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 1, maxSurge: 0 });
    },
  },
  {
    keys: [],
    set: ['antiAffinity=preferred'],
    check: (o) =>
      expect(byKind(o, 'Deployment').spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 }),
  },
  { keys: [], set: ['antiAffinity=none'], check: (o) => expect(pod(o).affinity).toBeUndefined() },
  {
    keys: ['zoneSpread'],
    set: ['zoneSpread=false'],
    check: (o) => expect(pod(o).topologySpreadConstraints).toBeUndefined(),
  },
  {
    keys: ['topologySpreadConstraints'],
    json: ['topologySpreadConstraints=[{"maxSkew":2,"topologyKey":"x","whenUnsatisfiable":"DoNotSchedule"}]'],
    check: (o) =>
      expect(pod(o).topologySpreadConstraints).toEqual([
        { maxSkew: 2, topologyKey: 'x', whenUnsatisfiable: 'DoNotSchedule' },
      ]),
  },
  {
    keys: ['priorityClassName'],
    set: ['priorityClassName=high'],
    check: (o) => expect(pod(o).priorityClassName).toBe('high'),
  },
  {
    keys: ['podDisruptionBudget.minAvailable'],
    set: ['podDisruptionBudget.minAvailable=2'],
    check: (o) => expect(byKind(o, 'PodDisruptionBudget').spec.minAvailable).toBe(2),
  },
  {
    keys: ['podDisruptionBudget.enabled'],
    set: ['podDisruptionBudget.enabled=false'],
    check: (o) => expect(o.map((x) => x.kind)).not.toContain('PodDisruptionBudget'),
  },
  { keys: [], set: ['replicas=1'], check: (o) => expect(o.map((x) => x.kind)).not.toContain('PodDisruptionBudget') },
  {
    keys: ['podSecurityContext'],
    set: ['podSecurityContext.runAsUser=1000'],
    check: (o) => expect(pod(o).securityContext.runAsUser).toBe(1000),
  },
  {
    keys: ['securityContext'],
    set: ['securityContext.runAsUser=1001'],
    check: (o) => expect(container(o).securityContext.runAsUser).toBe(1001),
  },
  {
    keys: ['tmpVolume.sizeLimit'],
    set: ['tmpVolume.sizeLimit=32Mi'],
    check: (o) => {
      expect(pod(o).volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '32Mi' } }]);
      expect(byKind(o, 'Pod').spec.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '32Mi' } }]);
    },
  },
  ...(['startup', 'readiness', 'liveness'] as const).map((p): Row => ({
    keys: ['initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'failureThreshold'].map((f) => `probes.${p}.${f}`),
    set: [
      `probes.${p}.initialDelaySeconds=11`,
      `probes.${p}.periodSeconds=12`,
      `probes.${p}.timeoutSeconds=13`,
      `probes.${p}.failureThreshold=14`,
    ],
    check: (o) =>
      expect(container(o)[`${p}Probe`]).toMatchObject({
        initialDelaySeconds: 11,
        periodSeconds: 12,
        timeoutSeconds: 13,
        failureThreshold: 14,
      }),
  })),
  {
    keys: ['autoscaling.enabled', 'autoscaling.minReplicas', 'autoscaling.maxReplicas'],
    set: ['autoscaling.enabled=true', 'autoscaling.minReplicas=3', 'autoscaling.maxReplicas=9', 'replicas=7'],
    check: (o) => {
      expect(byKind(o, 'HorizontalPodAutoscaler').spec).toEqual({
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'higress-plugin-server' },
        minReplicas: 3,
        maxReplicas: 9,
        metrics: [
          { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } },
        ],
      });
      // The autoscaler owns the count: no replicas in the Deployment, so an upgrade never resets it.
      expect(byKind(o, 'Deployment').spec.replicas).toBeUndefined();
      expect(byKind(o, 'PodDisruptionBudget').spec.minAvailable).toBe(1);
    },
  },
  {
    keys: ['autoscaling.targetCPUUtilizationPercentage'],
    set: ['autoscaling.enabled=true', 'autoscaling.targetCPUUtilizationPercentage=150'],
    check: (o) =>
      expect(byKind(o, 'HorizontalPodAutoscaler').spec.metrics[0].resource.target.averageUtilization).toBe(150),
  },
  {
    keys: [],
    set: ['autoscaling.enabled=true', 'autoscaling.minReplicas=1'],
    check: (o) => expect(o.map((x) => x.kind)).not.toContain('PodDisruptionBudget'),
  },
  {
    keys: [],
    check: (o) => {
      expect(o.map((x) => x.kind)).not.toContain('HorizontalPodAutoscaler');
      expect(o.map((x) => x.kind)).not.toContain('ServiceMonitor');
      expect(o.map((x) => x.kind)).not.toContain('ConfigMap');
      expect(byKind(o, 'Deployment').spec.template.metadata.annotations).toEqual({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '8080',
        'prometheus.io/path': '/metrics',
      });
    },
  },
  {
    keys: ['metrics.enabled'],
    set: ['metrics.enabled=false'],
    check: (o) => expect(byKind(o, 'Deployment').spec.template.metadata.annotations).toBeUndefined(),
  },
  {
    keys: [],
    set: ['metrics.enabled=false', 'podAnnotations.note=x'],
    check: (o) => expect(byKind(o, 'Deployment').spec.template.metadata.annotations).toEqual({ note: 'x' }),
  },
  {
    keys: [],
    json: ['podAnnotations={"note":"x","prometheus.io/scrape":"false"}'],
    check: (o) =>
      // The chart's scrape annotations stay (metrics.enabled=false is the way to drop them), written once.
      expect(byKind(o, 'Deployment').spec.template.metadata.annotations).toEqual({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '8080',
        'prometheus.io/path': '/metrics',
        note: 'x',
      }),
  },
  {
    keys: ['metrics.serviceMonitor.enabled'],
    set: ['metrics.serviceMonitor.enabled=true'],
    check: (o) => {
      const sm = byKind(o, 'ServiceMonitor');
      expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
      expect(sm.metadata.namespace).toBe('higress-system');
      expect(sm.spec).toEqual({
        selector: { matchLabels: byKind(o, 'Service').spec.selector },
        namespaceSelector: { matchNames: ['higress-system'] },
        endpoints: [{ port: 'http', path: '/metrics', interval: '30s' }],
      });
      // It selects the Service by labels the Service carries, on a port the Service has.
      expect(byKind(o, 'Service').metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
      expect(byKind(o, 'Service').spec.ports.map((p: Obj) => p.name)).toContain(sm.spec.endpoints[0].port);
    },
  },
  {
    keys: [
      'metrics.serviceMonitor.namespace',
      'metrics.serviceMonitor.labels',
      'metrics.serviceMonitor.interval',
      'metrics.serviceMonitor.scrapeTimeout',
    ],
    set: [
      'metrics.serviceMonitor.enabled=true',
      'metrics.serviceMonitor.namespace=monitoring',
      'metrics.serviceMonitor.labels.release=kube-prometheus-stack',
      'metrics.serviceMonitor.interval=1m',
      'metrics.serviceMonitor.scrapeTimeout=15s',
    ],
    check: (o) => {
      const sm = byKind(o, 'ServiceMonitor');
      expect(sm.metadata.namespace).toBe('monitoring');
      expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
      expect(sm.spec.namespaceSelector).toEqual({ matchNames: ['higress-system'] });
      expect(sm.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '1m', scrapeTimeout: '15s' }]);
    },
  },
  {
    keys: [],
    set: ['metrics.serviceMonitor.enabled=true', 'metrics.serviceMonitor.interval='],
    check: (o) => expect(byKind(o, 'ServiceMonitor').spec.endpoints).toEqual([{ port: 'http', path: '/metrics' }]),
  },
  {
    keys: ['metrics.dashboard.enabled'],
    set: ['metrics.dashboard.enabled=true'],
    check: (o) => {
      const cm = byKind(o, 'ConfigMap');
      expect(cm.metadata.name).toBe('higress-plugin-server-dashboard');
      expect(cm.metadata.namespace).toBe('higress-system');
      expect(cm.metadata.labels.grafana_dashboard).toBe('1');
      // The file the chart ships, byte for byte (its {{plugin}} legends untouched by the template engine).
      expect(cm.data).toEqual({
        'higress-plugin-server.json': fs.readFileSync(path.join(CHART_PATH, DASHBOARD_FILE), 'utf8'),
      });
    },
  },
  {
    keys: ['metrics.dashboard.namespace', 'metrics.dashboard.labels', 'metrics.dashboard.annotations'],
    set: [
      'metrics.dashboard.enabled=true',
      'metrics.dashboard.namespace=grafana',
      'metrics.dashboard.labels.grafana_dashboard=yes',
      'metrics.dashboard.annotations.grafana_folder=Higress',
    ],
    check: (o) => {
      const cm = byKind(o, 'ConfigMap');
      expect(cm.metadata.namespace).toBe('grafana');
      expect(cm.metadata.labels.grafana_dashboard).toBe('yes');
      expect(cm.metadata.annotations).toEqual({ grafana_folder: 'Higress' });
    },
  },
  {
    keys: ['test.enabled'],
    set: ['test.enabled=false'],
    check: (o) => expect(o.map((x) => x.kind)).not.toContain('Pod'),
  },
  {
    keys: ['test.pluginPath'],
    set: ['test.pluginPath=/plugins/key-auth/1.0.0/plugin.wasm'],
    check: (o) =>
      expect(byKind(o, 'Pod').spec.containers[0].env[1]).toEqual({
        name: 'PLUGIN_PATH',
        value: '/plugins/key-auth/1.0.0/plugin.wasm',
      }),
  },
];

describe('value overrides', () => {
  test.each(
    ROWS.map(
      (r) =>
        [
          [...(r.set ?? []), ...(r.json ?? []), r.values ? `-f ${JSON.stringify(r.values)}` : ''].join(' ') ||
            'defaults',
          r,
        ] as const,
    ),
  )('%s', (_label, row) => {
    const files: string[] = [];
    if (row.values) {
      const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hps-values-')), 'values.yaml');
      fs.writeFileSync(f, stringify(row.values));
      files.push(f);
    }
    try {
      row.check(renderObjects({ set: [ON, ...(row.set ?? [])], setJson: [...(row.json ?? [])], values: files }));
    } finally {
      for (const f of files) fs.rmSync(path.dirname(f), { recursive: true, force: true });
    }
  });

  test('every value key is covered by a row (console.* by the NOTES test)', () => {
    const covered = new Set([
      'global.enablePluginServer',
      'console.deploymentName',
      'console.containerName',
      'console.namespace',
      ...ROWS.flatMap((r) => r.keys),
    ]);
    const missing: string[] = [];
    walkSpec(VALUES_SPEC, (p) => {
      if (!covered.has(p)) missing.push(p);
    });
    expect(missing).toEqual([]);
  });
});

describe('bad values', () => {
  test.each([
    ['replicas=two', '/replicas'],
    ['replicas=1.5', '/replicas'],
    ['service.type=ExternalName', '/service/type'],
    ['probes.path=healthz', '/probes/path'],
    ['labels.app=1', '/labels/app'],
    ['replicas=-1', '/replicas'],
    ['replica=3', "'replica'"],
    ['service.prot=80', "'prot'"],
    ['imagePullPolicy=Sometimes', '/imagePullPolicy'],
    ['global.imagePullPolicy=Sometimes', '/global/imagePullPolicy'],
    ['service.port=70000', '/service/port'],
    ['service.port=0', '/service/port'],
    ['antiAffinity=maybe', '/antiAffinity'],
    ['probes.readiness.periodSeconds=0', '/probes/readiness/periodSeconds'],
    ['labels.team=1', '/labels/team'],
    ['name=Bad_Name', '/name'],
    ['test.pluginPath=../etc/passwd', '/test/pluginPath'],
    ['tmpVolume.sizeLimit=lots', '/tmpVolume/sizeLimit'],
    ['tmpVolume.sizeLimit=-1Mi', '/tmpVolume/sizeLimit'],
    ['tmpVolume.sizeLimit=64MB', '/tmpVolume/sizeLimit'],
    ['metrics.serviceMonitor.interval=30x', '/metrics/serviceMonitor/interval'],
    ['metrics.serviceMonitor.scrapeTimeout=10', '/metrics/serviceMonitor/scrapeTimeout'],
    ['metrics.serviceMonitor.namespace=Bad_NS', '/metrics/serviceMonitor/namespace'],
    ['metrics.dashboard.namespace=a.b', '/metrics/dashboard/namespace'],
    ['metrics.dashboard.labels.grafana_dashboard=-', '/metrics/dashboard/labels'],
    ['metrics.serviceMonitor.port=http', "'port'"],
    ['autoscaling.minReplicas=0', '/autoscaling/minReplicas'],
    ['autoscaling.maxReplicas=101', '/autoscaling/maxReplicas'],
    ['autoscaling.targetCPUUtilizationPercentage=0', '/autoscaling/targetCPUUtilizationPercentage'],
  ])('%s fails naming %s', (set, key) => {
    // Checked with the gate on and off: validation must not depend on the gate.
    for (const extra of [[ON], []]) {
      const r = helmTemplate({ set: [...extra, set] });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(key);
    }
  });
});

describe('helm install --dry-run (what a user runs first)', () => {
  let kube: FakeKube;
  beforeAll(async () => {
    kube = await startFakeKube();
  });
  afterAll(() => kube?.stop());
  const dryRun = (set: string[]) => {
    const r = spawnSync(
      tool('helm'),
      [
        'install',
        'plugin-server',
        CHART_PATH,
        '--dry-run',
        '--disable-openapi-validation',
        '-n',
        'higress-system',
      ].concat(set.flatMap((s) => ['--set', s])),
      { encoding: 'utf8', env: { ...helmEnv(), KUBECONFIG: kube.kubeconfig } },
    );
    return { status: r.status, notes: r.stdout.slice(r.stdout.indexOf('NOTES:')), stdout: r.stdout, stderr: r.stderr };
  };

  test('without the flag: nothing to install, and the notes say how to turn it on', () => {
    const r = dryRun([]);
    expect(r).toMatchObject({ status: 0 });
    expect(r.stdout).not.toContain('kind: Deployment');
    expect(r.notes).toContain('The plugin server is disabled: set global.enablePluginServer=true to render it.');
  });

  test('with the flag: one Deployment, and the notes name the image and why', () => {
    const r = dryRun([ON]);
    expect(r).toMatchObject({ status: 0 });
    expect(r.stdout.match(/^kind: Deployment$/gm)).toHaveLength(1);
    expect(r.notes).toContain(
      `Image: higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:${TARGET_HIGRESS_VERSION}\n`,
    );
    expect(r.notes).toContain('the Higress release this chart targets');
  });
});

describe('NOTES.txt', () => {
  const notes = (set: string[]) => renderNotes(set);

  test('prints the console patch command with the configured names', () => {
    const out = notes([
      ON,
      'console.deploymentName=my-console',
      'console.containerName=console',
      'console.namespace=ops',
      'service.port=8080',
    ]);
    expect(out).toContain('kubectl patch deployment my-console -n ops --patch-file console-patch.yaml');
    expect(out).toContain('- name: "console"');
    expect(out).toContain(
      'value: "http://higress-plugin-server.higress-system.svc:8080/plugins/${name}/${version}/plugin.wasm"',
    );
    expect(out).toContain('helm test ps -n higress-system');
  });

  test('says how to find a duplicate server, with the selector label in use', () => {
    expect(notes([ON])).toContain('kubectl get deploy -A -l app=higress-plugin-server');
    expect(notes([ON, 'labels.app=plugins'])).toContain('kubectl get deploy -A -l app=plugins');
  });

  test('says which image runs and why: the Higress release the chart targets, or the tag set', () => {
    const out = notes([ON]);
    expect(out).toContain(
      `Image: higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:${TARGET_HIGRESS_VERSION}\n`,
    );
    expect(out).toContain(
      `no tag set: the chart's appVersion ${TARGET_HIGRESS_VERSION}, the Higress release this chart targets`,
    );
    const own = notes([ON, 'hub=registry.example.internal', 'tag=0.3.0']);
    expect(own).toContain('Image: registry.example.internal/higress/plugin-server:0.3.0\n  (the tag value you set)');
  });

  test('without the flag: nothing renders and the notes say how to enable it', () => {
    expect(notes([]).trim()).toBe('The plugin server is disabled: set global.enablePluginServer=true to render it.');
  });

  test('states what the image needs, and warns for the old upstream tag', () => {
    const out = notes([ON]);
    expect(out).toContain('probes GET /healthz');
    expect(out).toContain('UID 101 with a read-only root filesystem');
    expect(out).toContain('ci/legacy-image-values.yaml');
    expect(out).not.toContain('WARNING');
    expect(notes([ON, 'tag=1.0.0'])).toContain('WARNING: tag 1.0.0 is the older upstream plugin-server image');
  });

  test('shows the Console and gateway settings for the OCI registry, with the Service host in use', () => {
    const out = notes([ON]);
    expect(out).toContain('HIGRESS_ADMIN_WASM_PLUGIN_IMAGE_REGISTRY=higress-plugin-server.higress-system.svc\n');
    expect(out).toContain('HIGRESS_ADMIN_WASM_PLUGIN_IMAGE_NAMESPACE=plugins\n');
    expect(out).toContain('WASM_INSECURE_REGISTRIES=higress-plugin-server.higress-system.svc\n');
    expect(out).toContain('oci://higress-plugin-server.higress-system.svc/plugins/<name>:<version>');
    const moved = notes([
      ON,
      'name=ps',
      'service.port=8080',
      'console.namespace=ops',
      'console.deploymentName=my-console',
    ]);
    expect(moved).toContain(
      'kubectl set env deployment/my-console -n ops \\\n    HIGRESS_ADMIN_WASM_PLUGIN_IMAGE_REGISTRY=ps.higress-system.svc:8080 HIGRESS_ADMIN_WASM_PLUGIN_IMAGE_NAMESPACE=plugins',
    );
    expect(moved).toContain('WASM_INSECURE_REGISTRIES=ps.higress-system.svc:8080\n');
  });

  test("points the controller's MCP_SERVER_WASM_IMAGE_URL at mcp-server at the snapshot version; the patch matches dist/", () => {
    const url = 'http://higress-plugin-server.higress-system.svc/plugins/mcp-server/2.0.1/plugin.wasm';
    const out = notes([ON]);
    expect(out).toContain(`  MCP_SERVER_WASM_IMAGE_URL=${url}\n`);
    expect(out).toContain(`--set 'higress-core.controller.env.MCP_SERVER_WASM_IMAGE_URL=${url}'`);
    const body = out.slice(out.indexOf("<<'PATCH'\n") + 10, out.indexOf('\nPATCH\n'));
    expect(parse(body)).toEqual(parse(fs.readFileSync(path.join(REPO_ROOT, DIST_MCP_PATCH), 'utf8')));
    expect(out).toContain(
      'kubectl patch deployment higress-controller -n higress-system --patch-file controller-mcp-patch.yaml',
    );
    const moved = notes([ON, 'name=ps', 'service.port=8080', 'console.namespace=ops']);
    expect(moved).toContain(
      'MCP_SERVER_WASM_IMAGE_URL=http://ps.higress-system.svc:8080/plugins/mcp-server/2.0.1/plugin.wasm\n',
    );
    expect(moved).toContain(
      'kubectl patch deployment higress-controller -n ops --patch-file controller-mcp-patch.yaml',
    );
  });

  test('says how the server is scraped and scaled', () => {
    const out = notes([ON]);
    expect(out).toContain('(2 replicas) is installed');
    expect(out).toContain('GET /metrics on the http port (8080)');
    expect(out).toContain('Pods carry prometheus.io/scrape');
    expect(out).not.toContain('ServiceMonitor');
    const on = notes([
      ON,
      'autoscaling.enabled=true',
      'metrics.serviceMonitor.enabled=true',
      'metrics.serviceMonitor.namespace=monitoring',
      'metrics.dashboard.enabled=true',
    ]);
    expect(on).toContain('(autoscaled from 2 to 5 replicas at 80% CPU) is installed');
    expect(on).toContain('ServiceMonitor higress-plugin-server in namespace monitoring');
    expect(on).toContain('ConfigMap higress-plugin-server-dashboard, namespace higress-system');
    expect(notes([ON, 'metrics.enabled=false'])).toContain('metrics.enabled=false: no scrape annotations');
  });

  test('with defaults the patch matches dist/console-patch.yaml', () => {
    const out = notes([ON]);
    const body = out.slice(out.indexOf("<<'EOF'\n") + 8, out.indexOf('\nEOF\n'));
    const dist = fs.readFileSync(path.join(REPO_ROOT, DIST_CONSOLE_PATCH), 'utf8');
    expect(parse(body)).toEqual(parse(dist));
    expect(out).toContain('kubectl patch deployment higress-console -n higress-system --patch-file console-patch.yaml');
  });
});

test('rollout budget: surge by default, one pod at a time with required anti-affinity (nodes == replicas must still roll out)', () => {
  const strategy = (set: string[], setJson: string[] = []) =>
    renderObjects({ set: [ON, ...set], setJson, skipTests: true }).find((o) => o.kind === 'Deployment')!.spec.strategy
      .rollingUpdate;
  expect(strategy([])).toEqual({ maxUnavailable: 0, maxSurge: 1 });
  expect(strategy(['antiAffinity=none'])).toEqual({ maxUnavailable: 0, maxSurge: 1 });
  expect(strategy(['antiAffinity=required'])).toEqual({ maxUnavailable: 1, maxSurge: 0 });
  // The rule reads antiAffinity alone (one expression, as documented in values.yaml), even when a
  // user-supplied affinity replaces the generated one: one pod at a time is always safe to roll out.
  expect(strategy(['antiAffinity=required'], ['affinity={"nodeAffinity":{}}'])).toEqual({
    maxUnavailable: 1,
    maxSurge: 0,
  });
});
