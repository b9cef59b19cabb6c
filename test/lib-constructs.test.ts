/**
 * Constructs synthesised alone (the Testing.synth style of cdk8s-plus): a construct in a bare App
 * renders its objects for given values without the rest of the chart, and registers its template
 * files through the construct tree.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App } from 'cdk8s';
import { synthObjects, templatesOf } from '../lib/helm';
import { PluginServer } from '../lib/plugin-server';
import { ServerTest } from '../lib/server-test';
import { scopeFor } from '../lib/synth';
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
