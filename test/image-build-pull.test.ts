/**
 * image/Dockerfile built for real with its default stage selection (PLUGINS_FROM keeps its default,
 * `pull`) by Debian's buildah 1.28: the build stage runs `npm ci`, `npm pack` and installs the package
 * on a Node base image (the debootstrap rootfs plus Node.js and npm from the npm registry, made by
 * scripts/install-test-tools.sh), the tree stage pulls a list from a real registry on 127.0.0.1 and
 * verifies it, and the runtime stage is run with runc as the chart runs it; the gateway's own
 * fetcher gets the pulled plugins with the sha256 of the bytes pushed. Negative control: a list
 * pinned to a digest the registry does not hold fails the build at the pull step with the CLI's own
 * one-line error, so no image is made from an unverified tree.
 *
 * Only NODE_IMAGE and NGINX_IMAGE (no Docker Hub here), PLUGINS_LIST and PULL_FLAGS (a list for the
 * local registry, plain HTTP) and empty SNAPSHOT and UNMANAGED_LOCK (no snapshot build) are given. The build stage needs the npm registry, as it does in CI.
 */
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { BASE_SUITE, baseRootfs, Buildah, RunningContainer, runContainer } from './support/runc';
import { REPO_ROOT, tool } from './support/tools';
import { largeWasm, smallWasm } from './support/wasm';

jest.setTimeout(300_000);

/** What the Dockerfile's build and tree-pull stages COPY from the build context. */
const CONTEXT_FILES = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.pack.json',
  'README.md',
  'LICENSE',
  'CHANGELOG.md',
  'bin',
  'src',
  'imports',
  'image',
];
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

let work: string;
let context: string;
let registry: Registry | undefined;
let buildah: Buildah | undefined;
let container: RunningContainer | undefined;
let baseArgs: string[];
/** buildah volumes that let the build stage's npm trust what this machine's npm trusts. */
let npmTrust: string[] = [];
let finished = false;
/** name -> sha256 of the bytes pushed for it. */
const pushed = new Map<string, string>();

function build(list: string, tag: string) {
  return buildah!.run(
    [
      'build',
      '--isolation',
      'chroot',
      '--format',
      'docker',
      // The second build reuses the first one's build stage (npm ci, npm pack) from the layer cache.
      '--layers',
      '--tls-verify=false',
      ...npmTrust,
      ...baseArgs,
      // A list of this test's own registry instead of the default inputs (the 2.2.4 snapshot build,
      // whose digests only the public registry holds; test/image-release.test.ts builds from those).
      '--build-arg',
      'SNAPSHOT=',
      '--build-arg',
      'UNMANAGED_LOCK=',
      '--build-arg',
      `PLUGINS_LIST=${list}`,
      '--build-arg',
      `PULL_FLAGS=--insecure-registry ${registry!.host}`,
      '-f',
      path.join(context, 'image', 'Dockerfile'),
      '-t',
      tag,
      context,
    ],
    1_500_000,
  );
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-image-pull-'));
  context = path.join(work, 'context');
  for (const f of CONTEXT_FILES)
    fs.cpSync(path.join(REPO_ROOT, f), path.join(context, f), {
      recursive: true,
      filter: (src) => !src.includes(`${path.sep}prebuilt`),
    });

  registry = await startRegistry();
  const modules = { 'add-header': fs.readFileSync(await smallWasm()), big: fs.readFileSync(largeWasm()) };
  const lines: string[] = [];
  for (const [name, bytes] of Object.entries(modules)) {
    await pushWasmArtifact(registry, `plugins/${name}`, '1.0.0', bytes);
    pushed.set(name, sha256(bytes));
    lines.push(`${name}=oci://${registry.host}/plugins/${name}:1.0.0`);
  }
  fs.writeFileSync(path.join(context, 'image', 'test.properties'), lines.join('\n') + '\n');
  fs.writeFileSync(
    path.join(context, 'image', 'missing-pin.properties'),
    `add-header=oci://${registry.host}/plugins/add-header:1.0.0@sha256:${'0'.repeat(64)}\n`,
  );

  // Where this machine reaches the npm registry through a TLS-intercepting proxy, its npm names a CA
  // file (`npm config get cafile`); the build stage's npm gets the same file and setting, mounted
  // for the RUN steps only (nothing of it lands in an image layer). Elsewhere nothing is mounted.
  const cafile = execFileSync('npm', ['config', 'get', 'cafile'], { encoding: 'utf8' }).trim();
  if (cafile && cafile !== 'null' && cafile !== 'undefined' && fs.existsSync(cafile)) {
    const npmrc = path.join(work, 'npmrc');
    fs.writeFileSync(npmrc, `cafile=/run/hps-npm-ca.crt\n`);
    npmTrust = ['--volume', `${cafile}:/run/hps-npm-ca.crt:ro`, '--volume', `${npmrc}:/root/.npmrc:ro`];
  }

  buildah = new Buildah();
  const nodeImage = `${registry.host}/debian/node:20`;
  const nginxImage = `${registry.host}/debian/nginx:${BASE_SUITE}`;
  await buildah.pushRootfs(baseRootfs('node'), nodeImage);
  await buildah.pushRootfs(baseRootfs('nginx'), nginxImage);
  baseArgs = ['--build-arg', `NODE_IMAGE=${nodeImage}`, '--build-arg', `NGINX_IMAGE=${nginxImage}`];

  const r = await build('image/test.properties', 'hps-plugin-server:pulled');
  if (r.code !== 0)
    throw new Error(`buildah build (PLUGINS_FROM default) failed (${r.code}):\n${r.stderr.slice(-4000)}`);
  const bundle = path.join(work, 'bundle');
  const config = await buildah.export('hps-plugin-server:pulled', path.join(bundle, 'rootfs'));
  const started = await runContainer(path.join(bundle, 'rootfs'), config);
  if (finished) return started.stop();
  container = started;
}, 2_400_000);

afterAll(async () => {
  finished = true;
  await container?.stop();
  await buildah?.cleanup();
  await registry?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
}, 300_000);

test('with the default stage selection the image serves the pulled list, verified, and the gateway fetcher gets every plugin', async () => {
  const index = JSON.parse((await container!.exec(['cat', '/usr/share/nginx/html/plugins/index.json'])).stdout);
  expect(
    index.plugins.map((p: { name: string; sha256: string; source: string }) => [p.name, p.sha256, p.source]),
  ).toEqual([...pushed].map(([name, hex]) => [name, hex, `oci://${registry!.host}/plugins/${name}:1.0.0`]));
  const lines = [...pushed].map(([name, hex]) => `http://127.0.0.1:8080/plugins/${name}/1.0.0/plugin.wasm ${hex}`);
  const fetched = await container!.inNetns(tool('gateway-client'), ['-from', '-'], {
    input: lines.join('\n') + '\n',
    timeoutMs: 120_000,
  });
  expect(
    fetched.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).ok),
  ).toEqual([true, true]);
  expect(fetched.code).toBe(0);
});

test('negative control: a list pinned to a digest the registry lacks fails the build at the pull step', async () => {
  const r = await build('image/missing-pin.properties', 'hps-plugin-server:bad');
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(
    /FAILED add-header@1\.0\.0: manifest not found \(404\) at \S+\/manifests\/sha256:0{64} \(the pinned @sha256: manifest digest does not exist/,
  );
  expect((await buildah!.run(['inspect', '--type', 'image', 'hps-plugin-server:bad'])).code).not.toBe(0);
  // The build stage comes from the layer cache, but vfs storage still copies each stage's rootfs.
}, 1_500_000);
