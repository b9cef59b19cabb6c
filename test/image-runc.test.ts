/**
 * image/Dockerfile built for real with Debian's buildah (PLUGINS_FROM=prebuilt, default stage
 * selection) on a Debian nginx base image made with debootstrap (scripts/install-test-tools.sh) and
 * served by a local registry, then run with runc as the chart runs it: UID 101, read-only root, tmpfs
 * /tmp, its own network namespace. Its HEALTHCHECK, `check` (also `--oci`) and the gateway's own
 * fetcher (http:// and oci://) pass against it, and its log has no alert.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { publishVersion, writeIndex } from '../src/tree/publish';
import { writeOciView } from '../src/ociview/write';
import { writeBuildInfo } from '../src/tree/build-info';
import { parseExposition } from '../src/higress/server-metrics';
import type { PluginIndex } from '../src/contract/tree-format';
import { NGINX_CONF_GZIP_STATIC_OFF } from '../src/contract/gzip-static';
import { startRegistry, Registry } from './support/registry';
import { BASE_SUITE, baseRootfs, Buildah, imageBuildContext, RunningContainer, runContainer } from './support/runc';
import { promtoolCheckMetrics } from './support/promtool';
import { REPO_ROOT, tool } from './support/tools';
import { largeWasm, smallWasm } from './support/wasm';

jest.setTimeout(300_000);

const BASE_ROOTFS = baseRootfs('nginx');
const CREATED = '2026-01-02T03:04:05Z';

let work: string;
let registry: Registry | undefined;
let buildah: Buildah | undefined;
let container: RunningContainer | undefined;
let config: Record<string, any>;
let index: PluginIndex;
/** `name:version` -> manifest digest of the prebuilt tree's OCI view. */
let ociDigests: Map<string, string>;
let finished = false;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-image-'));
  // The build context: the Dockerfile, nginx.conf and its njs module as shipped, a prebuilt tree next to them.
  const context = path.join(work, 'context');
  imageBuildContext(context);
  const tree = path.join(context, 'image', 'prebuilt');
  await publishVersion(tree, {
    name: 'add-header',
    version: '1.0.0',
    wasmPath: await smallWasm(),
    source: 'file:add-header.wasm@1.0.0',
    manifestDigest: null,
    created: CREATED,
  });
  await publishVersion(tree, {
    name: 'big',
    version: '2.0.0',
    wasmPath: largeWasm(),
    source: 'file:big.wasm@2.0.0',
    manifestDigest: null,
    created: CREATED,
  });
  await writeIndex(tree);
  await writeBuildInfo(tree, { snapshotSha256: 'cd'.repeat(32) });
  const view = await writeOciView(tree);
  ociDigests = new Map(view.tags.map((t) => [`${t.name}:${t.version}`, t.digest]));
  index = JSON.parse(fs.readFileSync(path.join(tree, 'plugins', 'index.json'), 'utf8'));

  registry = await startRegistry();
  buildah = new Buildah();
  const base = `${registry.host}/debian/nginx:${BASE_SUITE}`;
  await buildah.pushRootfs(BASE_ROOTFS, base);
  // Only the base image and PLUGINS_FROM are given: the stage selection runs on its default path
  // except for the tree source, and the Node image is never needed (buildah skips unused stages).
  await buildah.ok([
    'build',
    '--isolation',
    'chroot',
    '--format',
    'docker', // keeps HEALTHCHECK (the OCI config has no field for it)
    '--tls-verify=false',
    '--build-arg',
    `NGINX_IMAGE=${base}`,
    '--build-arg',
    'PLUGINS_FROM=prebuilt',
    '-f',
    path.join(context, 'image', 'Dockerfile'),
    '-t',
    'hps-plugin-server:test',
    context,
  ]);
  const bundle = path.join(work, 'bundle');
  config = await buildah.export('hps-plugin-server:test', path.join(bundle, 'rootfs'));
  const started = await runContainer(path.join(bundle, 'rootfs'), config);
  if (finished) return started.stop();
  container = started;
}, 1_800_000);

