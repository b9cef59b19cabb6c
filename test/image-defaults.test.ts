/**
 * The image built with its default inputs answers every URL a Higress consumer asks for, with the
 * right bytes and never a 404: every URL upstream 2.2.4 serves (the snapshot's plugins at their
 * versions under every name, the unmanaged ones at servedVersion, plugins/snapshot-inventory.json),
 * every URL the Higress Console builds (its spec.yaml version of each built-in plugin, among them the
 * 8 plugins 2.2.4 does not serve), and 1.0.0 and 2.0.0 of every plugin of the upstream list (older
 * Consoles, existing WasmPlugins and the controller's MCP_SERVER_WASM_IMAGE_URL, all served by every
 * image before 2.2.4). The URL sets come from the reference files in test/fixtures/reference, not
 * from the image's inputs.
 *
 * The tree is built the way the Dockerfile's tree stage builds it: `pull` of its default SNAPSHOT,
 * UNMANAGED_LOCK and PLUGINS_LIST (`pull --snapshot image/snapshot.json --unmanaged-lock
 * image/unmanaged-plugins.lock.json image/plugins.properties image/console.plugins.properties`), here
 * from a real registry on 127.0.0.1 holding a distinct module at every reference of those inputs
 * (test/support/reference-registry.ts), then served by the real Nginx with image/nginx.conf.
 * The same Nginx is also the read-only OCI registry of the tree (/v2/): the gateway's own fetcher,
 * oras and skopeo load every plugin of the default image through it.
 */
import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CONSOLE_SPEC_VERSIONS } from '../src/higress/console-versions';
import { IndexEntry, INVENTORY_FILE, PLUGINS_DIR, WASM_FILE } from '../src/contract/tree-format';
import { parsePluginList } from '../src/inputs/properties';
import { OCI_DIR, repositoryName, ViewFile, VIEW_FILE } from '../src/ociview/layout';
import { promisify } from 'util';
import { gatewayFetch } from './support/gateway-client';
import { runCli } from './support/cli-run';
import { RunningNginx, startNginx } from './support/nginx';
import {
  pushReferenceInputs,
  ReferenceInputs,
  LockDoc,
  SnapshotDoc,
  UPSTREAM_HOST,
} from './support/reference-registry';
import { Registry, startRegistry } from './support/registry';
import { REPO_ROOT, tool } from './support/tools';
import { smallWasm } from './support/wasm';

const run = promisify(execFile);
const REFERENCE = path.join(REPO_ROOT, 'test', 'fixtures', 'reference');
const readRef = (f: string) => fs.readFileSync(path.join(REFERENCE, f), 'utf8');
const hex = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** The Dockerfile's default value of a build argument, as written there. */
function dockerfileDefault(name: string): string {
  const m = new RegExp(`^ARG ${name}="?([^"\n]*)"?$`, 'm').exec(
    fs.readFileSync(path.join(REPO_ROOT, 'image', 'Dockerfile'), 'utf8'),
  );
  if (!m) throw new Error(`image/Dockerfile has no ${name} default`);
  return m[1].trim();
}
const defaultLists = () => dockerfileDefault('PLUGINS_LIST').split(/\s+/);

let reg: Registry;
let dir: string;
let root: string;
let nginx: RunningNginx;
let ref: ReferenceInputs;
let index: { plugins: IndexEntry[] };

