/**
 * The synthesiser in-process: snapshots of the objects and templates, the values model's internal
 * consistency, the Console URL helper, and the drift check against the committed charts/ and dist/.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { chartInfo, writeSynth } from '../main';
import { App } from 'cdk8s';
import {
  consoleUrlPattern,
  MCP_SERVER_PLUGIN,
  MCP_SERVER_WASM_URL_ENV,
  mcpServerWasmUrl,
  serviceBaseUrl,
} from '../src/contract/service';
import { GroupSpec, lit, optional, templateYaml, walkSpec } from '../lib/helm';
import {
  baseUrl,
  consoleUrlPattern as consoleUrlPatternExpr,
  mcpServerWasmUrl as mcpServerWasmUrlExpr,
} from '../lib/helpers';
import { CHART_DIR, plainObjects, PluginServerChart, scopeFor, synthesize } from '../lib/synth';
import { DEFAULT_VALUES, VALUES_SPEC } from '../lib/values';
import { valuesSchema, valuesYaml } from '../lib/values-files';
import { REPO_ROOT } from './support/tools';

const chart = chartInfo(REPO_ROOT);
const root = new PluginServerChart(new App(), 'chart');
const objects = (values: unknown = {}, withHooks = false) => plainObjects(root, scopeFor(chart, values), withHooks);

describe('synthesised objects', () => {
  test('plain objects with default values', () => {
    expect(objects({}, true)).toMatchSnapshot();
  });

  test('helm templates and generated chart files', () => {
    const files = synthesize(chart);
    const chartFiles = Object.fromEntries(
      [...files].filter(
        ([p]) => p.startsWith(`${CHART_DIR}/templates/`) || p.endsWith('Chart.yaml') || p.startsWith('dist/'),
      ),
    );
    expect(chartFiles).toMatchSnapshot();
  });

  test('restricted pod security and scheduling defaults', () => {
    const dep = objects().find((o) => o.kind === 'Deployment') as any;
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 101,
      runAsGroup: 101,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(pod.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }]);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe])
      expect(probe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(dep.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(
      pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey,
    ).toBe('kubernetes.io/hostname');
    expect(pod.topologySpreadConstraints[0]).toMatchObject({
      topologyKey: 'topology.kubernetes.io/zone',
      whenUnsatisfiable: 'ScheduleAnyway',
    });
    expect(dep.spec.selector.matchLabels).toEqual({ app: 'higress-plugin-server', higress: 'higress-plugin-server' });
  });

  test('PDB only when replicas > 1', () => {
    const kinds = (values: unknown) => objects(values).map((o) => o.kind);
    expect(kinds({})).toContain('PodDisruptionBudget');
    expect(kinds({ replicas: 1 })).not.toContain('PodDisruptionBudget');
    expect(kinds({ podDisruptionBudget: { enabled: false } })).not.toContain('PodDisruptionBudget');
  });

  test('a template block cannot open a list item', () => {
    expect(() => templateYaml([{ k: optional(lit('x')) }])).toThrow(/first key of a list item/);
    expect(templateYaml([{ a: 1, k: optional(lit('x')) }])).toBe(
      '- a: 1\n  {{- with "x" }}\n  k: {{ . | quote }}\n  {{- end }}\n',
    );
  });
});

describe('values model', () => {
  test('values.yaml parses back to DEFAULT_VALUES and documents every key', () => {
    const text = valuesYaml();
    expect(parse(text)).toEqual(DEFAULT_VALUES);
    const comments = text.split('\n').filter((l) => l.trim().startsWith('# -- ')).length;
    const countGroups = (g: GroupSpec): number =>
      Object.values(g.children).reduce((n, c) => n + 1 + (c.kind === 'group' ? countGroups(c) : 0), 0);
    const keys = countGroups(VALUES_SPEC);
    expect(comments).toBe(keys);
  });

  test('schema accepts the defaults and names the bad key otherwise', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(valuesSchema());
    expect(validate(DEFAULT_VALUES)).toBe(true);
    expect(validate({ ...DEFAULT_VALUES, replica: 3 })).toBe(false);
    expect(JSON.stringify(validate.errors)).toContain('replica');
    expect(validate({ ...DEFAULT_VALUES, global: { ...DEFAULT_VALUES.global, somethingElse: 1 } })).toBe(true);
  });

  test('every leaf key has a default of its declared kind', () => {
    walkSpec(VALUES_SPEC, (p, node) => {
      const d = node.default;
      const ok =
        node.kind === 'array'
          ? Array.isArray(d)
          : node.kind === 'object'
            ? typeof d === 'object' && !Array.isArray(d)
            : node.kind === 'integer'
              ? Number.isInteger(d)
              : typeof d === node.kind;
      if (!ok) throw new Error(`${p}: default ${JSON.stringify(d)} is not ${node.kind}`);
    });
  });
});

describe('console URL', () => {
  test.each([
    [
      { name: 'higress-plugin-server', namespace: 'higress-system', port: 80 },
      'http://higress-plugin-server.higress-system.svc',
    ],
    [{ name: 'ps', namespace: 'ns', port: 8080 }, 'http://ps.ns.svc:8080'],
    [{ name: 'a-very-long-name', namespace: 'x', port: 443 }, 'http://a-very-long-name.x.svc:443'],
  ])('%j: the contract and the chart expression agree', (addr, base) => {
    expect(serviceBaseUrl(addr)).toBe(base);
    expect(consoleUrlPattern(addr)).toBe(`${base}/plugins/\${name}/\${version}/plugin.wasm`);
    const scope = scopeFor(
      chart,
      { name: addr.name, service: { port: addr.port } },
      { name: 'r', namespace: addr.namespace, service: 'Helm' },
    );
    expect(baseUrl.eval(scope)).toBe(base);
    expect(consoleUrlPatternExpr.eval(scope)).toBe(consoleUrlPattern(addr));
  });

  test('default pattern equals the Console default', () => {
    const patch = root.consolePatch.evaluate(scopeFor(chart)) as any;
    expect(patch.spec.template.spec.containers[0].env[0]).toEqual({
      name: 'HIGRESS_ADMIN_WASM_PLUGIN_CUSTOM_IMAGE_URL_PATTERN',
      value: 'http://higress-plugin-server.higress-system.svc/plugins/${name}/${version}/plugin.wasm',
    });
  });
});

describe('MCP server URL (the controller patch)', () => {
  test('mcp-server at the version the 2.2.4 snapshot serves it', () => {
    const snapshot = JSON.parse(
      fs.readFileSync(
        path.join(REPO_ROOT, 'test', 'fixtures', 'reference', 'higress-plugin-snapshot-2.2.4.json'),
        'utf8',
      ),
    ) as { plugins: Array<{ version: string; consumers: { pluginServer?: { inventoryKey: string } } }> };
    const mcp = snapshot.plugins.filter((p) => p.consumers.pluginServer?.inventoryKey === MCP_SERVER_PLUGIN.name);
    expect(mcp.map((p) => p.version)).toEqual([MCP_SERVER_PLUGIN.version]);
  });

  test.each([
    [{ name: 'higress-plugin-server', namespace: 'higress-system', port: 80 }],
    [{ name: 'ps', namespace: 'ns', port: 8080 }],
  ])('%j: the contract and the chart expression agree', (addr) => {
    expect(mcpServerWasmUrl(addr)).toBe(`${serviceBaseUrl(addr)}/plugins/mcp-server/2.0.1/plugin.wasm`);
    const scope = scopeFor(
      chart,
      { name: addr.name, service: { port: addr.port } },
      { name: 'r', namespace: addr.namespace, service: 'Helm' },
    );
    expect(mcpServerWasmUrlExpr.eval(scope)).toBe(mcpServerWasmUrl(addr));
  });

  test('the default patch sets only MCP_SERVER_WASM_IMAGE_URL of the higress-core container', () => {
    const patch = root.mcpPatch.evaluate(scopeFor(chart)) as any;
    expect(patch.spec.template.spec.containers).toEqual([
      {
        name: 'higress-core',
        env: [
          {
            name: MCP_SERVER_WASM_URL_ENV,
            value: 'http://higress-plugin-server.higress-system.svc/plugins/mcp-server/2.0.1/plugin.wasm',
          },
        ],
      },
    ]);
    expect(root.mcpPatch.command('p.yaml', scopeFor(chart))).toBe(
      'kubectl patch deployment higress-controller -n higress-system --patch-file p.yaml',
    );
  });
});

describe('drift', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-synth-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('committed charts/ and dist/ equal a fresh synth byte for byte', () => {
    const written = writeSynth(tmp);
    const committed = (dir: string): string[] => {
      const out: string[] = [];
      const walk = (d: string) => {
        for (const e of fs.readdirSync(path.join(REPO_ROOT, d), { withFileTypes: true })) {
          const rel = path.posix.join(d, e.name);
          if (e.isDirectory()) walk(rel);
          else out.push(rel);
        }
      };
      if (fs.existsSync(path.join(REPO_ROOT, dir))) walk(dir);
      return out;
    };
    const hint = 'run npm run synth and commit charts/ and dist/';
    expect({ files: [...committed(CHART_DIR), ...committed('dist')].sort(), hint }).toEqual({
      files: [...written].sort(),
      hint,
    });
    for (const rel of written) {
      const fresh = fs.readFileSync(path.join(tmp, rel), 'utf8');
      const onDisk = fs.readFileSync(path.join(REPO_ROOT, rel), 'utf8');
      if (fresh !== onDisk) throw new Error(`${rel} differs from a fresh synth: ${hint}`);
    }
  });
});
