/**
 * Embedding: the fixture umbrella chart lists the subchart with `alias: pluginServer` and
 * `condition: global.enablePluginServer`, as the Higress umbrella chart would.
 */
import * as fs from 'fs';
import * as path from 'path';
import { helm, parseDocs, renderObjects } from './support/helm';
import { REPO_ROOT } from './support/tools';

const UMBRELLA = path.join(REPO_ROOT, 'test', 'fixtures', 'umbrella');

beforeAll(() => {
  // charts/ and Chart.lock are git-ignored build outputs of `helm dependency build`.
  fs.rmSync(path.join(UMBRELLA, 'charts'), { recursive: true, force: true });
  const r = helm(['dependency', 'build', UMBRELLA]);
  if (r.status !== 0) throw new Error(`helm dependency build failed: ${r.stderr}`);
});

afterAll(() => {
  fs.rmSync(path.join(UMBRELLA, 'charts'), { recursive: true, force: true });
  fs.rmSync(path.join(UMBRELLA, 'Chart.lock'), { force: true });
});

test('the packaged subchart is in charts/', () => {
  expect(fs.readdirSync(path.join(UMBRELLA, 'charts'))).toEqual(['higress-plugin-server-0.1.0.tgz']);
});

test('--set global.enablePluginServer=true --set pluginServer.replicas=3 gives three replicas', () => {
  const objs = renderObjects({ chart: UMBRELLA, release: 'higress', set: ['global.enablePluginServer=true', 'pluginServer.replicas=3'] });
  const dep = objs.find((o) => o.kind === 'Deployment')!;
  expect(dep.spec.replicas).toBe(3);
  expect(dep.metadata.name).toBe('higress-plugin-server');
  // global.hub and global.imagePullPolicy reach the subchart.
  expect(dep.spec.template.spec.containers[0].image).toBe('higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:0.1.0');
  expect(dep.spec.template.spec.containers[0].imagePullPolicy).toBe('IfNotPresent');
  expect(objs.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Pod', 'PodDisruptionBudget', 'Service']);
});

test('without the flag nothing of the plugin server renders', () => {
  const objs = renderObjects({ chart: UMBRELLA, release: 'higress', set: ['pluginServer.replicas=3'] });
  expect(objs.map((o) => o.kind)).toEqual(['ConfigMap']);
});

test('the subchart schema still guards pluginServer values', () => {
  const r = helm(['template', 'higress', UMBRELLA, '--kube-version', '1.28.0', '--set', 'global.enablePluginServer=true', '--set', 'pluginServer.replicas=two']);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain('/replicas');
  expect(parseDocs(r.stdout)).toEqual([]);
});