afterAll(async () => {
  finished = true;
  await container?.stop();
  await buildah?.cleanup();
  await registry?.stop();
  fs.rmSync(work, { recursive: true, force: true });
}, 300_000);

/** The image's own HEALTHCHECK command, run inside the container until it passes (bounded). */
async function healthy(): Promise<void> {
  const test: string[] = config.Healthcheck.Test;
  expect(test[0]).toBe('CMD-SHELL');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await container!.exec(['/bin/sh', '-c', test[1]]);
    if (r.code === 0) return;
    if (Date.now() > deadline) throw new Error(`HEALTHCHECK still failing: ${r.stderr}\n${container!.log()}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

test('the image runs as UID 101 on a read-only root with only /tmp writable, and its HEALTHCHECK passes', async () => {
  expect(config.User).toBe('101');
  await healthy();
  expect((await container!.exec(['id', '-u'])).stdout.trim()).toBe('101');
  const rootWrite = await container!.exec(['/bin/sh', '-c', 'echo x > /etc/probe']);
  expect(rootWrite.code).not.toBe(0);
  expect(rootWrite.stderr).toContain('Read-only file system');
  expect((await container!.exec(['/bin/sh', '-c', 'echo x > /tmp/probe'])).code).toBe(0);
});

test('`check` passes against it from inside its network namespace', async () => {
  await healthy();
  const r = await container!.inNetns(
    process.execPath,
    [path.join(REPO_ROOT, 'build', 'src', 'cli.js'), 'check', 'http://127.0.0.1:8080'],
    { timeoutMs: 120_000 },
  );
  expect(r.stderr).toMatch(/check: [1-9]\d* ok, 0 failed/);
  expect(r.code).toBe(0);
});

test("the gateway's own fetcher gets every plugin with the index sha256; a wrong sha256 fails", async () => {
  await healthy();
  const lines = index.plugins.map((p) => `http://127.0.0.1:8080${p.path} ${p.sha256}`);
  const good = await container!.inNetns(tool('gateway-client'), ['-from', '-'], {
    input: lines.join('\n') + '\n',
    timeoutMs: 120_000,
  });
  const results = good.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(results.map((r) => [r.ok, r.bytes])).toEqual(index.plugins.map((p) => [true, p.size]));
  expect(good.code).toBe(0);
  const bad = await container!.inNetns(
    tool('gateway-client'),
    ['-sha256', 'b'.repeat(64), `http://127.0.0.1:8080${index.plugins[0].path}`],
    { timeoutMs: 120_000 },
  );
  expect(bad.code).toBe(1);
  expect(JSON.parse(bad.stdout).error).toContain('which does not match');
});

test("the OCI view copied into the image answers: check --oci, and the gateway's fetcher through oci:// by manifest digest", async () => {
  await healthy();
  const check = await container!.inNetns(
    process.execPath,
    [path.join(REPO_ROOT, 'build', 'src', 'cli.js'), 'check', 'http://127.0.0.1:8080', '--oci'],
    { timeoutMs: 120_000 },
  );
  expect(check.stderr).toMatch(/check --oci: [1-9]\d* ok, 0 failed/);
  expect(check.code).toBe(0);
  const lines = index.plugins.map(
    (p) =>
      `oci://127.0.0.1:8080/plugins/${p.name}:${p.version} ${ociDigests.get(`${p.name}:${p.version}`)!.slice('sha256:'.length)}`,
  );
  const fetched = await container!.inNetns(
    tool('gateway-client'),
    ['-from', '-', '-insecure-registries', '127.0.0.1:8080'],
    { input: lines.join('\n') + '\n', timeoutMs: 120_000 },
  );
  // Istio's logger shares stdout for oci:// fetches: the results are the JSON lines.
  const results = fetched.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  expect(results.map((r) => [r.ok, r.bytes, r.error])).toEqual(index.plugins.map((p) => [true, p.size, undefined]));
  expect(fetched.code).toBe(0);
});

