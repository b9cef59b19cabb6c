/**
 * The release workflow's steps that run without Docker or GitHub, run here exactly as release.yml
 * runs them (`node build/scripts/release/cli.js ...`), against a real docker-registry on 127.0.0.1:
 * snapshot sha256 check, frozen pull of a digest-pinned snapshot and verify, chart packaged with the
 * Higress version, `helm push` / `helm pull` / `helm template oci://...`.
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import { helm, helmTemplate } from './support/helm';
import { pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { REPO_ROOT, tool } from './support/tools';
import { wasmVariant } from '../bench/wasm-variant';
import { smallWasm } from './support/wasm';

const RELEASE_CLI = path.join(REPO_ROOT, 'build', 'scripts', 'release', 'cli.js');
const PROJECT_CLI = path.join(REPO_ROOT, 'build', 'src', 'cli.js');
const HIGRESS_VERSION = '2.2.4';
const PACKAGE_VERSION = (
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

let reg: Registry;
let dir: string;
let helmHome: string;
let snapshot: string;
let lock: string;
const served = new Map<string, string>(); // name@version -> sha256 of the served bytes
const hex = (b: Buffer | string) => crypto.createHash('sha256').update(b).digest('hex');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The release CLI as the workflow runs it, with helm from .tools/bin and a private helm home. */
function release(...args: string[]): Run {
  const env = {
    ...process.env,
    HELM: tool('helm'),
    HOME: helmHome,
    XDG_CACHE_HOME: path.join(helmHome, 'cache'),
    XDG_CONFIG_HOME: path.join(helmHome, 'config'),
    XDG_DATA_HOME: path.join(helmHome, 'data'),
  };
  const r = spawnSync(process.execPath, [RELEASE_CLI, ...args], { env, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A Higress release snapshot (the shape of plugins/release/snapshots/<version>.json) for the local registry. */
function snapshotJson(plugins: Array<{ name: string; repo: string; tag: string; digest: string }>): string {
  return JSON.stringify(
    {
      schemaVersion: 1,
      gatewayVersion: HIGRESS_VERSION,
      plugins: plugins.map((p) => ({
        logicalId: p.name,
        version: p.tag,
        ociRef: `${reg.host}/${p.repo}:${p.tag}`,
        digest: p.digest,
        consumers: { pluginServer: { inventoryKey: p.name, httpPath: p.name } },
      })),
    },
    null,
    2,
  );
}

beforeAll(async () => {
  reg = await startRegistry();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'release-local-'));
  helmHome = path.join(dir, 'helm-home');
  fs.mkdirSync(helmHome);
  const small = fs.readFileSync(await smallWasm());
  const other = wasmVariant(small, 'ai-proxy'); // distinct bytes, so a swapped plugin would show
  const keyAuth = await pushWasmArtifact(reg, 'plugins/key-auth', '2.0.0', small);
  const aiProxy = await pushWasmArtifact(reg, 'plugins/ai-proxy', '2.0.1', other);
  served.set('key-auth@2.0.0', hex(small)).set('ai-proxy@2.0.1', hex(other));
  snapshot = path.join(dir, `${HIGRESS_VERSION}.json`);
  fs.writeFileSync(
    snapshot,
    snapshotJson([
      { name: 'key-auth', repo: 'plugins/key-auth', tag: '2.0.0', digest: keyAuth.manifestDigest },
      { name: 'ai-proxy', repo: 'plugins/ai-proxy', tag: '2.0.1', digest: aiProxy.manifestDigest },
    ]),
  );
  // What sync-plugins.yml commits next to the snapshot: its lock, written by a normal pull.
  lock = path.join(dir, `${HIGRESS_VERSION}.lock.json`);
  const seed = spawnSync(
    process.execPath,
    [PROJECT_CLI, 'pull', '--snapshot', snapshot, '--write-lock', lock, '--out', path.join(dir, 'seed')],
    { encoding: 'utf8' },
  );
  expect(seed.stderr).not.toMatch(/error/i);
  expect(seed.status).toBe(0);
});

afterAll(async () => {
  await reg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('snapshot check', () => {
  test('passes with the sha256 the release names and prints it', () => {
    const sha = hex(fs.readFileSync(snapshot));
    const r = release('snapshot-check', snapshot, `sha256:${sha.toUpperCase()}`);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: `${sha}\n` });
  });

  test('fails with exit 2 and one line naming the file when one byte differs', () => {
    const edited = path.join(dir, 'edited.json');
    fs.writeFileSync(edited, fs.readFileSync(snapshot, 'utf8').replace('"2.0.0"', '"2.0.9"'));
    const r = release('snapshot-check', edited, hex(fs.readFileSync(snapshot)));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(`^error: ${edited}: sha256 is [0-9a-f]{64}, the release says [0-9a-f]{64} \\(.*fetch it again`),
      ),
    ]);
  });

  test("--higress-version: the right hash of another release's snapshot is refused", () => {
    const sha = hex(fs.readFileSync(snapshot));
    expect(release('snapshot-check', snapshot, sha, '--higress-version', HIGRESS_VERSION).code).toBe(0);
    const r = release('snapshot-check', snapshot, sha, '--higress-version', '2.2.5');
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `error: ${snapshot}: snapshot is for Higress ${HIGRESS_VERSION}, not 2.2.5 (pass the snapshot of the release being published) [E_RELEASE_SNAPSHOT]`,
    );
  });

  test('a malformed expected sha256 is bad input, not a mismatch', () => {
    const r = release('snapshot-check', snapshot, 'abc123');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/expected sha256 "abc123" is not 64 hex digits/);
  });
});

