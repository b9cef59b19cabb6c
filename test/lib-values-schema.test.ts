/**
 * Every object the chart renders validates against the Kubernetes OpenAPI definitions of 1.28 and
 * 1.34 (offline copies in imports/k8s-openapi), and the ServiceMonitor against the schema of its CRD
 * (imports/crds/servicemonitor.yaml). Objects are made strict (unknown fields rejected), the way
 * `kubectl apply --validate=strict` treats them.
 */
import * as fs from 'fs';
import * as path from 'path';
import Ajv, { ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { CHART_PATH, renderObjects } from './support/helm';

type Obj = Record<string, any>;
const SCHEMAS = path.resolve(__dirname, '..', 'imports', 'k8s-openapi');
const VERSIONS = ['1.28.0', '1.34.0'];
const SERVICE_MONITOR_CRD = path.resolve(__dirname, '..', 'imports', 'crds', 'servicemonitor.yaml');

function strict(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(strict);
  if (!node || typeof node !== 'object') return;
  const o = node as Obj;
  if (o.properties && o.additionalProperties === undefined) o.additionalProperties = false;
  for (const v of Object.values(o)) strict(v);
}

class K8sValidator {
  private readonly ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  private readonly byGvk = new Map<string, string>();
  private readonly compiled = new Map<string, ValidateFunction>();

  /** Kinds served by CRDs: validated against the CRD's own openAPIV3Schema. */
  private readonly crds = new Map<string, ValidateFunction>();

  constructor(version: string) {
    const defs = JSON.parse(fs.readFileSync(path.join(SCHEMAS, `v${version}`, '_definitions.json'), 'utf8'))
      .definitions as Record<string, Obj>;
    strict(defs);
    for (const [name, def] of Object.entries(defs)) {
      for (const g of (def['x-kubernetes-group-version-kind'] ?? []) as Array<{
        group: string;
        version: string;
        kind: string;
      }>) {
        this.byGvk.set(`${g.group ? `${g.group}/` : ''}${g.version}/${g.kind}`, name);
      }
    }
    this.ajv.addSchema({ $id: 'k8s', definitions: defs });
    for (const doc of parseAllDocuments(fs.readFileSync(SERVICE_MONITOR_CRD, 'utf8'))) {
      const crd = doc.toJS() as Obj | null;
      if (!crd) continue;
      for (const v of crd.spec.versions as Obj[]) {
        const schema = structuredClone(v.schema.openAPIV3Schema) as Obj;
        strict(schema);
        this.crds.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, this.ajv.compile(schema));
      }
    }
  }

  errors(obj: Obj): string[] {
    const crd = this.crds.get(`${obj.apiVersion}/${obj.kind}`);
    if (crd) {
      const crdKind = String(obj.kind);
      return crd(obj)
        ? []
        : (crd.errors ?? []).map((e) => `${crdKind} ${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
    }
    const def = this.byGvk.get(`${obj.apiVersion}/${obj.kind}`);
    if (!def) return [`no definition for ${obj.apiVersion} ${obj.kind}`];
    let validate = this.compiled.get(def);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `k8s#/definitions/${def}` });
      this.compiled.set(def, validate);
    }
    const kind = String(obj.kind);
    return validate(obj)
      ? []
      : (validate.errors ?? []).map((e) => `${kind} ${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
  }
}

const RENDERS: Array<[string, Parameters<typeof renderObjects>[0]]> = [
  ['defaults', { set: ['global.enablePluginServer=true'] }],
  ...fs
    .readdirSync(path.join(CHART_PATH, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .map((f): [string, Parameters<typeof renderObjects>[0]] => [
      `ci/${f}`,
      { values: [path.join(CHART_PATH, 'ci', f)] },
    ]),
  [
    'overrides',
    {
      set: [
        'global.enablePluginServer=true',
        'nodeSelector.disk=ssd',
        'podAnnotations.a=b',
        'labels.team=x',
        'test.pluginPath=/plugins/a/1.0.0/plugin.wasm',
      ],
      setJson: [
        'tolerations=[{"key":"k","operator":"Exists","effect":"NoSchedule"}]',
        'affinity={"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"k","operator":"Exists"}]}]}}}',
      ],
    },
  ],
];

/** Every optional object of the chart, with each of its values set. */
const EVERYTHING_ON: Parameters<typeof renderObjects>[0] = {
  set: [
    'global.enablePluginServer=true',
    'autoscaling.enabled=true',
    'autoscaling.minReplicas=3',
    'metrics.serviceMonitor.enabled=true',
    'metrics.serviceMonitor.namespace=monitoring',
    'metrics.serviceMonitor.labels.release=kps',
    'metrics.serviceMonitor.interval=1m',
    'metrics.serviceMonitor.scrapeTimeout=20s',
    'metrics.dashboard.enabled=true',
    'metrics.dashboard.namespace=grafana',
    'metrics.dashboard.annotations.grafana_folder=Higress',
  ],
};
RENDERS.push(['autoscaling, ServiceMonitor and dashboard', EVERYTHING_ON]);

describe.each(VERSIONS)('Kubernetes %s OpenAPI', (version) => {
  let validator: K8sValidator;
  beforeAll(() => {
    validator = new K8sValidator(version);
  });

  test.each(RENDERS)('%s renders valid objects', (_name, opts) => {
    const objs = renderObjects({ ...opts, kubeVersion: version });
    expect(objs.length).toBeGreaterThanOrEqual(2);
    expect(objs.flatMap((o) => validator.errors(o))).toEqual([]);
  });

  test('the optional objects are all there and the ServiceMonitor is checked against its CRD', () => {
    const objs = renderObjects({ ...EVERYTHING_ON, kubeVersion: version });
    expect(objs.map((o) => o.kind)).toEqual(
      expect.arrayContaining(['HorizontalPodAutoscaler', 'ServiceMonitor', 'ConfigMap', 'PodDisruptionBudget']),
    );
    const sm = objs.find((o) => o.kind === 'ServiceMonitor')!;
    expect(validator.errors(sm)).toEqual([]);
    // Negative control: the CRD's schema rejects a bad duration and an unknown endpoint field.
    sm.spec.endpoints[0].interval = '30 seconds';
    sm.spec.endpoints[0].portName = 'http';
    const errors = validator.errors(sm).join('\n');
    expect(errors).toMatch(/\/spec\/endpoints\/0\/interval/);
    expect(errors).toMatch(/portName/);
  });

  test('the validator rejects a wrong type and an unknown field', () => {
    const [dep] = renderObjects({ set: ['global.enablePluginServer=true'], kubeVersion: version }).filter(
      (o) => o.kind === 'Deployment',
    );
    dep.spec.replicas = 'two';
    dep.spec.template.spec.containers[0].readinessProbe.httpGet.paht = '/x';
    const errors = validator.errors(dep).join('\n');
    expect(errors).toMatch(/\/spec\/replicas/);
    expect(errors).toMatch(/paht/);
  });
});
