/**
 * The release's image, built here the way release.yml builds it, against every acceptance check of the
 * Higress release workflow (`.github/workflows/build-plugin-server-from-snapshot.yaml` in Higress):
 *
 *   - the index holds exactly linux/amd64 and linux/arm64 (`skopeo inspect --raw` of the pushed index);
 *   - each platform carries the 4 provenance labels (`buildah inspect`, and the pushed configs);
 *   - GET /plugins/snapshot-inventory.json is an object with mcp-server, json-converter, jsonrpc-converter;
 *   - fetched modules start with `\0asm`; the served mcp-server equals its OCI layer fetched by digest;
 *     jsonrpc-converter/<json-converter's version> is served; basic-auth at its servedVersion hashes to
 *     the lock's wasmSha256;
 *   - a tag that already exists with another digest is refused (`scripts/release/` tag-check).
 *
 * One multi-architecture build serves every check (image builds are the slow part of CI): the release's
 * `tree` step pulls the image's default inputs (test/support/reference-registry.ts: a registry holding
 * every reference of them) --frozen against the lock `pull --write-lock` wrote, as sync-plugins does; the
 * Dockerfile's prebuilt stage copies that tree onto the Debian Nginx base of each architecture (a
 * manifest list of the amd64 and arm64 debootstrap rootfs made by scripts/install-test-tools.sh);
 * `buildah manifest create/add/push` makes the index. The amd64 image runs under runc for the served
 * bytes; the arm64 image's own Nginx runs under runc too, through qemu-user's binfmt_misc emulation,
 * for one start and two fetches (emulation is slow).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCli } from './support/cli-run';
import { LockDoc, pushReferenceInputs, ReferenceInputs, SnapshotDoc } from './support/reference-registry';
import { Registry, startRegistry } from './support/registry';
import { baseRootfs, Buildah, imageBuildContext, ok, run, RunningContainer, runContainer } from './support/runc';
import { REPO_ROOT, tool } from './support/tools';
import { smallWasm } from './support/wasm';

jest.setTimeout(600_000);

const BASES = {
  amd64: baseRootfs('nginx', 'amd64'),
  arm64: baseRootfs('nginx', 'arm64'),
};
type Arch = keyof typeof BASES;
const ARCHES: Arch[] = ['amd64', 'arm64'];
const RELEASE_CLI = path.join(REPO_ROOT, 'build', 'scripts', 'release', 'cli.js');
const VERSION = '2.2.4';
const LABELS = [
  'org.opencontainers.image.revision',
  'io.higress.higress-source-commit',
  'io.higress.plugin-snapshot-sha256',
  'io.higress.gateway-version',
];
const hex = (b: Buffer | string) => crypto.createHash('sha256').update(b).digest('hex');

let work: string;
let registry: Registry | undefined;
let buildah: Buildah | undefined;
let ref: ReferenceInputs;
let snapshot: SnapshotDoc;
let lock: LockDoc;
let labels: Record<string, string>;
/** `<registry>/higress/plugin-server:2.2.4`, the pushed index. */
let image: string;
let indexDigest: string;
const containers: Partial<Record<Arch, RunningContainer>> = {};
const rootfs: Partial<Record<Arch, string>> = {};
let finished = false;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-image-release-'));
  registry = await startRegistry();
  const host = registry.host;
  const read = (f: string) => fs.readFileSync(path.join(REPO_ROOT, 'image', f), 'utf8');
  ref = await pushReferenceInputs(registry, fs.readFileSync(await smallWasm()), {
    snapshot: read('snapshot.json'),
    lock: read('unmanaged-plugins.lock.json'),
    lists: [read('plugins.properties'), read('console.plugins.properties')],
  });
  snapshot = JSON.parse(ref.snapshot) as SnapshotDoc;
  lock = JSON.parse(ref.lock) as LockDoc;

  // The image's inputs as sync-plugins leaves them: the files and the lock of all of them.
  const inputs = path.join(work, 'inputs');
  fs.mkdirSync(inputs);
  const put = (f: string, text: string) => (fs.writeFileSync(path.join(inputs, f), text), path.join(inputs, f));
  const snapshotFile = put('snapshot.json', ref.snapshot);
  const unmanaged = put('unmanaged-plugins.lock.json', ref.lock);
  const lists = [put('plugins.properties', ref.lists[0]), put('console.plugins.properties', ref.lists[1])];
  const pinned = path.join(inputs, 'plugins.lock.json');
  const args = ['--snapshot', snapshotFile, '--unmanaged-lock', unmanaged, ...lists];
  const sync = await runCli('pull', ...args, '--write-lock', pinned, '--out', path.join(work, 'sync'));
  if (sync.code !== 0) throw new Error(`pull --write-lock failed:\n${sync.stderr}`);

  // The release's tree step, then the build context: the image files as shipped.
  const context = path.join(work, 'context');
  imageBuildContext(context);
  await ok(
    process.execPath,
    [
      RELEASE_CLI,
      'tree',
      snapshotFile,
      ...lists,
      '--unmanaged-lock',
      unmanaged,
      '--lock',
      pinned,
      '--out',
      path.join(context, 'image', 'prebuilt'),
    ],
    { timeoutMs: 300_000 },
  );

  // One base reference for both platforms, as release.yml's NGINX_IMAGE: a list of the two rootfs.
  buildah = new Buildah();
  const base = `${host}/debian/nginx:bookworm`;
  await buildah.ok(['manifest', 'create', 'hps-base-list']);
  for (const arch of ARCHES) {
    await buildah.pushRootfs(BASES[arch], `${base}-${arch}`, arch);
    await buildah.ok(['manifest', 'add', '--tls-verify=false', 'hps-base-list', `docker://${base}-${arch}`]);
  }
  await buildah.ok(['manifest', 'push', '--all', '--tls-verify=false', 'hps-base-list', `docker://${base}`]);

  labels = {
    'org.opencontainers.image.revision': 'c0ffee0000000000000000000000000000000000',
    'io.higress.higress-source-commit': String(
      (JSON.parse(read('snapshot.json')) as { sourceCommit: string }).sourceCommit,
    ),
    'io.higress.plugin-snapshot-sha256': hex(read('snapshot.json')),
    'io.higress.gateway-version': VERSION,
  };
  const buildArgs = {
    PLUGINS_FROM: 'prebuilt',
    NGINX_IMAGE: base,
    SNAPSHOT_SHA256: labels['io.higress.plugin-snapshot-sha256'],
    HIGRESS_SOURCE_COMMIT: labels['io.higress.higress-source-commit'],
    PLUGIN_SERVER_SOURCE_COMMIT: labels['org.opencontainers.image.revision'],
    GATEWAY_VERSION: VERSION,
  };
  await buildah.ok(['manifest', 'create', 'hps-release']);
  for (const arch of ARCHES) {
    await buildah.ok([
      'build',
      '--isolation',
      'chroot',
      '--format',
      'docker', // keeps HEALTHCHECK (the OCI config has no field for it)
      '--tls-verify=false',
      '--platform',
      `linux/${arch}`,
      ...Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
      '-f',
      path.join(context, 'image', 'Dockerfile'),
      '-t',
      `hps-plugin-server:${arch}`,
      context,
    ]);
    await buildah.ok(['manifest', 'add', 'hps-release', `hps-plugin-server:${arch}`]);
  }
  image = `${host}/higress/plugin-server:${VERSION}`;
  const digestFile = path.join(work, 'index.digest');
  await buildah.ok([
    'manifest',
    'push',
    '--all',
    '--tls-verify=false',
    '--digestfile',
    digestFile,
    'hps-release',
    `docker://${image}`,
  ]);
  indexDigest = fs.readFileSync(digestFile, 'utf8').trim();

  const bundle = path.join(work, 'amd64');
  const config = await buildah.export('hps-plugin-server:amd64', path.join(bundle, 'rootfs'));
  rootfs.amd64 = path.join(bundle, 'rootfs');
  const started = await runContainer(rootfs.amd64, config);
  if (finished) return started.stop();
  containers.amd64 = started;
  await ready(started, 60_000);
}, 1_800_000);

