/**
 * The image built with its default arguments answers a superset of the upstream image's URLs and
 * every URL the Higress Console builds, with the right bytes. The upstream image stores each plugin
 * of its list under both /1.0.0/ and /2.0.0/; the Console asks for `<name>/<spec.yaml version>`.
 *
 * The tree is built the way the Dockerfile's tree stage builds it: `pull` of the default PLUGINS_LIST,
 * here from a real registry on 127.0.0.1 holding a distinct module for every source (the lists are
 * copied with the public registry host replaced), then served by the real Nginx with image/nginx.conf.
 * The same Nginx is also the read-only OCI registry of the tree (/v2/): the gateway's own fetcher,
 * oras and skopeo load every plugin of the default image through it.
 */
import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CONSOLE_SPEC_VERSIONS } from '../src/higress/console-versions';
import { PLUGINS_DIR, WASM_FILE } from '../src/contract/tree-format';
import { parsePluginList } from '../src/inputs/properties';
import { OCI_DIR, repositoryName, ViewFile, VIEW_FILE } from '../src/ociview/layout';
import { promisify } from 'util';
import { gatewayFetch } from './support/gateway-client';
import { runCli } from './support/cli-run';
import { RunningNginx, startNginx } from './support/nginx';
import { pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { REPO_ROOT, tool } from './support/tools';
import { smallWasm } from './support/wasm';
import { wasmVariant } from './support/tree-state';

const run = promisify(execFile);
const UPSTREAM_HOST = 'higress-registry.cn-hangzhou.cr.aliyuncs.com';
const UPSTREAM_LIST = path.join(REPO_ROOT, 'test', 'fixtures', 'reference', 'plugin-server.plugins.properties');
const hex = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** The Dockerfile's default PLUGINS_LIST, as written there. */
function defaultLists(): string[] {
  const m = /^ARG PLUGINS_LIST="?([^"\n]+)"?$/m.exec(
    fs.readFileSync(path.join(REPO_ROOT, 'image', 'Dockerfile'), 'utf8'),
  );
  if (!m) throw new Error('image/Dockerfile has no PLUGINS_LIST default');
  return m[1].trim().split(/\s+/);
}

let reg: Registry;
let dir: string;
let root: string;
let nginx: RunningNginx;
/** `<name>/<version>` -> sha256 of the bytes its source holds. */
const expected = new Map<string, string>();

beforeAll(async () => {
  reg = await startRegistry();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-defaults-'));
  const base = fs.readFileSync(await smallWasm());
  const lists: string[] = [];
  const pushed = new Map<string, string>();
  for (const list of defaultLists()) {
    const copy = path.join(dir, path.basename(list));
    fs.writeFileSync(copy, fs.readFileSync(path.join(REPO_ROOT, list), 'utf8').split(UPSTREAM_HOST).join(reg.host));
    lists.push(copy);
    const parsed = parsePluginList(fs.readFileSync(copy, 'utf8'), copy);
    expect(parsed.problems).toEqual([]);
    for (const e of parsed.entries) {
      if (e.aliasOf || e.source.kind !== 'oci') continue;
      const { repository, tag } = e.source.ref;
      const key = `${repository}:${tag}`;
      if (!pushed.has(key)) {
        // A valid module of its own per source: a custom section naming it.
        const bytes = wasmVariant(base, key);
        await pushWasmArtifact(reg, repository, tag!, bytes);
        pushed.set(key, hex(bytes));
      }
      expected.set(`${e.name}/${e.version}`, pushed.get(key)!);
    }
    for (const e of parsed.entries)
      if (e.aliasOf) expected.set(`${e.name}/${e.version}`, expected.get(`${e.name}/${e.aliasOf}`)!);
  }
  root = path.join(dir, 'tree');
  const pull = await runCli('pull', ...lists, '--out', root, '--concurrency', '8');
  if (pull.code !== 0) throw new Error(`pull of the default lists failed:\n${pull.stderr}`);
  nginx = await startNginx(root, { accessLog: 'off' });
}, 300_000);

afterAll(async () => {
  await nginx?.stop();
  await reg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function served(name: string, version: string): Promise<string> {
  const res = await fetch(`${nginx.url}/${PLUGINS_DIR}/${name}/${version}/${WASM_FILE}`);
  if (res.status !== 200) return `HTTP ${res.status}`;
  return hex(Buffer.from(await res.arrayBuffer()));
}

test('the default lists are both shipped lists', () => {
  expect(defaultLists()).toEqual(['image/plugins.properties', 'image/console.plugins.properties']);
});

test('every URL the upstream image answers (each plugin under /1.0.0/ and /2.0.0/) is answered with the bytes of its source', async () => {
  const upstream = parsePluginList(fs.readFileSync(UPSTREAM_LIST, 'utf8'), UPSTREAM_LIST).entries;
  expect(upstream).toHaveLength(43);
  const wrong: string[] = [];
  for (const e of upstream) {
    const want = expected.get(`${e.name}/2.0.0`);
    for (const version of ['1.0.0', '2.0.0']) {
      const got = await served(e.name, version);
      if (got !== want) wrong.push(`${e.name}/${version}: ${got}`);
    }
  }
  expect(wrong).toEqual([]);
  // The controller's MCP server URL (MCP_SERVER_WASM_IMAGE_URL) is one of them.
  expect(await served('mcp-server', '1.0.0')).toBe(expected.get('mcp-server/2.0.0'));
});

test('every URL the Higress Console builds (the spec.yaml version of each built-in plugin) is answered with the bytes of its source', async () => {
  const consoleList = path.join(REPO_ROOT, 'image', 'console.plugins.properties');
  const entries = parsePluginList(fs.readFileSync(consoleList, 'utf8'), consoleList).entries;
  expect(entries).toHaveLength(52);
  const wrong: string[] = [];
  for (const e of entries) {
    const known = CONSOLE_SPEC_VERSIONS[e.name];
    const version = known && known.tag === e.version ? known.specVersion : e.version;
    const got = await served(e.name, version);
    // The Console's own source for that plugin, at its tag.
    if (got !== expected.get(`${e.name}/${e.version}`)) wrong.push(`${e.name}/${version}: ${got}`);
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
    ).toEqual([...expected.keys()].sort());
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
