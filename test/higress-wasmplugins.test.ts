/**
 * `wasmplugins`: from a tree the pipeline wrote (and from a real Nginx serving it), WasmPlugin
 * resources that validate against the Higress CRD, carry the tree's sha256 and point at the server.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Ajv from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { publishVersion, writeIndex } from '../src/tree/publish';
import { readAllMetadata } from '../src/tree/read';
import { runCli } from './support/cli-run';
import { startNginx, RunningNginx } from './support/nginx';
import { smallWasm } from './support/wasm';

const CREATED = '2026-01-02T03:04:05Z';
const CRD = parse(fs.readFileSync(path.resolve(__dirname, '../imports/crds/wasmplugin.yaml'), 'utf8'));
const validateSpec = new Ajv({ strict: false, allErrors: true }).compile(CRD.spec.versions[0].schema.openAPIV3Schema);

let root: string;
let nginx: RunningNginx | undefined;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-wasmplugins-'));
  const wasm = await smallWasm();
  const spec = 'info:\n  version: 1.0.0\nspec:\n  phase: AUTHN\n  priority: 320\n';
  await publishVersion(root, {
    name: 'key-auth',
    version: '2.0.0',
    wasmPath: wasm,
    source: 'oci://127.0.0.1:5000/plugins/key-auth:2.0.0',
    manifestDigest: `sha256:${'a'.repeat(64)}`,
    created: CREATED,
    specYaml: spec,
  });
  await publishVersion(root, {
    name: 'key-auth',
    version: '1.0.0',
    wasmPath: wasm,
    source: 'oci://127.0.0.1:5000/plugins/key-auth:2.0.0',
    manifestDigest: `sha256:${'a'.repeat(64)}`,
    created: CREATED,
    aliasOf: '2.0.0',
    specYaml: spec,
  });
  await publishVersion(root, {
    name: 'add-header',
    version: '1.2.0',
    wasmPath: wasm,
    source: 'file:add-header.wasm@1.2.0',
    manifestDigest: null,
    created: CREATED,
  });
  await publishVersion(root, {
    name: 'add-header',
    version: '1.10.0',
    wasmPath: wasm,
    source: 'file:add-header.wasm@1.10.0',
    manifestDigest: null,
    created: CREATED,
  });
  await writeIndex(root);
});

afterAll(async () => {
  await nginx?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

function docs(yaml: string): Array<Record<string, any>> {
  return parseAllDocuments(yaml).map((d) => d.toJS());
}

test('emits one pinned WasmPlugin per plugin at its newest version, valid against the CRD', async () => {
  const run = await runCli('wasmplugins', '--index', root);
  expect(run.code).toBe(0);
  const manifests = docs(run.stdout);
  expect(manifests.map((m) => m.metadata.name)).toEqual(['add-header', 'key-auth']);
  const meta = await readAllMetadata(root);
  for (const m of manifests) {
    expect(m.apiVersion).toBe('extensions.higress.io/v1alpha1');
    expect(m.kind).toBe('WasmPlugin');
    expect(m.metadata.namespace).toBe('higress-system');
    expect(validateSpec({ spec: m.spec })).toBe(true);
    const version = m.metadata.labels['app.kubernetes.io/version'];
    const expected = meta.find((x) => x.name === m.metadata.name && x.version === version)!;
    expect(m.spec.sha256).toBe(expected.sha256);
    expect(m.spec.url).toBe(
      `http://higress-plugin-server.higress-system.svc/plugins/${m.metadata.name}/${version}/plugin.wasm`,
    );
    expect(m.spec.defaultConfigDisable).toBe(true);
  }
  // 1.10.0 is newer than 1.2.0 (semver, not string order); the alias 1.0.0 is not the newest key-auth.
  expect(manifests[0].spec.url).toContain('/add-header/1.10.0/');
  expect(manifests[1].spec.url).toContain('/key-auth/2.0.0/');
  // phase and priority come from the plugin's spec.yaml when the pipeline kept it.
  expect(manifests[1].spec).toMatchObject({ phase: 'AUTHN', priority: 320 });
  expect(run.stdout).toMatchSnapshot();
});

test('options: plugin selection, namespace, base URL, flags for phase and priority', async () => {
  const run = await runCli(
    'wasmplugins',
    '--index',
    root,
    '-p',
    'add-header@1.2.0',
    '-p',
    'add-header@1.10.0',
    '-p',
    'key-auth@1.0.0',
    '-n',
    'gw',
    '--base-url',
    'http://plugins.example:8080/',
    '--phase',
    'STATS',
    '--priority',
    '7',
    '--no-default-config-disable',
  );
  expect(run.code).toBe(0);
  const manifests = docs(run.stdout);
  // Two versions of one plugin need two resource names.
  expect(manifests.map((m) => m.metadata.name)).toEqual(['add-header-1.2.0', 'add-header-1.10.0', 'key-auth']);
  expect(manifests[0].spec).toMatchObject({
    url: 'http://plugins.example:8080/plugins/add-header/1.2.0/plugin.wasm',
    phase: 'STATS',
    priority: 7,
    defaultConfigDisable: false,
  });
  expect(manifests[2].spec).toMatchObject({ phase: 'AUTHN', priority: 320 });
  for (const m of manifests) expect(m.metadata.namespace).toBe('gw');
});

test('reads the index of a running server', async () => {
  nginx = await startNginx(root);
  const fromServer = await runCli('wasmplugins', '--index', nginx.url);
  const fromTree = await runCli('wasmplugins', '--index', root);
  expect(fromServer.code).toBe(0);
  expect(fromServer.stdout).toBe(fromTree.stdout);
});

test('unknown plugin or version is a clear error and prints nothing', async () => {
  const run = await runCli('wasmplugins', '--index', root, '-p', 'nope', '-p', 'key-auth@9.9.9');
  expect(run.code).not.toBe(0);
  expect(run.stdout).toBe('');
  expect(run.stderr).toContain('no plugin "nope"');
  expect(run.stderr).toContain('plugin "key-auth" has no version "9.9.9"');
});

describe('a bad index gives a clear error and no output', () => {
  const good = () => JSON.parse(fs.readFileSync(path.join(root, 'plugins', 'index.json'), 'utf8'));
  const cases: Array<[string, (i: any) => unknown, RegExp]> = [
    ['missing sha256', (i) => (delete i.plugins[0].sha256, i), /plugins\.0 \(plugin add-header\): missing "sha256"/],
    [
      'size as a string',
      (i) => ((i.plugins[1].size = '12'), i),
      /plugins\.1\.size \(plugin add-header\) must be integer/,
    ],
    [
      'non-hex sha256',
      (i) => ((i.plugins[2].sha256 = 'z'.repeat(64)), i),
      /plugins\.2\.sha256 \(plugin key-auth\) must match pattern/,
    ],
    ['plugins not a list', (i) => ((i.plugins = {}), i), /plugins must be array/],
    ['traversal in a name', (i) => ((i.plugins[0].name = '..'), i), /plugins\.0\.name .*must match pattern/],
  ];
  test.each(cases)('%s', async (_label, mutate, message) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-badindex-'));
    try {
      const file = path.join(dir, 'index.json');
      fs.writeFileSync(file, JSON.stringify(mutate(good())));
      const out = path.join(dir, 'out.yaml');
      const run = await runCli('wasmplugins', '--index', file, '-o', out);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain(file);
      expect(fs.existsSync(out)).toBe(false);
      expect(run.stdout).toBe('');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('not JSON', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-badindex-'));
    fs.writeFileSync(path.join(dir, 'index.json'), '{ nope');
    const run = await runCli('wasmplugins', '--index', path.join(dir, 'index.json'));
    fs.rmSync(dir, { recursive: true, force: true });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/invalid plugin index: not JSON/);
  });
});
