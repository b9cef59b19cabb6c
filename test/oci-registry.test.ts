/**
 * The plugin server as a read-only OCI registry: a tree pulled from a real registry (distribution on
 * 127.0.0.1) in every source form, its OCI view served by the real Nginx with image/nginx.conf, and
 * read back by real clients: oras (pull, manifest fetch, repo tags), skopeo (inspect, copy into a
 * second registry with digests unchanged), plain HTTP for the error contract, refused writes and
 * hostile paths.
 */
import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tar from 'tar';
import { promisify } from 'util';
import { OCI_DIR, ViewFile } from '../src/ociview/layout';
import { runCli } from './support/cli-run';
import { request, rawGet } from './support/http';
import { startNginx, RunningNginx } from './support/nginx';
import {
  MEDIA,
  pushDockerImage,
  pushManifest,
  pushWasmArtifact,
  Pushed,
  Registry,
  startRegistry,
} from './support/registry';
import { tool } from './support/tools';
import { gatewayFetch } from './support/gateway-client';
import { largeWasm, smallWasm } from './support/wasm';
import { wasmVariant } from './support/tree-state';

const run = promisify(execFile);
const CREATED = '2025-01-02T03:04:05Z';
const hex = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

let reg: Registry;
let target: Registry;
let nginx: RunningNginx;
let dir: string;
let root: string;
let host: string;
const wasm: Record<string, Buffer> = {};
const pushed: Record<string, Pushed> = {};
let indexDigest: string;

/** A Higress-style index: raw wasm artifacts per platform under one tag. */
async function pushArtifactIndex(repository: string, tag: string, amd64: Buffer, arm64: Buffer): Promise<string> {
  const a = await pushWasmArtifact(reg, repository, `${tag}-amd64`, amd64, { specYaml: 'info:\n  version: 2.0.0\n' });
  const b = await pushWasmArtifact(reg, repository, `${tag}-arm64`, arm64, { specYaml: 'info:\n  version: 2.0.0\n' });
  const entry = (p: Pushed, architecture: string) => ({
    mediaType: MEDIA.ociManifest,
    digest: p.manifestDigest,
    size: Buffer.from(JSON.stringify(p.manifest)).length,
    platform: { os: 'linux', architecture },
  });
  return pushManifest(
    reg,
    repository,
    tag,
    { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [entry(b, 'arm64'), entry(a, 'amd64')] },
    MEDIA.ociIndex,
  );
}

