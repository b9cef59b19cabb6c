/**
 * Air-gapped operations against two real registries on loopback: A (anonymous, the "public" one)
 * and B (htpasswd, the private mirror, whose credentials live only in a real credential helper,
 * docker-credential-pass, named by `credsStore` in DOCKER_CONFIG).
 *
 *   bundle      same bytes on every run; a standard layout skopeo and oras read; pull from it gives
 *               the tree of a direct pull
 *   mirror      every digest kept in B (skopeo inspect, oras), a second run copies nothing
 *   frozen      a lock made against A passes --frozen --registry-map A=B against B, and fails when
 *               one blob in B differs or B's tag names other bytes
 *   credentials helper auth works; errors name the docker config actually read
 */
import Ajv from 'ajv';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createOciClient } from '../src/oci/client';
import { runCli } from './support/cli-run';
import { startPassStore, PassStore } from './support/cred-helper';
import {
  corruptBlob,
  pushIndex,
  pushOciImage,
  pushWasmArtifact,
  pushDockerImage,
  Pushed,
  PushedIndex,
  Registry,
  startRegistry,
} from './support/registry';
import { REPO_ROOT, tool } from './support/tools';
import { smallWasm } from './support/wasm';
import { treeState, wasmVariant } from './support/tree-state';

let A: Registry;
let B: Registry;
let tmp: string;
let pass: PassStore;
let list: string;
let bundle: string;
const pushed: Record<string, Pushed | PushedIndex> = {};
const saved: Record<string, string | undefined> = {};
const validateEvent = new Ajv({ allErrors: true, strict: false }).compile(
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'docs', 'cli-events.schema.json'), 'utf8')),
);
const sha = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!(k in saved)) saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

