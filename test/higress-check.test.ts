/**
 * `check` against the real Nginx serving a tree the pipeline wrote: a good tree passes; a tree with a
 * corrupted file, a missing file and a wrong index entry fails naming all three; the Console's URLs
 * (spec.yaml versions) are checked too; under gzip both served files (.gz and plain) are proven.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { publishVersion, writeIndex } from '../src/tree/publish';
import { runCli } from './support/cli-run';
import { freePort, startNginx, RunningNginx } from './support/nginx';
import { editInPlace } from './support/tree-state';
import { smallWasm } from './support/wasm';

const CREATED = '2026-01-02T03:04:05Z';
const running: RunningNginx[] = [];
const dirs: string[] = [];

async function tree(): Promise<string> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-check-'));
  dirs.push(root);
  const wasm = await smallWasm();
  for (const name of ['alpha', 'bravo', 'charlie', 'delta']) {
    await publishVersion(root, {
      name,
      version: '2.0.0',
      wasmPath: wasm,
      source: `file:${name}.wasm@2.0.0`,
      manifestDigest: null,
      created: CREATED,
    });
  }
  await publishVersion(root, {
    name: 'key-auth',
    version: '2.0.0',
    wasmPath: wasm,
    source: 'file:key-auth.wasm@2.0.0',
    manifestDigest: null,
    created: CREATED,
  });
  await writeIndex(root);
  return root;
}

async function serve(root: string): Promise<RunningNginx> {
  const n = await startNginx(root);
  running.push(n);
  return n;
}

afterAll(async () => {
  for (const n of running) await n.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('a good tree checks out, with gzip like the gateway and without', async () => {
  const n = await serve(await tree());
  const gz = await runCli('check', n.url);
  expect(gz.code).toBe(0);
  expect(gz.stderr).toMatch(/check: 5 ok, 0 failed/);
  // The result lines are the report: stdout. The summary is a human line: stderr.
  expect(gz.stdout).toMatch(/^ok\s+\S+@2\.0\.0 .*encoding gzip/m);
  const plain = await runCli('check', n.url, '--no-gzip', '--sample', '2', '--json');
  expect(plain.code).toBe(0);
  const lines = plain.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((e) => e.event === 'plugin');
  expect(lines).toHaveLength(2);
  for (const l of lines)
    expect(l).toMatchObject({ command: 'check', status: 'ok', message: expect.stringMatching(/encoding identity/) });
});

test('a corrupted file, a missing file and a wrong index entry are each named; exit non-zero', async () => {
  const root = await tree();
  const dir = (name: string) => path.join(root, 'plugins', name, '2.0.0');
  // Corrupted: both encodings hold other bytes than the index says.
  const bad = Buffer.from(fs.readFileSync(path.join(dir('alpha'), 'plugin.wasm')));
  bad[bad.length - 1] ^= 0xff;
  editInPlace(path.join(dir('alpha'), 'plugin.wasm'), bad);
  editInPlace(path.join(dir('alpha'), 'plugin.wasm.gz'), zlib.gzipSync(bad));
  // Missing.
  fs.rmSync(path.join(dir('bravo'), 'plugin.wasm'));
  fs.rmSync(path.join(dir('bravo'), 'plugin.wasm.gz'));
  // Wrong index entry.
  const indexFile = path.join(root, 'plugins', 'index.json');
  const index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  index.plugins.find((e: { name: string }) => e.name === 'charlie').size += 1;
  fs.writeFileSync(indexFile, JSON.stringify(index));

  const n = await serve(root);
  const run = await runCli('check', n.url);
  expect(run.code).toBe(6);
  const errors = run.stdout.split('\n').filter((l) => l.startsWith('FAILED'));
  expect(errors).toHaveLength(3);
  expect(run.stdout).toMatch(/FAILED alpha@2\.0\.0 sha256 [0-9a-f]{64} != index/);
  expect(run.stdout).toMatch(/FAILED bravo@2\.0\.0 HTTP 404/);
  expect(run.stdout).toMatch(/FAILED charlie@2\.0\.0 size \d+ != index \d+/);
  expect(run.stderr).toMatch(/check: 2 ok, 3 failed/);
});

test('console contract: the spec.yaml version must be served, and the error says how to fix it', async () => {
  const root = await tree();
  const list = path.join(root, 'console.plugins.properties');
  fs.writeFileSync(
    list,
    '# console\nalpha=oci://example.invalid/plugins/alpha:2.0.0\nkey-auth=oci://example.invalid/plugins/key-auth:2.0.0\n',
  );
  const n = await serve(root);
  const missingAlias = await runCli('check', n.url, '--console-list', list);
  expect(missingAlias.code).not.toBe(0);
  expect(missingAlias.stdout).toMatch(
    /FAILED key-auth@1\.0\.0 console URL answered HTTP 404 .*#@alias key-auth 1\.0\.0=2\.0\.0/,
  );

  // With the alias published (what the shipped plugin list does) the Console's URL answers.
  await publishVersion(root, {
    name: 'key-auth',
    version: '1.0.0',
    wasmPath: await smallWasm(),
    source: 'file:key-auth.wasm@2.0.0',
    manifestDigest: null,
    created: CREATED,
    aliasOf: '2.0.0',
  });
  await writeIndex(root);
  const ok = await runCli('check', n.url, '--console-list', list, '--sample', '1');
  expect(ok.code).toBe(0);
  expect(ok.stderr).toMatch(/check: 3 ok, 0 failed \(1 plugin file\(s\), 2 console URL\(s\)\)/);
});

test('an unreachable server is one clear error', async () => {
  const run = await runCli('check', '127.0.0.1:9');
  expect(run.code).toBe(3);
  expect(run.stderr).toMatch(/error: cannot fetch http:\/\/127\.0\.0\.1:9\/plugins\/index\.json/);
  // A closed port: the reason, as pull names it, not only "fetch failed".
  const closed = await runCli('check', `http://127.0.0.1:${await freePort()}`);
  expect(closed.code).toBe(3);
  expect(closed.stderr).toMatch(/fetch failed: .*ECONNREFUSED/);
});

test('under gzip, as the gateway asks, a plugin.wasm changed after pull fails: the plain file is checked too', async () => {
  const root = await tree();
  const wasm = path.join(root, 'plugins', 'delta', '2.0.0', 'plugin.wasm');
  const changed = Buffer.from(fs.readFileSync(wasm));
  changed[changed.length - 1] ^= 0xff;
  // Only plugin.wasm: its .gz, which gzip clients get, still holds the indexed bytes.
  editInPlace(wasm, changed);
  const n = await serve(root);
  const run = await runCli('check', n.url);
  expect(run.code).toBe(6);
  expect(run.stdout).toMatch(
    /FAILED delta@2\.0\.0 plain download \(plugin\.wasm, served to clients without gzip\): sha256 [0-9a-f]{64} != index .*run `verify`/,
  );
  expect(run.stdout).toMatch(/^ok\s+alpha@2\.0\.0 .*encoding gzip and identity/m);
  expect(run.stderr).toMatch(/check: 4 ok, 1 failed/);
});
