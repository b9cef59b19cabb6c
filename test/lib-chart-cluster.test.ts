/**
 * The chart against a real control plane (etcd, kube-apiserver with its default admission plugins,
 * kube-controller-manager, kube-scheduler; kwok keeps three fake nodes Ready and marks scheduled pods
 * Running and Ready). What only a real API server and scheduler show: Pod Security admission, where
 * pods land, rollouts, the PodDisruptionBudget against evictions, Helm's release lifecycle.
 * There is no kubelet: no container runs, so probes and traffic are not exercised here (the runc
 * test covers the image). Each scenario has a negative control showing its check can fail.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import { ControlPlane, startControlPlane } from './support/control-plane';
import { CHART_PATH } from './support/helm';
import { copyHigressFixtures, embedIntoCore, HIGRESS_VERSION } from './support/higress-fixture';
import { REPO_ROOT } from './support/tools';

jest.setTimeout(240_000);

// Two zones, three nodes: zone-a holds two of them.
const NODES = [
  { name: 'node-a1', zone: 'zone-a' },
  { name: 'node-a2', zone: 'zone-a' },
  { name: 'node-b1', zone: 'zone-b' },
];
const SELECTOR = 'app=higress-plugin-server';

let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane();
  await cp.addNodes(NODES);
}, 240_000);

afterAll(async () => {
  await cp?.stop();
});

interface PodView {
  name: string;
  node?: string;
  phase: string;
  ready: boolean;
  image: string;
  deleting: boolean;
}

async function pods(ns: string, selector = SELECTOR): Promise<PodView[]> {
  const out = JSON.parse(await cp.kubectlOk(['get', 'pods', '-n', ns, '-l', selector, '-o', 'json']));
  return out.items.map((p: any) => ({
    name: p.metadata.name,
    node: p.spec.nodeName,
    phase: p.status.phase,
    ready: (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
    image: p.spec.containers[0].image,
    deleting: Boolean(p.metadata.deletionTimestamp),
  }));
}

/** A namespace that enforces Pod Security `restricted`, as a hardened Higress install would. */
async function restrictedNamespace(ns: string): Promise<void> {
  await cp.kubectlOk(['create', 'namespace', ns]);
  await cp.kubectlOk([
    'label',
    'namespace',
    ns,
    'pod-security.kubernetes.io/enforce=restricted',
    'pod-security.kubernetes.io/enforce-version=latest',
  ]);
}

async function helmOk(args: string[]): Promise<string> {
  const r = await cp.helm(args);
  if (r.code !== 0)
    throw new Error(`helm ${args.join(' ')} failed (${r.code}): ${r.stderr}\n${r.stdout}\n${cp.logs(10)}`);
  return r.stdout;
}

function chartArgs(sets: string[]): string[] {
  return ['--set', 'global.enablePluginServer=true', ...sets.flatMap((s) => ['--set', s])];
}

async function install(ns: string, sets: string[] = [], release = 'plugin-server'): Promise<void> {
  await helmOk(['install', release, CHART_PATH, '-n', ns, '--wait', '--timeout', '90s', ...chartArgs(sets)]);
}

/** Waits until `count` pods exist and none is being deleted (a rollout or scale-up has settled). */
async function settled(ns: string, count: number, pendingExpected = 0): Promise<PodView[]> {
  return cp.waitFor(`${count} settled pods in ${ns}`, async () => {
    const list = await pods(ns);
    const live = list.filter((p) => !p.deleting);
    if (live.length !== count || live.length !== list.length) return undefined;
    const pending = live.filter((p) => !p.node).length;
    return pending === pendingExpected && live.filter((p) => p.node).every((p) => p.ready) ? live : undefined;
  });
}

