/**
 * The subchart as a drop-in for the Higress core chart. A fixture of the Higress charts written from
 * the compatibility contract (test/fixtures/higress: umbrella; higress-core: its global block,
 * pluginServer values and the two hand-written plugin-server templates; higress-console: its env
 * logic) is laid out three ways in a temp dir:
 *  - `upstream`: the charts as Higress ships them;
 *  - `embedded`: docs/installing.md followed literally — the two templates deleted from core, this
 *    chart packaged with the Higress version (`helm package --version X --app-version X`) into
 *    core's charts/ under `alias: pluginServer`, `condition: global.enablePluginServer`;
 *  - `duplicate`: the mistake of adding the subchart to the umbrella and leaving core as is.
 * Every command of the compatibility table must render the same plugin-server facts (names,
 * namespace, replicas, image, pull policy, resources, pull secrets, selectors, Service port and
 * target, Console URL target) in `upstream` and `embedded`, with exactly one plugin server.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { stringify } from 'yaml';
import { DASHBOARD_FILE } from '../lib/dashboard';
import { CHART_PATH, helm, parseDocs, renderNotes } from './support/helm';
import { copyHigressFixtures, embedIntoCore, HIGRESS_VERSION, helmOk as run } from './support/higress-fixture';

type Obj = Record<string, any>;
const NS = 'higress-system';
const PATTERN_ENV = 'HIGRESS_ADMIN_WASM_PLUGIN_CUSTOM_IMAGE_URL_PATTERN';

let work: string;
const layout = (name: string) => path.join(work, name, 'higress');
const core = (name: string) => path.join(work, name, 'higress-core');

/** Copies the three fixture charts into `<work>/<name>/`. */
function copyFixtures(name: string): void {
  copyHigressFixtures(path.join(work, name));
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-higress-'));
  copyFixtures('upstream');
  copyFixtures('embedded');
  embedIntoCore(core('embedded'));
  copyFixtures('duplicate');
  fs.appendFileSync(
    path.join(layout('duplicate'), 'Chart.yaml'),
    `  - name: higress-plugin-server\n    alias: pluginServer\n    version: 0.1.0\n    repository: "file://${CHART_PATH}"\n    condition: global.enablePluginServer\n`,
  );
  for (const l of ['upstream', 'embedded', 'duplicate']) run(['dependency', 'build', layout(l)]);
});

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

interface Command {
  set?: string[];
  /** A values file (YAML numbers and strings as users write them). */
  file?: Obj;
  /** Facts the subchart renders differently on purpose, with what upstream renders (a bug it fixes). */
  fixes?: { upstream: Obj; subchart: Obj };
}

