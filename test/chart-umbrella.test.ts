/**
 * Embedding: the fixture umbrella chart lists the subchart with `alias: pluginServer` and
 * `condition: global.enablePluginServer`, as the Higress umbrella chart would.
 */
import * as fs from 'fs';
import * as path from 'path';
import { helm, parseDocs, renderNotes, renderObjects } from './support/helm';
import { wasmUrlPath } from '../src/contract/tree-format';
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

test('the packaged subcharts are in charts/', () => {
  expect(fs.readdirSync(path.join(UMBRELLA, 'charts')).sort()).toEqual(['higress-console-0.0.1.tgz', 'higress-plugin-server-0.1.0.tgz']);
});

test('--set global.enablePluginServer=true --set pluginServer.replicas=3 gives three replicas', () => {
  const objs = renderObjects({ chart: UMBRELLA, release: 'higress', set: ['global.enablePluginServer=true', 'pluginServer.replicas=3'] });
  const dep = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'higress-plugin-server')!;
  expect(dep.spec.replicas).toBe(3);
  expect(dep.metadata.name).toBe('higress-plugin-server');
  // global.hub and global.imagePullPolicy reach the subchart.
  expect(dep.spec.template.spec.containers[0].image).toBe('higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:0.1.0');
  expect(dep.spec.template.spec.containers[0].imagePullPolicy).toBe('IfNotPresent');
  // The umbrella's own ConfigMap and the Console's Deployment, plus the plugin server.
  expect(objs.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Deployment', 'Pod', 'PodDisruptionBudget', 'Service']);
});

test('without the flag nothing of the plugin server renders', () => {
  const objs = renderObjects({ chart: UMBRELLA, release: 'higress', set: ['pluginServer.replicas=3'] });
  expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['ConfigMap/higress-config', 'Deployment/higress-console']);
});

test('the subchart schema still guards pluginServer values', () => {
  const r = helm(['template', 'higress', UMBRELLA, '--kube-version', '1.28.0', '--set', 'global.enablePluginServer=true', '--set', 'pluginServer.replicas=two']);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain('/replicas');
  expect(parseDocs(r.stdout)).toEqual([]);
});

describe('the Console and the plugin server agree (stub Console chart, as Higress writes it)', () => {
  const PATTERN_ENV = 'HIGRESS_ADMIN_WASM_PLUGIN_CUSTOM_IMAGE_URL_PATTERN';
  const consoleEnv = (objs: Array<Record<string, any>>) =>
    (objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'higress-console')!.spec.template.spec.containers[0].env ?? []) as Array<{ name: string; value: string }>;
  const pluginService = (objs: Array<Record<string, any>>) => objs.find((o) => o.kind === 'Service')!;

  test('with the flag, a URL built from the Console pattern reaches the Service and a path the server serves', () => {
    const objs = renderObjects({ chart: UMBRELLA, release: 'higress', namespace: 'higress-system', set: ['global.enablePluginServer=true'] });
    const pattern = consoleEnv(objs).find((e) => e.name === PATTERN_ENV)!.value;
    const url = new URL(pattern.replace('${name}', 'key-auth').replace('${version}', '1.0.0'));
    const svc = pluginService(objs);
    // <service>.<namespace>.svc, the Service's port (80 is implied by http://), and the tree's path.
    expect(url.hostname).toBe(`${svc.metadata.name}.${svc.metadata.namespace}.svc`);
    expect(Number(url.port || 80)).toBe(svc.spec.ports[0].port);
    expect(svc.spec.ports[0].targetPort).toBe('http');
    expect(url.pathname).toBe(wasmUrlPath('key-auth', '1.0.0'));
    // The subchart computes the same pattern for its own console patch (NOTES.txt).
    expect(renderNotes(['global.enablePluginServer=true'])).toContain(`value: ${JSON.stringify(pattern)}`);
  });

  test('without the flag the Console gets no pattern', () => {
    const objs = renderObjects({ chart: UMBRELLA, release: 'higress', set: [] });
    expect(consoleEnv(objs).map((e) => e.name)).not.toContain(PATTERN_ENV);
  });

  test("a pattern the user set in the Console's podEnvs wins", () => {
    const mine = 'http://plugins.example/${name}/${version}.wasm';
    const objs = renderObjects({ chart: UMBRELLA, release: 'higress', set: ['global.enablePluginServer=true', `higress-console.podEnvs.${PATTERN_ENV}=${mine}`] });
    expect(consoleEnv(objs).filter((e) => e.name === PATTERN_ENV)).toEqual([{ name: PATTERN_ENV, value: mine }]);
  });

  test.each([
    [['name=plugins'], 'http://plugins.higress-system.svc/plugins/${name}/${version}/plugin.wasm'],
    [['service.port=8080'], 'http://higress-plugin-server.higress-system.svc:8080/plugins/${name}/${version}/plugin.wasm'],
    [['name=plugins', 'service.port=81'], 'http://plugins.higress-system.svc:81/plugins/${name}/${version}/plugin.wasm'],
  ])('a custom %j reaches the Service, the console patch in NOTES.txt and agrees with them', (set, expected) => {
    const objs = renderObjects({ chart: UMBRELLA, release: 'higress', set: ['global.enablePluginServer=true', ...set.map((s) => `pluginServer.${s}`)] });
    const svc = pluginService(objs);
    const url = new URL(expected.replace('${name}', 'x').replace('${version}', '1'));
    expect(url.hostname).toBe(`${svc.metadata.name}.${svc.metadata.namespace}.svc`);
    expect(Number(url.port || 80)).toBe(svc.spec.ports[0].port);
    const notes = renderNotes(['global.enablePluginServer=true', ...set]);
    expect(notes).toContain(`value: ${JSON.stringify(expected)}`);
    expect(notes).toContain('kubectl patch deployment higress-console -n higress-system --patch-file console-patch.yaml');
    // The Console chart's own default no longer matches: NOTES.txt tells how to set it.
    expect(consoleEnv(objs).find((e) => e.name === PATTERN_ENV)!.value).not.toBe(expected);
    expect(notes).toContain(`--set 'higress-console.pluginServer.urlPattern=${expected}'`);
  });
});
