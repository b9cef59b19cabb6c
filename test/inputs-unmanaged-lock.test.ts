/**
 * Upstream's snapshot-build rules (src/inputs/unmanaged-lock.ts) on the real 2.2.4 inputs and on each
 * refusal: ambiguous inventoryKey, missing/extra lock entries, identity changes, drift, Wasm hash.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parsePluginList } from '../src/inputs/properties';
import { parseSnapshot } from '../src/inputs/snapshot';
import { sourceText } from '../src/inputs/types';
import {
  foldPinnedDuplicates,
  parseUnmanagedLock,
  sameBytesProblem,
  planSnapshotBuild,
  servedSnapshotEntries,
  wasmPinProblem,
} from '../src/inputs/unmanaged-lock';

const REF = path.join(__dirname, 'fixtures', 'reference');
const SNAPSHOT = path.join(REF, 'higress-plugin-snapshot-2.2.4.json');
const LOCK = path.join(REF, 'unmanaged-plugins.lock.json');
const LIST = path.join(REF, 'plugin-server.plugins.properties');
const CONSOLE = path.join(REF, 'console.plugins.properties');
const read = (f: string) => fs.readFileSync(f, 'utf8');
const D = (c: string) => `sha256:${c.repeat(64)}`;
const H = (c: string) => c.repeat(64);

function plan(opts: { snapshot?: string; lock?: string; lists?: Array<[string, string]> } = {}) {
  const snapshotText = opts.snapshot ?? read(SNAPSHOT);
  const lists = (opts.lists ?? [[read(LIST), 'plugins.properties']]).map(([text, file]) => parsePluginList(text, file));
  return planSnapshotBuild({
    lists,
    snapshot: { parsed: parseSnapshot(snapshotText, 'snapshot.json'), text: snapshotText, file: 'snapshot.json' },
    lock: { text: opts.lock ?? read(LOCK), file: 'lock.json' },
  });
}

const lockDoc = () =>
  JSON.parse(read(LOCK)) as { schemaVersion: number; plugins: Record<string, Record<string, string>> };
const lockText = (mutate: (d: ReturnType<typeof lockDoc>) => void) => {
  const d = lockDoc();
  mutate(d);
  return JSON.stringify(d, null, 2);
};
const lines = (p: ReturnType<typeof plan>) => p.problems.map((e) => e.toLine());

describe('the real 2.2.4 inputs', () => {
  test('upstream list + snapshot + lock: 36 managed names, the 9 unmanaged pinned by the lock at 2.0.0', () => {
    const p = plan();
    expect(lines(p)).toEqual([]);
    const lock = lockDoc().plugins;
    const unmanaged = p.entries.filter((e) => e.name in lock);
    expect(unmanaged.map((e) => `${e.name}@${e.version}`).sort()).toEqual(Object.keys(lock).map((n) => `${n}@2.0.0`));
    for (const e of unmanaged) {
      expect(sourceText(e.source)).toBe(`oci://${lock[e.name].repository}:2.0.0@${lock[e.name].digest}`);
      expect(p.wasmPins.get(`${e.name}@2.0.0`)).toBe(lock[e.name].wasmSha256);
    }
    // The snapshot serves its versions by digest; the list's managed entries (all :2.0.0) stay as
    // compatibility entries at their own tag (what every image before 2.2.4 served there).
    expect(p.entries.filter((e) => e.name === 'ai-proxy').map((e) => `${e.version} ${e.from ?? 'list'}`)).toEqual([
      '2.0.1 snapshot',
      '2.0.0 list',
    ]);
    expect(p.entries.filter((e) => e.name === 'cors').map((e) => e.version)).toEqual(['2.0.2', '2.0.0']);
    expect(sourceText(p.entries.find((e) => e.name === 'ai-proxy' && e.version === '2.0.0')!.source)).toBe(
      'oci://higress-registry.cn-hangzhou.cr.aliyuncs.com/plugins/ai-proxy:2.0.0',
    );
    const listed = parsePluginList(read(LIST), 'plugins.properties').entries;
    const compat = listed.filter((e) => !(e.name in lock));
    expect(compat).toHaveLength(43 - 9);
    expect(p.entries).toHaveLength(36 + 9 + compat.length);
    expect(p.entries.filter((e) => e.name in lock).every((e) => e.from === 'unmanaged-lock')).toBe(true);
    expect(p.wasmPins.size).toBe(9);
  });

  test("the shipped list's #@alias 1.0.0=2.0.0 lines resolve for managed and unmanaged plugins alike", () => {
    const shipped = path.join(__dirname, '..', 'image', 'plugins.properties');
    const p = plan({ lists: [[read(shipped), 'plugins.properties']] });
    expect(lines(p)).toEqual([]);
    const names = parsePluginList(read(LIST), 'upstream').entries.map((e) => e.name);
    for (const name of names) {
      const at = (v: string) => p.entries.find((e) => e.name === name && e.version === v);
      expect([name, at('2.0.0')?.aliasOf, at('1.0.0')?.aliasOf]).toEqual([name, undefined, '2.0.0']);
      expect(sourceText(at('1.0.0')!.source)).toBe(sourceText(at('2.0.0')!.source));
    }
    // basic-auth is unmanaged: its alias serves the lock's pinned bytes.
    const basic = p.entries.find((e) => e.name === 'basic-auth' && e.version === '1.0.0')!;
    expect(sourceText(basic.source)).toMatch(/basic-auth:2\.0\.0@sha256:/);
  });

  test('a list alias of the snapshot version serves the snapshot pin (the tag folds into it)', () => {
    const snapshotText = read(SNAPSHOT);
    const cors = parseSnapshot(snapshotText, 's').entries.find((e) => e.name === 'cors')!;
    const text = `${read(LIST)}\ncors=oci://higress-registry.cn-hangzhou.cr.aliyuncs.com/plugins/cors:2.0.2\n#@alias cors 0.9.0=2.0.2\n`;
    const p = plan({ lists: [[text, 'plugins.properties']] });
    expect(lines(p)).toEqual([]);
    expect(p.sameBytes.map((c) => `${c.entry.name}@${c.entry.version}`)).toEqual(['cors@2.0.2']);
    const alias = p.entries.find((e) => e.name === 'cors' && e.version === '0.9.0')!;
    expect([alias.aliasOf, sourceText(alias.source)]).toEqual(['2.0.2', sourceText(cors.source)]);
  });

  test('the inventory lists every inventoryKey and alias, sorted, and no unmanaged plugin', () => {
    const inv = plan().inventory;
    expect(inv).toHaveLength(36);
    expect(inv.map((w) => w.key)).toEqual([...inv.map((w) => w.key)].sort());
    expect(inv.map((w) => w.key)).toEqual(
      expect.arrayContaining(['mcp-server', 'json-converter', 'jsonrpc-converter']),
    );
    expect(inv.find((w) => w.key === 'jsonrpc-converter')).toEqual({
      ...inv.find((w) => w.key === 'json-converter'),
      key: 'jsonrpc-converter',
    });
    expect(inv.find((w) => w.key === 'mcp-server')?.version).toBe('2.0.1');
    expect(inv.some((w) => w.key === 'basic-auth')).toBe(false);
  });

  test('later lists add their entries with their own pins; the lock rules only the first list', () => {
    const p = plan({
      lists: [
        [read(LIST), 'plugins.properties'],
        [read(CONSOLE), 'console.plugins.properties'],
      ],
    });
    // The console list names plugins the snapshot does not serve and the lock does not hold: no "missing";
    // its tags at a version the snapshot or the lock pins fold into that pin (checked when resolved).
    expect(lines(p)).toEqual([]);
    expect(p.entries.some((e) => e.name === 'simple-jwt-auth')).toBe(true);
    expect(p.wasmPins.size).toBe(9);
    const folded = p.sameBytes.map((c) => `${c.entry.name}@${c.entry.version}`);
    expect(folded).toEqual(expect.arrayContaining(['ai-proxy@2.0.1', 'json-converter@2.0.1', 'basic-auth@2.0.0']));
    const ai = p.sameBytes.find((c) => c.entry.name === 'ai-proxy')!;
    expect(ai.entry.file).toBe('console.plugins.properties');
    expect(ai.pinnedBy.file).toBe('snapshot.json');
    expect(p.entries.filter((e) => e.name === 'ai-proxy').map((e) => sourceText(e.source))).toEqual([
      `oci://higress-registry.cn-hangzhou.cr.aliyuncs.com/plugins/ai-proxy:2.0.1@${ai.digest}`,
      'oci://higress-registry.cn-hangzhou.cr.aliyuncs.com/plugins/ai-proxy:2.0.0',
    ]);
  });
});

describe('one name and version from two sources', () => {
  const list = (text: string, file: string) => parsePluginList(text, file).entries;
  test('a tag folds into the pin of the same name and version, whichever comes first', () => {
    const pinned = list(`a=oci://r.example/p/a:1@${D('a')}\n`, 'pinned');
    const tag = list('a=oci://mirror.example/p/a:1\nb=oci://r.example/p/b:1\n', 'tags');
    for (const order of [
      [...pinned, ...tag],
      [...tag, ...pinned],
    ]) {
      const r = foldPinnedDuplicates(order);
      expect(r.entries.map((e) => sourceText(e.source)).sort()).toEqual([
        `oci://r.example/p/a:1@${D('a')}`,
        'oci://r.example/p/b:1',
      ]);
      expect(r.sameBytes.map((c) => [c.entry.file, c.digest, c.pinnedBy.file])).toEqual([['tags', D('a'), 'pinned']]);
    }
  });

  test('two pins or two tags stay a duplicate for dedupe', () => {
    const two = [...list(`a=oci://r/p/a:1@${D('a')}\n`, 'x'), ...list(`a=oci://r/p/a:1@${D('b')}\n`, 'y')];
    expect(foldPinnedDuplicates(two).sameBytes).toEqual([]);
    expect(foldPinnedDuplicates(two).entries).toHaveLength(2);
  });

  test('a tag that resolves elsewhere: one integrity line naming both sources', () => {
    const [pin] = list(`a=oci://r.example/p/a:1@${D('a')}\n`, 'snapshot.json');
    const [tag] = list('a=oci://r.example/p/a:1\n', 'console.properties');
    const check = { entry: tag, digest: D('a'), pinnedBy: pin };
    expect(sameBytesProblem(check, D('a'))).toBeUndefined();
    const e = sameBytesProblem(check, D('b'))!;
    expect(e.exitCode).toBe(5);
    expect(e.message).toBe(
      `a@1 is served by two sources with different bytes: oci://r.example/p/a:1 (console.properties:1) resolves to ${D('b')}, oci://r.example/p/a:1@${D('a')} (snapshot.json:1) pins ${D('a')}`,
    );
  });
});

describe('refusals, each one line naming the rule', () => {
  test('two snapshot entries with the same inventoryKey: ambiguous', () => {
    const d = JSON.parse(read(SNAPSHOT)) as { plugins: Array<{ consumers: { pluginServer?: object } }> };
    const i = d.plugins.findIndex((e) => e.consumers.pluginServer);
    const dup = { ...d.plugins[i], logicalId: 'ai-agent-two' };
    d.plugins.push(dup);
    const p = plan({ snapshot: JSON.stringify(d, null, 2) });
    expect(p.problems.map((e) => e.code)).toContain('E_SNAPSHOT_AMBIGUOUS');
    expect(lines(p).find((l) => l.includes('ambiguous'))).toMatch(
      /^snapshot\.json:\d+: inventoryKey ai-agent is ambiguous: snapshot entries ai-agent and ai-agent-two both claim it \(/,
    );
  });

  test('an alias claiming another entry inventoryKey is ambiguous too', () => {
    const text = JSON.stringify({
      schemaVersion: 1,
      plugins: [
        {
          logicalId: 'a',
          version: '1',
          ociRef: 'r/a:1',
          digest: D('a'),
          consumers: { pluginServer: { httpPath: 'a' } },
        },
        {
          logicalId: 'b',
          version: '1',
          ociRef: 'r/b:1',
          digest: D('b'),
          consumers: { pluginServer: { httpPath: 'b', inventoryKey: 'b', aliases: ['a'] } },
        },
      ],
    });
    expect(servedSnapshotEntries(text, 's.json').problems.map((e) => e.message)).toEqual([
      'inventoryKey a is ambiguous: snapshot entries a and b both claim it',
    ]);
  });

  test('an ociRef tag that differs from version: disagree (parseSnapshot)', () => {
    const snapshot = read(SNAPSHOT).replace('plugins/ai-cache:2.0.1', 'plugins/ai-cache:2.0.9');
    expect(lines(plan({ snapshot }))).toEqual([
      expect.stringMatching(/^snapshot\.json:\d+: ai-cache: ociRef tag 2\.0\.9 disagrees with version 2\.0\.1 \(/),
    ]);
  });

  test('a lock that misses an entry and adds another: one line, missing=… extra=…', () => {
    const lock = lockText((d) => {
      delete d.plugins['basic-auth'];
      d.plugins['ai-proxy'] = { ...d.plugins['oauth'], logicalKey: 'ai-proxy', servedPath: 'ai-proxy' };
    });
    const p = plan({ lock });
    expect(p.problems.map((e) => e.code)).toEqual(['E_UNMANAGED_COVERAGE']);
    expect(lines(p)[0]).toMatch(
      /^lock\.json: the unmanaged lock does not cover exactly the entries of plugins\.properties the snapshot does not manage: missing=basic-auth extra=ai-proxy \(/,
    );
  });

  test('a list entry the snapshot does not manage and the lock does not hold: missing', () => {
    const p = plan({ lists: [[`${read(LIST)}\nextra-one=oci://r.example/plugins/extra-one:1.0.0\n`, 'p']] });
    expect(p.problems.map((e) => e.message)).toEqual([expect.stringContaining('missing=extra-one extra=(none)')]);
  });

  test('repository and tag drift from the list', () => {
    const lock = lockText((d) => {
      d.plugins['oauth'].repository = 'higress-registry.cn-hangzhou.cr.aliyuncs.com/plugins/oauth2';
      d.plugins['key-auth'].tag = '2.0.1';
    });
    const p = plan({ lock });
    expect(p.problems.map((e) => e.code)).toEqual(['E_UNMANAGED_DRIFT', 'E_UNMANAGED_DRIFT']);
    expect(lines(p)).toEqual([
      expect.stringMatching(
        /^lock\.json:\d+: key-auth drifts from the list: tag 2\.0\.1 in the lock, 2\.0\.0 in the list \(/,
      ),
      expect.stringMatching(
        /^lock\.json:\d+: oauth drifts from the list: repository higress-registry\.cn-hangzhou\.cr\.aliyuncs\.com\/plugins\/oauth2 in the lock, higress-registry\.cn-hangzhou\.cr\.aliyuncs\.com\/plugins\/oauth in the list \(/,
      ),
    ]);
  });

  test('a list that pins another digest than the lock drifts', () => {
    const list = read(LIST).replace('plugins/oauth:2.0.0', `plugins/oauth:2.0.0@${D('0')}`);
    expect(plan({ lists: [[list, 'p']] }).problems.map((e) => e.message)).toEqual([
      expect.stringMatching(
        /^oauth drifts from the list: digest sha256:05166e.* in the lock, sha256:0{64} in the list$/,
      ),
    ]);
  });

  test('servedVersion, servedPath and logicalKey changing identity', () => {
    const lock = lockText((d) => {
      d.plugins['basic-auth'].servedVersion = '1.0.0';
      d.plugins['bot-detect'].servedPath = 'bot';
      d.plugins['hmac-auth'].logicalKey = 'hmac';
    });
    const p = plan({ lock });
    expect(p.problems.map((e) => e.code)).toEqual([
      'E_UNMANAGED_IDENTITY',
      'E_UNMANAGED_IDENTITY',
      'E_UNMANAGED_IDENTITY',
    ]);
    expect(p.problems.map((e) => e.message)).toEqual([
      'basic-auth changes its served identity: servedVersion 1.0.0, the list tag is 2.0.0',
      'bot-detect changes its served identity: servedPath is bot',
      'hmac-auth changes its served identity: logicalKey is hmac',
    ]);
  });

  test('a malformed lock: one problem per entry, with its line', () => {
    const lock = lockText((d) => {
      d.plugins['oauth'].digest = 'sha256:00';
      d.plugins['jwt-auth'].wasmSha256 = 'nope';
      delete (d.plugins['key-auth'] as Record<string, unknown>).tag;
    });
    const r = parseUnmanagedLock(lock, 'lock.json');
    expect(r.lock).toBeUndefined();
    expect(r.problems.map((e) => e.toLine())).toEqual([
      expect.stringMatching(/^lock\.json:\d+: jwt-auth: bad wasmSha256 "nope"/),
      expect.stringMatching(/^lock\.json:\d+: key-auth: needs tag \(strings\)/),
      expect.stringMatching(/^lock\.json:\d+: oauth: bad digest "sha256:00"/),
    ]);
    expect(parseUnmanagedLock('{"schemaVersion":2,"plugins":{}}', 'l').problems[0].code).toBe('E_UNMANAGED_LOCK');
    expect(parseUnmanagedLock('[', 'l').problems[0].message).toMatch(/^not valid JSON/);
  });

  test('a module whose sha256 differs from wasmSha256: Wasm hash does not match (integrity, exit 5)', () => {
    const pins = new Map([['basic-auth@2.0.0', H('a')]]);
    expect(wasmPinProblem(pins, { name: 'basic-auth', version: '2.0.0' }, H('a'))).toBeUndefined();
    expect(wasmPinProblem(pins, { name: 'other', version: '2.0.0' }, H('b'))).toBeUndefined();
    const e = wasmPinProblem(pins, { name: 'basic-auth', version: '2.0.0' }, H('b'));
    expect(e?.code).toBe('E_UNMANAGED_WASM_HASH');
    expect(e?.exitCode).toBe(5);
    expect(e?.message).toBe(
      `Wasm hash does not match the unmanaged lock: the module is sha256 ${H('b')}, the lock's wasmSha256 is ${H('a')}`,
    );
  });
});
