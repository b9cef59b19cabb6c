/**
 * `audit`, `adopt` and `adopt --revert` against a real control plane (etcd, kube-apiserver with RBAC,
 * kubectl) holding the Higress WasmPlugin CRD (imports/crds), WasmPlugins in three namespaces (oci://
 * sources the server holds and one it does not, a local URL pinned right, one pinned wrong, a broken
 * one), and Console and controller Deployments with other env entries; the plugin server is the real
 * Nginx (image/nginx.conf) serving a tree `pull` read from a docker-registry (through --registry-map).
 * `adopt` runs as the ServiceAccount of dist/adopt-rbac.yaml, so the RBAC it ships is proven
 * sufficient; a user without it gets an error naming the permission. The scenarios run in order on
 * one cluster: audit, refused plan, dry-run, a concurrent edit, adopt, audit --require-local, a second
 * adopt, revert, then the same through the server's OCI view (--oci).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import Ajv from 'ajv';
import { ControlPlane, startControlPlane } from './support/control-plane';
import { runCliProcess } from './support/cli-process';
import { startNginx, RunningNginx } from './support/nginx';
import { freePort } from './support/ports';
import { gatewayFetch } from './support/gateway-client';
import { smallWasm } from './support/wasm';
import { REPO_ROOT, tool } from './support/tools';
import { pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { execFile, spawn, ChildProcess } from 'child_process';
import { promisify } from 'util';

jest.setTimeout(240_000);
const execFileP = promisify(execFile);

const SERVICE = 'http://higress-plugin-server.higress-system.svc';
const REG = 'registry.example.com';
const PATTERN_ENV = 'HIGRESS_ADMIN_WASM_PLUGIN_CUSTOM_IMAGE_URL_PATTERN';
const MCP_ENV = 'MCP_SERVER_WASM_IMAGE_URL';
const schema = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'docs', 'cli-events.schema.json'), 'utf8'));
const validateEvent = new Ajv({ strict: false, allErrors: true }).compile(schema);

let cp: ControlPlane;
let nginx: RunningNginx | undefined;
let reg: Registry | undefined;
/** The manifest digest request-block was pushed (and pulled) with. */
let requestBlockDigest: string;
let root: string;
/** Kubeconfig of the ServiceAccount bound by dist/adopt-rbac.yaml. */
let adoptKubeconfig: string;
const sha = new Map<string, string>();
/** The objects as created (before any adopt). */
let before: Map<string, any>;

/** A valid Wasm module of its own bytes (an empty module with one custom section). */
function wasmFile(dir: string, name: string): string {
  const label = Buffer.from(name);
  const section = Buffer.concat([Buffer.from([label.length]), label]);
  const bytes = Buffer.concat([
    Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x00, section.length]),
    section,
  ]);
  const file = path.join(dir, `${name}.wasm`);
  fs.writeFileSync(file, bytes);
  return file;
}

function wasmPlugin(ns: string, name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'extensions.higress.io/v1alpha1',
    kind: 'WasmPlugin',
    metadata: { name, namespace: ns, labels: { team: ns }, annotations: { note: `kept ${name}` } },
    spec,
  };
}

function deployment(name: string, containers: Array<{ name: string; env?: unknown[] }>): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'higress-system' },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: containers.map((c) => ({ image: `example/${c.name}:1`, ...c })) },
      },
    },
  };
}

async function getJson(args: string[]): Promise<any> {
  return JSON.parse(await cp.kubectlOk(['get', ...args, '-o', 'json']));
}

/** Every object the scenarios touch, as the API server holds it. */
async function snapshot(): Promise<Map<string, any>> {
  const out = new Map<string, any>();
  for (const w of (await getJson(['wasmplugins.extensions.higress.io', '-A'])).items)
    out.set(`WasmPlugin ${w.metadata.namespace}/${w.metadata.name}`, w);
  for (const d of (await getJson(['deployments', '-n', 'higress-system'])).items)
    out.set(`Deployment ${d.metadata.namespace}/${d.metadata.name}`, d);
  return out;
}

