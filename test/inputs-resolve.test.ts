/**
 * src/inputs/resolve.ts, the one input path of pull, bundle, mirror and outdated (pure code and files only), and
 * src/pipeline/prune.ts, the one answer to "what does --prune remove" for the dry run and the commit.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { errorLine } from '../src/errors';
import { renderLock } from '../src/inputs/lock';
import { resolveInputs } from '../src/inputs/resolve';
import { sourceText } from '../src/inputs/types';
import { planLockFlags } from '../src/commands/pull';
import { pruneCandidates } from '../src/pipeline/prune';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
let dir: string;
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
};

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inputs-resolve-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('resolveInputs', () => {
  const LIST = 'a=oci://reg.example/plugins/a:1.0.0\nb=oci://reg.example/plugins/b:2.0.0\n';
  const lockOf = (entries: Array<[string, string, string, string]>) =>
    renderLock(entries.map(([name, version, source, digest]) => ({ name, version, source, digest })));

  test('lists: entries, the files as read, the default lock next to the first list', async () => {
    const list = file('sub/plugins.properties', LIST);
    const { inputs, problems } = await resolveInputs({ command: 'pull', args: [list] });
    expect(problems).toEqual([]);
    expect(inputs?.entries.map((e) => `${e.name}@${e.version}`)).toEqual(['a@1.0.0', 'b@2.0.0']);
    expect(inputs?.files.map((f) => f.title)).toEqual(['plugins.properties']);
    expect(inputs?.lock).toBeUndefined();
    expect(inputs?.defaultLockPath).toBe(path.join(dir, 'sub', 'plugins.lock.json'));
  });

  test('every problem of every input, one each, not only the first', async () => {
    const bad = file('bad.properties', 'x\n=y\n');
    const { inputs, problems } = await resolveInputs({
      command: 'bundle',
      args: [bad, path.join(dir, 'missing.properties')],
      snapshot: path.join(dir, 'missing.json'),
    });
    expect(inputs).toBeUndefined();
    const lines = problems.map((p) => errorLine(p));
    expect(lines).toHaveLength(4);
    expect(lines.filter((l) => /bad\.properties:\d/.test(l))).toHaveLength(2);
    expect(lines.some((l) => /missing\.properties: not found/.test(l))).toBe(true);
    expect(lines.some((l) => /missing\.json: not found/.test(l))).toBe(true);
  });

  test('a bundle that cannot be opened, a bad --registry-map and a bad list: all three reported', async () => {
    const bad = file('bad.properties', 'x\n');
    const { problems } = await resolveInputs({
      command: 'pull',
      args: [`oci-layout:${path.join(dir, 'nope.oci.tar')}`, bad],
      registryMap: ['no-equals'],
    });
    expect(problems).toHaveLength(3);
    expect(problems.map((p) => p.code)).toEqual(expect.arrayContaining(['E_PROPERTIES_SYNTAX', 'E_REGISTRY_MAP']));
    expect(problems.map((p) => errorLine(p)).some((l) => l.includes('nope.oci.tar'))).toBe(true);
  });

  test('--lock with lists: the lists must agree with it, every difference reported', async () => {
    const list = file('plugins.properties', LIST);
    const lock = file(
      'other.lock.json',
      lockOf([
        ['a', '1.0.0', 'oci://reg.example/plugins/a:0.9.0', D1],
        ['c', '3.0.0', 'oci://reg.example/plugins/c:3.0.0', D2],
      ]),
    );
    const { problems } = await resolveInputs({ command: 'mirror', args: [list], lock });
    expect(problems.map((p) => p.code)).toEqual(['E_FROZEN', 'E_FROZEN', 'E_FROZEN']);
    const agreeing = file(
      'agree.lock.json',
      lockOf([
        ['a', '1.0.0', 'oci://reg.example/plugins/a:1.0.0', D1],
        ['b', '2.0.0', 'oci://reg.example/plugins/b:2.0.0', D2],
      ]),
    );
    const ok = await resolveInputs({ command: 'pull', args: [list], lock: agreeing });
    expect(ok.problems).toEqual([]);
    expect(ok.inputs?.lock?.plugins.map((p) => p.digest)).toEqual([D1, D2]);
    expect(ok.inputs?.lockName).toBe(agreeing);
  });

  test('--lock alone: its entries pinned to its digests; file: sources only for pull, next to the lock', async () => {
    const lock = file(
      'locks/plugins.lock.json',
      lockOf([
        ['a', '1.0.0', 'oci://reg.example/plugins/a:1.0.0', D1],
        ['f', '1.0.0', 'file:wasm/f.wasm', D2],
      ]),
    );
    const pulled = await resolveInputs({ command: 'pull', args: [], lock });
    expect(pulled.problems).toEqual([]);
    expect(pulled.inputs?.entries.map((e) => sourceText(e.source))).toEqual([
      `oci://reg.example/plugins/a:1.0.0@${D1}`,
      'file:wasm/f.wasm',
    ]);
    const f = pulled.inputs?.entries[1].source;
    expect(f?.kind === 'file' && f.path).toBe(path.join(dir, 'locks', 'wasm', 'f.wasm'));
    const bundled = await resolveInputs({ command: 'bundle', args: [], lock });
    expect(bundled.problems.map((p) => p.code)).toEqual(['E_BUNDLE_SOURCE']);
  });

  test('pull --frozen reads the lock next to the first list; --registry-map moves list and lock alike', async () => {
    const list = file('plugins.properties', LIST);
    file(
      'plugins.lock.json',
      lockOf([
        ['a', '1.0.0', 'oci://reg.example/plugins/a:1.0.0', D1],
        ['b', '2.0.0', 'oci://reg.example/plugins/b:2.0.0', D2],
      ]),
    );
    const { inputs, problems } = await resolveInputs({
      command: 'pull',
      args: [list],
      frozen: true,
      registryMap: ['reg.example=mirror.example/m'],
    });
    expect(problems).toEqual([]);
    expect(inputs?.entries.map((e) => sourceText(e.source))[0]).toBe('oci://mirror.example/m/plugins/a:1.0.0');
    expect(inputs?.lock?.plugins[0].source).toBe('oci://mirror.example/m/plugins/a:1.0.0');
    const bad = await resolveInputs({ command: 'pull', args: [list], registryMap: ['no-equals'] });
    expect(bad.problems.map((p) => p.code)).toEqual(['E_REGISTRY_MAP']);
  });

  test('outdated: the lock next to the first list when it exists, none otherwise; file: entries kept', async () => {
    const list = file('w/plugins.properties', `${LIST}l=file:l.wasm@1.0.0\n`);
    const bare = await resolveInputs({ command: 'outdated', args: [list] });
    expect(bare.problems).toEqual([]);
    expect(bare.inputs?.lock).toBeUndefined();
    expect(bare.inputs?.entries.map((e) => `${e.name}@${e.version}`)).toEqual(['a@1.0.0', 'b@2.0.0', 'l@1.0.0']);
    file(
      'w/plugins.lock.json',
      lockOf([
        ['a', '1.0.0', 'oci://reg.example/plugins/a:1.0.0', D1],
        ['b', '2.0.0', 'oci://reg.example/plugins/b:2.0.0', D2],
        ['l', '1.0.0', 'file:l.wasm', D1],
      ]),
    );
    const locked = await resolveInputs({ command: 'outdated', args: [list] });
    expect(locked.problems).toEqual([]);
    expect(locked.inputs?.lockName).toBe(path.join(dir, 'w', 'plugins.lock.json'));
    expect(locked.inputs?.lock?.plugins.map((p) => p.digest)).toEqual([D1, D2, D1]);
    // A lock given alone: its file: entries are kept (outdated skips them) instead of refused as in bundle.
    const alone = await resolveInputs({
      command: 'outdated',
      args: [],
      lock: path.join(dir, 'w', 'plugins.lock.json'),
    });
    expect(alone.problems).toEqual([]);
    expect(alone.inputs?.entries.map((e) => e.source.kind)).toEqual(['oci', 'oci', 'file']);
  });

  test('no input at all: pull reads image/plugins.properties, bundle says what to pass', async () => {
    const bundle = await resolveInputs({ command: 'bundle', args: [] });
    expect(bundle.problems.map((p) => errorLine(p))).toEqual([
      expect.stringMatching(/no plugin list, snapshot, lock file or bundle given/),
    ]);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const pull = await resolveInputs({ command: 'pull', args: [] });
      expect(pull.problems.map((p) => errorLine(p))).toEqual([
        expect.stringMatching(/plugin list image\/plugins\.properties: not found/),
      ]);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('pruneCandidates: one rule for the dry run and the commit', () => {
  const folder = (name: string, version: string, aliasOf?: string) =>
    file(
      `plugins/${name}/${version}/metadata.json`,
      JSON.stringify({ schemaVersion: 1, name, version, sha256: 'x', size: 1, source: 'file:x', aliasOf }),
    );
  const entry = (name: string, version: string, aliasOf?: string) => ({
    name,
    version,
    aliasOf,
    source: { kind: 'oci' as const, ref: { registry: 'reg.example', repository: `plugins/${name}`, tag: version } },
    file: 'list',
    line: 1,
  });
  const ids = (dirs: Array<{ name: string; version: string }>) => dirs.map((d) => `${d.name}@${d.version}`);

  test('before staging a recorded spec.yaml alias of a listed version is kept; after, only the staged aliases', async () => {
    folder('a', '1.0.0');
    folder('a', '0.9.0', '1.0.0'); // a spec.yaml alias the last pull published
    folder('b', '2.0.0'); // left the list
    const listed = [entry('a', '1.0.0')];
    expect(ids(await pruneCandidates(dir, listed))).toEqual(['b@2.0.0']);
    expect(ids(await pruneCandidates(dir, listed, [entry('a', '0.9.0', '1.0.0')]))).toEqual(['b@2.0.0']);
    // The artifact no longer declares the alias: the commit removes it.
    expect(ids(await pruneCandidates(dir, listed, []))).toEqual(['a@0.9.0', 'b@2.0.0']);
  });

  test('a declared alias that left the lists is not presumed a spec.yaml alias', async () => {
    folder('a', '1.0.0');
    folder('a', '0.8.0', '1.0.0');
    folder('a', '0.7.0', '1.0.0');
    const listed = [entry('a', '1.0.0'), entry('a', '0.7.0', '1.0.0')];
    expect(ids(await pruneCandidates(dir, listed))).toEqual(['a@0.8.0']);
  });
});

describe('planLockFlags: the lock flags of pull, old spellings mapped with one warning each', () => {
  test('new spellings: --lock <lock> reads, --write-lock writes, no warning', () => {
    const lock = file('plugins.lock.json', renderLock([]));
    expect(planLockFlags(['l.properties'], { lock, writeLock: true })).toEqual({
      lists: ['l.properties'],
      read: lock,
      write: true,
      notices: [],
    });
  });
  test('old spellings keep their meaning', () => {
    const list = file('l.properties', 'a=oci://reg.example/plugins/a:1.0.0\n');
    const bare = planLockFlags([list], { lock: true });
    expect(bare).toMatchObject({ lists: [list], write: true });
    expect(bare.read).toBeUndefined();
    expect(bare.notices).toEqual([expect.stringMatching(/^warning: .*use --write-lock/)]);
    expect(planLockFlags([], { lock: list })).toMatchObject({ lists: [list], write: true });
    expect(planLockFlags([], { lock: 'oci-layout:b.tar' })).toMatchObject({ lists: ['oci-layout:b.tar'] });
    const fresh = path.join(dir, 'new.lock.json');
    expect(planLockFlags([list], { lock: fresh })).toMatchObject({ write: fresh });
    const frozenMissing = planLockFlags([list], { lock: fresh, frozen: true });
    expect(frozenMissing).toMatchObject({ read: fresh, notices: [] });
    expect(frozenMissing.write).toBeUndefined();
    expect(planLockFlags([], { lockFile: fresh })).toMatchObject({ lists: [], write: fresh });
    const frozen = planLockFlags([], { lockFile: fresh, frozen: true });
    expect(frozen).toMatchObject({ lists: [path.join('image', 'plugins.properties')], read: fresh });
    expect(frozen.notices).toEqual([expect.stringMatching(/--lock-file is deprecated: use --lock /)]);
  });
});