describe('Pod Security admission', () => {
  test('helm install --wait succeeds in a namespace enforcing restricted', async () => {
    await restrictedNamespace('pss');
    await install('pss');
    const list = await pods('pss');
    expect(list).toHaveLength(2);
    expect(list.every((p) => p.ready)).toBe(true);
  });

  test('negative control: the same namespace rejects a pod that is not restricted', async () => {
    const r = await cp.kubectl(['run', 'plain', '-n', 'pss', '--image=nginx', '--restart=Never']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('violates PodSecurity "restricted:latest"');
    // And the chart's own pods would be rejected too if they lost their hardening.
    const bad = await cp.helm([
      'install',
      'loose',
      CHART_PATH,
      '-n',
      'pss',
      '--wait',
      '--timeout',
      '20s',
      ...chartArgs(['name=loose', 'securityContext.allowPrivilegeEscalation=true']),
    ]);
    expect(bad.code).not.toBe(0);
    const events = await cp.kubectlOk([
      'get',
      'events',
      '-n',
      'pss',
      '--field-selector',
      'reason=FailedCreate',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    expect(events).toContain('allowPrivilegeEscalation != false');
  });
});

describe('placement', () => {
  test('2 replicas over 3 nodes in 2 zones land on different nodes and different zones', async () => {
    await restrictedNamespace('spread');
    await install('spread');
    const list = await settled('spread', 2);
    const nodes = list.map((p) => p.node!);
    expect(new Set(nodes).size).toBe(2);
    const zones = nodes.map((n) => NODES.find((x) => x.name === n)!.zone);
    expect(new Set(zones).size).toBe(2);
  });

  test('antiAffinity=required with more replicas than nodes leaves exactly the extra pods Pending', async () => {
    await restrictedNamespace('required');
    // --wait would wait for the Pending pod: install, then look.
    await helmOk([
      'install',
      'plugin-server',
      CHART_PATH,
      '-n',
      'required',
      ...chartArgs(['replicas=5', 'antiAffinity=required']),
    ]);
    const list = await settled('required', 5, 2);
    const placed = list.filter((p) => p.node);
    expect(new Set(placed.map((p) => p.node)).size).toBe(3);
    const pending = list.filter((p) => !p.node);
    expect(pending.map((p) => p.phase)).toEqual(['Pending', 'Pending']);
    const events = await cp.kubectlOk([
      'get',
      'events',
      '-n',
      'required',
      '--field-selector',
      'reason=FailedScheduling',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    expect(events).toContain("didn't match pod anti-affinity rules");
  });

  test('negative control: antiAffinity=preferred with the same replicas leaves none Pending', async () => {
    await restrictedNamespace('preferred');
    await install('preferred', ['replicas=5', 'antiAffinity=preferred']);
    const list = await settled('preferred', 5, 0);
    expect(list.every((p) => p.node && p.ready)).toBe(true);
  });
});

describe('rollout with antiAffinity=required and nodes == replicas', () => {
  const ns = 'rollout';
  const sets = ['replicas=3', 'antiAffinity=required'];

  test('helm upgrade with a new tag completes and replaces every pod', async () => {
    await restrictedNamespace(ns);
    await install(ns, [...sets, 'tag=1.0.0']);
    const strategy = JSON.parse(
      await cp.kubectlOk([
        'get',
        'deployment',
        'higress-plugin-server',
        '-n',
        ns,
        '-o',
        'jsonpath={.spec.strategy.rollingUpdate}',
      ]),
    );
    expect(strategy).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    await helmOk([
      'upgrade',
      'plugin-server',
      CHART_PATH,
      '-n',
      ns,
      '--wait',
      '--timeout',
      '90s',
      ...chartArgs([...sets, 'tag=1.0.1']),
    ]);
    const list = await settled(ns, 3);
    expect(list.map((p) => p.image)).toEqual(
      Array(3).fill('higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:1.0.1'),
    );
    expect(new Set(list.map((p) => p.node)).size).toBe(3);
  });

  test('negative control: the surge strategy (maxSurge 1, maxUnavailable 0) never completes', async () => {
    await cp.kubectlOk([
      'patch',
      'deployment',
      'higress-plugin-server',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } } }),
    ]);
    await cp.kubectlOk([
      'set',
      'image',
      'deployment/higress-plugin-server',
      '-n',
      ns,
      'plugin-server=higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:1.0.2',
    ]);
    const status = await cp.kubectl(
      ['rollout', 'status', 'deployment/higress-plugin-server', '-n', ns, '--timeout=20s'],
      { timeoutMs: 40_000 },
    );
    expect(status.code).not.toBe(0);
    const list = await pods(ns);
    // The surge pod has no node it may use; no old pod went away.
    expect(list.filter((p) => !p.node).map((p) => p.image)).toEqual([
      'higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:1.0.2',
    ]);
    expect(list.filter((p) => p.node && p.ready).map((p) => p.image)).toEqual(
      Array(3).fill('higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:1.0.1'),
    );
  });
});

describe('PodDisruptionBudget', () => {
  afterEach(async () => {
    for (const n of NODES) await cp.kubectlOk(['uncordon', n.name]);
  });

  async function evict(ns: string, pod: string): Promise<{ code: number; body: string }> {
    const eviction = JSON.stringify({
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: pod, namespace: ns },
    });
    const r = await cp.kubectl(['create', '--raw', `/api/v1/namespaces/${ns}/pods/${pod}/eviction`, '-f', '-'], {
      input: eviction,
    });
    return { code: r.code, body: r.stderr + r.stdout };
  }

  /** Two ready replicas, then every node cordoned: an evicted pod's replacement cannot become ready. */
  async function twoPodsNoRoom(ns: string, sets: string[]): Promise<PodView[]> {
    await restrictedNamespace(ns);
    await install(ns, sets);
    const list = await settled(ns, 2);
    // Evictions are judged on the PDB's status, which the disruption controller fills in.
    const expectedAllowed = sets.includes('podDisruptionBudget.enabled=false') ? undefined : '1';
    if (expectedAllowed) {
      await cp.waitFor('the PDB status', async () =>
        (await cp.kubectlOk([
          'get',
          'pdb',
          'higress-plugin-server',
          '-n',
          ns,
          '-o',
          'jsonpath={.status.disruptionsAllowed}',
        ])) === expectedAllowed
          ? true
          : undefined,
      );
    }
    for (const n of NODES) await cp.kubectlOk(['cordon', n.name]);
    return list;
  }

  test('the Eviction API and kubectl drain refuse the eviction that would break minAvailable', async () => {
    const [first, second] = await twoPodsNoRoom('pdb', []);
    expect((await evict('pdb', first.name)).code).toBe(0);
    const refused = await evict('pdb', second.name);
    expect(refused.code).not.toBe(0);
    expect(refused.body).toContain("Cannot evict pod as it would violate the pod's disruption budget");
    const drain = await cp.kubectl(
      [
        'drain',
        second.node!,
        '--pod-selector',
        SELECTOR,
        '--timeout=10s',
        '--ignore-daemonsets',
        '--delete-emptydir-data',
      ],
      { timeoutMs: 40_000 },
    );
    expect(drain.code).not.toBe(0);
    expect(drain.stderr).toContain('disruption budget');
    expect((await pods('pdb')).some((p) => p.name === second.name && !p.deleting)).toBe(true);
  });

  test('negative control: without the PodDisruptionBudget both evictions go through', async () => {
    const [first, second] = await twoPodsNoRoom('nopdb', ['podDisruptionBudget.enabled=false']);
    expect((await evict('nopdb', first.name)).code).toBe(0);
    expect((await evict('nopdb', second.name)).code).toBe(0);
  });
});

