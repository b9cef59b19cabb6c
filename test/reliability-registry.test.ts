/**
 * Registry fault injection through the whole `pull` pipeline (real registry, real CLI): a fault proxy
 * between pull and the registry delays, drops connections, answers 500/503/429, truncates or corrupts
 * bodies, and a second proxy serves manifests whose digest does not match. Every run starts from a
 * copy of the same published tree (3 plugins) and asks for 2 more:
 *   - transient faults are retried and the run publishes the right bytes;
 *   - permanent faults fail with one clear line per plugin, and the tree is byte-identical to before;
 *   - never a wrong or partial file, never a leftover temp folder.
 * Then the pipeline process is SIGKILLed mid-run (twice, at different points) and a re-run succeeds
 * with no leftovers.
 */
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parsePluginList } from '../src/inputs/properties';
import { createOciClient } from '../src/oci/client';
import { failureLine, runPull } from '../src/pipeline/pull';
import { PLUGINS_DIR, VERIFIED_FILE, WASM_FILE } from '../src/contract/tree-format';
import { verifyTree } from '../src/tree/read';
import { runCli } from './support/cli-run';
import { FaultProxy, FaultRule, startFaultProxy } from './support/fault-proxy';
import { recordFigures, resetFigures } from './support/figures';
import { ManifestProxy, startManifestProxy } from './support/manifest-proxy';
import { pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { REPO_ROOT } from './support/tools';
import { leftovers, treeState, wasmVariant } from './support/tree-state';
import { largeWasm, smallWasm } from './support/wasm';

const FIGURES = 'registry-faults';
const BASELINE = ['alpha', 'bravo', 'charlie'];
const ADDED = ['delta', 'echo'];
const ALL = [...BASELINE, ...ADDED];

let reg: Registry;
let faults: FaultProxy;
let liar: ManifestProxy;
let tmp: string;
/** name -> sha256 hex of the bytes the registry holds for it. */
const want = new Map<string, string>();
/** Host -> a published baseline tree reached through that host (metadata records the host). */
const pristine = new Map<string, string>();
const outcomes: Array<Record<string, unknown>> = [];
let caseNo = 0;

const firstError = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('FAILED '));
const hex = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