afterAll(async () => {
  finished = true;
  for (const c of Object.values(containers)) await c?.stop();
  await buildah?.cleanup();
  await registry?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
}, 300_000);

/** GETs from inside the container's network namespace, in one Node process (each body as base64). */
const GET = `Promise.all(process.argv.slice(1).map((u) => fetch(u).then(async (r) => ({ status: r.status, body: Buffer.from(await r.arrayBuffer()).toString('base64') })))).then((all) => process.stdout.write(JSON.stringify(all)))`;
async function getAll(c: RunningContainer, urlPaths: string[]): Promise<Array<{ status: number; body: Buffer }>> {
  const urls = urlPaths.map((p) => `http://127.0.0.1:8080${p}`);
  const r = await c.inNetns(process.execPath, ['-e', GET, ...urls], { timeoutMs: 120_000 });
  if (r.code !== 0) return urlPaths.map(() => ({ status: -1, body: Buffer.from(r.stderr) }));
  return (JSON.parse(r.stdout) as Array<{ status: number; body: string }>).map((x) => ({
    status: x.status,
    body: Buffer.from(x.body, 'base64'),
  }));
}
const get = async (c: RunningContainer, urlPath: string) => (await getAll(c, [urlPath]))[0];

/** Waits until the container's Nginx answers /healthz (bounded: a server that never starts fails here). */
async function ready(c: RunningContainer, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if ((await get(c, '/healthz')).status === 200) return;
    if (Date.now() > deadline) throw new Error(`the server did not answer /healthz:\n${c.log()}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

const servedPath = (name: string, version: string) => `/plugins/${name}/${version}/plugin.wasm`;

test('the pushed index holds exactly linux/amd64 and linux/arm64', async () => {
  const raw = JSON.parse(await ok(tool('skopeo'), ['inspect', '--raw', '--tls-verify=false', `docker://${image}`])) as {
    mediaType: string;
    manifests: Array<{ digest: string; platform: { os: string; architecture: string } }>;
  };
  expect(raw.mediaType).toMatch(/manifest\.list\.v2\+json|image\.index\.v1\+json/);
  expect(raw.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort()).toEqual([
    'linux/amd64',
    'linux/arm64',
  ]);
  expect(
    `sha256:${hex(await ok(tool('skopeo'), ['inspect', '--raw', '--tls-verify=false', `docker://${image}`]))}`,
  ).toBe(indexDigest);
});