beforeAll(async () => {
  reg = await startRegistry();
  target = await startRegistry();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-registry-'));
  root = path.join(dir, 'tree');
  const small = fs.readFileSync(await smallWasm());
  wasm['key-auth'] = wasmVariant(small, 'key-auth');
  wasm['ai-proxy'] = fs.readFileSync(largeWasm());
  wasm.waf = wasmVariant(small, 'waf');
  wasm['geo-ip'] = wasmVariant(small, 'geo-ip');
  wasm['my-local'] = wasmVariant(small, 'my-local');
  wasm['one-layer'] = wasmVariant(small, 'one-layer');
  wasm['with-readme'] = wasmVariant(small, 'with-readme');
  // Higress release shape: wasm + spec.yaml + README layers; the spec's version becomes an alias.
  // Istio's Wasm artifact form (wasm + spec.yaml, two layers): kept as is. The spec's version becomes an alias.
  pushed['key-auth'] = await pushWasmArtifact(reg, 'plugins/key-auth', '2.0.0', wasm['key-auth'], {
    specYaml: 'info:\n  version: 1.0.0\n',
    annotations: { 'org.opencontainers.image.created': CREATED },
  });
  pushed['ai-proxy'] = await pushWasmArtifact(reg, 'plugins/ai-proxy', '2.0.0', wasm['ai-proxy'], {
    specYaml: 'info:\n  version: 2.0.0\n',
    annotations: { 'org.opencontainers.image.created': CREATED },
  });
  // Forms Istio cannot load from any registry: one raw layer (`oras push plugin.wasm`), wasm + spec + README.
  pushed['one-layer'] = await pushWasmArtifact(reg, 'plugins/one-layer', '1.0.0', wasm['one-layer'], {
    annotations: { 'org.opencontainers.image.created': CREATED },
  });
  pushed['with-readme'] = await pushWasmArtifact(reg, 'plugins/with-readme', '1.0.0', wasm['with-readme'], {
    specYaml: 'info:\n  version: 1.0.0\n',
    extraLayers: [
      {
        data: Buffer.from('# with-readme\n'),
        mediaType: 'application/vnd.module.wasm.doc.v1+markdown',
        title: 'README.md',
      },
    ],
    annotations: { 'org.opencontainers.image.created': CREATED },
  });
  pushed.waf = await pushDockerImage(reg, 'plugins/waf', '2.0.0', wasm.waf, { created: CREATED });
  indexDigest = await pushArtifactIndex('plugins/geo-ip', '2.0.0', wasm['geo-ip'], wasmVariant(small, 'geo-ip-arm64'));
  fs.writeFileSync(path.join(dir, 'local.wasm'), wasm['my-local']);
  const list = path.join(dir, 'plugins.properties');
  fs.writeFileSync(
    list,
    [
      `key-auth=oci://${reg.host}/plugins/key-auth:2.0.0`,
      `ai-proxy=oci://${reg.host}/plugins/ai-proxy:2.0.0`,
      `waf=oci://${reg.host}/plugins/waf:2.0.0`,
      `geo-ip=oci://${reg.host}/plugins/geo-ip:2.0.0`,
      `one-layer=oci://${reg.host}/plugins/one-layer:1.0.0`,
      `with-readme=oci://${reg.host}/plugins/with-readme:1.0.0`,
      'my-local=file:local.wasm@1.0.0',
      '',
    ].join('\n'),
  );
  process.env.SOURCE_DATE_EPOCH = String(Date.parse(CREATED) / 1000);
  const pull = await runCli('pull', list, '--out', root);
  expect(pull.stderr).toContain('0 failed');
  expect(pull.code).toBe(0);
  nginx = await startNginx(root);
  host = `127.0.0.1:${nginx.port}`;
}, 180_000);

afterAll(async () => {
  delete process.env.SOURCE_DATE_EPOCH;
  await nginx?.stop();
  await reg?.stop();
  await target?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function view(at = root): ViewFile {
  return JSON.parse(fs.readFileSync(path.join(at, OCI_DIR, 'view.json'), 'utf8')) as ViewFile;
}

function tagOf(name: string, version: string) {
  const t = view().tags.find((x) => x.name === name && x.version === version);
  if (!t) throw new Error(`no tag ${name}:${version}`);
  return t;
}

/** Every file of the OCI view with its sha256 (and whether it shares an inode with plugin.wasm). */
function fingerprint(at: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(at, p)] = `${hex(fs.readFileSync(p))} ${fs.statSync(p).mtimeMs}`;
    }
  };
  walk(path.join(at, OCI_DIR));
  return out;
}

/** A copy of the tree in which one byte of waf's layer blob is flipped (its name no longer matches). */
function copyWithWafLayerFlipped(name: string) {
  const copy = path.join(dir, name);
  fs.cpSync(root, copy, { recursive: true });
  const t = view(copy).tags.find((x) => x.name === 'waf')!;
  const layer = path.join(copy, OCI_DIR, 'blobs', t.blobs[1].digest.slice(7));
  const bytes = fs.readFileSync(layer);
  bytes[bytes.length >> 1] ^= 0xff;
  fs.chmodSync(layer, 0o644); // shared blobs are read-only
  fs.writeFileSync(layer, bytes);
  return { copy, t, size: bytes.length };
}