describe('release lifecycle', () => {
  /** Every object in `ns` a user could have created (not the namespace's own defaults, not events). */
  async function objectsIn(ns: string): Promise<string[]> {
    const kinds = (await cp.kubectlOk(['api-resources', '--verbs=list', '--namespaced', '-o', 'name']))
      .split('\n')
      .filter((k) => k && !/^events(\.events\.k8s\.io)?$/.test(k));
    const out = await cp.kubectlOk(['get', kinds.join(','), '-n', ns, '-o', 'name', '--ignore-not-found']);
    return out
      .split('\n')
      .filter((l) => l && !['serviceaccount/default', 'configmap/kube-root-ca.crt'].includes(l))
      .sort();
  }

  test('helm upgrade, rollback and uninstall leave no object behind', async () => {
    const ns = 'lifecycle';
    await restrictedNamespace(ns);
    await install(ns);
    expect(await objectsIn(ns)).toEqual(
      expect.arrayContaining([
        'deployment.apps/higress-plugin-server',
        'service/higress-plugin-server',
        'poddisruptionbudget.policy/higress-plugin-server',
      ]),
    );
    // Upgrade to one replica (drops the PDB), roll back to revision 1 (brings it back).
    await helmOk([
      'upgrade',
      'plugin-server',
      CHART_PATH,
      '-n',
      ns,
      '--wait',
      '--timeout',
      '90s',
      ...chartArgs(['replicas=1']),
    ]);
    expect(await objectsIn(ns)).not.toContain('poddisruptionbudget.policy/higress-plugin-server');
    await helmOk(['rollback', 'plugin-server', '1', '-n', ns, '--wait', '--timeout', '90s']);
    expect(await objectsIn(ns)).toContain('poddisruptionbudget.policy/higress-plugin-server');
    await settled(ns, 2);
    await helmOk(['uninstall', 'plugin-server', '-n', ns, '--wait', '--timeout', '90s']);
    await cp.waitFor(
      'the namespace to be empty',
      async () => ((await objectsIn(ns)).length === 0 ? true : undefined),
      60_000,
    );
    // Nothing cluster-scoped either.
    const clusterWide = await cp.kubectlOk([
      'get',
      'clusterroles,clusterrolebindings,priorityclasses',
      '-l',
      'app.kubernetes.io/instance=plugin-server',
      '-o',
      'name',
    ]);
    expect(clusterWide.trim()).toBe('');
  });

  test('negative control: the same scan finds an object left in the namespace', async () => {
    await cp.kubectlOk(['create', 'configmap', 'left-behind', '-n', 'lifecycle']);
    const ns = 'lifecycle';
    const found = await objectsIn(ns);
    expect(found).toEqual(['configmap/left-behind']);
  });

  test('helm test runs the test hook to Succeeded (kwok plays the kubelet: no container runs)', async () => {
    // What this proves: Helm creates the hook pod past admission (restricted), waits for its phase and
    // reports it, and the delete policy removes it. What it cannot: that the test script works; the
    // runc test runs the image and the script's requests are covered by the serving tests.
    const ns = 'helmtest';
    await restrictedNamespace(ns);
    await install(ns);
    const r = await cp.helm(['test', 'plugin-server', '-n', ns, '--timeout', '60s']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/TEST SUITE:\s+higress-plugin-server-test[\s\S]*Phase:\s+Succeeded/);
    // hook-delete-policy hook-succeeded removed it.
    await cp.waitFor(
      'the test pod to be deleted',
      async () =>
        (await cp.kubectl(['get', 'pod', 'higress-plugin-server-test', '-n', ns])).code !== 0 ? true : undefined,
      30_000,
    );
  });

  test('negative control: a test pod that fails makes helm test fail', async () => {
    const ns = 'helmtest';
    // kwok-stages.yaml marks a test pod carrying this value Failed instead of Succeeded.
    await helmOk([
      'upgrade',
      'plugin-server',
      CHART_PATH,
      '-n',
      ns,
      '--wait',
      '--timeout',
      '90s',
      ...chartArgs(['test.pluginPath=/plugins/kwok-marks-this-test/failed/plugin.wasm']),
    ]);
    const r = await cp.helm(['test', 'plugin-server', '-n', ns, '--timeout', '60s']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('pod higress-plugin-server-test failed');
  });
});

describe('dist/ manifests with kubectl', () => {
  const ns = 'higress-system';
  const CONSOLE = 'higress-console';
  const ENV = 'HIGRESS_ADMIN_WASM_PLUGIN_CUSTOM_IMAGE_URL_PATTERN';

  /** A Deployment shaped like the Higress Console's: the env var the patch sets, next to others. */
  function consoleDeployment(containerName: string) {
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: CONSOLE, namespace: ns, labels: { app: CONSOLE } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: CONSOLE } },
        template: {
          metadata: { labels: { app: CONSOLE } },
          spec: {
            securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: containerName,
                image: 'higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/console:2.1.9',
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
                env: [
                  { name: 'JAVA_HOME', value: '/usr/local/openjdk-17' },
                  { name: ENV, value: 'oci://higress-registry.cn-hangzhou.cr.aliyuncs.com/plugins/${name}:${version}' },
                  { name: 'HIGRESS_CONSOLE_NS', value: ns },
                ],
              },
            ],
          },
        },
      },
    };
  }

  async function deploymentSpec(): Promise<any> {
    return JSON.parse(await cp.kubectlOk(['get', 'deployment', CONSOLE, '-n', ns, '-o', 'json'])).spec.template.spec;
  }

  test('kubectl apply --server-side of dist/ creates the server, and a re-apply changes nothing', async () => {
    await restrictedNamespace(ns);
    const file = path.join(REPO_ROOT, 'dist', 'higress-plugin-server.yaml');
    const first = await cp.kubectlOk(['apply', '--server-side', '--field-manager=hps-test', '-f', file]);
    expect(first).toContain('deployment.apps/higress-plugin-server serverside-applied');
    await settled(ns, 2);
    const before = await cp.kubectlOk([
      'get',
      'deployment',
      'higress-plugin-server',
      '-n',
      ns,
      '-o',
      'jsonpath={.metadata.generation}',
    ]);
    await cp.kubectlOk(['apply', '--server-side', '--field-manager=hps-test', '-f', file]);
    expect(
      await cp.kubectlOk([
        'get',
        'deployment',
        'higress-plugin-server',
        '-n',
        ns,
        '-o',
        'jsonpath={.metadata.generation}',
      ]),
    ).toBe(before);
  });

  test('negative control: a field another manager owns makes the server-side apply conflict', async () => {
    await cp.kubectlOk(['scale', 'deployment', 'higress-plugin-server', '-n', ns, '--replicas=3']);
    const r = await cp.kubectl([
      'apply',
      '--server-side',
      '--field-manager=hps-test',
      '-f',
      path.join(REPO_ROOT, 'dist', 'higress-plugin-server.yaml'),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('conflict');
  });

  test('kubectl patch --patch-file dist/console-patch.yaml changes exactly the URL pattern env var', async () => {
    await cp.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(consoleDeployment(CONSOLE)) });
    const before = await deploymentSpec();
    await cp.kubectlOk([
      'patch',
      'deployment',
      CONSOLE,
      '-n',
      ns,
      '--patch-file',
      path.join(REPO_ROOT, 'dist', 'console-patch.yaml'),
    ]);
    const after = await deploymentSpec();
    const pattern = parse(fs.readFileSync(path.join(REPO_ROOT, 'dist', 'console-patch.yaml'), 'utf8')).spec.template
      .spec.containers[0].env[0].value;
    const expected = structuredClone(before);
    expected.containers[0].env[1].value = pattern;
    expect(after).toEqual(expected);
    expect(pattern).toBe('http://higress-plugin-server.higress-system.svc/plugins/${name}/${version}/plugin.wasm');
  });

  test('negative control: on a Deployment whose container has another name the patch is rejected', async () => {
    await cp.kubectlOk(['delete', 'deployment', CONSOLE, '-n', ns, '--wait=true', '--timeout=30s']);
    await cp.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(consoleDeployment('console')) });
    const r = await cp.kubectl([
      'patch',
      'deployment',
      CONSOLE,
      '-n',
      ns,
      '--patch-file',
      path.join(REPO_ROOT, 'dist', 'console-patch.yaml'),
    ]);
    // Strategic merge adds a second container named higress-console with no image (the merge puts it
    // first): invalid, and the Console's own container is untouched.
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/spec\.template\.spec\.containers\[\d\]\.image: Required value/);
    expect((await deploymentSpec()).containers.map((c: { name: string }) => c.name)).toEqual(['console']);
  });
});

