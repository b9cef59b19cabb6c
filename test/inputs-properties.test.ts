import * as fs from 'fs';
import * as path from 'path';
import { parsePluginList } from '../src/inputs/properties';
import { parseSource } from '../src/inputs/reference';
import { sourceText } from '../src/inputs/types';
import { REPO_ROOT } from './support/tools';

const REF = path.join(__dirname, 'fixtures', 'reference');
const HOST = 'higress-registry.cn-hangzhou.cr.aliyuncs.com';
const parse = (text: string) => parsePluginList(text, '/lists/plugins.properties');
const only = (text: string) => {
  const r = parse(text);
  expect(r.problems).toHaveLength(1);
  return r.problems[0];
};

describe('reference lists', () => {
  test('plugin-server list parses to 43 entries, key not repository name', () => {
    const file = path.join(REF, 'plugin-server.plugins.properties');
    const r = parsePluginList(fs.readFileSync(file, 'utf8'), file);
    expect(r.problems).toEqual([]);
    expect(r.entries).toHaveLength(43);
    const jc = r.entries.find((e) => e.name === 'json-converter')!;
    expect(jc.version).toBe('2.0.0');
    expect(jc.source).toEqual({
      kind: 'oci',
      ref: { registry: HOST, repository: 'plugins/jsonrpc-converter', tag: '2.0.0', digest: undefined },
    });
    const mcp = r.entries.find((e) => e.name === 'mcp-server')!;
    expect(sourceText(mcp.source)).toBe(`oci://${HOST}/mcp-server/all-in-one:2.0.0`);
  });

  test('console list parses to 52 entries with mixed tags', () => {
    const file = path.join(REF, 'console.plugins.properties');
    const r = parsePluginList(fs.readFileSync(file, 'utf8'), file);
    expect(r.problems).toEqual([]);
    expect(r.entries).toHaveLength(52);
    expect(new Set(r.entries.map((e) => e.version))).toEqual(new Set(['2.0.1', '2.0.0', '2.0.2', '1.0.0', '1.0.1']));
  });

  test('shipped list = the 43 upstream entries, each also served as 1.0.0 (as the upstream image does)', () => {
    const file = path.join(REPO_ROOT, 'image', 'plugins.properties');
    const r = parsePluginList(fs.readFileSync(file, 'utf8'), file);
    expect(r.problems).toEqual([]);
    const upstream = parsePluginList(fs.readFileSync(path.join(REF, 'plugin-server.plugins.properties'), 'utf8'), 'x');
    const primary = r.entries.filter((e) => !e.aliasOf);
    expect(primary.map((e) => `${e.name}=${sourceText(e.source)}`).sort()).toEqual(
      upstream.entries.map((e) => `${e.name}=${sourceText(e.source)}`).sort(),
    );
    const aliases = r.entries.filter((e) => e.aliasOf).map((e) => `${e.name}@${e.version}->${e.aliasOf}`);
    expect(aliases.sort()).toEqual(upstream.entries.map((e) => `${e.name}@1.0.0->2.0.0`).sort());
    // Among them the 9 plugins whose spec.yaml says 1.0.0 (the version the Console asks for).
    for (const n of [
      'basic-auth',
      'bot-detect',
      'custom-response',
      'hmac-auth',
      'jwt-auth',
      'key-auth',
      'key-rate-limit',
      'oauth',
      'request-block',
    ])
      expect(aliases).toContain(`${n}@1.0.0->2.0.0`);
  });
});

describe('syntax', () => {
  test('comments (# and !), blank lines, CRLF and spaces around = are accepted', () => {
    const r = parse(
      '# c\n! also a comment\n\n  a = oci://r.example/plugins/a:1.0.0  \r\nb=oci://127.0.0.1:5000/x/y/z:2\n',
    );
    expect(r.problems).toEqual([]);
    expect(r.entries.map((e) => [e.name, e.version, e.line])).toEqual([
      ['a', '1.0.0', 4],
      ['b', '2', 5],
    ]);
  });

  test('several lines with one key give several versions', () => {
    const r = parse('a=oci://r.example/a:1.0.0\na=oci://r.example/a:2.0.0\n');
    expect(r.entries.map((e) => e.version)).toEqual(['1.0.0', '2.0.0']);
  });

  test('an identical duplicate collapses into one entry', () => {
    expect(parse('a=oci://r.example/a:1\na=oci://r.example/a:1\n').entries).toHaveLength(1);
  });

  test('@sha256 pins a reference', () => {
    const d = 'sha256:' + 'ab'.repeat(32);
    const r = parse(`a=oci://r.example/a:1.0.0@${d}\n`);
    expect(r.entries[0].source).toMatchObject({ kind: 'oci', ref: { tag: '1.0.0', digest: d } });
  });

  test('file: source resolves relative to the list file and carries its version', () => {
    const r = parse('custom=file:wasm/custom.wasm@1.2.3\n');
    expect(r.problems).toEqual([]);
    expect(r.entries[0]).toMatchObject({
      name: 'custom',
      version: '1.2.3',
      source: { kind: 'file', path: '/lists/wasm/custom.wasm', written: 'wasm/custom.wasm' },
    });
  });

  test('#@alias serves a version under another version folder', () => {
    const r = parse('a=oci://r.example/a:2.0.0\n#@alias a 1.0.0=2.0.0\n');
    expect(r.problems).toEqual([]);
    expect(r.entries[1]).toMatchObject({ name: 'a', version: '1.0.0', aliasOf: '2.0.0', line: 2 });
    expect(r.entries[1].source).toBe(r.entries[0].source);
  });

  test('collects every problem of a file, in line order', () => {
    const r = parse('no-equals\n=oci://r.example/a:1\nok=oci://r.example/a:1\nb=http://x/y:1\n');
    expect(r.problems.map((p) => p.context.line)).toEqual([1, 2, 4]);
    expect(r.entries).toHaveLength(1);
  });
});

