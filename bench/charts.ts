/**
 * Charts for BENCHMARKS.md: vega-lite specs compiled to vega and rendered to SVG in Node (no browser,
 * no canvas: vega's headless renderer writes the SVG text). Files go to bench/charts/<name>.svg.
 */
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..');
export const CHART_DIR = path.join(ROOT, 'bench', 'charts');

/**
 * vega 6 and vega-lite 6 are ES modules with top-level await, which require() cannot load; this
 * project compiles to CommonJS, where TypeScript would turn `import()` into require(). A real
 * dynamic import has to be built at run time.
 */
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- the one way to a real import() from CommonJS (above)
const importEsm = new Function('specifier', 'return import(specifier)') as <T>(specifier: string) => Promise<T>;

/** The part of vega's API used here. */
interface Vega {
  None: number;
  logger(level: number): unknown;
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, options: { renderer: 'none' }) => { toSVG(): Promise<string>; finalize(): void };
}
/** The part of vega-lite's API used here. */
interface VegaLite {
  compile(spec: object, options: { logger: unknown }): { spec: unknown };
}

export interface ChartRow {
  /** One panel per group (e.g. the link, or the number of gateways). */
  group: string;
  /** One bar per series within a panel (e.g. upstream vs ours). */
  series: string;
  value: number;
}

const PALETTE = ['#9e9e9e', '#1f77b4', '#6baed6', '#2ca02c', '#ff7f0e', '#d62728'];

/** The vega-lite spec of a panelled horizontal bar chart with the value printed at each bar. */
export function barChartSpec(title: string, unit: string, rows: ChartRow[]): object {
  const series = [...new Set(rows.map((r) => r.series))];
  const y = { field: 'series', type: 'nominal', title: null, sort: series, axis: { labelLimit: 360 } };
  const x = { field: 'value', type: 'quantitative', title: unit };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, anchor: 'start' },
    data: { values: rows },
    facet: {
      row: {
        field: 'group',
        type: 'nominal',
        title: null,
        sort: [...new Set(rows.map((r) => r.group))],
        header: {
          labelAngle: 0,
          labelAlign: 'left',
          labelAnchor: 'start',
          labelOrient: 'top',
          labelFontWeight: 'bold',
          labelFontSize: 12,
        },
      },
    },
    spec: {
      width: 360,
      layer: [
        {
          mark: 'bar',
          encoding: {
            y,
            x,
            color: { field: 'series', type: 'nominal', legend: null, scale: { domain: series, range: PALETTE } },
          },
        },
        {
          mark: { type: 'text', align: 'left', dx: 3 },
          encoding: {
            y,
            x,
            text: { field: 'value', type: 'quantitative', format: unit === 'seconds' ? '.2f' : '.0f' },
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent', x: 'independent' } },
    config: { font: 'sans-serif', view: { stroke: null } },
  };
}

/** Renders a vega-lite spec to SVG text. */
export async function renderSvg(spec: object): Promise<string> {
  const [vega, vegaLite] = await Promise.all([importEsm<Vega>('vega'), importEsm<VegaLite>('vega-lite')]);
  // Quiet: vega-lite warns about merging the independent scales of the layers, which is what is wanted.
  const compiled = vegaLite.compile(spec, { logger: vega.logger(vega.None) }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes bench/charts/<name>.svg and returns its path relative to the repository root. */
export async function barChart(name: string, title: string, unit: string, rows: ChartRow[]): Promise<string> {
  fs.mkdirSync(CHART_DIR, { recursive: true });
  const file = path.join(CHART_DIR, `${name}.svg`);
  fs.writeFileSync(file, (await renderSvg(barChartSpec(title, unit, rows))) + '\n');
  return path.relative(ROOT, file);
}
