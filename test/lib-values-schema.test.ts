/**
 * Every object the chart renders validates against the Kubernetes OpenAPI definitions of 1.28 and
 * 1.34 (offline copies in imports/k8s-openapi). Objects are made strict (unknown fields rejected), the
 * way `kubectl apply --validate=strict` treats them.
 */
import * as fs from 'fs';
import * as path from 'path';
import Ajv, { ValidateFunction } from 'ajv';
import { CHART_PATH, renderObjects } from './support/helm';

type Obj = Record<string, any>;
const SCHEMAS = path.resolve(__dirname, '..', 'imports', 'k8s-openapi');
const VERSIONS = ['1.28.0', '1.34.0'];

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
  }

  errors(obj: Obj): string[] {
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
