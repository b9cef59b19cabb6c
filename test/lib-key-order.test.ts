/**
 * Key order: constructs write keys in the order they should read (one place: the construct), and
 * both back-ends keep it. The committed dist/ and what `helm template` renders from the committed
 * chart must both show the canonical order.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { DIST_MANIFESTS } from '../lib/synth';
import { helmTemplate } from './support/helm';
import { REPO_ROOT } from './support/tools';

type Obj = Record<string, any>;

/** Documents with their key order as written (yaml keeps insertion order). */
const docs = (text: string): Obj[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Obj)
    .filter(Boolean);
const keys = (o: unknown): string[] => Object.keys(o as object);

/** The order every source must show for the maps the chart writes itself. */
function expectCanonical(objs: Obj[], where: string): void {
  for (const o of objs) {
    const id = `${where} ${o.kind}`;
    expect([id, keys(o).slice(0, 4)]).toEqual([id, ['apiVersion', 'kind', 'metadata', 'spec']]);
    expect([id, keys(o.metadata).slice(0, 3)]).toEqual([id, ['name', 'namespace', 'labels']]);
  }
  const dep = objs.find((o) => o.kind === 'Deployment')!;
  expect(keys(dep.spec)).toEqual(['replicas', 'selector', 'strategy', 'template']);
  expect(keys(dep.spec.strategy)).toEqual(['type', 'rollingUpdate']);
  expect(keys(dep.spec.template)).toEqual(['metadata', 'spec']);
  const pod = dep.spec.template.spec;
  expect(keys(pod)).toEqual([
    'automountServiceAccountToken',
    'securityContext',
    'containers',
    'volumes',
    'affinity',
    'topologySpreadConstraints',
  ]);
  const c = pod.containers[0];
  expect(keys(c)).toEqual([
    'name',
    'image',
    // The config nginx runs (-c, gzip.enabled), where Kubernetes' own Container type puts it.
    'args',
    'ports',
    'startupProbe',
    'readinessProbe',
    'livenessProbe',
    'resources',
    'securityContext',
    'volumeMounts',
  ]);
  expect(keys(c.ports[0])).toEqual(['name', 'containerPort', 'protocol']);
  expect(keys(c.readinessProbe)).toEqual([
    'httpGet',
    'initialDelaySeconds',
    'periodSeconds',
    'timeoutSeconds',
    'failureThreshold',
  ]);
  expect(keys(c.volumeMounts[0])).toEqual(['name', 'mountPath']);
  expect(keys(pod.volumes[0])).toEqual(['name', 'emptyDir']);
  expect(keys(pod.topologySpreadConstraints[0])).toEqual([
    'maxSkew',
    'topologyKey',
    'whenUnsatisfiable',
    'labelSelector',
  ]);
  const svc = objs.find((o) => o.kind === 'Service')!;
  expect(keys(svc.spec)).toEqual(['type', 'ports', 'selector']);
  expect(keys(svc.spec.ports[0])).toEqual(['name', 'port', 'targetPort', 'protocol']);
}

describe('rendered order', () => {
  test('dist/ follows the canonical order', () => {
    expectCanonical(docs(fs.readFileSync(path.join(REPO_ROOT, DIST_MANIFESTS), 'utf8')), 'dist');
  });

  test('helm template follows it too, and the helm test pod puts restartPolicy and the container name first', () => {
    const r = helmTemplate({ set: ['global.enablePluginServer=true'] });
    expect(r.status).toBe(0);
    const objs = docs(r.stdout);
    expectCanonical(
      objs.filter((o) => o.kind !== 'Pod'),
      'chart',
    );
    const testPod = objs.find((o) => o.kind === 'Pod')!;
    expect(keys(testPod.metadata)).toEqual(['name', 'namespace', 'labels', 'annotations']);
    expect(keys(testPod.spec).slice(0, 2)).toEqual(['restartPolicy', 'automountServiceAccountToken']);
    expect(keys(testPod.spec.containers[0])).toEqual([
      'name',
      'image',
      'command',
      'env',
      'resources',
      'securityContext',
      'volumeMounts',
    ]);
  });

  test('a set pull policy lands right after the image', () => {
    const r = helmTemplate({ set: ['global.enablePluginServer=true', 'imagePullPolicy=IfNotPresent'] });
    const dep = docs(r.stdout).find((o) => o.kind === 'Deployment')!;
    expect(keys(dep.spec.template.spec.containers[0]).slice(0, 3)).toEqual(['name', 'image', 'imagePullPolicy']);
  });
});