describe('the OCI view the pipeline writes', () => {
  test('keeps the source manifest digest when the wasm layer is stored unchanged (aliases too)', () => {
    expect(tagOf('key-auth', '2.0.0')).toMatchObject({ form: 'original', digest: pushed['key-auth'].manifestDigest });
    expect(tagOf('key-auth', '1.0.0')).toMatchObject({ form: 'original', digest: pushed['key-auth'].manifestDigest });
    expect(tagOf('ai-proxy', '2.0.0')).toMatchObject({ form: 'original', digest: pushed['ai-proxy'].manifestDigest });
    // An index keeps its own digest; the chosen entry is served by digest.
    expect(tagOf('geo-ip', '2.0.0')).toMatchObject({ form: 'original', digest: indexDigest });
    expect(tagOf('geo-ip', '2.0.0').manifests).toHaveLength(2);
  });

  test('generates a tar+gzip image where the source bytes were not kept (Docker image, file:)', () => {
    expect(tagOf('waf', '2.0.0').form).toBe('generated');
    expect(tagOf('waf', '2.0.0').digest).not.toBe(pushed.waf.manifestDigest);
    expect(tagOf('my-local', '1.0.0').form).toBe('generated');
  });

  test('a source manifest the gateway could not load is not kept (one raw layer; wasm + spec + README)', () => {
    for (const name of ['one-layer', 'with-readme']) {
      expect([name, tagOf(name, '1.0.0').form]).toEqual([name, 'generated']);
      expect(tagOf(name, '1.0.0').digest).not.toBe(pushed[name].manifestDigest);
    }
  });

  test('a raw wasm layer is plugin.wasm itself (hardlink), not a second copy', () => {
    const layer = `sha256:${hex(wasm['ai-proxy'])}`;
    const blob = fs.statSync(path.join(root, OCI_DIR, 'blobs', layer.slice(7)));
    const served = fs.statSync(path.join(root, 'plugins', 'ai-proxy', '2.0.0', 'plugin.wasm'));
    expect(blob.ino).toBe(served.ino);
  });

  test('every blob with the bytes of a plugin.wasm or plugin.wasm.gz shares its inode (no copies)', () => {
    const served = new Map<string, number>();
    for (const t of view().tags) {
      for (const f of ['plugin.wasm', 'plugin.wasm.gz']) {
        const p = path.join(root, 'plugins', t.name, t.version, f);
        served.set(hex(fs.readFileSync(p)), fs.statSync(p).ino);
      }
    }
    const blobsDir = path.join(root, OCI_DIR, 'blobs');
    let shared = 0;
    for (const name of fs.readdirSync(blobsDir)) {
      const ino = served.get(hex(fs.readFileSync(path.join(blobsDir, name))));
      if (ino === undefined) continue;
      expect([name, fs.statSync(path.join(blobsDir, name)).ino]).toEqual([name, ino]);
      shared++;
    }
    // key-auth, ai-proxy and geo-ip are kept originals: their wasm layers are plugin.wasm
    expect(shared).toBeGreaterThanOrEqual(3);
  });

  test('verify checks it, and a changed blob is reported', async () => {
    expect((await runCli('verify', root)).code).toBe(0);
    const { copy, t } = copyWithWafLayerFlipped('tampered');
    const res = await runCli('verify', copy);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`waf@2.0.0: blob ${t.blobs[1].digest} is missing or does not hash to its name`);
  });

  test('an oci/ folder this tool did not write is never replaced: pull and index refuse before changing anything', async () => {
    const other = path.join(dir, 'foreign');
    fs.mkdirSync(path.join(other, OCI_DIR), { recursive: true });
    fs.writeFileSync(path.join(other, OCI_DIR, 'notes.txt'), 'mine');
    const res = await runCli('pull', path.join(dir, 'plugins.properties'), '--out', other);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain(`${path.join(other, OCI_DIR)} exists and is not an OCI view this tool wrote`);
    expect(fs.existsSync(path.join(other, 'plugins'))).toBe(false);
    expect((await runCli('index', other)).code).toBe(3);
    expect(fs.readdirSync(path.join(other, OCI_DIR))).toEqual(['notes.txt']);
    expect(fs.readFileSync(path.join(other, OCI_DIR, 'notes.txt'), 'utf8')).toBe('mine');
  });

  test('deterministic: another pull and an `index` rebuild give the same bytes and digests', async () => {
    const again = path.join(dir, 'again');
    const list = path.join(dir, 'plugins.properties');
    expect((await runCli('pull', list, '--out', again)).code).toBe(0);
    expect(fingerprint(again)).toEqual(fingerprint(root));
    // index keeps the originals it finds in the previous view
    expect((await runCli('index', again)).code).toBe(0);
    expect(view(again)).toEqual(view(root));
    expect((await runCli('verify', again)).code).toBe(0);
  }, 120_000);
});