function dockerConfigDir(config: object): string {
  const d = fs.mkdtempSync(path.join(tmp, 'docker-'));
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(config));
  return d;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airgap-'));
  [A, B] = await Promise.all([startRegistry(), startRegistry({ auth: 'htpasswd' })]);
  const base = fs.readFileSync(await smallWasm());
  pushed['key-auth'] = await pushWasmArtifact(A, 'plugins/key-auth', '1.0.0', wasmVariant(base, 'key-auth'), {
    specYaml: 'info:\n  version: 1.0.1\n',
    annotations: { 'org.opencontainers.image.created': '2025-01-02T03:04:05Z' },
  });
  pushed['docker-image'] = await pushDockerImage(A, 'plugins/docker-image', '2.0.0', wasmVariant(base, 'docker'), {
    created: '2025-02-03T04:05:06Z',
  });
  pushed['oci-image'] = await pushOciImage(A, 'plugins/nested/oci-image', '3.0.0', wasmVariant(base, 'oci'), {
    created: '2025-03-04T05:06:07Z',
  });
  pushed.multi = await pushIndex(
    A,
    'plugins/multi',
    '1.2.0',
    { amd64: wasmVariant(base, 'amd64'), arm64: wasmVariant(base, 'arm64') },
    'oci',
  );
  list = path.join(tmp, 'plugins.properties');
  fs.writeFileSync(
    list,
    [
      '# the plugin set to carry',
      `key-auth=oci://${A.host}/plugins/key-auth:1.0.0`,
      `docker-image=oci://${A.host}/plugins/docker-image:2.0.0`,
      `oci-image=oci://${A.host}/plugins/nested/oci-image:3.0.0`,
      `multi=oci://${A.host}/plugins/multi:1.2.0`,
      '#@alias multi 1.1.0=1.2.0',
      '',
    ].join('\n'),
  );
  // B's credentials exist only in the credential helper's store.
  pass = startPassStore(path.join(tmp, 'pass'));
  pass.store(B.host, B.username, B.password);
  setEnv({
    ...pass.env,
    DOCKER_CONFIG: dockerConfigDir({ credsStore: 'pass' }),
    HIGRESS_REGISTRY_USERNAME: undefined,
    HIGRESS_REGISTRY_PASSWORD: undefined,
    SOURCE_DATE_EPOCH: undefined,
  });
  bundle = path.join(tmp, 'plugins.oci.tar');
}, 120_000);

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  pass?.stop();
  await Promise.all([A?.stop(), B?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function topDigest(name: string): string {
  const p = pushed[name] as Pushed & PushedIndex;
  return p.manifestDigest ?? p.indexDigest;
}

function skopeoDigest(ref: string, creds?: string): string {
  const raw = execFileSync(tool('skopeo'), [
    'inspect',
    '--raw',
    '--tls-verify=false',
    ...(creds ? ['--creds', creds] : []),
    ref,
  ]);
  return sha(raw);
}

describe('bundle', () => {
  test('writes the same bytes on every run, with every plugin, the list and a lock inside', async () => {
    const first = await runCli('bundle', list, '--out', bundle);
    expect(first.stderr).toContain('ok: ');
    expect(first.code).toBe(0);
    const again = path.join(tmp, 'again.oci.tar');
    expect((await runCli('bundle', list, '--out', again)).code).toBe(0);
    expect(fs.readFileSync(again).equals(fs.readFileSync(bundle))).toBe(true);
    // An existing output is never replaced without --force.
    const refused = await runCli('bundle', list, '--out', again);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/again\.oci\.tar already exists .*--force/);

    const members = execFileSync('tar', ['-tvf', bundle]).toString().trim().split('\n');
    expect(members.every((m) => /^[-d]rw.r..r.. 0\/0 /.test(m) && m.includes('1970-01-01'))).toBe(true);
    const names = members.map((m) => m.split(/\s+/).pop());
    expect(names).toEqual(expect.arrayContaining(['oci-layout', 'index.json', 'blobs/sha256/']));
  });

  test('is a standard OCI layout: index.json names every reference with its original digest; skopeo and oras read it', () => {
    const dir = path.join(tmp, 'unpacked');
    fs.mkdirSync(dir);
    execFileSync('tar', ['-xf', bundle, '-C', dir]);
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string; annotations: Record<string, string> }>;
    };
    const byName = Object.fromEntries(
      index.manifests.map((m) => [m.annotations['org.opencontainers.image.ref.name'], m.digest]),
    );
    expect(byName).toEqual({
      [`${A.host}/plugins/key-auth:1.0.0`]: topDigest('key-auth'),
      [`${A.host}/plugins/docker-image:2.0.0`]: topDigest('docker-image'),
      [`${A.host}/plugins/nested/oci-image:3.0.0`]: topDigest('oci-image'),
      [`${A.host}/plugins/multi:1.2.0`]: topDigest('multi'),
      'higress-plugin-bundle': expect.stringMatching(/^sha256:/),
    });
    // Every blob file is named by its own sha256.
    for (const f of fs.readdirSync(path.join(dir, 'blobs', 'sha256'))) {
      expect(sha(fs.readFileSync(path.join(dir, 'blobs', 'sha256', f)))).toBe(`sha256:${f}`);
    }
    // oras reads the index by digest, children included; skopeo reads the archive by ref.name.
    const multi = JSON.parse(
      execFileSync(tool('oras'), ['manifest', 'fetch', '--oci-layout', `${dir}@${topDigest('multi')}`]).toString(),
    ) as { manifests: Array<{ digest: string }> };
    for (const child of multi.manifests) {
      expect(
        execFileSync(tool('oras'), [
          'manifest',
          'fetch',
          '--oci-layout',
          '--descriptor',
          `${dir}@${child.digest}`,
        ]).toString(),
      ).toContain(child.digest);
    }
    expect(skopeoDigest(`oci-archive:${bundle}:${A.host}/plugins/key-auth:1.0.0`)).toBe(topDigest('key-auth'));
    // The carried list is the list, byte for byte.
    const carried = execFileSync(tool('oras'), [
      'pull',
      '--oci-layout',
      `${dir}@${byName['higress-plugin-bundle']}`,
      '-o',
      path.join(tmp, 'carried'),
    ]).toString();
    expect(carried).toContain('plugins.properties');
    expect(fs.readFileSync(path.join(tmp, 'carried', 'plugins.properties')).equals(fs.readFileSync(list))).toBe(true);
    const lock = JSON.parse(fs.readFileSync(path.join(tmp, 'carried', 'plugins.lock.json'), 'utf8')) as {
      plugins: Array<{ name: string; digest: string }>;
    };
    expect(lock.plugins.find((p) => p.name === 'multi')?.digest).toBe(topDigest('multi'));
  });

  test('pull oci-layout:<bundle> builds, offline and --frozen, the tree a direct pull builds', async () => {
    const direct = path.join(tmp, 'tree-direct');
    const offline = path.join(tmp, 'tree-offline');
    const fromDir = path.join(tmp, 'tree-from-dir');
    expect((await runCli('pull', list, '--out', direct)).code).toBe(0);
    // A is stopped for nothing: the bundle is read alone (its references name A, which the client never asks).
    const r = await runCli('pull', `oci-layout:${bundle}`, '--out', offline, '--frozen');
    // Read from the bundle, not downloaded: the lines and the summary say so.
    expect(r.stderr).toMatch(/ok: 6 plugin version\(s\): 4 read from the bundle, 0 copied from files, 2 aliases/);
    expect(r.stderr).toMatch(/^unbundled {2}multi@/m);
    expect(r.stderr).not.toMatch(/^downloaded /m);
    expect(r.code).toBe(0);
    expect(treeState(offline)).toEqual(treeState(direct));
    expect((await runCli('pull', `oci-layout:${path.join(tmp, 'unpacked')}`, '--out', fromDir)).code).toBe(0);
    expect(treeState(fromDir)).toEqual(treeState(direct));
    expect((await runCli('verify', offline)).code).toBe(0);
  });

  test('a damaged bundle fails with the blob it names, and the tree is left as it was', async () => {
    const damaged = path.join(tmp, 'damaged.oci.tar');
    const bytes = fs.readFileSync(bundle);
    const wasm = (pushed['key-auth'] as Pushed).wasmLayer.digest.slice(7);
    const at = bytes.indexOf(Buffer.from(`blobs/sha256/${wasm}`));
    bytes[at + 512 + 100] ^= 0xff; // a byte inside the member's data
    fs.writeFileSync(damaged, bytes);
    const out = path.join(tmp, 'tree-offline');
    const before = treeState(out);
    fs.rmSync(path.join(out, 'plugins', 'key-auth'), { recursive: true });
    const afterRemoval = treeState(out);
    const r = await runCli('pull', `oci-layout:${damaged}`, '--out', out);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`key-auth@1.0.0: digest mismatch for ${damaged}:blobs/sha256/${wasm}`);
    expect(treeState(out)).toEqual(afterRemoval);
    expect(Object.keys(before).length).toBeGreaterThan(Object.keys(afterRemoval).length);
  });

  test('takes a release snapshot, or a lock file alone; refuses file: sources and names what a bundle lacks', async () => {
    const snapshot = path.join(tmp, 'snapshot.json');
    fs.writeFileSync(
      snapshot,
      JSON.stringify(
        {
          schemaVersion: 1,
          plugins: [
            {
              logicalId: 'key-auth',
              version: '1.0.0',
              ociRef: `${A.host}/plugins/key-auth:1.0.0`,
              digest: topDigest('key-auth'),
              consumers: { pluginServer: { httpPath: 'key-auth', aliases: ['key-auth-v1'] } },
            },
            {
              logicalId: 'gateway-only',
              version: '9.9.9',
              ociRef: `${A.host}/plugins/absent:9.9.9`,
              digest: topDigest('multi'),
              consumers: {},
            },
          ],
        },
        null,
        2,
      ),
    );
    const fromSnapshot = path.join(tmp, 'snapshot.oci.tar');
    expect((await runCli('bundle', '--snapshot', snapshot, '--out', fromSnapshot)).code).toBe(0);
    const tree = path.join(tmp, 'tree-snapshot');
    const pulled = await runCli('pull', `oci-layout:${fromSnapshot}`, '--out', tree, '--frozen');
    expect(pulled.code).toBe(0);
    const meta = JSON.parse(
      fs.readFileSync(path.join(tree, 'plugins', 'key-auth-v1', '1.0.0', 'metadata.json'), 'utf8'),
    ) as { source: string };
    expect(meta.source).toBe(`oci://${A.host}/plugins/key-auth:1.0.0@${topDigest('key-auth')}`);

    // The lock carried in the first bundle, given alone, bundles the same references and digests.
    const fromLock = path.join(tmp, 'lock.oci.tar');
    const fromLockRun = await runCli(
      'bundle',
      '--lock',
      path.join(tmp, 'carried', 'plugins.lock.json'),
      '--out',
      fromLock,
      '--json',
    );
    expect(fromLockRun.code).toBe(0);
    // --json: only schema-valid events on stdout, one `copy` per reference, then the summary.
    const events = fromLockRun.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; status?: string });
    for (const e of events) expect(validateEvent(e) ? [] : validateEvent.errors).toEqual([]);
    expect(events.filter((e) => e.event === 'copy').map((e) => e.status)).toEqual([
      'copied',
      'copied',
      'copied',
      'copied',
    ]);
    expect(events.at(-1)).toMatchObject({
      event: 'summary',
      command: 'bundle',
      ok: true,
      exitCode: 0,
      counts: { sources: 4 },
    });
    const refs = (tarFile: string) => {
      const index = JSON.parse(execFileSync('tar', ['-xOf', tarFile, 'index.json']).toString()) as {
        manifests: Array<{ digest: string; annotations: Record<string, string> }>;
      };
      return index.manifests.filter(
        (m) => m.annotations['org.opencontainers.image.ref.name'] !== 'higress-plugin-bundle',
      );
    };
    expect(refs(fromLock)).toEqual(refs(bundle));

    const local = path.join(tmp, 'local.properties');
    fs.writeFileSync(local, 'mine=file:mine.wasm@1.0.0\n');
    const refused = await runCli('bundle', local, '--out', path.join(tmp, 'local.oci.tar'));
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`${local}:1: mine@1.0.0 is a local file (file:mine.wasm)`);
    expect(fs.existsSync(path.join(tmp, 'local.oci.tar'))).toBe(false);

    const extra = path.join(tmp, 'extra.properties');
    fs.writeFileSync(extra, `absent=oci://${A.host}/plugins/absent:1.0.0\n`);
    const missing = await runCli('pull', `oci-layout:${bundle}`, extra, '--out', path.join(tmp, 'tree-extra'));
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain(
      `FAILED absent@1.0.0: ${bundle}: oci://${A.host}/plugins/absent:1.0.0 is not in oci-layout:${bundle}`,
    );
  });
});