describe('each bad input is rejected with file:line and a hint', () => {
  test('no "="', () => {
    const p = only('a oci://r.example/a:1\n');
    expect(p.toLine()).toMatch(/^\/lists\/plugins\.properties:1: no "=" in .*\(write <name>=oci:\/\//);
  });
  test('empty key', () => expect(only('=oci://r.example/a:1').toLine()).toMatch(/:1: empty plugin name/));
  test('empty reference', () => expect(only('a=').toLine()).toMatch(/:1: plugin a has an empty reference/));
  test('reference without oci:// prefix', () => expect(only('a=r.example/a:1').code).toBe('E_REFERENCE'));
  test('reference without tag', () => expect(only('a=oci://r.example/a').toLine()).toMatch(/has no tag/));
  test('reference with uppercase repository', () =>
    expect(only('a=oci://r.example/Plugins/a:1').toLine()).toMatch(/bad repository path/));
  test('reference without repository', () => expect(only('a=oci://r.example:1').code).toBe('E_REFERENCE'));
  test('bad digest', () => expect(only('a=oci://r.example/a:1@sha256:xyz').toLine()).toMatch(/bad digest/));
  test('unsupported scheme', () => {
    for (const v of ['http://r.example/a:1', 'https://r.example/a:1', 'docker://r.example/a:1', 's3://bucket/a']) {
      expect(only(`a=${v}`).code).toBe('E_SCHEME');
    }
  });
  test('file: without a version', () => expect(only('a=file:x.wasm').toLine()).toMatch(/has no version/));
  test('conflicting duplicate names both lines', () => {
    const p = only('a=oci://r.example/a:1\nb=oci://r.example/b:1\na=oci://r.example/other:1\n');
    expect(p.code).toBe('E_DUPLICATE');
    expect(p.toLine()).toMatch(/:3: a@1 is already declared at line 1/);
  });
  test('alias to an undeclared version', () =>
    expect(only('a=oci://r.example/a:2\n#@alias a 1=3\n').toLine()).toMatch(/:2: alias a@1 points at a@3/));
  test('alias colliding with a real version', () =>
    expect(only('a=oci://r.example/a:2\na=oci://r.example/a:1\n#@alias a 1=2\n').code).toBe('E_DUPLICATE'));
  test('malformed alias directive', () => expect(only('#@alias a 1.0.0\n').code).toBe('E_ALIAS_SYNTAX'));
  describe.each([
    ['..', '..=oci://r.example/a:1'],
    ['slash', 'a/b=oci://r.example/a:1'],
    ['absolute', '/etc=oci://r.example/a:1'],
    ['space', 'a b=oci://r.example/a:1'],
    ['NUL', 'a\0b=oci://r.example/a:1'],
    ['leading dot', '.hidden=oci://r.example/a:1'],
  ])('hostile name (%s)', (_, line) => {
    test('is refused', () => {
      const p = only(line);
      expect(p.context).toMatchObject({ file: '/lists/plugins.properties', line: 1 });
      expect(['E_UNSAFE_SEGMENT', 'E_PROPERTIES_SYNTAX']).toContain(p.code);
    });
  });
  describe.each([
    ['..', 'a=file:x.wasm@..'],
    ['slash', 'a=file:x.wasm@1/2'],
    ['space', 'a=file:x.wasm@1 2'],
    ['alias ..', 'a=oci://r.example/a:1\n#@alias a .. =1'],
    ['alias slash', 'a=oci://r.example/a:1\n#@alias a ../x=1'],
    ['tag with leading dot is not a tag', 'a=oci://r.example/a:.1'],
  ])('hostile version (%s)', (_, text) => {
    test('is refused', () => {
      const r = parse(text);
      expect(r.problems.length).toBeGreaterThan(0);
      expect(r.entries.every((e) => e.version !== '..' && !e.version.includes('/'))).toBe(true);
    });
  });
});

test('parseSource accepts nested repositories and loopback registries with ports', () => {
  const r = parseSource('oci://127.0.0.1:5000/plugins/mcp-server/all-in-one:2.0.0', '/');
  expect(r).toMatchObject({
    ok: true,
    version: '2.0.0',
    source: { ref: { registry: '127.0.0.1:5000', repository: 'plugins/mcp-server/all-in-one' } },
  });
});