function render(chart: string, cmd: Command, namespace = NS): Obj[] {
  const args = [
    'template',
    'higress',
    chart,
    '-n',
    namespace,
    '--kube-version',
    '1.28.0',
    '--set',
    'global.enablePluginServer=true',
  ];
  for (const s of cmd.set ?? []) args.push('--set', s);
  if (cmd.file) {
    const f = path.join(work, `values-${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(f, stringify(cmd.file));
    args.push('-f', f);
  }
  return parseDocs(run(args));
}

const isConsole = (o: Obj) => o.metadata.name === 'higress-console';
const pluginServers = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind && !isConsole(o));

/** What must not change when the subchart replaces the upstream templates. */
function facts(objs: Obj[]): Obj {
  const deps = pluginServers(objs, 'Deployment');
  const svcs = pluginServers(objs, 'Service');
  expect({ deployments: deps.length, services: svcs.length }).toEqual({ deployments: 1, services: 1 });
  const [dep, svc] = [deps[0], svcs[0]];
  const pod = dep.spec.template.spec;
  const c = pod.containers[0];
  const port = svc.spec.ports[0];
  // A named targetPort resolves to the container port of that name.
  const target =
    typeof port.targetPort === 'string'
      ? c.ports.find((p: Obj) => p.name === port.targetPort)?.containerPort
      : port.targetPort;
  const pattern = objs
    .find((o) => o.kind === 'Deployment' && isConsole(o))!
    .spec.template.spec.containers[0].env.find((e: Obj) => e.name === PATTERN_ENV).value as string;
  const url = new URL(pattern.replace('${name}', 'key-auth').replace('${version}', '1.0.0'));
  return {
    deployment: `${dep.metadata.namespace}/${dep.metadata.name}`,
    service: `${svc.metadata.namespace}/${svc.metadata.name}`,
    replicas: dep.spec.replicas,
    image: c.image,
    imagePullPolicy: c.imagePullPolicy,
    resources: c.resources,
    imagePullSecrets: pod.imagePullSecrets,
    selector: dep.spec.selector,
    podLabelsMatchSelector: Object.entries(dep.spec.selector.matchLabels).every(
      ([k, v]) => dep.spec.template.metadata.labels[k] === v,
    ),
    serviceSelector: svc.spec.selector,
    servicePort: port.port,
    targetContainerPort: target,
    consoleUrlReachesService:
      url.hostname === `${svc.metadata.name}.${svc.metadata.namespace}.svc` && Number(url.port || 80) === port.port,
  };
}

const P = 'higress-core.pluginServer';
/** Commands Higress users run today, as `helm template higress higress.io/higress -n higress-system --set global.enablePluginServer=true ...`. */
const TABLE: Array<[string, Command]> = [
  ['defaults', {}],
  ['replicas', { set: [`${P}.replicas=3`] }],
  ['replicas as a string', { file: { 'higress-core': { pluginServer: { replicas: '3' } } } }],
  ['numeric tag via --set', { set: [`${P}.tag=20260101`] }],
  ['numeric tag in a file (tag: 2.2)', { file: { 'higress-core': { pluginServer: { tag: 2.2 } } } }],
  // Helm reads file numbers as float64: upstream's template prints 2.0260101e+07, an invalid image reference.
  [
    'integral tag in a file',
    {
      file: { 'higress-core': { pluginServer: { tag: 20260101 } } },
      fixes: {
        upstream: { image: 'higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:2.0260101e+07' },
        subchart: { image: 'higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:20260101' },
      },
    },
  ],
  ['old image tag kept', { set: [`${P}.tag=1.0.0`] }],
  ['hub', { set: [`${P}.hub=registry.local:5000`] }],
  ['global.hub', { set: ['global.hub=mirror.local'] }],
  ['image name', { set: [`${P}.image=my-plugin-server`] }],
  ['global.imagePullPolicy', { set: ['global.imagePullPolicy=Always'] }],
  ['imagePullPolicy wins over global', { set: ['global.imagePullPolicy=Always', `${P}.imagePullPolicy=IfNotPresent`] }],
  ['imagePullSecrets', { set: [`${P}.imagePullSecrets[0].name=regcred`] }],
  ['labels.app overrides the selector', { set: [`${P}.labels.app=plugins`] }],
  ['labels.higress and an extra label', { set: [`${P}.labels.higress=gateway`, `${P}.labels.team=edge`] }],
  [
    'labels.app empty drops it from the selector',
    { file: { 'higress-core': { pluginServer: { labels: { app: '' } } } } },
  ],
  ['podLabels', { set: [`${P}.podLabels.tier=web`] }],
  ['service.port', { set: [`${P}.service.port=8080`] }],
  ['name', { set: [`${P}.name=plugins`] }],
  ['resources', { set: [`${P}.resources.limits.cpu=1`, `${P}.resources.requests.memory=64Mi`] }],
  ['enabled (ignored upstream and here)', { set: [`${P}.enabled=false`] }],
  ['service.type ClusterIP', { set: [`${P}.service.type=ClusterIP`] }],
  ['pluginServer.* on the umbrella is ignored, as upstream', { set: ['pluginServer.replicas=3'] }],
  ['global.* unrelated keys', { set: ['global.local=true', 'global.ingressClass=nginx'] }],
  [
    'legacy image values',
    {
      file: {
        'higress-core': {
          pluginServer: { tag: '1.0.0', probes: { path: '/' }, podSecurityContext: {}, securityContext: {} },
        },
      },
    },
  ],
];

describe('compatibility table: upstream templates vs the subchart', () => {
  test.each(TABLE)('%s', (_name, cmd) => {
    const before = facts(render(layout('upstream'), cmd));
    const after = facts(render(layout('embedded'), cmd));
    if (cmd.fixes) {
      expect(before).toMatchObject(cmd.fixes.upstream);
      expect(after).toEqual({ ...before, ...cmd.fixes.subchart });
    } else expect(after).toEqual(before);
    expect(after.podLabelsMatchSelector).toBe(true);
  });

  test('the selector is identical for every command (an upgrade keeps the immutable Deployment selector)', () => {
    const selectors = TABLE.map(([name, cmd]) => [
      name,
      facts(render(layout('upstream'), cmd)).selector,
      facts(render(layout('embedded'), cmd)).selector,
    ]);
    for (const [name, before, after] of selectors) expect({ name, after }).toEqual({ name, after: before });
  });

  test(`with tag empty the image tag is the Higress version (${HIGRESS_VERSION})`, () => {
    expect(facts(render(layout('embedded'), {})).image).toBe(
      `higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:${HIGRESS_VERSION}`,
    );
  });

  test('app.kubernetes.io/name is the chart name, never the alias', () => {
    const objs = render(layout('embedded'), {});
    for (const o of [...pluginServers(objs, 'Deployment'), ...pluginServers(objs, 'Service')]) {
      expect(o.metadata.labels['app.kubernetes.io/name']).toBe('higress-plugin-server');
      expect(o.metadata.labels['helm.sh/chart']).toBe(`higress-plugin-server-${HIGRESS_VERSION}`);
    }
  });

  test('without the flag neither layout renders a plugin server', () => {
    for (const l of ['upstream', 'embedded']) {
      const objs = parseDocs(run(['template', 'higress', layout(l), '-n', NS]));
      expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
        'ConfigMap/higress-config',
        'Deployment/higress-console',
      ]);
    }
  });

  test('an unknown key under higress-core.pluginServer fails naming it (upstream ignored it)', () => {
    const r = helm([
      'template',
      'higress',
      layout('embedded'),
      '--set',
      'global.enablePluginServer=true',
      '--set',
      `${P}.replica=3`,
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("'replica'");
  });

  test('service.type NodePort is rendered', () => {
    const svc = pluginServers(render(layout('embedded'), { set: [`${P}.service.type=NodePort`] }), 'Service')[0];
    expect(svc.spec.type).toBe('NodePort');
  });
});

describe('one server, whichever way it is installed', () => {
  const count = (objs: Obj[]) =>
    pluginServers(objs, 'Deployment').filter((o) => o.metadata.name === 'higress-plugin-server').length;

  test('embedded in core: exactly one Deployment', () => {
    expect(count(render(layout('embedded'), {}))).toBe(1);
  });

  test('the old guide (subchart on the umbrella, core left as is) renders two: the count catches it', () => {
    expect(count(render(layout('duplicate'), {}))).toBe(2);
  });
});

describe('helm lint --strict --with-subcharts', () => {
  test.each([
    ['the embedded core chart', () => core('embedded')],
    ['the umbrella with the embedded core', () => layout('embedded')],
  ])('%s', (_name, dir) => {
    for (const set of [['global.enablePluginServer=true'], []]) {
      const r = helm(['lint', '--strict', '--with-subcharts', dir(), ...set.flatMap((s) => ['--set', s])]);
      expect({ status: r.status, out: r.stdout + r.stderr }).toMatchObject({ status: 0 });
    }
  });
});

describe('the Console and the plugin server agree (embedded layout)', () => {
  const consoleEnv = (objs: Obj[]) =>
    objs.find((o) => o.kind === 'Deployment' && isConsole(o))!.spec.template.spec.containers[0].env as Array<{
      name: string;
      value: string;
    }>;

  test("a pattern the user set in the Console's podEnvs wins", () => {
    const mine = 'http://plugins.example/${name}/${version}.wasm';
    const objs = render(layout('embedded'), { set: [`higress-console.podEnvs.${PATTERN_ENV}=${mine}`] });
    expect(consoleEnv(objs).filter((e) => e.name === PATTERN_ENV)).toEqual([{ name: PATTERN_ENV, value: mine }]);
  });

  test.each([
    [['name=plugins'], 'http://plugins.higress-system.svc/plugins/${name}/${version}/plugin.wasm'],
    [
      ['service.port=8080'],
      'http://higress-plugin-server.higress-system.svc:8080/plugins/${name}/${version}/plugin.wasm',
    ],
  ])(
    'with %j, the pattern NOTES.txt gives for higress-console.pluginServer.urlPattern reaches the Service',
    (set, expected) => {
      const notes = renderNotes(['global.enablePluginServer=true', ...set]);
      expect(notes).toContain(`--set 'higress-console.pluginServer.urlPattern=${expected}'`);
      const objs = render(layout('embedded'), {
        set: [...set.map((s) => `${P}.${s}`), `higress-console.pluginServer.urlPattern=${expected}`],
      });
      expect(facts(objs).consoleUrlReachesService).toBe(true);
    },
  );
});

describe('metrics, ServiceMonitor, dashboard and autoscaling as higress-core.pluginServer.* values', () => {
  const dashboardFile = () => fs.readFileSync(path.join(CHART_PATH, DASHBOARD_FILE), 'utf8');

  test('by default: scrape annotations on the pods, no HPA, ServiceMonitor or dashboard', () => {
    const objs = render(layout('embedded'), {});
    const dep = pluginServers(objs, 'Deployment')[0];
    expect(dep.spec.template.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '8080',
      'prometheus.io/path': '/metrics',
    });
    expect(objs.map((o) => o.kind)).not.toEqual(expect.arrayContaining(['HorizontalPodAutoscaler']));
    expect(objs.map((o) => o.kind)).not.toEqual(expect.arrayContaining(['ServiceMonitor']));
  });

  test('all on through the umbrella: the HPA targets the server, the ServiceMonitor its Service, the dashboard ships whole', () => {
    const objs = render(layout('embedded'), {
      set: [
        `${P}.autoscaling.enabled=true`,
        `${P}.autoscaling.minReplicas=3`,
        `${P}.metrics.serviceMonitor.enabled=true`,
        `${P}.metrics.serviceMonitor.labels.release=kps`,
        `${P}.metrics.dashboard.enabled=true`,
        `${P}.metrics.dashboard.namespace=monitoring`,
      ],
    });
    const dep = pluginServers(objs, 'Deployment')[0];
    const svc = pluginServers(objs, 'Service')[0];
    const hpa = objs.find((o) => o.kind === 'HorizontalPodAutoscaler')!;
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata.name });
    expect(hpa.spec.minReplicas).toBe(3);
    expect(dep.spec.replicas).toBeUndefined();
    const sm = objs.find((o) => o.kind === 'ServiceMonitor')!;
    expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: [NS] });
    expect(sm.metadata.labels.release).toBe('kps');
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'higress-plugin-server-dashboard')!;
    expect(cm.metadata.namespace).toBe('monitoring');
    // .Files.Get reads the subchart's own file inside the packaged dependency.
    expect(cm.data['higress-plugin-server.json']).toBe(dashboardFile());
  });

  test.each([
    [
      [`${P}.autoscaling.enabled=true`, `${P}.autoscaling.minReplicas=2`, `${P}.podDisruptionBudget.minAvailable=2`],
      'podDisruptionBudget.minAvailable (2) is not below autoscaling.minReplicas (2)',
    ],
    [
      [`${P}.autoscaling.enabled=true`, `${P}.autoscaling.minReplicas=7`],
      'autoscaling.minReplicas (7) is above autoscaling.maxReplicas (5)',
    ],
    [
      [`${P}.metrics.enabled=false`, `${P}.metrics.serviceMonitor.enabled=true`],
      'metrics.serviceMonitor.enabled=true needs metrics.enabled=true',
    ],
  ])('refused through the umbrella too: %j', (set, message) => {
    const r = helm([
      'template',
      'higress',
      layout('embedded'),
      '--set',
      'global.enablePluginServer=true',
      ...set.flatMap((s) => ['--set', s]),
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(message);
  });

  test('a bad scrape interval fails naming the key under the alias', () => {
    const r = helm([
      'template',
      'higress',
      layout('embedded'),
      '--set',
      'global.enablePluginServer=true',
      '--set',
      `${P}.metrics.serviceMonitor.interval=soon`,
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('metrics/serviceMonitor/interval');
  });
});