function resourceVersions(s: Map<string, any>): Record<string, string> {
  return Object.fromEntries([...s].map(([k, v]) => [k, v.metadata.resourceVersion]));
}

/**
 * What adopt may change and revert must restore: the spec (Deployments: the pod template), labels and
 * annotations (less the revision counter the Deployment controller keeps).
 */
function content(o: any): unknown {
  const annotations = { ...o.metadata.annotations };
  delete annotations['deployment.kubernetes.io/revision'];
  return {
    spec: o.kind === 'Deployment' ? o.spec.template : o.spec,
    labels: o.metadata.labels,
    annotations,
  };
}

function events(stdout: string): any[] {
  const list = stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  for (const e of list) {
    if (!validateEvent(e))
      throw new Error(`event ${JSON.stringify(e)} breaks the schema: ${JSON.stringify(validateEvent.errors)}`);
  }
  return list;
}

/** The CLI as its own process; adopt gets the --registry-map the tree was pulled with unless `map` is false. */
/** Passes one request through to `kubectl proxy` on `port` and its answer back (the tests' recording proxy). */
function forward(port: number, req: http.IncomingMessage, res: http.ServerResponse): void {
  const up = http.request(
    { host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers },
    (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    },
  );
  req.pipe(up);
}

function cli(command: 'audit' | 'adopt', args: string[], kubeconfig = adoptKubeconfig, map = true) {
  const mapArgs = command === 'adopt' && map ? ['--registry-map', `${REG}=${reg!.host}`] : [];
  return runCliProcess([command, '--server', nginx!.url, '--kubeconfig', kubeconfig, ...mapArgs, ...args], {
    env: { KUBECONFIG: '', HOME: root },
    timeoutMs: 60_000,
  });
}

