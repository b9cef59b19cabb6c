/** The import graph of src/ follows the layers of docs/architecture.md: no upward arrow, no cycle. */
import * as fs from 'fs';
import * as path from 'path';
import { Edge, importCycles, importGraph, LAYERS, layerViolations } from '../scripts/import-layers';

const ROOT = path.resolve(__dirname, '..');

test('src/ imports only point down the layers', () => {
  expect(layerViolations(importGraph(ROOT))).toEqual([]);
});

test('src/ has no import cycle', () => {
  expect(importCycles(importGraph(ROOT))).toEqual([]);
});

test('the checker catches an upward arrow, a sideways arrow, lib/ and a cycle', () => {
  const bad: Edge[] = [
    { from: 'src/oci/client.ts', to: 'src/tree/publish.ts' },
    { from: 'src/higress/check.ts', to: 'src/pipeline/pull.ts' },
    { from: 'src/commands/serve.ts', to: 'lib/values.ts' },
  ];
  const lines = layerViolations(bad);
  expect(lines.filter((l) => !l.startsWith('known exception'))).toHaveLength(3);
  expect(
    importCycles([
      { from: 'src/a.ts', to: 'src/b.ts' },
      { from: 'src/b.ts', to: 'src/a.ts' },
    ]),
  ).toEqual(['src/a.ts -> src/b.ts -> src/a.ts']);
});

test('docs/architecture.md lists the layers the checker enforces', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'architecture.md'), 'utf8');
  for (const layer of LAYERS) for (const room of layer) expect(doc).toContain(`\`${room}\``);
  for (const dir of fs.readdirSync(path.join(ROOT, 'src'))) {
    const room = dir.replace(/\.ts$/, '');
    expect(LAYERS.flat()).toContain(room);
  }
});
