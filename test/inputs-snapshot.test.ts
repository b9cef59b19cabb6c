import * as fs from 'fs';
import * as path from 'path';
import { diffLock, parseLock, renderLock } from '../src/inputs/lock';
import { parseSnapshot } from '../src/inputs/snapshot';
import { sourceText } from '../src/inputs/types';

const FILE = path.join(__dirname, 'fixtures', 'reference', 'higress-plugin-snapshot-2.2.4.json');
const D = (c: string) => `sha256:${c.repeat(64)}`;

describe('Higress release snapshot', () => {
  test('2.2.4 parses: served entries pinned by digest, httpPath names, aliases share the source', () => {
    const r = parseSnapshot(fs.readFileSync(FILE, 'utf8'), FILE);
    expect(r.problems).toEqual([]);
    // 35 entries carry a pluginServer mapping; json-converter adds the jsonrpc-converter alias.
    expect(r.entries).toHaveLength(36);
    for (const e of r.entries)
      expect(e.source).toMatchObject({ kind: 'oci', ref: { digest: expect.stringMatching(/^sha256:[a-f0-9]{64}$/) } });
    const jc = r.entries.filter((e) => sourceText(e.source).includes('/plugins/jsonrpc-converter:'));
    expect(jc.map((e) => e.name).sort()).toEqual(['json-converter', 'jsonrpc-converter']);
    expect(r.entries[0].line).toBeGreaterThan(1);
  });

  const one = (plugin: object) =>
    parseSnapshot(JSON.stringify({ schemaVersion: 1, plugins: [plugin] }, null, 2), 's.json');
  const good = {
    logicalId: 'a',
    version: '1.0.0',
    ociRef: 'r.example/plugins/a:1.0.0',
    digest: D('a'),
    consumers: { pluginServer: { httpPath: 'a' } },
  };

  test('entries without a pluginServer mapping are not served', () => {
    expect(one({ ...good, consumers: {} }).entries).toEqual([]);
  });
  test('not JSON', () => expect(parseSnapshot('{', 's.json').problems[0].toLine()).toMatch(/^s\.json: not valid JSON/));
  test('wrong schema', () =>
    expect(parseSnapshot('{"schemaVersion":2}', 's.json').problems[0].code).toBe('E_SNAPSHOT'));
  test('tag disagrees with version', () =>
    expect(one({ ...good, version: '2.0.0' }).problems[0].toLine()).toMatch(
      /^s\.json:\d+: a: ociRef tag 1\.0\.0 disagrees/,
    ));
  test('bad digest', () => expect(one({ ...good, digest: 'sha256:00' }).problems[0].code).toBe('E_REFERENCE'));
  test('hostile httpPath', () =>
    expect(one({ ...good, consumers: { pluginServer: { httpPath: '../etc' } } }).problems[0].code).toBe(
      'E_UNSAFE_SEGMENT',
    ));
  test('hostile alias', () =>
    expect(one({ ...good, consumers: { pluginServer: { httpPath: 'a', aliases: ['x/y'] } } }).problems[0].code).toBe(
      'E_UNSAFE_SEGMENT',
    ));
});

describe('lock file', () => {
  const entries = [
    { name: 'b', version: '1', source: 'oci://r/b:1', digest: D('b') },
    { name: 'a', version: '2', source: 'oci://r/a:2', digest: D('a') },
    { name: 'a', version: '1', source: 'oci://r/a:2', digest: D('a'), aliasOf: '2' },
  ];
  test('renders sorted, deterministic, with a trailing newline', () => {
    const text = renderLock(entries);
    expect(text).toBe(renderLock([...entries].reverse()));
    expect(text.endsWith('}\n')).toBe(true);
    expect(JSON.parse(text).plugins.map((p: { name: string; version: string }) => `${p.name}@${p.version}`)).toEqual([
      'a@1',
      'a@2',
      'b@1',
    ]);
  });
  test('round-trips', () => {
    const r = parseLock(renderLock(entries), 'l.json');
    expect(r.problems).toEqual([]);
    expect(r.lock!.plugins).toHaveLength(3);
  });
  test('rejects garbage and incomplete entries', () => {
    expect(parseLock('nope', 'l.json').problems[0].toLine()).toMatch(/^l\.json: not valid JSON/);
    expect(parseLock('{"lockVersion":1,"plugins":[{"name":"a"}]}', 'l.json').problems[0].code).toBe('E_LOCK');
  });
  test('diff reports added, removed and re-sourced entries', () => {
    const lock = parseLock(renderLock(entries), 'l.json').lock!;
    const wanted = [
      { name: 'a', version: '2', source: 'oci://r/a:2' },
      { name: 'a', version: '1', source: 'oci://r/a:2', aliasOf: '2' },
      { name: 'b', version: '1', source: 'oci://r/b-moved:1' },
      { name: 'c', version: '1', source: 'oci://r/c:1' },
    ];
    const lines = diffLock(wanted, lock, 'l.json').map((p) => p.toLine());
    expect(lines).toEqual([
      expect.stringMatching(/^l\.json b@1: b@1 source changed/),
      expect.stringMatching(/^l\.json c@1: c@1 is in the list but not in the lock file/),
    ]);
    expect(diffLock(wanted.slice(0, 2), lock, 'l.json').map((p) => p.message)).toEqual([
      'b@1 is locked but no longer in the list',
    ]);
  });
  test('a list read from a mirror points at --registry-map, not at `pull --write-lock` (which drops the lock made outside)', () => {
    const lock = parseLock(
      renderLock([
        { name: 'k', version: '1', source: 'oci://public.example/plugins/k:1', digest: `sha256:${'a'.repeat(64)}` },
      ]),
      'l.json',
    ).lock!;
    const hint = (source: string) => diffLock([{ name: 'k', version: '1', source }], lock, 'l.json')[0].hint;
    expect(hint('oci://harbor.internal/higress/plugins/k:1')).toContain(
      '--registry-map public.example=harbor.internal/higress',
    );
    expect(hint('oci://harbor.internal/plugins/k:1')).toContain('--registry-map public.example=harbor.internal ');
    expect(hint('oci://public.example/plugins/other:1')).toContain('run `pull --write-lock`');
  });
});
