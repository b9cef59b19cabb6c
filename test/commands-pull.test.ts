/**
 * `pull`, `index` and `verify` through the CLI with file: sources (no registry needed), plus the
 * bad-input paths: each exits non-zero with one line per problem and leaves the tree untouched.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { runCli } from './support/cli-run';
import { REPO_ROOT } from './support/tools';
import { largeWasm, smallWasm } from './support/wasm';
import { treeState } from './support/tree-state';

let dir: string;
let list: string;
let root: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pull-cli-'));
  fs.mkdirSync(path.join(dir, 'wasm'));
  fs.copyFileSync(await smallWasm(), path.join(dir, 'wasm', 'small.wasm'));
  fs.copyFileSync(largeWasm(), path.join(dir, 'wasm', 'large.wasm'));
  fs.writeFileSync(path.join(dir, 'wasm', 'text.wasm'), 'not a module');
  list = path.join(dir, 'plugins.properties');
  fs.writeFileSync(
    list,
    [
      '# local plugins',
      'custom=file:wasm/small.wasm@1.0.0',
      'custom=file:wasm/large.wasm@2.0.0',
      '#@alias custom 0.9.0=1.0.0',
      'other=file:wasm/small.wasm@3.1.0',
      '',
    ].join('\n'),
  );
  root = path.join(dir, 'out');
  process.env.SOURCE_DATE_EPOCH = '1714564800';
  const first = await runCli('pull', list, '--out', root, '--write-lock');
  if (first.code !== 0) throw new Error(`first pull failed: ${first.stderr}`);
});
afterAll(() => {
  delete process.env.SOURCE_DATE_EPOCH;
  fs.rmSync(dir, { recursive: true, force: true });
});

test('pulls file: sources, aliases included, into a verified tree with SOURCE_DATE_EPOCH times', async () => {
  const index = JSON.parse(fs.readFileSync(path.join(root, 'plugins/index.json'), 'utf8'));
  expect(index.plugins.map((p: { name: string; version: string }) => `${p.name}@${p.version}`)).toEqual([
    'custom@0.9.0',
    'custom@1.0.0',
    'custom@2.0.0',
    'other@3.1.0',
  ]);
  expect(index.generated).toBe('2024-05-01T12:00:00Z');
  const alias = JSON.parse(fs.readFileSync(path.join(root, 'plugins/custom/0.9.0/metadata.json'), 'utf8'));
  expect(alias).toMatchObject({ aliasOf: '1.0.0', source: 'file:wasm/small.wasm', manifestDigest: null });
  const lock = JSON.parse(fs.readFileSync(path.join(dir, 'plugins.lock.json'), 'utf8'));
  expect(lock.plugins).toHaveLength(4);
  expect(await runCli('verify', root)).toMatchObject({
    code: 0,
    stderr: expect.stringContaining('verify: 4 plugin version(s) ok'),
  });
});

test('a re-run is all cached and byte-identical; --json prints one object per event', async () => {
  const before = treeState(root, { mtimes: true, record: true });
  const r = await runCli('pull', list, '--out', root, '--json');
  expect(r.code).toBe(0);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(events.filter((e) => e.event === 'plugin').every((e) => e.status === 'cached')).toBe(true);
  expect(events.at(-1)).toMatchObject({
    event: 'summary',
    command: 'pull',
    ok: true,
    counts: { cached: 4, downloaded: 0 },
  });
  expect(treeState(root, { mtimes: true, record: true })).toEqual(before);
});

describe('the record of what the last pull read (.higress-plugin-server.verified)', () => {
  const smallWasmOf = (out: string) => path.join(out, 'plugins/other/3.1.0/plugin.wasm');
  /** Overwrites plugin.wasm in place with other bytes of the same size and puts its mtime back: only ctime tells. */
  const corruptInPlace = (file: string) => {
    const st = fs.statSync(file);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(file, bytes); // as root: the 0444 mode does not stop it, as it would not stop an operator
    fs.utimesSync(file, st.atime, st.mtime);
  };
  const statuses = (stdout: string) =>
    Object.fromEntries(
      stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((e) => e.event === 'plugin')
        .map((e) => [`${e.name}@${e.version}`, e.status]),
    );

  test('a file changed in place with its size and mtime put back is read again and published afresh', async () => {
    const out = path.join(dir, 'record-changed');
    expect((await runCli('pull', list, '--out', out)).code).toBe(0);
    const record = JSON.parse(fs.readFileSync(path.join(out, '.higress-plugin-server.verified'), 'utf8'));
    expect(Object.keys(record.files)).toEqual(
      expect.arrayContaining(['plugins/other/3.1.0/plugin.wasm', 'plugins/custom/2.0.0/plugin.wasm.gz']),
    );
    corruptInPlace(smallWasmOf(out));
    const r = await runCli('pull', list, '--out', out, '--json');
    expect(r.code).toBe(0);
    // small.wasm's three folders share the changed inode; large.wasm's folder is untouched.
    const got = statuses(r.stdout);
    expect(got['custom@2.0.0']).toBe('cached');
    for (const k of ['custom@0.9.0', 'custom@1.0.0', 'other@3.1.0']) expect(got[k]).not.toBe('cached');
    expect(await runCli('verify', out)).toMatchObject({ code: 0 });
  });

  test('pull believes the record for a file unchanged to the nanosecond; verify reads every byte', async () => {
    const out = path.join(dir, 'record-forged');
    expect((await runCli('pull', list, '--out', out)).code).toBe(0);
    const file = smallWasmOf(out);
    corruptInPlace(file);
    // Vouch for the changed file as if the last pull had read it: the record is a cache, not an authority.
    const recordFile = path.join(out, '.higress-plugin-server.verified');
    const record = JSON.parse(fs.readFileSync(recordFile, 'utf8'));
    const st = fs.lstatSync(file, { bigint: true });
    const sha = JSON.parse(fs.readFileSync(path.join(path.dirname(file), 'metadata.json'), 'utf8')).sha256;
    for (const rel of [
      'plugins/custom/1.0.0/plugin.wasm',
      'plugins/custom/0.9.0/plugin.wasm',
      'plugins/other/3.1.0/plugin.wasm',
    ]) {
      record.files[rel] = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}|${sha}`;
    }
    fs.writeFileSync(recordFile, JSON.stringify(record));
    const r = await runCli('pull', list, '--out', out, '--json');
    expect(r.code).toBe(0);
    expect(Object.values(statuses(r.stdout))).toEqual(['cached', 'cached', 'cached', 'cached']);
    const v = await runCli('verify', out);
    expect(v.code).not.toBe(0);
    expect(v.stderr).toMatch(/plugin\.wasm sha256 .* differs from metadata.*plugins\/other\/3\.1\.0\/plugin\.wasm/);
    // A record that is not ours is ignored: everything is read, the changed folders published afresh.
    fs.writeFileSync(recordFile, '{"format":"something else","files":{}}');
    const again = await runCli('pull', list, '--out', out, '--json');
    expect(statuses(again.stdout)['other@3.1.0']).not.toBe('cached');
    expect(await runCli('verify', out)).toMatchObject({ code: 0 });
  });
});

test('--frozen passes when nothing moved and fails when a file changed', async () => {
  expect((await runCli('pull', list, '--out', root, '--frozen')).code).toBe(0);
  const before = treeState(root, { mtimes: true });
  const moved = path.join(dir, 'moved.properties');
  fs.copyFileSync(path.join(dir, 'wasm', 'large.wasm'), path.join(dir, 'wasm', 'small2.wasm'));
  fs.writeFileSync(
    moved,
    fs.readFileSync(list, 'utf8').replace('other=file:wasm/small.wasm', 'other=file:wasm/small2.wasm'),
  );
  const r = await runCli('pull', moved, '--out', root, '--lock', path.join(dir, 'plugins.lock.json'));
  expect(r.code).toBe(3);
  expect(r.stderr).toMatch(
    /other@3\.1\.0: other@3\.1\.0 source changed from file:wasm\/small\.wasm to file:wasm\/small2\.wasm/,
  );
  // Each error line carries its code, as the FAILED lines do (docs/troubleshooting.md is keyed by it).
  expect(r.stderr).toMatch(/^error: .*source changed.* \[E_FROZEN\]$/m);
  const missing = await runCli('pull', list, '--out', root, '--frozen', '--lock-file', path.join(dir, 'no.lock.json'));
  expect(missing.stderr).toMatch(/^error: .*cannot read lock file .* \[E_INPUT_MISSING\]$/m);
  expect(treeState(root, { mtimes: true })).toEqual(before);
});

describe('one lock vocabulary: --lock <file> reads, --write-lock [file] writes, old spellings still work', () => {
  const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('warning:'));
  const lock = () => path.join(dir, 'plugins.lock.json');

  test('--lock <file> alone pulls exactly the locked plugins (file: sources next to the lock)', async () => {
    const out = path.join(dir, 'from-lock');
    const r = await runCli('pull', '--lock', lock(), '--out', out);
    expect(r.code).toBe(0);
    expect(warnings(r.stderr)).toEqual([]);
    const index = JSON.parse(fs.readFileSync(path.join(out, 'plugins/index.json'), 'utf8'));
    expect(index.plugins.map((p: { name: string; version: string }) => `${p.name}@${p.version}`)).toEqual([
      'custom@0.9.0',
      'custom@1.0.0',
      'custom@2.0.0',
      'other@3.1.0',
    ]);
  });

  test('--lock <file> with lists checks them against it, every problem on its own line', async () => {
    const two = path.join(dir, 'two-changes.properties');
    fs.writeFileSync(two, 'custom=file:wasm/large.wasm@1.0.0\nnew=file:wasm/small.wasm@1.0.0\n');
    const r = await runCli('pull', two, '--lock', lock(), '--out', path.join(dir, 'two-out'));
    expect(r.code).toBe(3);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(r.stderr).toMatch(/custom@1\.0\.0 source changed/);
    expect(r.stderr).toMatch(/new@1\.0\.0 is in the list but not in the lock file/);
    expect(r.stderr).toMatch(/other@3\.1\.0 is locked but no longer in the list/);
    expect(fs.existsSync(path.join(dir, 'two-out'))).toBe(false);
  });

  test('--write-lock <file> writes the lock there; --write-lock alone next to the first list', async () => {
    const sub = path.join(dir, 'sub');
    fs.mkdirSync(sub, { recursive: true });
    const subList = path.join(sub, 'plugins.properties');
    fs.writeFileSync(subList, 'x=file:../wasm/small.wasm@1.0.0\n');
    const r = await runCli('pull', subList, '--out', path.join(dir, 'wl-out'), '--write-lock');
    expect(r.code).toBe(0);
    expect(warnings(r.stderr)).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(sub, 'plugins.lock.json'), 'utf8')).plugins).toHaveLength(1);
    const named = path.join(dir, 'named.lock.json');
    const r2 = await runCli('pull', subList, '--out', path.join(dir, 'wl-out'), '--write-lock', named);
    expect(r2.code).toBe(0);
    expect(r2.stderr).toContain(`lock written to ${named}`);
  });

  test('the old spellings keep their meaning and say, in one line each, what to use instead', async () => {
    const sub = path.join(dir, 'old');
    fs.mkdirSync(sub, { recursive: true });
    const oldList = path.join(sub, 'plugins.properties');
    fs.writeFileSync(oldList, 'x=file:../wasm/small.wasm@1.0.0\n');
    const out = path.join(dir, 'old-out');
    // --lock with no value: writes plugins.lock.json next to the first list.
    const bare = await runCli('pull', oldList, '--out', out, '--lock');
    expect(bare.code).toBe(0);
    expect(warnings(bare.stderr)).toEqual([
      expect.stringMatching(/--lock without a file is deprecated: use --write-lock/),
    ]);
    expect(fs.existsSync(path.join(sub, 'plugins.lock.json'))).toBe(true);
    // --lock <path with no file yet>: the lock is written there.
    const fresh = path.join(sub, 'fresh.lock.json');
    const missing = await runCli('pull', oldList, '--out', out, '--lock', fresh);
    expect(missing.code).toBe(0);
    expect(warnings(missing.stderr)).toEqual([expect.stringMatching(/does not exist.*use --write-lock /)]);
    expect(fs.existsSync(fresh)).toBe(true);
    // --lock-file <path>: written without --frozen, read with it.
    const lf = path.join(sub, 'lf.lock.json');
    const write = await runCli('pull', oldList, '--out', out, '--lock-file', lf);
    expect(write.code).toBe(0);
    expect(warnings(write.stderr)).toEqual([expect.stringMatching(/--lock-file is deprecated: use --write-lock /)]);
    const read = await runCli('pull', oldList, '--out', out, '--frozen', '--lock-file', lf);
    expect(read.code).toBe(0);
    expect(warnings(read.stderr)).toEqual([expect.stringMatching(/--lock-file is deprecated: use --lock /)]);
    expect(read.stderr).not.toContain('lock written');
  });
});

describe('bad inputs exit non-zero, name file:line, leave the tree untouched', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['no =', 'custom file:wasm/small.wasm@1.0.0', /bad\.properties:1: no "="/],
    ['empty key', '=file:wasm/small.wasm@1.0.0', /bad\.properties:1: empty plugin name/],
    ['bad reference', 'a=oci://127.0.0.1:1/UPPER:1', /bad\.properties:1: bad reference/],
    ['unsupported scheme', 'a=https://example.com/a.wasm', /bad\.properties:1: unsupported scheme "https:"/],
    ['hostile name', '../../etc=file:wasm/small.wasm@1.0.0', /bad\.properties:1: unsafe plugin name/],
    ['hostile version', 'a=file:wasm/small.wasm@../../x', /bad\.properties:1: unsafe version/],
    [
      'conflicting duplicate',
      'a=file:wasm/small.wasm@1\na=file:wasm/large.wasm@1',
      /bad\.properties:2: a@1 is already declared at line 1/,
    ],
  ];
  test.each(cases)('%s', async (_, text, pattern) => {
    const bad = path.join(dir, 'bad.properties');
    fs.writeFileSync(bad, `${text}\n`);
    const before = treeState(root, { mtimes: true });
    const r = await runCli('pull', bad, '--out', root);
    expect(r.code).toBe(3);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(pattern);
    expect(lines.at(-1)).toMatch(/problem\(s\) in .*bad\.properties; nothing was pulled/);
    expect(treeState(root, { mtimes: true })).toEqual(before);
  });

  test('every problem of a file is reported, one line each', async () => {
    const bad = path.join(dir, 'bad.properties');
    fs.writeFileSync(bad, 'x\n=y\nok=file:wasm/small.wasm@1\nz=ftp://h/r:1\n');
    const r = await runCli('pull', bad, '--out', root);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .map((l) => l.match(/bad\.properties:(\d+)/)?.[1]),
    ).toEqual(['1', '2', '4', undefined]);
  });

  test('a payload that is not wasm fails the run and names the plugin', async () => {
    const bad = path.join(dir, 'bad.properties');
    fs.writeFileSync(bad, 'custom=file:wasm/text.wasm@1.0.0\nfresh=file:wasm/small.wasm@1.0.0\n');
    const before = treeState(root, { mtimes: true });
    const r = await runCli('pull', bad, '--out', root);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/FAILED custom@1\.0\.0: payload is not a Wasm module/);
    expect(r.stderr).toMatch(/^failed: .*1 failed.*; the tree was left as it was/m);
    expect(treeState(root, { mtimes: true })).toEqual(before);
  });

  test('a missing file: source names the file and line', async () => {
    const bad = path.join(dir, 'bad.properties');
    fs.writeFileSync(bad, '\nghost=file:wasm/ghost.wasm@1.0.0\n');
    const r = await runCli('pull', bad, '--out', root);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/FAILED ghost@1\.0\.0: .*bad\.properties:2: file wasm\/ghost\.wasm not found/);
  });
});

test('a failed run counts in its summary what its lines said (three "cached" lines are "3 cached")', async () => {
  const mixed = path.join(dir, 'mixed.properties');
  fs.copyFileSync(list, mixed);
  fs.appendFileSync(mixed, 'ghost=file:wasm/ghost.wasm@1.0.0\n');
  const r = await runCli('pull', mixed, '--out', root);
  expect(r.code).toBe(3);
  const lines = r.stderr.split('\n');
  const cachedLines = lines.filter((l) => /^cached\s/.test(l)).length;
  expect(cachedLines).toBeGreaterThan(0);
  expect(r.stderr).toMatch(
    new RegExp(`^failed: .* ${cachedLines} cached, 1 failed.*; the tree was left as it was`, 'm'),
  );
});

test('--keep-going publishes the good plugins and still exits non-zero; --prune removes unlisted versions', async () => {
  const r2 = path.join(dir, 'out2');
  fs.cpSync(root, r2, { recursive: true });
  const l2 = path.join(dir, 'kg.properties');
  fs.writeFileSync(l2, 'broken=file:wasm/text.wasm@1.0.0\nfresh=file:wasm/small.wasm@1.0.0\n');
  const r = await runCli('pull', l2, '--out', r2, '--keep-going');
  expect(r.code).toBe(8);
  expect(fs.existsSync(path.join(r2, 'plugins/fresh/1.0.0/plugin.wasm'))).toBe(true);
  expect(fs.existsSync(path.join(r2, 'plugins/broken'))).toBe(false);
  expect(fs.existsSync(path.join(r2, 'plugins/custom/2.0.0'))).toBe(true);
  fs.writeFileSync(l2, 'fresh=file:wasm/small.wasm@1.0.0\n');
  expect((await runCli('pull', l2, '--out', r2, '--prune')).code).toBe(0);
  expect(fs.readdirSync(path.join(r2, 'plugins')).sort()).toEqual(['fresh', 'index.json']);
  expect((await runCli('verify', r2)).code).toBe(0);
});

test('verify fails on a tampered file; index repairs a hand-dropped plugin', async () => {
  const r3 = path.join(dir, 'out3');
  fs.cpSync(root, r3, { recursive: true });
  fs.mkdirSync(path.join(r3, 'plugins/hand/1.0.0'), { recursive: true });
  fs.copyFileSync(path.join(dir, 'wasm', 'small.wasm'), path.join(r3, 'plugins/hand/1.0.0/plugin.wasm'));
  const v = await runCli('verify', r3);
  expect(v.code).toBe(6);
  expect(v.stderr).toMatch(/error: hand@1\.0\.0: metadata\.json missing or invalid/);
  expect(v.stderr.trim().split('\n').at(-1)).toMatch(/^verify: \d+ problem\(s\) in 5 plugin version\(s\)$/);
  expect(await runCli('index', r3)).toMatchObject({
    code: 0,
    stderr: expect.stringContaining('index: 4 kept, 1 rebuilt, 0 failed, 0 skipped'),
  });
  expect((await runCli('verify', r3)).code).toBe(0);
});

test('a real process exits non-zero on a bad list (ts-node, transpile only)', async () => {
  const bad = path.join(dir, 'spawn.properties');
  fs.writeFileSync(bad, 'nope\n');
  // The same wiring as src/cli.ts main(): register the command, print errorLine, set the exit code.
  const script = `
    const { Command } = require('commander');
    const program = new Command('higress-plugin-server');
    require('./src/commands/pull').register(program);
    program.parseAsync(process.argv).catch((e) => { process.stderr.write('error: ' + require('./src/errors').errorLine(e) + '\\n'); process.exitCode = 1; });`;
  const run = promisify(execFile)(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', '-e', script, 'node', 'pull', bad, '--out', root],
    { cwd: REPO_ROOT },
  );
  await expect(run).rejects.toMatchObject({
    code: 3,
    stderr: expect.stringMatching(/^error: .*spawn\.properties:1: no "="/),
  });
});

test('several lists merge (another tag is another version); a conflict across lists names both', async () => {
  const second = path.join(dir, 'console.properties');
  fs.writeFileSync(second, 'other=file:wasm/large.wasm@3.2.0\ncustom=file:wasm/small.wasm@1.0.0\n');
  const merged = path.join(dir, 'out-merged');
  const r = await runCli('pull', list, second, '--out', merged);
  expect(r.code).toBe(0);
  const index = JSON.parse(fs.readFileSync(path.join(merged, 'plugins/index.json'), 'utf8'));
  expect(index.plugins.map((p: { name: string; version: string }) => `${p.name}@${p.version}`)).toEqual([
    'custom@0.9.0',
    'custom@1.0.0',
    'custom@2.0.0',
    'other@3.1.0',
    'other@3.2.0',
  ]);

  fs.writeFileSync(second, 'custom=file:wasm/large.wasm@1.0.0\n');
  const conflict = await runCli('pull', list, second, '--out', merged);
  expect(conflict.code).not.toBe(0);
  expect(conflict.stderr).toMatch(/console\.properties:1/);
  expect(conflict.stderr).toMatch(/plugins\.properties:2/);
});
