/**
 * plugins/snapshot-inventory.json (src/tree/inventory.ts): upstream's bytes, written from the tree's
 * metadata, listed in index.json, checked by verify.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { publishVersion, writeIndex } from '../src/tree/publish';
import { verifyTree } from '../src/tree/read';
import {
  collectInventory,
  inventoryFacts,
  parseInventory,
  renderInventory,
  verifyInventory,
  writeInventory,
} from '../src/tree/inventory';
import { sha256Hex } from '../src/content/fsutil';
import { parseIndex } from '../src/higress/server-index';
import { smallWasm } from './support/wasm';
import { parsePluginList } from '../src/inputs/properties';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const H = (c: string) => c.repeat(64);
const roots: string[] = [];
const newRoot = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'inventory-'));
  roots.push(d);
  return d;
};
let wasm: string;
let wasmSha: string;
beforeAll(async () => {
  wasm = await smallWasm();
  wasmSha = sha256Hex(fs.readFileSync(wasm));
});
afterAll(() => {
  for (const d of roots) fs.rmSync(d, { recursive: true, force: true });
});

async function publish(root: string, name: string, version: string, digest: string): Promise<void> {
  await publishVersion(root, {
    name,
    version,
    wasmPath: wasm,
    source: `oci://r.example/plugins/${name}:${version}@${digest}`,
    manifestDigest: digest,
    created: '2026-08-01T00:00:00Z',
  });
}

describe('renderInventory', () => {
  test("upstream's bytes: object sorted by key, sorted record keys, two-space indent, trailing newline", () => {
    const text = renderInventory([
      { key: 'mcp-server', version: '2.0.1', digest: D('b'), wasmSha256: H('2') },
      { key: 'json-converter', version: '2.0.1', digest: D('a'), wasmSha256: H('1') },
      { key: 'jsonrpc-converter', version: '2.0.1', digest: D('a'), wasmSha256: H('1') },
    ]);
    // What Python's json.dumps(doc, indent=2, sort_keys=True) + "\n" writes.
    expect(text).toBe(
      [
        '{',
        '  "json-converter": {',
        `    "digest": "${D('a')}",`,
        '    "version": "2.0.1",',
        `    "wasmSha256": "${H('1')}"`,
        '  },',
        '  "jsonrpc-converter": {',
        `    "digest": "${D('a')}",`,
        '    "version": "2.0.1",',
        `    "wasmSha256": "${H('1')}"`,
        '  },',
        '  "mcp-server": {',
        `    "digest": "${D('b')}",`,
        '    "version": "2.0.1",',
        `    "wasmSha256": "${H('2')}"`,
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    expect(renderInventory([])).toBe('{}\n');
  });

  test('parseInventory reads it back and refuses other shapes', () => {
    const records = [{ key: 'a', version: '1.0.0', digest: D('a'), wasmSha256: H('1') }];
    expect(parseInventory(renderInventory(records))).toEqual({ records });
    expect(parseInventory('[]')).toEqual({ problem: 'is not a JSON object' });
    expect(parseInventory('{')).toEqual({ problem: 'is not valid JSON' });
    expect(parseInventory(JSON.stringify({ a: { version: '1', digest: D('a') } }))).toEqual({
      problem: 'entry "a" is not {digest, version, wasmSha256}',
    });
    expect(parseInventory(JSON.stringify({ a: { ...records[0], extra: 1 } }))).toHaveProperty('problem');
  });
});

describe('in a tree', () => {
  test('written from the metadata, listed in index.json, verified; a name whose folder holds another digest is left out', async () => {
    const root = newRoot();
    await publish(root, 'mcp-server', '2.0.1', D('b'));
    await publish(root, 'json-converter', '2.0.1', D('a'));
    await publish(root, 'jsonrpc-converter', '2.0.1', D('a'));
    await publish(root, 'cors', '2.0.2', D('c'));
    const wants = [
      { key: 'mcp-server', version: '2.0.1', digest: D('b') },
      { key: 'json-converter', version: '2.0.1', digest: D('a') },
      { key: 'jsonrpc-converter', version: '2.0.1', digest: D('a') },
      { key: 'cors', version: '2.0.2', digest: D('9') },
    ];
    expect((await collectInventory(root, wants)).absent.map((w) => w.key)).toEqual(['cors']);
    await writeInventory(root, wants);
    await writeIndex(root);
    const file = path.join(root, 'plugins', 'snapshot-inventory.json');
    const text = fs.readFileSync(file, 'utf8');
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['json-converter', 'jsonrpc-converter', 'mcp-server']);
    expect(JSON.parse(text)).toMatchObject({ 'mcp-server': { digest: D('b'), version: '2.0.1', wasmSha256: wasmSha } });
    expect(fs.statSync(file).mtime.toISOString()).toBe('2026-08-01T00:00:00.000Z');
    const index = parseIndex(JSON.parse(fs.readFileSync(path.join(root, 'plugins', 'index.json'), 'utf8')), 'i');
    expect(index.inventory).toEqual({
      path: '/plugins/snapshot-inventory.json',
      sha256: sha256Hex(Buffer.from(text)),
      size: Buffer.byteLength(text),
    });
    expect(Object.keys(index)).toEqual(['schemaVersion', 'generated', 'inventory', 'plugins']);
    expect(await inventoryFacts(root)).toEqual(index.inventory);
    expect((await verifyTree(root)).problems).toEqual([]);
  });

  test('a tree without one: index.json has no inventory key, verify passes', async () => {
    const root = newRoot();
    await publish(root, 'a', '1.0.0', D('a'));
    await writeIndex(root);
    expect(fs.readFileSync(path.join(root, 'plugins', 'index.json'), 'utf8')).not.toContain('inventory');
    expect(await verifyInventory(root)).toEqual([]);
    expect((await verifyTree(root)).problems).toEqual([]);
  });

  describe('verify refuses', () => {
    let root: string;
    let file: string;
    beforeEach(async () => {
      root = newRoot();
      await publish(root, 'mcp-server', '2.0.1', D('b'));
      await writeInventory(root, [{ key: 'mcp-server', version: '2.0.1', digest: D('b') }]);
      await writeIndex(root);
      file = path.join(root, 'plugins', 'snapshot-inventory.json');
    });
    const codes = async () => (await verifyTree(root)).problems.map((p) => [p.code, p.message]);

    test('an inventory edited after index.json', async () => {
      fs.writeFileSync(file, `${fs.readFileSync(file, 'utf8')}\n`);
      expect(await codes()).toEqual([
        ['E_VERIFY_INDEX', 'index.json does not match the metadata of the tree'],
        [
          'E_VERIFY_INVENTORY',
          'snapshot-inventory.json is not canonical (keys sorted at both levels, two-space indent, trailing newline)',
        ],
      ]);
    });

    test('a wasmSha256 the folder does not hold, a digest it does not hold, a name with no folder', async () => {
      const records = [
        { key: 'mcp-server', version: '2.0.1', digest: D('b'), wasmSha256: H('0') },
        { key: 'ghost', version: '1.0.0', digest: D('c'), wasmSha256: H('0') },
      ];
      fs.writeFileSync(file, renderInventory(records));
      await writeIndex(root);
      expect(await codes()).toEqual([
        ['E_VERIFY_INVENTORY', 'snapshot-inventory.json lists ghost@1.0.0, which has no folder'],
        [
          'E_VERIFY_INVENTORY',
          `snapshot-inventory.json lists mcp-server@2.0.1 with wasmSha256 ${H('0')}, the folder holds ${wasmSha}`,
        ],
      ]);
      fs.writeFileSync(file, renderInventory([{ ...records[0], digest: D('e'), wasmSha256: wasmSha }]));
      await writeIndex(root);
      expect(await codes()).toEqual([
        [
          'E_VERIFY_INVENTORY',
          `snapshot-inventory.json lists mcp-server@2.0.1 with digest ${D('e')}, the folder holds ${D('b')}`,
        ],
      ]);
    });

    test('an inventory that is not one', async () => {
      fs.writeFileSync(file, '[1]\n');
      await writeIndex(root);
      expect(await codes()).toEqual([['E_VERIFY_INVENTORY', 'snapshot-inventory.json is not a JSON object']]);
    });
  });
});

test('a plugin named like the inventory is refused: its folder would shadow the file', () => {
  for (const name of ['snapshot-inventory.json', 'snapshot-inventory.json.gz'])
    expect(parsePluginList(`${name}=oci://r.example/p/a:1\n`, 'l').problems.map((p) => p.code)).toEqual([
      'E_RESERVED_NAME',
    ]);
});