describe('mirror into B (credentials from docker-credential-pass)', () => {
  test('copies every plugin with its digests and prints the list for B', async () => {
    const r = await runCli('mirror', `oci-layout:${bundle}`, '--to', `${B.host}/mirror`);
    expect(r.stderr).toMatch(/ok: 4 reference\(s\), 4 copied, 0 already present, 0 failed/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`key-auth=oci://${B.host}/mirror/plugins/key-auth:1.0.0`);
    expect(r.stdout).toContain('#@alias multi 1.1.0=1.2.0');
    const creds = `${B.username}:${B.password}`;
    for (const [name, repo, tag] of [
      ['key-auth', 'plugins/key-auth', '1.0.0'],
      ['docker-image', 'plugins/docker-image', '2.0.0'],
      ['oci-image', 'plugins/nested/oci-image', '3.0.0'],
      ['multi', 'plugins/multi', '1.2.0'],
    ] as const) {
      expect(skopeoDigest(`docker://${B.host}/mirror/${repo}:${tag}`, creds)).toBe(topDigest(name));
      const desc = JSON.parse(
        execFileSync(
          tool('oras'),
          [
            'manifest',
            'fetch',
            '--plain-http',
            '-u',
            B.username,
            '--password-stdin',
            '--descriptor',
            `${B.host}/mirror/${repo}:${tag}`,
          ],
          { input: B.password },
        ).toString(),
      ) as { digest: string };
      expect(desc.digest).toBe(topDigest(name));
    }
    // Index children and their blobs came along: the arm64 image is complete in B too.
    const arm64 = (pushed.multi as PushedIndex).arm64;
    expect(skopeoDigest(`docker://${B.host}/mirror/plugins/multi@${arm64.manifestDigest}`, creds)).toBe(
      arm64.manifestDigest,
    );
    execFileSync(
      tool('oras'),
      [
        'blob',
        'fetch',
        '--plain-http',
        '-u',
        B.username,
        '--password-stdin',
        '--output',
        path.join(tmp, 'arm64.layer'),
        `${B.host}/mirror/plugins/multi@${arm64.wasmLayer.digest}`,
      ],
      { input: B.password },
    );
    expect(sha(fs.readFileSync(path.join(tmp, 'arm64.layer')))).toBe(arm64.wasmLayer.digest);
  });

  test('a damaged bundle is refused blob by blob: nothing of that plugin is tagged in the target', async () => {
    const damaged = path.join(tmp, 'damaged.oci.tar');
    const wasm = (pushed['key-auth'] as Pushed).wasmLayer.digest;
    const r = await runCli('mirror', `oci-layout:${damaged}`, '--to', `${B.host}/damaged`);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(
      `FAILED oci://${A.host}/plugins/key-auth:1.0.0 -> oci://${B.host}/damaged/plugins/key-auth:1.0.0: digest mismatch for ${damaged}:blobs/sha256/${wasm.slice(7)}`,
    );
    const creds = `${B.username}:${B.password}`;
    expect(() => skopeoDigest(`docker://${B.host}/damaged/plugins/key-auth:1.0.0`, creds)).toThrow();
    expect(skopeoDigest(`docker://${B.host}/damaged/plugins/docker-image:2.0.0`, creds)).toBe(
      topDigest('docker-image'),
    );
  });

  test('a second run from the registry copies nothing and reports it as JSON', async () => {
    const r = await runCli(
      'mirror',
      list,
      '--to',
      `${B.host}/mirror`,
      '--json',
      '--write-list',
      path.join(tmp, 'mirror.properties'),
    );
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; status?: string });
    for (const e of events) expect(validateEvent(e) ? [] : validateEvent.errors).toEqual([]);
    expect(events.filter((e) => e.event === 'copy').map((e) => e.status)).toEqual([
      'present',
      'present',
      'present',
      'present',
    ]);
    expect(events.at(-1)).toMatchObject({
      event: 'summary',
      command: 'mirror',
      ok: true,
      exitCode: 0,
      counts: { copied: 0, present: 4, blobs: 0 },
    });
    const written = fs.readFileSync(path.join(tmp, 'mirror.properties'), 'utf8');
    expect(written).toContain(`multi=oci://${B.host}/mirror/plugins/multi:1.2.0`);
    expect(written).toContain('# the plugin set to carry');
  });
});