function writeList(host: string, names: string[], extra = ''): string {
  const file = path.join(tmp, `list-${++caseNo}.properties`);
  fs.writeFileSync(file, `${names.map((n) => `${n}=oci://${host}/plugins/${n}:1.0.0`).join('\n')}\n${extra}`);
  return file;
}

async function pristineTree(host: string): Promise<string> {
  let root = pristine.get(host);
  if (!root) {
    root = path.join(tmp, `pristine-${pristine.size}`);
    const r = await runCli('pull', writeList(host, BASELINE), '--out', root);
    if (r.code !== 0) throw new Error(`baseline pull failed: ${r.stderr}`);
    pristine.set(host, root);
  }
  const copy = path.join(tmp, `run-${++caseNo}`);
  fs.cpSync(root, copy, { recursive: true, preserveTimestamps: true });
  return copy;
}

function servedSha(root: string, name: string): string | undefined {
  const f = path.join(root, PLUGINS_DIR, name, '1.0.0', WASM_FILE);
  return fs.existsSync(f) ? hex(fs.readFileSync(f)) : undefined;
}

/** What every run must satisfy, success or not. */
async function assertSound(root: string): Promise<void> {
  expect(leftovers(root)).toEqual([]);
  const v = await verifyTree(root);
  expect(v.problems.map((p) => p.toLine())).toEqual([]);
  for (const name of ALL) {
    const sha = servedSha(root, name);
    if (sha !== undefined) expect(sha).toBe(want.get(name));
  }
}

beforeAll(async () => {
  resetFigures(FIGURES);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-registry-'));
  const small = fs.readFileSync(await smallWasm());
  reg = await startRegistry();
  [faults, liar] = await Promise.all([startFaultProxy(reg.url), startManifestProxy(reg.url)]);
  for (const name of ALL) {
    const bytes = wasmVariant(small, name);
    await pushWasmArtifact(reg, `plugins/${name}`, '1.0.0', bytes, {
      annotations: { 'org.opencontainers.image.created': '2025-01-02T03:04:05Z' },
    });
    want.set(name, hex(bytes));
  }
  // Large plugins for the kill tests: publishing them takes long enough to be killed in the middle.
  const large = fs.readFileSync(largeWasm());
  for (const name of ['big-one', 'big-two', 'big-three']) {
    const bytes = wasmVariant(large, name);
    await pushWasmArtifact(reg, `plugins/${name}`, '1.0.0', bytes);
    want.set(name, hex(bytes));
  }
}, 120_000);

afterAll(async () => {
  recordFigures(FIGURES, {
    cases: outcomes,
    faultCases: outcomes.length,
    faultsInjected: outcomes.reduce((n, o) => n + Number(o.injected ?? 0), 0),
  });
  await faults?.stop();
  await liar?.stop();
  await reg?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => faults.clear());

const blobOf = (names: string[]) => new RegExp(`/v2/plugins/(?:${names.join('|')})/blobs/sha256:`);
const manifestOf = (names: string[]) => new RegExp(`/v2/plugins/(?:${names.join('|')})/manifests/`);

describe('transient faults are retried and the run publishes the right bytes', () => {
  const cases: Array<[string, FaultRule[]]> = [
    ['blob responses delayed 1.5 s', [{ path: blobOf(ADDED), delayMs: 1500 }]],
    [
      'connection dropped once per blob',
      [
        { path: blobOf(['delta']), drop: true, times: 1 },
        { path: blobOf(['echo']), drop: true, times: 1 },
      ],
    ],
    ['manifest GET answers 500 twice', [{ path: manifestOf(ADDED), method: 'GET', status: 500, times: 2 }]],
    ['manifest HEAD answers 503 twice', [{ path: manifestOf(ALL), method: 'HEAD', status: 503, times: 2 }]],
    ['blob answers 503 three times', [{ path: blobOf(ADDED), status: 503, times: 3 }]],
    [
      '429 with Retry-After: 1 on manifests',
      [{ path: manifestOf(ALL), status: 429, times: 2, headers: { 'retry-after': '1' } }],
    ],
    [
      'body cut mid-stream (connection closed) once',
      [{ path: blobOf(ADDED), truncateTo: 100, keepLength: true, times: 2 }],
    ],
  ];
  test.each(cases)('%s', async (what, rules) => {
    const root = await pristineTree(faults.host);
    const before = treeState(root);
    for (const r of rules) faults.add(r);
    const r = await runCli('pull', writeList(faults.host, ALL), '--out', root);
    const injected = faults.log.filter((l) => l.fault).length;
    outcomes.push({
      fault: what,
      kind: 'transient',
      injected,
      requests: faults.log.length,
      exit: r.code,
      outcome: r.code === 0 ? 'retried, succeeded' : r.stderr.trim(),
    });
    expect(r.stderr).not.toMatch(/^error:/m);
    expect(r.code).toBe(0);
    expect(injected).toBeGreaterThan(0);
    await assertSound(root);
    for (const name of ALL) expect(servedSha(root, name)).toBe(want.get(name));
    // The plugins that were already there are untouched (index.json and the OCI view's listings list the new ones too).
    const after = treeState(root);
    const listing = (f: string) =>
      f.endsWith('index.json') || /^oci\/(view\.json|catalog\.json|tags\/|pages\/|nginx\/)/.test(f);
    for (const [file, sha] of Object.entries(before)) if (!listing(file)) expect(after[file]).toBe(sha);
  });
});

describe('permanent faults fail clearly and leave the previous tree byte-identical', () => {
  const cases: Array<[string, FaultRule[], RegExp]> = [
    [
      'blob always 500',
      [{ path: blobOf(ADDED), status: 500 }],
      /registry error 500 for http:\/\/127\.0\.0\.1:\d+\/v2\/plugins\/(delta|echo)\/blobs\//,
    ],
    ['manifests always 503', [{ path: manifestOf(ALL), status: 503 }], /registry error 503 .*manifests\/1\.0\.0/],
    [
      '429 on every attempt',
      [{ path: manifestOf(ADDED), status: 429, headers: { 'retry-after': '0' } }],
      /rate limited \(429\)/,
    ],
    [
      'connection dropped on every attempt',
      [{ path: blobOf(ADDED), drop: true }],
      /delta@1\.0\.0: .*http:\/\/127\.0\.0\.1:\d+\/v2\/plugins\/delta\/blobs\//,
    ],
    ['truncated body (short Content-Length)', [{ path: blobOf(ADDED), truncateTo: 1000 }], /got 1000 of \d+ bytes/],
    [
      'body cut mid-stream on every attempt',
      [{ path: blobOf(ADDED), truncateTo: 100, keepLength: true }],
      /delta@1\.0\.0: /,
    ],
    ['corrupted blob bytes (same length)', [{ path: blobOf(ADDED), corrupt: true }], /expected sha256:[0-9a-f]{64}/],
    [
      'corrupted manifest bytes',
      [{ path: manifestOf(ADDED), method: 'GET', corrupt: true }],
      /delta@1\.0\.0: .*sha256/,
    ],
  ];
  test.each(cases)('%s', async (what, rules, message) => {
    const root = await pristineTree(faults.host);
    const before = treeState(root);
    for (const r of rules) faults.add(r);
    const r = await runCli('pull', writeList(faults.host, ALL), '--out', root);
    const injected = faults.log.filter((l) => l.fault).length;
    const errors = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('FAILED '));
    outcomes.push({
      fault: what,
      kind: 'permanent',
      injected,
      requests: faults.log.length,
      exit: r.code,
      outcome: 'failed, tree unchanged',
      error: errors[0],
    });
    expect(r.code).not.toBe(0);
    expect(errors.length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(message);
    // One line per problem, each naming the plugin it belongs to.
    for (const line of errors) expect(line).toMatch(/^FAILED (alpha|bravo|charlie|delta|echo)@1\.0\.0: \S/);
    expect(r.stderr).toMatch(/the tree was left as it was/);
    expect(treeState(root)).toEqual(before);
    await assertSound(root);
  });

  test('a registry that stalls past the timeout on every attempt', async () => {
    const root = await pristineTree(faults.host);
    const before = treeState(root);
    faults.add({ path: blobOf(ADDED), delayMs: 10_000 });
    const list = writeList(faults.host, ALL);
    const { entries } = parsePluginList(fs.readFileSync(list, 'utf8'), list);
    // The CLI's 30 s per-request timeout is too long for a test; same pipeline, shorter timeout.
    const client = createOciClient({ timeoutMs: 300, retries: 2, retryBaseMs: 10 });
    const result = await runPull({ root, entries, client }).finally(() => client.close());
    outcomes.push({
      fault: 'blob stalls 10 s (timeout 300 ms, 2 attempts)',
      kind: 'permanent',
      injected: faults.log.filter((l) => l.fault).length,
      outcome: 'failed, tree unchanged',
      error: result.failed[0] && failureLine(result.failed[0]),
    });
    expect(result.ok).toBe(false);
    expect(result.failed.map((f) => f.error.code)).toEqual(['E_REGISTRY_TIMEOUT', 'E_REGISTRY_TIMEOUT']);
    expect(treeState(root)).toEqual(before);
    await assertSound(root);
  });
});

describe('manifests whose digest does not match', () => {
  afterEach(() => {
    liar.lies = [];
  });

  test('the tag answers HEAD with one digest and GET with another manifest (moved under the pull)', async () => {
    const root = await pristineTree(liar.host);
    const before = treeState(root);
    liar.lies = [{ path: manifestOf(['delta']), swapRepository: { from: '/plugins/delta/', to: '/plugins/echo/' } }];
    const r = await runCli('pull', writeList(liar.host, ALL), '--out', root);
    outcomes.push({
      fault: 'manifest GET swapped for another manifest',
      kind: 'permanent',
      injected: liar.applied,
      exit: r.code,
      outcome: 'failed, tree unchanged',
      error: firstError(r.stderr),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /^FAILED delta@1\.0\.0: .*now resolves to sha256:[0-9a-f]{64}, expected sha256:[0-9a-f]{64}/m,
    );
    expect(treeState(root)).toEqual(before);
    await assertSound(root);
  });

  test('Docker-Content-Digest names other bytes than the body', async () => {
    const root = await pristineTree(liar.host);
    const before = treeState(root);
    liar.lies = [{ path: manifestOf(['delta']), digestHeader: `sha256:${'0'.repeat(64)}` }];
    const r = await runCli('pull', writeList(liar.host, ALL), '--out', root);
    outcomes.push({
      fault: 'Docker-Content-Digest header lies',
      kind: 'permanent',
      injected: liar.applied,
      exit: r.code,
      outcome: 'failed, tree unchanged',
      error: firstError(r.stderr),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^FAILED delta@1\.0\.0: .*sha256:0{64}/m);
    expect(treeState(root)).toEqual(before);
    await assertSound(root);
  });

  test('a digest-pinned reference whose tag now points elsewhere', async () => {
    const root = await pristineTree(faults.host);
    const before = treeState(root);
    const pinned = `sha256:${'a'.repeat(64)}`;
    const list = writeList(
      faults.host,
      ALL.filter((n) => n !== 'delta'),
      `delta=oci://${faults.host}/plugins/delta:1.0.0@${pinned}\n`,
    );
    const r = await runCli('pull', list, '--out', root);
    outcomes.push({
      fault: 'pinned digest differs from the registry',
      kind: 'permanent',
      injected: 0,
      exit: r.code,
      outcome: 'failed, tree unchanged',
      error: firstError(r.stderr),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^FAILED delta@1\.0\.0: .*sha256:a{64}/m);
    expect(treeState(root)).toEqual(before);
    await assertSound(root);
  });
});

describe('SIGKILL mid-run, then a re-run', () => {
  const CLI = ['-r', 'ts-node/register/transpile-only', path.join(REPO_ROOT, 'src', 'cli.ts')];
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  function startPull(
    list: string,
    root: string,
  ): { proc: ChildProcess; exited: Promise<string | null>; stdout(): string } {
    let out = '';
    const proc = spawn(process.execPath, [...CLI, 'pull', list, '--out', root, '--json'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.resume();
    const exited = new Promise<string | null>((resolve) => proc.once('exit', (_code, signal) => resolve(signal)));
    return { proc, exited, stdout: () => out };
  }

  /** Resolves when `cond()` holds, checking on every proxy request or output chunk; bounded by `ms`. */
  function until(cond: () => boolean, proc: ChildProcess, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error('condition not reached in time')), ms);
      const check = () => cond() && done();
      const iv = setInterval(check, 50);
      proc.stdout?.on('data', check);
      proc.once('exit', () => done(cond() ? undefined : new Error('the pull exited before the kill point')));
      function done(err?: Error) {
        clearTimeout(timer);
        clearInterval(iv);
        proc.stdout?.off('data', check);
        if (err) reject(err);
        else resolve();
      }
    });
  }

  async function rerunAndCheck(root: string, list: string): Promise<void> {
    faults.clear();
    const r = await runCli('pull', list, '--out', root);
    expect(r.stderr).not.toMatch(/^error:/m);
    expect(r.code).toBe(0);
    await assertSound(root);
    // No lock or run journal is left; the record of what the re-run read stays, by design.
    expect(fs.readdirSync(root).filter((f) => f.startsWith('.higress-plugin-server'))).toEqual([VERIFIED_FILE]);
  }

  test('killed while a download is stalled: previous tree intact, re-run succeeds, no leftovers', async () => {
    const root = await pristineTree(faults.host);
    const before = treeState(root);
    faults.add({ path: blobOf(['delta']), delayMs: 60_000 });
    const list = writeList(faults.host, ALL);
    const run = startPull(list, root);
    child = run.proc;
    await until(() => faults.log.some((l) => l.fault && /delta\/blobs/.test(l.path)), run.proc, 60_000);
    const leftBehind = leftovers(root);
    run.proc.kill('SIGKILL');
    expect(await run.exited).toBe('SIGKILL');
    // The kill leaves the run's temp folder; nothing outside it changed.
    const afterKill = treeState(root);
    for (const [file, sha] of Object.entries(before)) expect(afterKill[file]).toBe(sha);
    // Besides its temp folder, the killed run leaves its lock and its journal entry: the re-run takes
    // over the stale lock and removes what the journal names.
    expect(Object.keys(afterKill).filter((f) => !f.startsWith('.tmp-') && !(f in before))).toEqual([
      '.higress-plugin-server.lock',
      '.higress-plugin-server.runs',
    ]);
    outcomes.push({
      fault: 'SIGKILL during a stalled download',
      kind: 'kill',
      injected: 1,
      leftoversAfterKill: leftovers(root).length,
      outcome: 'previous tree intact; re-run succeeded, no leftovers',
    });
    expect(leftBehind.length + leftovers(root).length).toBeGreaterThan(0);
    await rerunAndCheck(root, list);
    for (const name of ALL) expect(servedSha(root, name)).toBe(want.get(name));
  });

  test('killed while publishing large plugins: re-run succeeds, no leftovers', async () => {
    const root = await pristineTree(faults.host);
    const names = [...ALL, 'big-one', 'big-two', 'big-three'];
    const list = writeList(faults.host, names);
    const run = startPull(list, root);
    child = run.proc;
    // The first `downloaded` event comes from the commit phase: others are being gzipped and renamed.
    await until(() => /"status":"downloaded"/.test(run.stdout()), run.proc, 60_000);
    run.proc.kill('SIGKILL');
    expect(await run.exited).toBe('SIGKILL');
    outcomes.push({
      fault: 'SIGKILL during the commit phase (3 × 12 MB plugins)',
      kind: 'kill',
      injected: 1,
      leftoversAfterKill: leftovers(root).length,
      outcome: 're-run succeeded, no leftovers',
    });
    await rerunAndCheck(root, list);
    for (const name of names) expect(servedSha(root, name)).toBe(want.get(name));
  });
});