/** A kubeconfig for a ServiceAccount's token (TokenRequest), against the same API server. */
async function tokenKubeconfig(ns: string, sa: string, file: string): Promise<string> {
  const token = (await cp.kubectlOk(['create', 'token', sa, '-n', ns, '--duration', '2h'])).trim();
  const admin = fs.readFileSync(cp.kubeconfig, 'utf8');
  const server = /server: (\S+)/.exec(admin)![1];
  const ca = /certificate-authority: (\S+)/.exec(admin)![1];
  const out = path.join(root, file);
  fs.writeFileSync(
    out,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: c, cluster: {server: "${server}", certificate-authority: "${ca}"}}]`,
      `users: [{name: ${sa}, user: {token: "${token}"}}]`,
      `contexts: [{name: ${sa}, context: {cluster: c, user: ${sa}}}]`,
      `current-context: ${sa}`,
      '',
    ].join('\n'),
  );
  return out;
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-cluster-adopt-'));
  cp = await startControlPlane();
  // The plugin server: a tree pulled from a real docker-registry standing in for the public one (the
  // list names registry.example.com, --registry-map reads it from the local mirror, as in an air gap).
  reg = await startRegistry();
  const tree = path.join(root, 'tree');
  const keyAuth = fs.readFileSync(await smallWasm());
  const requestBlock = fs.readFileSync(wasmFile(root, 'request-block'));
  const mcp = fs.readFileSync(wasmFile(root, 'mcp-server'));
  await pushWasmArtifact(reg, 'plugins/key-auth', '2.0.0', keyAuth);
  requestBlockDigest = (await pushWasmArtifact(reg, 'plugins/request-block', '1.0.0', requestBlock)).manifestDigest;
  await pushWasmArtifact(reg, 'mcp-server/all-in-one', '1.0.0', mcp);
  const list = path.join(root, 'plugins.properties');
  fs.writeFileSync(
    list,
    [
      `key-auth=oci://${REG}/plugins/key-auth:2.0.0`,
      '#@alias key-auth 1.0.0=2.0.0',
      `request-block=oci://${REG}/plugins/request-block:1.0.0`,
      `mcp-server=oci://${REG}/mcp-server/all-in-one:1.0.0`,
      '',
    ].join('\n'),
  );
  const pull = await runCliProcess(['pull', list, '--out', tree, '--registry-map', `${REG}=${reg.host}`], {
    timeoutMs: 120_000,
  });
  if (pull.code !== 0) throw new Error(`pull failed: ${pull.stderr}`);
  for (const [name, bytes] of [
    ['key-auth', keyAuth],
    ['request-block', requestBlock],
    ['mcp-server', mcp],
  ] as const)
    sha.set(name, createHash('sha256').update(bytes).digest('hex'));
  nginx = await startNginx(tree);

  await cp.kubectlOk(['apply', '-f', path.join(REPO_ROOT, 'imports', 'crds', 'wasmplugin.yaml')]);
  await cp.crdEstablished('wasmplugins.extensions.higress.io');
  for (const ns of ['higress-system', 'team-a', 'team-b']) await cp.kubectlOk(['create', 'namespace', ns]);
  const objects = [
    wasmPlugin('team-a', 'key-auth', {
      url: `oci://${REG}/plugins/key-auth:2.0.0`,
      phase: 'AUTHN',
      priority: 310,
      imagePullPolicy: 'IfNotPresent',
      defaultConfig: { consumers: [{ name: 'c1', credential: 'k1' }] },
      defaultConfigDisable: false,
    }),
    // Pinned by manifest digest only: matched through index.json's manifestDigest.
    wasmPlugin('team-b', 'request-block', {
      url: `oci://${REG}/plugins/request-block@${requestBlockDigest}`,
      priority: 5,
    }),
    wasmPlugin('team-b', 'not-on-server', { url: `oci://${REG}/plugins/not-here:1.0.0` }),
    wasmPlugin('higress-system', 'local-ok', {
      url: `${SERVICE}/plugins/key-auth/2.0.0/plugin.wasm`,
      sha256: sha.get('key-auth'),
    }),
    wasmPlugin('higress-system', 'local-wrong-sha', {
      url: `${SERVICE}/plugins/request-block/1.0.0/plugin.wasm`,
      sha256: 'f'.repeat(64),
    }),
    wasmPlugin('higress-system', 'broken', { url: `${SERVICE}/plugins/nope/9.9.9/plugin.wasm` }),
    deployment('higress-console', [
      {
        name: 'higress-console',
        env: [
          { name: 'JAVA_OPTS', value: '-Xmx512m' },
          { name: 'HIGRESS_CONSOLE_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        ],
      },
    ]),
    deployment('higress-controller', [
      {
        name: 'higress-core',
        env: [
          { name: 'PILOT_ENABLE_GATEWAY_API', value: 'true' },
          { name: MCP_ENV, value: `oci://${REG}/mcp-server/all-in-one:1.0.0` },
          { name: 'LAST', value: 'x' },
        ],
      },
      { name: 'discovery', env: [{ name: 'A', value: 'b' }] },
    ]),
  ];
  await cp.kubectlOk(['create', '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n') });
  await cp.kubectlOk(['apply', '-f', path.join(REPO_ROOT, 'dist', 'adopt-rbac.yaml')]);
  adoptKubeconfig = await tokenKubeconfig('higress-system', 'higress-plugin-server-adopt', 'adopt.kubeconfig');
  before = await snapshot();
}, 240_000);