describe('served by image/nginx.conf under /v2/', () => {
  const base = () => nginx.url;

  test('GET and HEAD /v2/ answer 200 with the API version header', async () => {
    for (const method of ['GET', 'HEAD']) {
      const r = await request(`${base()}/v2/`, { method });
      expect(r.status).toBe(200);
      expect(r.headers['docker-distribution-api-version']).toBe('registry/2.0');
    }
  });

  test('manifests by tag and by digest: exact bytes, Content-Type and Docker-Content-Digest', async () => {
    for (const t of view().tags) {
      for (const ref of [t.version, t.digest]) {
        for (const method of ['GET', 'HEAD']) {
          const r = await request(`${base()}/v2/plugins/${t.name}/manifests/${ref}`, { method });
          expect(r.status).toBe(200);
          expect(r.headers['content-type']).toBe(t.manifests[0].mediaType);
          expect(r.headers['docker-content-digest']).toBe(t.digest);
          if (method === 'GET') expect(`sha256:${hex(r.body)}`).toBe(t.digest);
        }
      }
    }
  });

  test('blobs by digest, tags/list (with ?last=) and _catalog', async () => {
    const t = tagOf('key-auth', '2.0.0');
    for (const b of t.blobs) {
      const r = await request(`${base()}/v2/plugins/key-auth/blobs/${b.digest}`);
      expect(r.status).toBe(200);
      expect(`sha256:${hex(r.body)}`).toBe(b.digest);
      expect(r.headers['docker-content-digest']).toBe(b.digest);
    }
    expect(JSON.parse((await request(`${base()}/v2/plugins/key-auth/tags/list`)).body.toString())).toEqual({
      name: 'plugins/key-auth',
      tags: ['1.0.0', '2.0.0'],
    });
    expect(
      JSON.parse((await request(`${base()}/v2/plugins/key-auth/tags/list?last=1.0.0`)).body.toString()).tags,
    ).toEqual(['2.0.0']);
    expect(JSON.parse((await request(`${base()}/v2/_catalog`)).body.toString())).toEqual({
      repositories: [
        'plugins/ai-proxy',
        'plugins/geo-ip',
        'plugins/key-auth',
        'plugins/my-local',
        'plugins/one-layer',
        'plugins/waf',
        'plugins/with-readme',
      ],
    });
  });

  test('unknown names, manifests and blobs get the distribution error JSON with 404', async () => {
    const cases: Array<[string, string]> = [
      ['/v2/plugins/nope/manifests/1.0.0', 'NAME_UNKNOWN'],
      ['/v2/plugins/nope/tags/list', 'NAME_UNKNOWN'],
      ['/v2/plugins/nope/blobs/sha256:' + '0'.repeat(64), 'NAME_UNKNOWN'],
      ['/v2/plugins/waf/manifests/9.9.9', 'MANIFEST_UNKNOWN'],
      ['/v2/plugins/waf/manifests/sha256:' + '0'.repeat(64), 'MANIFEST_UNKNOWN'],
      // a blob of another repository is not in this one
      [`/v2/plugins/waf/blobs/sha256:${hex(wasm['ai-proxy'])}`, 'BLOB_UNKNOWN'],
    ];
    for (const [p, code] of cases) {
      const r = await request(`${base()}${p}`);
      expect([p, r.status, r.headers['content-type']]).toEqual([p, 404, 'application/json']);
      expect(JSON.parse(r.body.toString()).errors[0].code).toBe(code);
    }
  });

  test('writes are refused with 405 UNSUPPORTED and change nothing', async () => {
    const before = fingerprint(root);
    const paths = [
      '/v2/plugins/waf/manifests/2.0.0',
      '/v2/plugins/waf/blobs/uploads/',
      `/v2/plugins/waf/blobs/${tagOf('waf', '2.0.0').digest}`,
      '/v2/plugins/new/blobs/uploads/?digest=sha256:' + '0'.repeat(64),
    ];
    for (const p of paths) {
      for (const method of ['PUT', 'POST', 'PATCH', 'DELETE']) {
        const r = await request(`${base()}${p}`, { method });
        expect([method, p, r.status]).toEqual([method, p, 405]);
        expect(r.headers['docker-distribution-api-version']).toBe('registry/2.0');
        expect(JSON.parse(r.body.toString()).errors[0].code).toBe('UNSUPPORTED');
      }
    }
    expect(fingerprint(root)).toEqual(before);
  });

  test('hostile tag, digest and name paths never reach a file outside the listed ones', async () => {
    const secret = fs.readFileSync(path.join(root, 'plugins', 'index.json'), 'utf8');
    const targets = [
      '/v2/plugins/waf/manifests/../../../plugins/index.json',
      '/v2/plugins/waf/manifests/..%2f..%2f..%2fplugins%2findex.json',
      '/v2/plugins/waf/manifests/%2e%2e%2f%2e%2e%2fview.json',
      '/v2/plugins/waf/blobs/sha256:..%2f..%2fview.json',
      '/v2/plugins/../oci/view.json',
      '/v2/..%2foci/view.json',
      '/v2/plugins/waf/tags/list?last=../../view',
      '/v2/plugins/waf/tags/list?last=..%2f..%2fcatalog',
      '/oci/view.json',
      '/oci/nginx/manifests.map',
      `/oci/blobs/${tagOf('waf', '2.0.0').blobs[0].digest.slice(7)}`,
      '/v2/plugins/waf/manifests/2.0.0%00.json',
      `/v2/plugins/waf/manifests/${'a'.repeat(5000)}`,
    ];
    for (const t of targets) {
      const r = await rawGet(nginx.port, t);
      expect([t, r.status >= 400 || /"tags":\[\]/.test(r.text)]).toEqual([t, true]);
      expect(r.text).not.toContain(secret.slice(0, 40));
      expect(r.text).not.toContain('"schemaVersion": 1');
    }
  });
});