/** `host/repository:tag` of an input, as `[repository, tag]` at the upstream host. */
function repoTag(reference: string): [string, string] {
  const m = /^[^/]+\/(.+):([^:/@]+)(?:@.*)?$/.exec(reference.replace(/^oci:\/\//, ''));
  if (!m) throw new Error(`not a reference: ${reference}`);
  return [m[1], m[2]];
}

beforeAll(async () => {
  reg = await startRegistry();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-defaults-'));
  const read = (f: string) => fs.readFileSync(path.join(REPO_ROOT, f), 'utf8');
  ref = await pushReferenceInputs(reg, fs.readFileSync(await smallWasm()), {
    snapshot: read(dockerfileDefault('SNAPSHOT')),
    lock: read(dockerfileDefault('UNMANAGED_LOCK')),
    lists: defaultLists().map(read),
  });
  const write = (f: string, text: string) => {
    fs.writeFileSync(path.join(dir, path.basename(f)), text);
    return path.join(dir, path.basename(f));
  };
  const lists = defaultLists().map((f, i) => write(f, ref.lists[i]));
  root = path.join(dir, 'tree');
  const pull = await runCli(
    'pull',
    '--snapshot',
    write(dockerfileDefault('SNAPSHOT'), ref.snapshot),
    '--unmanaged-lock',
    write(dockerfileDefault('UNMANAGED_LOCK'), ref.lock),
    ...lists,
    '--out',
    root,
    '--concurrency',
    '8',
  );
  if (pull.code !== 0) throw new Error(`pull of the default inputs failed:\n${pull.stderr}`);
  index = JSON.parse(fs.readFileSync(path.join(root, PLUGINS_DIR, 'index.json'), 'utf8')) as typeof index;
  nginx = await startNginx(root, { accessLog: 'off' });
}, 300_000);

afterAll(async () => {
  await nginx?.stop();
  await reg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The sha256 of what the server answers at a plugin URL, or `HTTP <status>`. */
async function served(name: string, version: string): Promise<string> {
  const res = await fetch(`${nginx.url}/${PLUGINS_DIR}/${name}/${version}/${WASM_FILE}`);
  if (res.status !== 200) return `HTTP ${res.status}`;
  return hex(Buffer.from(await res.arrayBuffer()));
}

/** Asks every URL; returns the ones answered otherwise than with `want` (so a 404 names its URL). */
async function wrongAnswers(urls: Array<{ name: string; version: string; want: string }>): Promise<string[]> {
  const wrong: string[] = [];
  for (const u of urls) {
    const got = await served(u.name, u.version);
    if (got !== u.want) wrong.push(`/plugins/${u.name}/${u.version}/: ${got}, want ${u.want}`);
  }
  return wrong;
}

/** The module the registry holds at an upstream reference (the bytes that URL must serve). */
const bytesOf = (reference: string) => hex(ref.moduleAt(...repoTag(reference)));

test('the default inputs are the 2.2.4 snapshot build over both shipped lists', () => {
  expect(dockerfileDefault('SNAPSHOT')).toBe('image/snapshot.json');
  expect(dockerfileDefault('UNMANAGED_LOCK')).toBe('image/unmanaged-plugins.lock.json');
  expect(defaultLists()).toEqual(['image/plugins.properties', 'image/console.plugins.properties']);
});

test('every URL upstream 2.2.4 serves is answered with the bytes 2.2.4 serves there, and its inventory', async () => {
  const snapshot = JSON.parse(readRef('higress-plugin-snapshot-2.2.4.json')) as SnapshotDoc;
  const lock = JSON.parse(readRef('unmanaged-plugins.lock.json')) as LockDoc;
  const urls: Array<{ name: string; version: string; want: string }> = [];
  const inventoryKeys: string[] = [];
  for (const p of snapshot.plugins) {
    const ps = p.consumers.pluginServer;
    if (!ps) continue;
    const names = [...new Set([ps.httpPath, ps.inventoryKey ?? ps.httpPath, ...(ps.aliases ?? [])])];
    inventoryKeys.push(ps.inventoryKey ?? ps.httpPath, ...(ps.aliases ?? []));
    for (const name of names) urls.push({ name, version: p.version, want: bytesOf(p.ociRef) });
  }
  for (const [name, l] of Object.entries(lock.plugins))
    urls.push({ name, version: l.servedVersion, want: bytesOf(`${l.repository}:${l.tag}`) });
  // 35 managed plugins (34 at 2.0.1, cors at 2.0.2) plus the jsonrpc-converter alias, and the 9 unmanaged.
  expect(urls).toHaveLength(45);
  expect(await wrongAnswers(urls)).toEqual([]);

  const res = await fetch(`${nginx.url}/${PLUGINS_DIR}/${INVENTORY_FILE}`);
  expect(res.status).toBe(200);
  const inventory = (await res.json()) as Record<string, { version: string; wasmSha256: string }>;
  expect(Object.keys(inventory).sort()).toEqual([...new Set(inventoryKeys)].sort());
  for (const u of urls.filter((x) => x.name in inventory))
    expect([u.name, inventory[u.name].version, inventory[u.name].wasmSha256]).toEqual([u.name, u.version, u.want]);
});

test('every URL the Higress Console builds (its spec.yaml version of each built-in plugin) is answered with the bytes of its source', async () => {
  const entries = parsePluginList(readRef('console.plugins.properties'), 'console.plugins.properties').entries;
  expect(entries).toHaveLength(52);
  const urls = entries.map((e) => {
    const known = CONSOLE_SPEC_VERSIONS[e.name];
    const version = known && known.tag === e.version ? known.specVersion : e.version;
    return {
      name: e.name,
      version,
      want: e.source.kind === 'oci' ? bytesOf(`${e.source.ref.registry}/${e.source.ref.repository}:${e.version}`) : '',
    };
  });
  expect(await wrongAnswers(urls)).toEqual([]);
  // Among them the 8 plugins the 2.2.4 image does not serve.
  const notIn224 = [
    'ai-context-limit',
    'gw-error-format',
    'hmac-auth-apisix',
    'log-request-response',
    'mcp-router',
    'nginx-rewrite-compatible',
    'response-cache',
    'simple-jwt-auth',
  ];
  expect(urls.map((u) => u.name)).toEqual(expect.arrayContaining(notIn224));
});

test('1.0.0 and 2.0.0 of every plugin of the upstream list (every image before 2.2.4) are answered with the bytes of its :2.0.0 reference', async () => {
  const upstream = parsePluginList(readRef('plugin-server.plugins.properties'), 'plugins.properties').entries;
  expect(upstream).toHaveLength(43);
  const urls = upstream.flatMap((e) => {
    const want = e.source.kind === 'oci' ? bytesOf(`${e.source.ref.registry}/${e.source.ref.repository}:2.0.0`) : '';
    return ['1.0.0', '2.0.0'].map((version) => ({ name: e.name, version, want }));
  });
  expect(urls).toHaveLength(86);
  expect(await wrongAnswers(urls)).toEqual([]);
  // The controller's MCP server URL (MCP_SERVER_WASM_IMAGE_URL of older charts) is one of them.
  expect(await served('mcp-server', '1.0.0')).toBe(bytesOf(`${UPSTREAM_HOST}/mcp-server/all-in-one:2.0.0`));
});

test('index.json says of every folder whether it holds its own bytes (and from which input) or is an alias (and of what)', async () => {
  const holds = (name: string, version: string) =>
    index.plugins.find((p) => p.name === name && p.version === version)?.holds;
  expect(index.plugins.filter((p) => !p.holds).map((p) => `${p.name}@${p.version}`)).toEqual([]);
  expect(holds('ai-proxy', '2.0.1')).toEqual({ kind: 'own', from: 'snapshot' });
  expect(holds('ai-proxy', '2.0.0')).toEqual({ kind: 'own', from: 'list' });
  expect(holds('ai-proxy', '1.0.0')).toEqual({ kind: 'alias', name: 'ai-proxy', version: '2.0.0' });
  expect(holds('basic-auth', '2.0.0')).toEqual({ kind: 'own', from: 'unmanaged-lock' });
  expect(holds('basic-auth', '1.0.0')).toEqual({ kind: 'alias', name: 'basic-auth', version: '2.0.0' });
  expect(holds('jsonrpc-converter', '2.0.1')).toEqual({ kind: 'alias', name: 'json-converter', version: '2.0.1' });
  expect(holds('simple-jwt-auth', '1.0.1')).toEqual({ kind: 'own', from: 'list' });
  // An alias serves exactly the bytes of the folder it names.
  const aliases = index.plugins.filter((p) => p.holds?.kind === 'alias');
  expect(aliases.length).toBeGreaterThan(43);
  const wrong: string[] = [];
  for (const a of aliases) {
    if (a.holds?.kind !== 'alias') continue;
    const [mine, theirs] = [await served(a.name, a.version), await served(a.holds.name, a.holds.version)];
    if (mine !== theirs || mine.startsWith('HTTP')) wrong.push(`${a.name}@${a.version}: ${mine} vs ${theirs}`);
  }
  expect(wrong).toEqual([]);
});

test('versions that serve the same bytes share them on disk (aliases are not stored twice)', () => {
  const pluginsDir = path.join(root, PLUGINS_DIR);
  const inodes = new Set<string>();
  const contents = new Set<string>();
  let files = 0;
  for (const name of fs.readdirSync(pluginsDir)) {
    const nameDir = path.join(pluginsDir, name);
    if (!fs.statSync(nameDir).isDirectory()) continue;
    for (const version of fs.readdirSync(nameDir)) {
      const file = path.join(nameDir, version, WASM_FILE);
      if (!fs.existsSync(file)) continue;
      files += 1;
      const st = fs.statSync(file);
      inodes.add(`${st.dev}:${st.ino}`);
      contents.add(hex(fs.readFileSync(file)));
    }
  }
  expect(files).toBeGreaterThan(contents.size); // there are aliases at all
  expect(inodes.size).toBe(contents.size);
});

describe('the same tree as a read-only OCI registry (only the registry host of oci:// URLs changes)', () => {
  const host = () => `127.0.0.1:${nginx.port}`;
  /** Every version the HTTP tree answers, with the manifest digest `wasmplugins --oci` would pin. */
  function tags(): Array<{ name: string; version: string; digest: string }> {
    const view = JSON.parse(fs.readFileSync(path.join(root, OCI_DIR, VIEW_FILE), 'utf8')) as ViewFile;
    return view.tags.map((t) => ({
      name: t.name,
      version: t.version,
      digest: t.manifests[t.manifests.length - 1].digest,
    }));
  }

  test('every version the HTTP tree serves is a tag', () => {
    expect(
      tags()
        .map((t) => `${t.name}/${t.version}`)
        .sort(),
    ).toEqual(index.plugins.map((p) => `${p.name}/${p.version}`).sort());
  });

  test("the gateway's own fetcher (Istio pkg/wasm) loads every plugin through oci:// with the insecure-host option, checking the manifest digest", async () => {
    const requests = tags().map((t) => ({
      url: `oci://${host()}/${repositoryName(t.name)}:${t.version}`,
      sha256: t.digest.slice('sha256:'.length),
    }));
    const run = await gatewayFetch(requests, { insecureRegistries: [host()], killAfterMs: 300_000 });
    const failed = run.results.filter((r) => !r.ok).map((r) => `${r.url}: ${r.error}`);
    expect(failed).toEqual([]);
    expect(run.results).toHaveLength(requests.length);
    expect(run.code).toBe(0);
  }, 320_000);

  test('check --oci pulls every version through /v2/ and finds the sha256 index.json promises', async () => {
    const res = await runCli('check', nginx.url, '--oci');
    expect(res.stderr).toMatch(/check --oci: \d+ ok, 0 failed/);
    expect(res.code).toBe(0);
  }, 120_000);

  test('oras and skopeo read it: the catalog, tags, and a copy into a real registry keeps the digests', async () => {
    const names = [...new Set(tags().map((t) => t.name))].sort();
    const catalog = await run(tool('oras'), ['repo', 'ls', '--plain-http', host()], { maxBuffer: 16 * 1024 * 1024 });
    expect(catalog.stdout.trim().split('\n')).toEqual(names.map(repositoryName));
    for (const t of tags().filter((x) => ['ai-proxy', 'key-auth', 'mcp-server'].includes(x.name))) {
      const desc = JSON.parse(
        (
          await run(tool('oras'), [
            'manifest',
            'fetch',
            '--plain-http',
            '--descriptor',
            `${host()}/${repositoryName(t.name)}:${t.version}`,
          ])
        ).stdout,
      ) as { digest: string };
      expect([t.name, t.version, desc.digest]).toEqual([t.name, t.version, t.digest]);
      await run(tool('skopeo'), [
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${host()}/${repositoryName(t.name)}:${t.version}`,
        `docker://${reg.host}/copied/${t.name}:${t.version}`,
      ]);
      const head = await fetch(`${reg.url}/v2/copied/${t.name}/manifests/${t.version}`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect([t.name, t.version, head.headers.get('docker-content-digest')]).toEqual([t.name, t.version, t.digest]);
    }
  }, 180_000);
});