afterAll(async () => {
  await nginx?.stop();
  await reg?.stop();
  await cp?.stop();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

describe('request pattern', () => {
  test('WasmPlugins are listed in pages (limit and continue): one list call per page, every object once', async () => {
    // A counting proxy in front of `kubectl proxy` (plain HTTP to the API server) records each request.
    const proxyPort = await freePort();
    const kproxy: ChildProcess = spawn(
      tool('kubectl'),
      ['--kubeconfig', cp.kubeconfig, 'proxy', `--port=${proxyPort}`, '--address=127.0.0.1'],
      { stdio: 'ignore' },
    );
    const seen: string[] = [];
    const port = await freePort();
    const server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      forward(proxyPort, req, res);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      await cp.waitFor('kubectl proxy', async () =>
        (await fetch(`http://127.0.0.1:${proxyPort}/version`).then(
          (x) => x.ok,
          () => false,
        ))
          ? true
          : undefined,
      );
      const kc = path.join(root, 'count.kubeconfig');
      fs.writeFileSync(
        kc,
        `apiVersion: v1\nkind: Config\nclusters: [{name: p, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: p, context: {cluster: p, user: u}}]\ncurrent-context: p\n`,
      );
      const all = (await getJson(['wasmplugins.extensions.higress.io', '-A'])).items.map(
        (w: any) => `${w.metadata.namespace}/${w.metadata.name}`,
      );
      expect(all.length).toBeGreaterThan(4);
      // The client is an ES module jest's CommonJS cannot load: it runs in a Node process, compiled (build/).
      const script = `require(${JSON.stringify(path.join(REPO_ROOT, 'build', 'src', 'cluster', 'kube.js'))})
        .connect({ kubeconfig: ${JSON.stringify(kc)}, listPageSize: 2 })
        .then((k) => k.listWasmPlugins())
        .then((items) => console.log(JSON.stringify(items.map((w) => w.metadata.namespace + '/' + w.metadata.name))));`;
      // Asynchronously: the counting proxy answers from this process's event loop.
      const listed = JSON.parse(
        (await execFileP(process.execPath, ['-e', script], { encoding: 'utf8' })).stdout,
      ) as string[];
      expect(listed.sort()).toEqual([...all].sort());
      const lists = seen.filter((r) => r.startsWith('GET /apis/extensions.higress.io/v1alpha1/wasmplugins'));
      expect(lists).toHaveLength(Math.ceil(all.length / 2));
      expect(lists.every((r) => r.includes('limit=2'))).toBe(true);
      expect(lists.slice(1).every((r) => r.includes('continue='))).toBe(true);
      // Nothing else is asked per object: the pages are the only WasmPlugin requests.
      expect(seen.filter((r) => r.includes('wasmplugins'))).toEqual(lists);
    } finally {
      server.close();
      kproxy.kill();
    }
  });
});

describe('audit', () => {
  test('exit 6, one line per failing URL naming object, URL, why and what to do; oci:// listed as external', async () => {
    const r = await cli('audit', []);
    expect(r.code).toBe(6);
    const lines = r.stdout.trim().split('\n');
    const line = (object: string) => lines.filter((l) => l.includes(`${object} `));
    expect(line('WasmPlugin higress-system/broken')).toEqual([
      expect.stringMatching(
        /^FAILED +WasmPlugin higress-system\/broken http:\/\/.*\/plugins\/nope\/9\.9\.9\/plugin\.wasm: the server answers HTTP 404 .*\(pull the plugin/,
      ),
    ]);
    expect(line('WasmPlugin higress-system/local-wrong-sha')).toEqual([
      expect.stringMatching(new RegExp(`^FAILED .*serves sha256 ${sha.get('request-block')}, the object pins f{64}`)),
    ]);
    expect(line('WasmPlugin team-a/key-auth')).toEqual([
      expect.stringMatching(
        /^external WasmPlugin team-a\/key-auth oci:\/\/registry\.example\.com\/plugins\/key-auth:2\.0\.0: .*adopt/,
      ),
    ]);
    expect(line('Console higress-system/higress-console')).toEqual([
      expect.stringMatching(new RegExp(`^external .*${PATTERN_ENV} is not set`)),
    ]);
    expect(line('Controller higress-system/higress-controller')).toEqual([
      expect.stringMatching(/^external .*mcp-server/),
    ]);
    // The local URL pinned right passes silently.
    expect(line('WasmPlugin higress-system/local-ok')).toEqual([]);
    expect(r.stderr).toMatch(
      /audit: 8 URL\(s\): 1 ok, 5 external, 2 failed \(6 WasmPlugin\(s\), the Console, the controller\)/,
    );
    // Reading changes nothing.
    expect(resourceVersions(await snapshot())).toEqual(resourceVersions(before));
  });

  test('--json: one url event per URL, valid against the event schema, and a summary', async () => {
    const r = await cli('audit', ['--json']);
    expect(r.code).toBe(6);
    const list = events(r.stdout);
    const urls = list.filter((e) => e.event === 'url');
    expect(urls).toHaveLength(8);
    expect(urls.find((e) => e.object === 'WasmPlugin higress-system/local-ok')).toMatchObject({
      status: 'ok',
      sha256: sha.get('key-auth'),
    });
    expect(urls.find((e) => e.object === 'WasmPlugin higress-system/broken')).toMatchObject({
      status: 'failed',
      code: 'E_AUDIT_FAILED',
    });
    expect(list.at(-1)).toMatchObject({ event: 'summary', command: 'audit', ok: false, exitCode: 6 });
  });

  test('--require-local: external URLs fail too, with their own code', async () => {
    const r = await cli('audit', ['--require-local', '--json']);
    expect(r.code).toBe(6);
    const ext = events(r.stdout).find((e) => e.object === 'WasmPlugin team-a/key-auth');
    expect(ext).toMatchObject({ status: 'failed', code: 'E_AUDIT_EXTERNAL' });
  });
});

describe('adopt', () => {
  test('without the --registry-map the tree was pulled with, its sources do not match: named missing', async () => {
    const r = await cli('adopt', ['--dry-run'], adoptKubeconfig, false);
    expect(r.code).toBe(6);
    expect(r.stdout).toContain(`missing WasmPlugin team-a/key-auth oci://${REG}/plugins/key-auth:2.0.0`);
    // Pinned by manifest digest: matched whatever the host.
    expect(r.stdout).not.toContain('missing WasmPlugin team-b/request-block');
  });

  test('a plan with a source the server lacks changes nothing and names each missing one', async () => {
    const r = await cli('adopt', []);
    expect(r.code).toBe(6);
    expect(r.stdout).toContain(`missing WasmPlugin team-b/not-on-server oci://${REG}/plugins/not-here:1.0.0`);
    expect(r.stdout).toContain('missing WasmPlugin higress-system/broken');
    expect(r.stderr).toMatch(/E_ADOPT_MISSING|not on the server, nothing was changed/);
    expect(resourceVersions(await snapshot())).toEqual(resourceVersions(before));
    expect(
      (await cp.kubectl(['get', 'configmap', 'higress-plugin-server-adopt', '-n', 'higress-system'])).code,
    ).not.toBe(0);
  });

  test('--dry-run prints the plan as a diff and changes no resourceVersion', async () => {
    const r = await cli('adopt', ['--dry-run', '--skip-missing']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      [
        '--- WasmPlugin team-a/key-auth (resourceVersion ' +
          before.get('WasmPlugin team-a/key-auth').metadata.resourceVersion +
          ')',
        `-spec.url: oci://${REG}/plugins/key-auth:2.0.0`,
        `+spec.url: ${SERVICE}/plugins/key-auth/2.0.0/plugin.wasm`,
        '-spec.sha256: (unset)',
        `+spec.sha256: ${sha.get('key-auth')}`,
      ].join('\n'),
    );
    expect(r.stdout).toContain(
      `+env higress-console/${PATTERN_ENV}: ${SERVICE}/plugins/\${name}/\${version}/plugin.wasm`,
    );
    expect(r.stderr).toContain('nothing was written');
    expect(resourceVersions(await snapshot())).toEqual(resourceVersions(before));
  });

  test('a concurrent edit between plan and write stops adopt with a clear error; nothing is overwritten', async () => {
    // kubectl proxy gives plain HTTP to the API server; a proxy in front of it edits the WasmPlugin
    // (through kubectl, a real concurrent writer) just before it forwards adopt's first PATCH.
    const proxyPort = await freePort();
    const kproxy: ChildProcess = spawn(
      tool('kubectl'),
      ['--kubeconfig', adoptKubeconfig, 'proxy', `--port=${proxyPort}`, '--address=127.0.0.1'],
      { stdio: 'ignore' },
    );
    const port = await freePort();
    let edited = false;
    let editing: Promise<void> | undefined;
    const server = http.createServer((req, res) => {
      const pass = () => forward(proxyPort, req, res);
      // adopt sends its patches several at once: every PATCH waits for the edit, which starts with the first.
      if (req.method === 'PATCH') {
        edited = true;
        editing ??= cp
          .kubectlOk(['annotate', 'wasmplugin', 'key-auth', '-n', 'team-a', 'edited-by=someone-else'])
          .then(() => undefined);
        void editing.then(pass, pass);
      } else pass();
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      await cp.waitFor('kubectl proxy', async () => {
        const ok = await fetch(`http://127.0.0.1:${proxyPort}/version`).then(
          (x) => x.ok,
          () => false,
        );
        return ok ? true : undefined;
      });
      const kc = path.join(root, 'proxy.kubeconfig');
      fs.writeFileSync(
        kc,
        `apiVersion: v1\nkind: Config\nclusters: [{name: p, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: p, context: {cluster: p, user: u}}]\ncurrent-context: p\n`,
      );
      const r = await cli('adopt', ['--skip-missing'], kc);
      expect(edited ? '' : r.stderr).toBe('');
      expect(r.code).toBe(7);
      expect(r.stderr).toContain(
        'patch wasmplugins.extensions.higress.io team-a/key-auth: the object changed since it was read',
      );
      expect(r.stderr).toContain('it was not overwritten');
      // What was written besides the conflict is named in plan order, and recorded for --revert (checked below).
      expect(r.stderr).toContain(
        'already adopted: WasmPlugin higress-system/local-wrong-sha, WasmPlugin team-b/request-block, Console higress-system/higress-console, Controller higress-system/higress-controller;',
      );
      const w = await getJson(['wasmplugin', 'key-auth', '-n', 'team-a']);
      expect(w.spec.url).toBe(`oci://${REG}/plugins/key-auth:2.0.0`);
      expect(w.metadata.annotations['edited-by']).toBe('someone-else');
    } finally {
      server.close();
      kproxy.kill();
    }
    // Put the object back as it was for the scenarios that follow (the annotation is not adopt's).
    await cp.kubectlOk(['annotate', 'wasmplugin', 'key-auth', '-n', 'team-a', 'edited-by-']);
  });

  test('--skip-missing: rewrites url and sha256 (= the served bytes), every other field equal; env entries set, others untouched', async () => {
    // A record may exist from the stopped run above: the originals in it are the same objects' originals.
    const r = await cli('adopt', ['--skip-missing', '--json']);
    expect(r.code).toBe(0);
    const list = events(r.stdout);
    // key-auth: url and sha256 (every other object was written beside the conflict above, and is now as wanted).
    expect(list.filter((e) => e.status === 'applied')).toHaveLength(2);
    const after = await snapshot();
    for (const [key, name] of [
      ['WasmPlugin team-a/key-auth', 'key-auth'],
      ['WasmPlugin team-b/request-block', 'request-block'],
      ['WasmPlugin higress-system/local-wrong-sha', 'request-block'],
    ]) {
      const was = before.get(key);
      const now = after.get(key);
      const url = `${SERVICE}/plugins/${name}/${name === 'key-auth' ? '2.0.0' : '1.0.0'}/plugin.wasm`;
      expect(now.spec).toEqual({ ...was.spec, url, sha256: sha.get(name) });
      expect(now.metadata.labels).toEqual(was.metadata.labels);
      expect(now.metadata.annotations).toEqual(was.metadata.annotations);
      // The pinned sha256 is that of the bytes the server serves at that URL.
      const served = Buffer.from(await (await fetch(`${nginx!.url}${url.slice(SERVICE.length)}`)).arrayBuffer());
      expect(createHash('sha256').update(served).digest('hex')).toBe(now.spec.sha256);
    }
    // The gateway's own fetcher (Istio pkg/wasm) loads every rewritten URL with the sha256 adopt pinned
    // (the Service URL is the port-forwarded Nginx here); the pin adopt replaced is refused by it.
    const rewritten = [
      'WasmPlugin team-a/key-auth',
      'WasmPlugin team-b/request-block',
      'WasmPlugin higress-system/local-wrong-sha',
    ];
    const local = (url: string) => `${nginx!.url}${url.slice(SERVICE.length)}`;
    const run = await gatewayFetch([
      ...rewritten.map((k) => ({ url: local(after.get(k).spec.url), sha256: after.get(k).spec.sha256 })),
      { url: local(before.get('WasmPlugin higress-system/local-wrong-sha').spec.url), sha256: 'f'.repeat(64) },
    ]);
    expect(run.results.map((x) => x.ok)).toEqual([true, true, true, false]);
    expect(run.results[3].error).toMatch(/checksum/);
    for (const key of [
      'WasmPlugin team-b/not-on-server',
      'WasmPlugin higress-system/broken',
      'WasmPlugin higress-system/local-ok',
    ])
      expect(after.get(key).metadata.resourceVersion).toBe(before.get(key).metadata.resourceVersion);
    const consoleEnv = after.get('Deployment higress-system/higress-console').spec.template.spec.containers[0].env;
    expect(consoleEnv).toEqual([
      ...before.get('Deployment higress-system/higress-console').spec.template.spec.containers[0].env,
      { name: PATTERN_ENV, value: `${SERVICE}/plugins/\${name}/\${version}/plugin.wasm` },
    ]);
    const ctrl = after.get('Deployment higress-system/higress-controller').spec.template.spec.containers;
    expect(ctrl[0].env).toEqual([
      { name: 'PILOT_ENABLE_GATEWAY_API', value: 'true' },
      { name: MCP_ENV, value: `${SERVICE}/plugins/mcp-server/1.0.0/plugin.wasm` },
      { name: 'LAST', value: 'x' },
    ]);
    expect(ctrl[1]).toEqual(
      before.get('Deployment higress-system/higress-controller').spec.template.spec.containers[1],
    );
    const record = await getJson(['configmap', 'higress-plugin-server-adopt', '-n', 'higress-system']);
    expect(JSON.parse(record.data['record.json']).entries).toHaveLength(7);
  });

  test('audit --require-local passes once the unadoptable objects are gone (nothing leaves the cluster)', async () => {
    const failing = await cli('audit', ['--require-local']);
    expect(failing.code).toBe(6);
    expect(failing.stdout.trim().split('\n').sort()).toEqual([
      expect.stringMatching(/^FAILED +WasmPlugin higress-system\/broken /),
      expect.stringMatching(/^FAILED +WasmPlugin team-b\/not-on-server /),
    ]);
    await cp.kubectlOk(['delete', 'wasmplugin', 'broken', '-n', 'higress-system']);
    await cp.kubectlOk(['delete', 'wasmplugin', 'not-on-server', '-n', 'team-b']);
    const r = await cli('audit', ['--require-local']);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
    // Every Console URL (key-auth as its spec.yaml version 1.0.0 from the known table, request-block, mcp-server).
    expect(r.stderr).toMatch(/audit: 8 URL\(s\): 8 ok, 0 external, 0 failed/);
  });

  test('a second adopt is a no-op: no resourceVersion moves', async () => {
    const s = await snapshot();
    const r = await cli('adopt', []);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('adopt: nothing to change');
    expect(resourceVersions(await snapshot())).toEqual(resourceVersions(s));
  });

  test('--revert restores every changed field byte for byte and removes the record', async () => {
    const r = await cli('adopt', ['--revert']);
    expect(r.code).toBe(0);
    const now = await snapshot();
    for (const [key, was] of before) {
      if (!now.has(key)) continue; // deleted above
      expect({ key, ...(content(now.get(key)) as object) }).toEqual({ key, ...(content(was) as object) });
    }
    expect(
      (await cp.kubectl(['get', 'configmap', 'higress-plugin-server-adopt', '-n', 'higress-system'])).code,
    ).not.toBe(0);
    const again = await cli('adopt', ['--revert']);
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('there is no adopt record');
  });
});

describe('adopt --oci', () => {
  test("points at the server's OCI view pinned by manifest digest; the gateway pulls it; revert restores", async () => {
    const r = await cli('adopt', ['--oci']);
    expect(r.code).toBe(0);
    const host = 'higress-plugin-server.higress-system.svc';
    const w = await getJson(['wasmplugin', 'key-auth', '-n', 'team-a']);
    expect(w.spec).toEqual({
      ...before.get('WasmPlugin team-a/key-auth').spec,
      url: `oci://${host}/plugins/key-auth:2.0.0`,
      sha256: w.spec.sha256,
    });
    const served = await fetch(`${nginx!.url}/v2/plugins/key-auth/manifests/2.0.0`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(`sha256:${w.spec.sha256}`).toBe(served.headers.get('docker-content-digest'));
    const consoleEnv = (await getJson(['deployment', 'higress-console', '-n', 'higress-system'])).spec.template.spec
      .containers[0].env;
    expect(consoleEnv).toContainEqual({ name: PATTERN_ENV, value: `oci://${host}/plugins/\${name}:\${version}` });
    // audit checks oci:// URLs on the service's host through the server's /v2/.
    const audit = await cli('audit', ['--require-local']);
    expect(audit.stdout).toBe('');
    expect(audit.code).toBe(0);
    // The gateway's fetcher pulls it through /v2/ (plain HTTP allowed for the server's host).
    const local = `127.0.0.1:${nginx!.port}`;
    const run = await gatewayFetch([{ url: `oci://${local}/plugins/key-auth:2.0.0`, sha256: w.spec.sha256 }], {
      insecureRegistries: [local],
    });
    expect(run.results.map((x) => x.ok)).toEqual([true]);
    const back = await cli('adopt', ['--revert']);
    expect(back.code).toBe(0);
    expect(content(await getJson(['wasmplugin', 'key-auth', '-n', 'team-a']))).toEqual(
      content(before.get('WasmPlugin team-a/key-auth')),
    );
  });
});

describe('kubeconfig', () => {
  test('KUBECONFIG and --context are read as kubectl reads them; an unknown context is an input error', async () => {
    const two = path.join(root, 'two-contexts.kubeconfig');
    const text = fs.readFileSync(adoptKubeconfig, 'utf8');
    // A second context, current, whose cluster does not answer; --context picks the working one.
    fs.writeFileSync(
      two,
      text
        .replace('clusters: [', 'clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}, ')
        .replace(
          'contexts: [',
          'contexts: [{name: dead, context: {cluster: dead, user: higress-plugin-server-adopt}}, ',
        )
        .replace(/current-context: .*/, 'current-context: dead'),
    );
    const run = (args: string[]) =>
      runCliProcess(['audit', '--server', nginx!.url, ...args], { env: { KUBECONFIG: two, HOME: root } });
    const dead = await run([]);
    expect(dead.code).toBe(7);
    expect(dead.stderr).toContain('https://127.0.0.1:1');
    const picked = await run(['--context', 'higress-plugin-server-adopt']);
    // It reached the cluster and audited it (reverted above: external URLs and the wrong pin again).
    expect(picked.stderr).toMatch(/audit: \d+ URL\(s\): \d+ ok, \d+ external, 1 failed/);
    expect(picked.code).toBe(6);
    const unknown = await run(['--context', 'nope']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('the kubeconfig has no context "nope"');
  });
});

describe('RBAC', () => {
  test('a user without the roles of dist/adopt-rbac.yaml gets an error naming the missing permission', async () => {
    await cp.kubectlOk(['create', 'serviceaccount', 'limited', '-n', 'default']);
    // May read WasmPlugins, nothing else.
    await cp.kubectlOk([
      'create',
      'clusterrole',
      'wasmplugin-reader',
      '--verb=get,list',
      '--resource=wasmplugins.extensions.higress.io',
    ]);
    await cp.kubectlOk([
      'create',
      'clusterrolebinding',
      'limited',
      '--clusterrole=wasmplugin-reader',
      '--serviceaccount=default:limited',
    ]);
    const kc = await tokenKubeconfig('default', 'limited', 'limited.kubeconfig');
    const r = await cli('audit', [], kc);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(
      /get deployment higress-system\/higress-(console|controller): forbidden: .*cannot get resource "deployments" in API group "apps"/,
    );
    expect(r.stderr).toContain('dist/adopt-rbac.yaml');
    const j = await cli('adopt', ['--json'], kc);
    expect(j.code).toBe(7);
    expect(events(j.stdout)).toContainEqual(expect.objectContaining({ event: 'problem', code: 'E_KUBE_FORBIDDEN' }));
  });
});