describe('real clients', () => {
  const oras = (...args: string[]) => run(tool('oras'), args, { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
  const skopeo = (...args: string[]) => run(tool('skopeo'), args, { cwd: dir, maxBuffer: 64 * 1024 * 1024 });

  test('oras repo tags, manifest fetch and pull', async () => {
    expect((await oras('repo', 'tags', '--plain-http', `${host}/plugins/key-auth`)).stdout.trim().split('\n')).toEqual([
      '1.0.0',
      '2.0.0',
    ]);
    for (const [name, version] of [
      ['key-auth', '1.0.0'],
      ['waf', '2.0.0'],
      ['geo-ip', '2.0.0'],
    ]) {
      const desc = JSON.parse(
        (await oras('manifest', 'fetch', '--plain-http', '--descriptor', `${host}/plugins/${name}:${version}`)).stdout,
      ) as { digest: string };
      expect(desc.digest).toBe(tagOf(name, version).digest);
    }
    // original artifact: files by their titles, plugin.wasm byte-identical
    const out1 = path.join(dir, 'oras-key-auth');
    await oras('pull', '--plain-http', '-o', out1, `${host}/plugins/key-auth:1.0.0`);
    expect(hex(fs.readFileSync(path.join(out1, 'plugin.wasm')))).toBe(hex(wasm['key-auth']));
    expect(fs.readFileSync(path.join(out1, 'spec.yaml'), 'utf8')).toContain('version: 1.0.0');
    // generated image: one tar+gzip layer whose plugin.wasm is the served module
    const out2 = path.join(dir, 'oras-waf');
    await oras('pull', '--plain-http', '-o', out2, `${host}/plugins/waf:2.0.0@${tagOf('waf', '2.0.0').digest}`);
    await tar.x({ file: path.join(out2, 'plugin.tar.gz'), cwd: out2 });
    expect(hex(fs.readFileSync(path.join(out2, 'plugin.wasm')))).toBe(hex(wasm.waf));
  }, 60_000);

  test('skopeo inspect, and skopeo copy into a real registry keeps every digest', async () => {
    const info = JSON.parse(
      (await skopeo('inspect', '--tls-verify=false', `docker://${host}/plugins/waf:2.0.0`)).stdout,
    ) as { Digest: string; RepoTags: string[]; Created: string };
    expect(info).toMatchObject({ Digest: tagOf('waf', '2.0.0').digest, RepoTags: ['2.0.0'], Created: CREATED });
    for (const [name, version] of [
      ['key-auth', '2.0.0'],
      ['ai-proxy', '2.0.0'],
      ['waf', '2.0.0'],
      ['my-local', '1.0.0'],
    ]) {
      await skopeo(
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${host}/plugins/${name}:${version}`,
        `docker://${target.host}/plugins/${name}:${version}`,
      );
      const head = await request(`${target.url}/v2/plugins/${name}/manifests/${version}`, {
        method: 'HEAD',
        headers: { accept: `${MEDIA.ociManifest}, ${MEDIA.ociIndex}` },
      });
      expect([name, head.headers['docker-content-digest']]).toEqual([name, tagOf(name, version).digest]);
    }
  }, 120_000);
});

describe('integration commands', () => {
  test('check --oci pulls every plugin through /v2/ and verifies it', async () => {
    const res = await runCli('check', nginx.url, '--oci');
    expect(res.stderr).toContain(
      `check --oci: ${1 + 7 + view().tags.length} ok, 0 failed (${view().tags.length} tag(s) pulled through /v2/)`,
    );
    expect(res.code).toBe(0);
  }, 60_000);

  test('check --oci names the plugin whose served layer is wrong', async () => {
    const { copy, t, size } = copyWithWafLayerFlipped('tampered-served');
    const bad = await startNginx(copy);
    try {
      const res = await runCli('check', bad.url, '--oci');
      expect(res.code).not.toBe(0);
      // the report line (stdout) names the tag, the blob and what it really is
      expect(res.stdout).toContain(`FAILED waf:2.0.0 blob ${t.blobs[1].digest} is ${size} bytes hashing to`);
      expect(res.stderr).toContain('1 failed');
    } finally {
      await bad.stop();
    }
  }, 60_000);

  test('wasmplugins --oci pins oci:// URLs by manifest digest, from a tree or from the server', async () => {
    for (const source of [root, nginx.url]) {
      const res = await runCli(
        'wasmplugins',
        '--index',
        source,
        '--oci',
        '--base-url',
        nginx.url,
        '-p',
        'key-auth@1.0.0',
        '-p',
        'waf',
        '-p',
        'geo-ip',
      );
      expect(res.code).toBe(0);
      // an index tag is pinned by its linux/amd64 image: the digest the gateway checks
      expect(res.stdout).toContain(`sha256: ${tagOf('geo-ip', '2.0.0').manifests[1].digest.slice(7)}`);
      expect(res.stdout).toContain(`url: oci://${host}/plugins/key-auth:1.0.0`);
      expect(res.stdout).toContain(`sha256: ${pushed['key-auth'].manifestDigest.slice(7)}`);
      expect(res.stdout).toContain(`url: oci://${host}/plugins/waf:2.0.0`);
      expect(res.stdout).toContain(`sha256: ${tagOf('waf', '2.0.0').digest.slice(7)}`);
    }
    const noView = path.join(dir, 'no-view');
    fs.cpSync(root, noView, { recursive: true });
    fs.rmSync(path.join(noView, OCI_DIR), { recursive: true });
    const res = await runCli('wasmplugins', '--index', noView, '--oci');
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(
      `no OCI view at ${path.join(noView, OCI_DIR, 'view.json')} (run \`index ${noView}\` to write it)`,
    );
    expect(res.stdout).toBe('');
  });
});

describe("the gateway's own fetcher (Istio pkg/wasm) through oci://", () => {
  /** What a WasmPlugin written by `wasmplugins --oci` carries: the tag URL and the image manifest digest. */
  const requests = () =>
    view().tags.map((t) => ({
      url: `oci://${host}/plugins/${t.name}:${t.version}`,
      sha256: t.manifests[t.manifests.length - 1].digest.slice(7),
    }));

  test('loads every plugin version with the insecure-registry option and checks the manifest digest', async () => {
    const run = await gatewayFetch(requests(), { insecureRegistries: [host] });
    const sizes = new Map(
      view().tags.map((t) => [`oci://${host}/plugins/${t.name}:${t.version}`, wasm[t.name].length]),
    );
    expect(run.results.map((r) => ({ url: r.url, ok: r.ok, error: r.error, bytes: r.bytes }))).toEqual(
      requests().map((q) => ({ url: q.url, ok: true, error: undefined, bytes: sizes.get(q.url) })),
    );
    expect(run.code).toBe(0);
  }, 180_000);

  test('a wrong manifest digest fails the load', async () => {
    const wrong = { url: `oci://${host}/plugins/waf:2.0.0`, sha256: tagOf('key-auth', '2.0.0').digest.slice(7) };
    const run = await gatewayFetch([wrong], { insecureRegistries: [host] });
    expect(run.results[0]).toMatchObject({ ok: false });
    expect(run.results[0].error).toContain(tagOf('waf', '2.0.0').digest.slice(7));
    expect(run.code).toBe(1);
  }, 60_000);
});

describe('the pull conformance checks', () => {
  test('the official OCI distribution conformance suite (pull, content discovery, errors) passes', async () => {
    const t = tagOf('key-auth', '2.0.0');
    const env = {
      ...process.env,
      OCI_REGISTRY: host,
      OCI_TLS: 'disabled',
      OCI_REPO1: 'plugins/key-auth',
      OCI_REPO2: 'plugins/waf',
      OCI_API_PUSH: 'false',
      OCI_API_BLOBS_DELETE: 'false',
      OCI_API_MANIFESTS_DELETE: 'false',
      OCI_API_TAGS_DELETE: 'false',
      OCI_API_REFERRER: 'false',
      OCI_RO_DATA_TAGS: '1.0.0 2.0.0',
      OCI_RO_DATA_MANIFESTS: t.digest,
      OCI_RO_DATA_BLOBS: t.blobs.map((b) => b.digest).join(' '),
      OCI_RESULTS_DIR: path.join(dir, 'conformance'),
    };
    // The suite's results.yaml writer dereferences generated test data, which a read-only run has
    // none of: it panics after printing the results. The printed results are what is checked.
    const res = await run(tool('conformance'), [], { env, cwd: dir, maxBuffer: 16 * 1024 * 1024 }).catch(
      (e: { stdout: string; stderr: string }) => e,
    );
    const out = res.stdout;
    expect(out).toContain('OCI Conformance Result: Pass');
    expect(out).toMatch(/FAIL\.+:\s+0\n/);
    expect(out).toMatch(/Error\.+:\s+0\n/);
    for (const api of [
      'Ping',
      'Tag listing',
      'Blob get',
      'Blob head',
      'Manifest get by digest',
      'Manifest get by tag',
      'Manifest head by digest',
      'Manifest head by tag',
    ]) {
      expect(out).toMatch(new RegExp(`${api}\\.+:\\s+Pass`));
    }
    expect(out).toMatch(/missing-manifest: Pass/);
  }, 120_000);
});