test('/metrics answers from inside the image (njs of the base image, /etc/nginx/njs): the downloads above counted, the build facts, an exposition `promtool check metrics` accepts', async () => {
  await healthy();
  const r = await container!.exec(['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/metrics']);
  expect(r.code).toBe(0);
  const samples = parseExposition(r.stdout);
  for (const p of index.plugins) {
    const served = samples.find(
      (s) =>
        s.name === 'higress_plugin_server_requests_total' &&
        s.labels.plugin === p.name &&
        s.labels.version === p.version &&
        s.labels.status === '200',
    );
    expect(served?.value ?? 0).toBeGreaterThan(0);
  }
  const version = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
  expect(samples.filter((s) => s.name === 'higress_plugin_server_build_info')).toEqual([
    {
      name: 'higress_plugin_server_build_info',
      labels: { version, snapshot_sha256: 'cd'.repeat(32), plugins: '2', plugin_versions: '2' },
      value: 1,
    },
  ]);
  expect(promtoolCheckMetrics(r.stdout)).toEqual({ status: 0, out: '' });
});

test('the log has no alert or emergency line (worker_rlimit_nofile would log one at this limit)', async () => {
  await healthy();
  const log = container!.log();
  expect(log).not.toMatch(/\[(alert|emerg|crit)\]/);
  // Negative control: the same Nginx with worker_rlimit_nofile (on another port) logs the alert.
  const script =
    "sed -e 's#^pid /tmp/nginx.pid;#pid /tmp/n.pid; worker_rlimit_nofile 16384;#' -e 's#listen 8080#listen 8081#' /etc/nginx/nginx.conf > /tmp/n.conf" +
    ' && cp -r /etc/nginx/plugin-server /tmp/plugin-server' +
    " && timeout 3 nginx -c /tmp/n.conf -e stderr -g 'daemon off;' 2>&1; true";
  const r = await container!.exec(['/bin/sh', '-c', script]);
  expect(r.stdout).toMatch(/\[alert\].*setrlimit\(RLIMIT_NOFILE, 16384\) failed/);
});

test("gzip.enabled=false (the chart's `-c` argument): the same image sends plugin.wasm as is, and the fetcher verifies it", async () => {
  // The image's own wget (its HEALTHCHECK's), asking for gzip as the gateway does; -S prints the headers.
  const headers = async () =>
    (
      await container!.exec([
        '/bin/sh',
        '-c',
        `wget -S -O /dev/null --header 'Accept-Encoding: gzip' http://127.0.0.1:8080${index.plugins[0].path} 2>&1`,
      ])
    ).stdout.toLowerCase();
  await healthy();
  expect(await headers()).toContain('content-encoding: gzip');
  // The pod the chart renders with gzip.enabled=false: the image's entrypoint with its args.
  await container!.stop();
  container = undefined;
  const started = await runContainer(path.join(work, 'bundle', 'rootfs'), {
    ...config,
    Cmd: ['-c', NGINX_CONF_GZIP_STATIC_OFF],
  });
  if (finished) return started.stop();
  container = started;
  await healthy();
  const h = await headers();
  expect(h).toMatch(/http\/1\.1 200/);
  expect(h).not.toContain('content-encoding');
  expect(h).toContain(`content-length: ${index.plugins[0].size}`);
  const lines = index.plugins.map((p) => `http://127.0.0.1:8080${p.path} ${p.sha256}`);
  const r = await container.inNetns(tool('gateway-client'), ['-from', '-'], {
    input: lines.join('\n') + '\n',
    timeoutMs: 120_000,
  });
  const results = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { ok: boolean; bytes: number });
  expect(results.map((x) => [x.ok, x.bytes])).toEqual(index.plugins.map((p) => [true, p.size]));
  expect(container.log()).not.toMatch(/\[(alert|emerg|crit)\]/);
});
