/**
 * The import graph of src/ follows the layers of docs/architecture.md: no upward arrow, no cycle; the
 * chart (lib/, main.ts) imports only src/contract/ from src/.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Edge, importCycles, importGraph, isChartFile, LAYERS, layerViolations } from '../scripts/import-layers';

const ROOT = path.resolve(__dirname, '..');

test('src/ imports only point down the layers', () => {
  expect(layerViolations(importGraph(ROOT))).toEqual([]);
});

test('the graph holds the chart: lib/ and main.ts import src/contract/ (and nothing else of src/)', () => {
  const chart = importGraph(ROOT).filter((e) => isChartFile(e.from) && e.to.startsWith('src/'));
  expect(chart.length).toBeGreaterThan(0);
  expect(chart.every((e) => e.to.startsWith('src/contract/'))).toBe(true);
});

test('src/ has no import cycle', () => {
  expect(importCycles(importGraph(ROOT))).toEqual([]);
});

test('bench/ has no import cycle (a section imports what it shares, never bench/run.ts)', () => {
  expect(importCycles(importGraph(ROOT, ['bench']))).toEqual([]);
});

test('the checker catches an upward arrow, a sideways arrow, lib/, the chart beyond contract/ and a cycle', () => {
  const bad: Edge[] = [
    { from: 'src/oci/client.ts', to: 'src/tree/publish.ts' },
    { from: 'src/higress/check.ts', to: 'src/pipeline/pull.ts' },
    { from: 'src/commands/serve.ts', to: 'lib/values.ts' },
    { from: 'lib/helpers.ts', to: 'src/errors/index.ts' },
    { from: 'main.ts', to: 'src/tree/publish.ts' },
  ];
  const lines = layerViolations(bad);
  expect(lines.filter((l) => !l.startsWith('known exception'))).toHaveLength(5);
  expect(lines.filter((l) => l.includes('may import only src/contract/'))).toHaveLength(2);
  // What the chart may import: src/contract/, lib/ itself, packages and generated imports/.
  expect(
    layerViolations([
      { from: 'lib/helpers.ts', to: 'src/contract/service.ts' },
      { from: 'main.ts', to: 'lib/synth.ts' },
      { from: 'lib/plugin-server.ts', to: 'imports/k8s.ts' },
    ]).filter((l) => !l.startsWith('known exception')),
  ).toEqual([]);
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