describe('the Higress umbrella fixture with the plugin server embedded in higress-core', () => {
  // One private copy laid out as docs/installing.md says (the core chart's two templates replaced by
  // the subchart under the alias pluginServer), built once for both tests; the repository is left alone.
  let work: string;
  let umbrella: string;
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-umbrella-'));
    const charts = copyHigressFixtures(work);
    embedIntoCore(charts.core);
    umbrella = charts.umbrella;
    await helmOk(['dependency', 'build', umbrella]);
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  /** The fixture's stand-ins for the controller and the Console are not hardened: no Pod Security enforcement. */
  async function installUmbrella(ns: string, sets: string[]): Promise<void> {
    await cp.kubectlOk(['create', 'namespace', ns]);
    await helmOk([
      'install',
      'higress',
      umbrella,
      '-n',
      ns,
      '--wait',
      '--timeout',
      '120s',
      ...sets.flatMap((s) => ['--set', s]),
    ]);
  }

  test('installs with global.enablePluginServer=true and higress-core.pluginServer.replicas=3, spread over the three nodes', async () => {
    await installUmbrella('umbrella', ['global.enablePluginServer=true', 'higress-core.pluginServer.replicas=3']);
    const list = await settled('umbrella', 3);
    expect(new Set(list.map((p) => p.node)).size).toBe(3);
    expect(list.map((p) => p.image)).toEqual(
      Array(3).fill(`higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:${HIGRESS_VERSION}`),
    );
  });

  test('negative control: without global.enablePluginServer no plugin-server pod is created', async () => {
    await installUmbrella('umbrella-off', ['higress-core.pluginServer.replicas=3']);
    expect(await pods('umbrella-off')).toEqual([]);
  });
});