describe('--frozen --registry-map against the mirror', () => {
  let lock: string;
  let map: string;

  beforeAll(async () => {
    lock = path.join(tmp, 'made-outside.lock.json');
    map = `${A.host}=${B.host}/mirror`;
    expect((await runCli('pull', list, '--out', path.join(tmp, 'tree-lock'), '--write-lock', lock)).code).toBe(0);
  });

  test('without the map the lock names another host, with it the lock holds', async () => {
    const without = await runCli(
      'pull',
      path.join(tmp, 'mirror.properties'),
      '--out',
      path.join(tmp, 'tree-nomap'),
      '--lock',
      lock,
    );
    expect(without.code).toBe(3);
    expect(without.stderr).toContain('source changed from');
    const r = await runCli('pull', list, '--out', path.join(tmp, 'tree-mirror'), '--lock', lock, '--registry-map', map);
    expect(r.stderr).toMatch(/ok: 6 plugin version\(s\): 4 downloaded, 0 copied from files, 2 aliases/);
    expect(r.code).toBe(0);
    const meta = JSON.parse(
      fs.readFileSync(path.join(tmp, 'tree-mirror', 'plugins', 'multi', '1.2.0', 'metadata.json'), 'utf8'),
    ) as { source: string; manifestDigest: string };
    expect(meta).toMatchObject({
      source: `oci://${B.host}/mirror/plugins/multi:1.2.0`,
      manifestDigest: topDigest('multi'),
    });
  });

  test('fails clearly when the mirror tag names other bytes', async () => {
    const other = fs.readFileSync(await smallWasm());
    const moved = await pushWasmArtifact(B, 'mirror/plugins/key-auth', '1.0.0', wasmVariant(other, 'moved'));
    try {
      const r = await runCli(
        'pull',
        list,
        '--out',
        path.join(tmp, 'tree-moved'),
        '--lock',
        lock,
        '--registry-map',
        map,
      );
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(
        `key-auth@1.0.0: oci://${B.host}/mirror/plugins/key-auth:1.0.0 now resolves to ${moved.manifestDigest}, the lock file has ${topDigest('key-auth')}`,
      );
    } finally {
      // Put the mirrored bytes back for the next test (mirror overwrites a moved tag).
      const r = await runCli('mirror', `oci-layout:${bundle}`, '--to', `${B.host}/mirror`);
      expect(r.stderr).toMatch(/updated .*key-auth:1\.0\.0/);
    }
  });

  test('fails clearly when one blob in the mirror differs', async () => {
    corruptBlob(B, (pushed['docker-image'] as Pushed).wasmLayer.digest);
    const r = await runCli(
      'pull',
      list,
      '--out',
      path.join(tmp, 'tree-corrupt'),
      '--lock',
      lock,
      '--registry-map',
      map,
    );
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(
      new RegExp(
        `docker-image@2\\.0\\.0: digest mismatch for http://${B.host}/v2/mirror/plugins/docker-image/blobs/${(pushed['docker-image'] as Pushed).wasmLayer.digest}`,
      ),
    );
  });
});

