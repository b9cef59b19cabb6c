/**
 * The chart's `helm test` pod, run for real: its script (as helm renders it) runs under busybox `sh`
 * and `wget` (what the Alpine-based server image has) against the real Nginx serving a tree the
 * pipeline wrote, with the pod's own environment.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { publishVersion, writeIndex } from '../src/tree/publish';
import { renderObjects } from './support/helm';
import { startNginx, RunningNginx } from './support/nginx';
import { tool } from './support/tools';
import { smallWasm } from './support/wasm';

const CREATED = '2026-01-02T03:04:05Z';
let root: string;
let empty: string;
let bin: string;
let nginx: RunningNginx;
let bare: RunningNginx;

function testPod(set: string[] = []): { script: string; env: Record<string, string> } {
  const pod = renderObjects({ set: ['global.enablePluginServer=true', ...set] }).find((o) => o.kind === 'Pod')!;
  const c = pod.spec.containers[0];
  expect(c.command.slice(0, 2)).toEqual(['/bin/sh', '-c']);
  return {
    script: c.command[2],
    env: Object.fromEntries(c.env.map((e: { name: string; value: string }) => [e.name, e.value])),
  };
}

/** Runs the pod's script with busybox, pointing BASE_URL (the in-cluster Service URL) at `url`. */
function runPod(pod: { script: string; env: Record<string, string> }, url: string) {
  expect(pod.env.BASE_URL).toMatch(/^http:\/\/[a-z0-9-]+:\d+$/);
  return spawnSync(path.join(bin, 'sh'), ['-c', pod.script], {
    encoding: 'utf8',
    timeout: 30000,
    env: { PATH: bin, BASE_URL: url, PLUGIN_PATH: pod.env.PLUGIN_PATH },
  });
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-testpod-'));
  empty = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-testpod-empty-'));
  bin = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-busybox-'));
  // Only busybox applets on PATH, as in the Alpine image.
  for (const applet of ['sh', 'wget', 'grep', 'head', 'sed', 'echo', 'cat'])
    fs.symlinkSync(tool('busybox'), path.join(bin, applet));
  const wasm = await smallWasm();
  await publishVersion(root, {
    name: 'key-auth',
    version: '1.0.0',
    wasmPath: wasm,
    source: 'file:key-auth.wasm@1.0.0',
    manifestDigest: null,
    created: CREATED,
  });
  await publishVersion(root, {
    name: 'zz-last',
    version: '2.0.0',
    wasmPath: wasm,
    source: 'file:zz.wasm@2.0.0',
    manifestDigest: null,
    created: CREATED,
  });
  await writeIndex(root);
  await writeIndex(empty);
  nginx = await startNginx(root);
  bare = await startNginx(empty);
});

afterAll(async () => {
  await nginx?.stop();
  await bare?.stop();
  for (const d of [root, empty, bin]) fs.rmSync(d, { recursive: true, force: true });
});

test('passes against a server with plugins: healthz, index.json, the first plugin metadata.txt', () => {
  const r = runPod(testPod(), nginx.url);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('GET ' + nginx.url + '/plugins/key-auth/1.0.0/metadata.txt');
  expect(r.stdout).toMatch(/Plugin Name: key-auth/);
});

test('test.pluginPath picks the plugin; a missing one fails the test', () => {
  const ok = runPod(testPod(['test.pluginPath=/plugins/zz-last/2.0.0/plugin.wasm']), nginx.url);
  expect(ok.status).toBe(0);
  expect(ok.stdout).toMatch(/Plugin Name: zz-last/);
  const missing = runPod(testPod(['test.pluginPath=/plugins/nope/1.0.0/plugin.wasm']), nginx.url);
  expect(missing.status).not.toBe(0);
  expect(missing.stderr).toMatch(/404/);
});

test('fails with a clear message when the image holds no plugin', () => {
  const r = runPod(testPod(), bare.url);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain('index.json lists no plugin');
});