describe('tree: pull --snapshot --frozen, then verify', () => {
  test('builds the verified tree the image serves, with every plugin of the snapshot', () => {
    const out = path.join(dir, 'tree');
    const r = release('tree', snapshot, '--lock', lock, '--out', out);
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r).toMatchObject({ code: 0, stdout: `${out}\n` });
    const index = JSON.parse(fs.readFileSync(path.join(out, 'plugins', 'index.json'), 'utf8')) as {
      plugins: Array<{ name: string; version: string; sha256: string }>;
    };
    const got = new Map(index.plugins.map((p) => [`${p.name}@${p.version}`, p.sha256]));
    expect(got).toEqual(served);
    for (const [id, sha] of served) {
      const [name, version] = id.split('@');
      expect(hex(fs.readFileSync(path.join(out, 'plugins', name, version, 'plugin.wasm')))).toBe(sha);
    }
  });

  test('a snapshot that no longer matches its lock stops before pulling anything (exit 3)', () => {
    // Another digest for key-auth (ai-proxy's): what a tampered or half-updated snapshot looks like.
    const moved = JSON.parse(fs.readFileSync(snapshot, 'utf8')) as { plugins: Array<{ digest: string }> };
    moved.plugins[0].digest = moved.plugins[1].digest;
    const file = path.join(dir, 'moved.json');
    fs.writeFileSync(file, JSON.stringify(moved));
    const out = path.join(dir, 'tree-moved');
    const r = release('tree', file, '--lock', lock, '--out', out);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/key-auth/);
    expect(r.stderr).toMatch(/--frozen/);
    // 3 is the CLI's input exit code: the list and the lock disagree.
    expect(r.stderr).toMatch(/^error: tree: .* exited with 3/m);
    expect(fs.existsSync(path.join(out, 'plugins', 'key-auth'))).toBe(false);
  });

  test('a missing lock is bad input (exit 2) that says how to make one', () => {
    const r = release(
      'tree',
      snapshot,
      '--lock',
      path.join(dir, 'nope.lock.json'),
      '--out',
      path.join(dir, 'tree-nolock'),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope\.lock\.json: lock file does not exist \(run sync-plugins/);
  });
});