test('each platform carries the four labels the Higress release workflow requires (buildah inspect, and as pushed)', async () => {
  for (const arch of ARCHES) {
    const inspect = JSON.parse(await buildah!.ok(['inspect', '--type', 'image', `hps-plugin-server:${arch}`])) as {
      OCIv1: { architecture: string; config: { Labels: Record<string, string> } };
    };
    expect([arch, inspect.OCIv1.architecture]).toEqual([arch, arch]);
    for (const label of LABELS)
      expect([arch, label, inspect.OCIv1.config.Labels[label]]).toEqual([arch, label, labels[label]]);
    const pushed = JSON.parse(
      await ok(tool('skopeo'), ['inspect', '--tls-verify=false', '--override-arch', arch, `docker://${image}`]),
    ) as { Architecture: string; Labels: Record<string, string> };
    expect(pushed.Architecture).toBe(arch);
    for (const label of LABELS) expect([arch, label, pushed.Labels[label]]).toEqual([arch, label, labels[label]]);
  }
});

test('GET /plugins/snapshot-inventory.json is an object with mcp-server, json-converter and jsonrpc-converter', async () => {
  const r = await get(containers.amd64!, '/plugins/snapshot-inventory.json');
  expect(r.status).toBe(200);
  const inventory = JSON.parse(r.body.toString()) as unknown;
  expect(typeof inventory === 'object' && inventory !== null && !Array.isArray(inventory)).toBe(true);
  expect(Object.keys(inventory as object)).toEqual(
    expect.arrayContaining(['mcp-server', 'json-converter', 'jsonrpc-converter']),
  );
});

test('every module of the inventory and the unmanaged lock is served, starts with \\0asm and hashes to its pin', async () => {
  const inventory = JSON.parse(
    (await get(containers.amd64!, '/plugins/snapshot-inventory.json')).body.toString(),
  ) as Record<string, { version: string; wasmSha256: string }>;
  const wants = [
    ...Object.entries(inventory).map(([name, i]) => ({ name, version: i.version, sha: i.wasmSha256 })),
    ...Object.entries(lock.plugins).map(([name, l]) => ({ name, version: l.servedVersion, sha: l.wasmSha256 })),
  ];
  expect(wants).toHaveLength(36 + 9);
  const answers = await getAll(
    containers.amd64!,
    wants.map((w) => servedPath(w.name, w.version)),
  );
  const wrong: string[] = [];
  for (const [i, w] of wants.entries()) {
    const r = answers[i];
    const magic = r.body.subarray(0, 4).toString('latin1');
    if (r.status !== 200 || magic !== '\0asm' || hex(r.body) !== w.sha)
      wrong.push(`${w.name}@${w.version}: HTTP ${r.status}, ${JSON.stringify(magic)}, ${hex(r.body)}`);
  }
  expect(wrong).toEqual([]);
});