describe('credentials', () => {
  const pullFromB = async (dockerConfig: string, out: string) => {
    setEnv({ DOCKER_CONFIG: dockerConfig });
    const l = path.join(tmp, `b-${path.basename(out)}.properties`);
    fs.writeFileSync(l, `key-auth=oci://${B.host}/mirror/plugins/key-auth:1.0.0\n`);
    return runCli('pull', l, '--out', path.join(tmp, out));
  };

  test('credHelpers picks the helper per host; a missing helper is named with the config file', async () => {
    const ok = await pullFromB(dockerConfigDir({ credHelpers: { [B.host]: 'pass' } }), 'cred-helpers');
    expect(ok.code).toBe(0);
    const cfg = dockerConfigDir({ credHelpers: { [B.host]: 'nowhere' } });
    const r = await pullFromB(cfg, 'missing-helper');
    expect(r.code).toBe(7);
    expect(r.stderr).toContain(
      `docker-credential-nowhere (credHelpers "nowhere" in ${path.join(cfg, 'config.json')}) is not on PATH`,
    );
  });

  test('an auth failure names the config file actually read (DOCKER_CONFIG)', async () => {
    const cfg = dockerConfigDir({ auths: {} });
    const r = await pullFromB(cfg, 'no-creds');
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(
      `check the credentials for ${B.host} in ${path.join(cfg, 'config.json')} or HIGRESS_REGISTRY_USERNAME/PASSWORD`,
    );
    const absent = path.join(tmp, 'no-such-dir');
    const r2 = await pullFromB(absent, 'no-config');
    expect(r2.stderr).toContain(`in ${path.join(absent, 'config.json')} (not found)`);
  });

  test('HIGRESS_REGISTRY_HOSTS keeps the environment credentials to the hosts it names', async () => {
    const cfg = dockerConfigDir({});
    setEnv({ DOCKER_CONFIG: cfg, HIGRESS_REGISTRY_USERNAME: B.username, HIGRESS_REGISTRY_PASSWORD: B.password });
    try {
      setEnv({ HIGRESS_REGISTRY_HOSTS: 'registry.example.com, other.example:5000' });
      const refused = await pullFromB(cfg, 'env-other-host');
      expect(refused.code).toBe(4);
      expect(refused.stderr).toContain('authentication required and no credentials found');
      setEnv({ HIGRESS_REGISTRY_HOSTS: `registry.example.com,${B.host}` });
      expect((await pullFromB(cfg, 'env-listed-host')).code).toBe(0);
    } finally {
      setEnv({
        HIGRESS_REGISTRY_USERNAME: undefined,
        HIGRESS_REGISTRY_PASSWORD: undefined,
        HIGRESS_REGISTRY_HOSTS: undefined,
      });
    }
  });

  test('the client reads credsStore through the helper (library use)', async () => {
    setEnv({ DOCKER_CONFIG: dockerConfigDir({ credsStore: 'pass' }) });
    const client = createOciClient();
    const got = await client.resolve(B.ref('mirror/plugins/nested/oci-image', '3.0.0'));
    expect(got.digest).toBe(topDigest('oci-image'));
    await client.close();
  });
});
