/**
 * Issue 27, classes 2, 3, 4, 5 and 11: the air-gap commands (`bundle`, `mirror`, `pull oci-layout:`)
 * against real Distribution registries and small hostile servers on 127.0.0.1, the CLI run as its own
 * process (build/src/cli.js). Each test fails on the code before the fix.
 *
 *   2   two sources from two registries with the same repository path and tag, mirrored to one target
 *   3   an upload `Location` on another host:port never receives the target's credentials; no downgrade
 *   4   a layout tar whose header claims more bytes than the file holds
 *   5   a FIFO as a blob or as index.json of an `oci-layout:` folder, under --deadline
 *   11  SIGINT during `bundle` / `mirror`: exit 130, a `--json` summary, staging gone or swept next run
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EXIT } from '../src/errors';
import { runCliProcess } from './support/cli-process';
import { Pushed, pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { wasmVariant } from './support/tree-state';
import { smallWasm } from './support/wasm';

let A: Registry;
let B: Registry;
let T: Registry;
let tmp: string;
let base: Buffer;
let fromA: Pushed;
let fromB: Pushed;
let listA: string;
let bundle: string;
let env: NodeJS.ProcessEnv;

const cli = (args: string[], extra: NodeJS.ProcessEnv = {}, timeoutMs = 60_000) =>
  runCliProcess(args, { env: { ...env, ...extra }, timeoutMs });

const failedLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('FAILED '));

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'airgap-copy-'));
  fs.mkdirSync(path.join(tmp, 'tmpdir'));
  fs.mkdirSync(path.join(tmp, 'docker'));
  fs.writeFileSync(path.join(tmp, 'docker', 'config.json'), '{}');
  env = {
    DOCKER_CONFIG: path.join(tmp, 'docker'),
    TMPDIR: path.join(tmp, 'tmpdir'),
    HIGRESS_REGISTRY_USERNAME: '',
    HIGRESS_REGISTRY_PASSWORD: '',
    HIGRESS_REGISTRY_HOSTS: '',
  };
  [A, B, T] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
  base = fs.readFileSync(await smallWasm());
  fromA = await pushWasmArtifact(A, 'plugins/foo', '1.0.0', wasmVariant(base, 'from-a'));
  fromB = await pushWasmArtifact(B, 'plugins/foo', '1.0.0', wasmVariant(base, 'from-b'));
  listA = path.join(tmp, 'a.properties');
  fs.writeFileSync(listA, `foo=oci://${A.host}/plugins/foo:1.0.0\n`);
  bundle = path.join(tmp, 'a.oci.tar');
  const r = await cli(['bundle', listA, '--out', bundle]);
  expect(r.stderr).toContain('ok: ');
}, 120_000);

afterAll(async () => {
  await Promise.all([A?.stop(), B?.stop(), T?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Class 2

async function tagsOf(reg: Registry, repository: string): Promise<number> {
  const res = await fetch(`${reg.url}/v2/${repository}/tags/list`);
  return res.status;
}

describe('class 2: two sources mapped to one target reference', () => {
  test('two registries, same repository path and tag, unpinned: refused before anything is copied', async () => {
    const list = path.join(tmp, 'two.properties');
    fs.writeFileSync(list, `foo=oci://${A.host}/plugins/foo:1.0.0\nbar=oci://${B.host}/plugins/foo:1.0.0\n`);
    const r = await cli(['mirror', list, '--to', `${T.host}/clash`, '--json']);
    expect(r.code).toBe(EXIT.integrity);
    const lines = failedLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`oci://${A.host}/plugins/foo:1.0.0`);
    expect(lines[0]).toContain(`oci://${B.host}/plugins/foo:1.0.0`);
    expect(lines[0]).toContain(`${T.host}/clash/plugins/foo:1.0.0`);
    // Nothing reached the target: the repository does not exist there.
    expect(await tagsOf(T, 'clash/plugins/foo')).toBe(404);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as { event: string; exitCode: number };
    expect(summary).toMatchObject({ event: 'summary', exitCode: EXIT.integrity });
  }, 60_000);

  test('the same clash, both pinned to their own digests: refused the same way', async () => {
    const list = path.join(tmp, 'two-pinned.properties');
    fs.writeFileSync(
      list,
      `foo=oci://${A.host}/plugins/foo:1.0.0@${fromA.manifestDigest}\nbar=oci://${B.host}/plugins/foo:1.0.0@${fromB.manifestDigest}\n`,
    );
    const r = await cli(['mirror', list, '--to', `${T.host}/clash-pinned`]);
    expect(r.code).toBe(EXIT.integrity);
    expect(failedLines(r.stderr)[0]).toMatch(/two sources that both map to/);
    expect(await tagsOf(T, 'clash-pinned/plugins/foo')).toBe(404);
  }, 60_000);

  test('control: one source named twice (unpinned and pinned to its digest) is mirrored', async () => {
    const list = path.join(tmp, 'same.properties');
    fs.writeFileSync(
      list,
      `foo=oci://${A.host}/plugins/foo:1.0.0\nfoo2=oci://${A.host}/plugins/foo:1.0.0@${fromA.manifestDigest}\n`,
    );
    const r = await cli(['mirror', list, '--to', `${T.host}/same`]);
    expect(r.stderr).toContain('ok: ');
    expect(r.code).toBe(EXIT.ok);
    const res = await fetch(`${T.url}/v2/same/plugins/foo/manifests/1.0.0`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.headers.get('docker-content-digest')).toBe(fromA.manifestDigest);
  }, 60_000);
});