test('the served mcp-server is byte for byte its OCI layer fetched by digest from the registry', async () => {
  const inventory = JSON.parse(
    (await get(containers.amd64!, '/plugins/snapshot-inventory.json')).body.toString(),
  ) as Record<string, { digest: string; version: string }>;
  const mcp = inventory['mcp-server'];
  const entry = snapshot.plugins.find((p) => p.logicalId === 'mcp-server')!;
  expect(mcp.digest).toBe(entry.digest);
  const repository = entry.ociRef.slice(registry!.host.length + 1).replace(/:[^:/]+$/, '');
  const manifest = (await (
    await fetch(`${registry!.url}/v2/${repository}/manifests/${mcp.digest}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    })
  ).json()) as { layers: Array<{ mediaType: string; digest: string }> };
  const layer = manifest.layers.find((l) => l.mediaType === 'application/vnd.module.wasm.content.layer.v1+wasm')!;
  const blob = Buffer.from(
    await (await fetch(`${registry!.url}/v2/${repository}/blobs/${layer.digest}`)).arrayBuffer(),
  );
  expect(`sha256:${hex(blob)}`).toBe(layer.digest);
  const served = await get(containers.amd64!, servedPath('mcp-server', mcp.version));
  expect(served.status).toBe(200);
  expect(served.body.equals(blob)).toBe(true);
});

test("jsonrpc-converter is served at json-converter's version, with json-converter's bytes", async () => {
  const inventory = JSON.parse(
    (await get(containers.amd64!, '/plugins/snapshot-inventory.json')).body.toString(),
  ) as Record<string, { version: string; wasmSha256: string }>;
  const version = inventory['json-converter'].version;
  const alias = await get(containers.amd64!, servedPath('jsonrpc-converter', version));
  expect(alias.status).toBe(200);
  expect(hex(alias.body)).toBe(inventory['json-converter'].wasmSha256);
});

test("basic-auth at its servedVersion hashes to the unmanaged lock's wasmSha256", async () => {
  const l = lock.plugins['basic-auth'];
  const r = await get(containers.amd64!, servedPath('basic-auth', l.servedVersion));
  expect(r.status).toBe(200);
  expect(hex(r.body)).toBe(l.wasmSha256);
  expect(l.wasmSha256).toBe(hex(ref.moduleAt('plugins/basic-auth', l.tag)));
});

test("the arm64 image's own Nginx runs under emulation and serves a plugin", async () => {
  const bundle = path.join(work, 'arm64');
  const config = await buildah!.export('hps-plugin-server:arm64', path.join(bundle, 'rootfs'));
  rootfs.arm64 = path.join(bundle, 'rootfs');
  // The binary is an arm64 ELF (e_machine 183, EM_AARCH64), not this machine's.
  const elf = fs.readFileSync(path.join(rootfs.arm64, 'usr', 'sbin', 'nginx')).subarray(0, 20);
  expect([elf.subarray(0, 4).toString('latin1'), elf.readUInt16LE(18)]).toEqual(['\x7fELF', 183]);
  const c = await runContainer(rootfs.arm64, config);
  containers.arm64 = c;
  await ready(c, 180_000);
  expect((await c.exec(['uname', '-m'], 120_000)).stdout.trim()).toBe('aarch64');
  const mcp = snapshot.plugins.find((p) => p.logicalId === 'mcp-server')!;
  const [arm, amd] = [
    await get(c, servedPath('mcp-server', mcp.version)),
    await get(containers.amd64!, servedPath('mcp-server', mcp.version)),
  ];
  expect(arm.status).toBe(200);
  expect(arm.body.equals(amd.body)).toBe(true);
});

describe('tags are immutable: tag-check against the registry the index was pushed to', () => {
  const tagCheck = (...args: string[]) => run(process.execPath, [RELEASE_CLI, 'tag-check', ...args]);

  test('the same digest again is a re-run (unchanged); a version never pushed is new', async () => {
    expect(await tagCheck(image, indexDigest)).toMatchObject({ code: 0, stdout: 'unchanged\n' });
    expect(await tagCheck(image.replace(`:${VERSION}`, ':2.2.5'), indexDigest)).toMatchObject({
      code: 0,
      stdout: 'new\n',
    });
  });

  test('an existing tag with another digest fails with one line and exit 2, and the tag stays where it was', async () => {
    const other = `sha256:${'0'.repeat(64)}`;
    const r = await tagCheck(image, other);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      `error: ${image} already exists with digest ${indexDigest}; this release built ${other} (published tags are immutable: publish a new version instead of moving this one) [E_RELEASE_TAG_EXISTS]`,
    ]);
    const raw = await ok(tool('skopeo'), ['inspect', '--raw', '--tls-verify=false', `docker://${image}`]);
    expect(`sha256:${hex(raw)}`).toBe(indexDigest);
  });
});