describe('autoscaling, ServiceMonitor and dashboard against the real API server', () => {
  const CRD = path.join(REPO_ROOT, 'imports', 'crds', 'servicemonitor.yaml');
  const ALL_ON = [
    'autoscaling.enabled=true',
    'autoscaling.minReplicas=3',
    'autoscaling.maxReplicas=5',
    // What the Deployment would hold without the autoscaler: the 3 pods below come from the HPA.
    'replicas=1',
    'metrics.serviceMonitor.enabled=true',
    'metrics.serviceMonitor.labels.release=kps',
    'metrics.dashboard.enabled=true',
  ];

  test('negative control: without the Prometheus Operator CRD the ServiceMonitor cannot be installed', async () => {
    await restrictedNamespace('nocrd');
    const r = await cp.helm([
      'install',
      'plugin-server',
      CHART_PATH,
      '-n',
      'nocrd',
      ...chartArgs(['metrics.serviceMonitor.enabled=true']),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no matches for kind "ServiceMonitor" in version "monitoring.coreos.com\/v1"/);
  });

  test('with the CRD applied, helm install --wait creates the HPA, the ServiceMonitor and the dashboard ConfigMap', async () => {
    await cp.kubectlOk(['apply', '--server-side', '-f', CRD]);
    await cp.crdEstablished('servicemonitors.monitoring.coreos.com');
    await restrictedNamespace('observed');
    await install('observed', ALL_ON);
    const names = (await cp.kubectlOk(['get', 'hpa,servicemonitor,configmap,pdb', '-n', 'observed', '-o', 'name']))
      .split('\n')
      .filter(Boolean)
      .sort();
    expect(names).toEqual(
      expect.arrayContaining([
        'configmap/higress-plugin-server-dashboard',
        'horizontalpodautoscaler.autoscaling/higress-plugin-server',
        'poddisruptionbudget.policy/higress-plugin-server',
        'servicemonitor.monitoring.coreos.com/higress-plugin-server',
      ]),
    );
    // The ServiceMonitor's selector finds exactly the chart's Service, and names one of its ports.
    const sm = JSON.parse(
      await cp.kubectlOk(['get', 'servicemonitor', 'higress-plugin-server', '-n', 'observed', '-o', 'json']),
    );
    expect(sm.metadata.labels.release).toBe('kps');
    const selector = Object.entries(sm.spec.selector.matchLabels as Record<string, string>)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const svcs = JSON.parse(await cp.kubectlOk(['get', 'svc', '-n', 'observed', '-l', selector, '-o', 'json'])).items;
    expect(svcs.map((s: any) => s.metadata.name)).toEqual(['higress-plugin-server']);
    expect(svcs[0].spec.ports.map((p: any) => p.name)).toContain(sm.spec.endpoints[0].port);
    // The dashboard arrives as the chart ships it.
    const json = await cp.kubectlOk([
      'get',
      'configmap',
      'higress-plugin-server-dashboard',
      '-n',
      'observed',
      '-o',
      'jsonpath={.data.higress-plugin-server\\.json}',
    ]);
    expect(json).toBe(fs.readFileSync(path.join(CHART_PATH, 'dashboards', 'higress-plugin-server.json'), 'utf8'));
  });

  test('the HPA controller finds its Deployment and raises it to minReplicas', async () => {
    // No metrics API here: the controller reports it cannot read CPU, but it resolves the target and
    // enforces minReplicas before it looks at metrics.
    const list = await settled('observed', 3);
    expect(new Set(list.map((p) => p.node)).size).toBe(3);
    const conditions = await cp.waitFor('the HPA conditions', async () => {
      const hpa = JSON.parse(
        await cp.kubectlOk(['get', 'hpa', 'higress-plugin-server', '-n', 'observed', '-o', 'json']),
      );
      const c = (hpa.status?.conditions ?? []) as Array<{ type: string; status: string; reason: string }>;
      return c.some((x) => x.type === 'AbleToScale') ? c : undefined;
    });
    expect(conditions.find((c) => c.type === 'AbleToScale')).toMatchObject({ status: 'True' });
  });

  test('helm upgrade leaves the count to the HPA (the Deployment carries no replicas)', async () => {
    await helmOk([
      'upgrade',
      'plugin-server',
      CHART_PATH,
      '-n',
      'observed',
      '--wait',
      '--timeout',
      '90s',
      ...chartArgs([...ALL_ON, 'tag=1.0.1']),
    ]);
    const list = await settled('observed', 3);
    expect(list.map((p) => p.image)).toEqual(
      Array(3).fill('higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:1.0.1'),
    );
  });

  test('negative control: the same values without autoscaling run the 1 replica the Deployment says', async () => {
    await restrictedNamespace('unscaled');
    await install('unscaled', [
      ...ALL_ON.filter((s) => !s.startsWith('autoscaling.')),
      'podDisruptionBudget.enabled=false',
    ]);
    expect(await settled('unscaled', 1)).toHaveLength(1);
    expect((await cp.kubectlOk(['get', 'hpa', '-n', 'unscaled', '-o', 'name'])).trim()).toBe('');
  });

  test('negative control: the CRD rejects a ServiceMonitor the chart would never render', async () => {
    const bad = {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: 'bad', namespace: 'observed' },
      spec: { selector: { matchLabels: { app: 'x' } }, endpoints: [{ port: 'http', interval: '30 seconds' }] },
    };
    const r = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(bad) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.endpoints[0].interval');
  });
});