describe('chart: packaged with the Higress version, pushed to and pulled from an OCI registry', () => {
  let tgz: string;
  let digest: string;
  const repo = () => `oci://${reg.host}/charts`;
  const ref = () => `${repo()}/higress-plugin-server`;

  beforeAll(() => {
    const packed = release('chart', HIGRESS_VERSION, '--out', path.join(dir, 'chart'));
    expect(packed.code).toBe(0);
    tgz = packed.stdout.trim();
    const pushed = release('chart-push', tgz, repo());
    expect(pushed.code).toBe(0);
    digest = pushed.stdout.trim();
  });

  test('version = appVersion = the Higress version, and the Artifact Hub image is the image pushed with that tag', () => {
    expect(path.basename(tgz)).toBe(`higress-plugin-server-${HIGRESS_VERSION}.tgz`);
    const show = helm(['show', 'chart', tgz]);
    expect(show.status).toBe(0);
    const chart = parse(show.stdout) as { version: string; appVersion: string; annotations: Record<string, string> };
    expect(chart.version).toBe(HIGRESS_VERSION);
    expect(chart.appVersion).toBe(HIGRESS_VERSION);
    const images = parse(chart.annotations['artifacthub.io/images']) as Array<{ image: string }>;
    expect(images.map((i) => i.image)).toEqual([
      `higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/plugin-server:${HIGRESS_VERSION}`,
    ]);
    const changes = parse(chart.annotations['artifacthub.io/changes']) as Array<{ kind: string; description: string }>;
    expect(changes.length).toBeGreaterThan(0);
  });

  test('helm push stores the chart under its version; the printed digest is the registry manifest', async () => {
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const res = await fetch(`${reg.url}/v2/charts/higress-plugin-server/manifests/${HIGRESS_VERSION}`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
  });

  test('helm pull oci://... returns the same bytes', () => {
    const dest = path.join(dir, 'pulled');
    fs.mkdirSync(dest);
    const r = helm(['pull', ref(), '--version', HIGRESS_VERSION, '--plain-http', '--destination', dest]);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(hex(fs.readFileSync(path.join(dest, path.basename(tgz))))).toBe(hex(fs.readFileSync(tgz)));
  });

  test("helm template oci://... renders the directory chart's manifests, the version being the only difference", () => {
    for (const set of [
      ['global.enablePluginServer=true'],
      ['global.enablePluginServer=true', 'replicas=3', 'tag=custom'],
    ]) {
      const fromOci = helm([
        'template',
        'higress-plugin-server',
        ref(),
        '--version',
        HIGRESS_VERSION,
        '--plain-http',
        '--namespace',
        'higress-system',
        '--kube-version',
        '1.28.0',
        ...set.flatMap((s) => ['--set', s]),
      ]);
      expect(fromOci.stderr).not.toMatch(/Error/);
      expect(fromOci.status).toBe(0);
      const fromDir = helmTemplate({ set });
      expect(fromDir.status).toBe(0);
      expect(fromOci.stdout).toContain(`helm.sh/chart: higress-plugin-server-${HIGRESS_VERSION}`);
      expect(fromOci.stdout).toBe(fromDir.stdout.split(PACKAGE_VERSION).join(HIGRESS_VERSION));
    }
  });

  test('a version helm cannot use is refused before anything is generated (exit 2)', () => {
    const r = release('chart', 'v2.2', '--out', path.join(dir, 'bad'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'error: "v2.2" is not a SemVer version (pass the Higress version, e.g. 2.2.4) [E_RELEASE_VERSION]',
    );
    expect(fs.existsSync(path.join(dir, 'bad'))).toBe(false);
  });

  test('chart-push refuses a repository that is not oci://', () => {
    const r = release('chart-push', tgz, `https://${reg.host}/charts`);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not oci:\/\/<registry>\/<path>/);
  });
});
