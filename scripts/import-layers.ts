/**
 * The layers of src/, top to bottom, and a checker over the import graph (TypeScript's own
 * pre-processor, so `import`, `import type`, `export ... from` and `require()` all count).
 * A module may import its own folder and any lower layer; never a higher layer, never a sibling of
 * its own layer, never lib/ (the chart generator). The chart (lib/ and main.ts) may import only
 * src/contract/ from src/. See docs/architecture.md.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

/** Top first. Each entry is one layer; a layer may hold several rooms (folders or single files). */
export const LAYERS: readonly (readonly string[])[] = [
  ['cli'],
  ['commands'],
  ['cluster'],
  ['higress', 'pipeline', 'airgap', 'upstream'],
  ['ociview'],
  ['inputs', 'tree'],
  ['oci', 'content', 'serve'],
  ['contract'],
  ['errors'],
];

/**
 * Imports out of src/ that are allowed for now, each with the reason. The checker also fails when an
 * entry no longer matches any import, so the list cannot outlive what it excuses.
 */
export const KNOWN_EXCEPTIONS: ReadonlyArray<{ from: string; to: string; why: string }> = [];

export interface Edge {
  from: string;
  to: string;
}

/** The one room of src/ the chart (lib/, main.ts) may import: what both sides rely on. */
export const CHART_MAY_IMPORT = 'src/contract/';

/** A file of the chart generator: lib/ or main.ts. */
export function isChartFile(rel: string): boolean {
  return rel.startsWith('lib/') || rel === 'main.ts';
}

/** The room of a file under src/: its first folder, or the file name for top-level files. */
export function roomOf(rel: string): string {
  const parts = rel.split('/');
  if (parts[0] !== 'src') return parts[0];
  return parts.length > 2 ? parts[1] : parts[1].replace(/\.ts$/, '');
}

export function layerOf(room: string): number {
  return LAYERS.findIndex((l) => l.includes(room));
}

function resolveModule(fromFile: string, spec: string, root: string): string | undefined {
  if (!spec.startsWith('.')) return undefined; // packages and node built-ins
  const base = path.resolve(path.dirname(fromFile), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts'), base]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile())
      return path.relative(root, candidate).split(path.sep).join('/');
  }
  return path.relative(root, base).split(path.sep).join('/');
}

function listTs(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return listTs(p);
    return d.name.endsWith('.ts') ? [p] : [];
  });
}

/**
 * Every relative import of every .ts file under `parts` (folders or files of `<root>`; by default
 * src/ and the chart, lib/ and main.ts), as repository-relative paths.
 */
export function importGraph(root: string, parts: readonly string[] = ['src', 'lib', 'main.ts']): Edge[] {
  const edges: Edge[] = [];
  const files = parts.flatMap((p) => {
    const abs = path.join(root, p);
    return fs.statSync(abs).isDirectory() ? listTs(abs) : [abs];
  });
  for (const file of files) {
    const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    const from = path.relative(root, file).split(path.sep).join('/');
    for (const ref of info.importedFiles) {
      const to = resolveModule(file, ref.fileName, root);
      if (to) edges.push({ from, to });
    }
  }
  return edges;
}

/** One line per broken rule: upward or sideways arrows, imports of lib/, unknown rooms, the chart importing src/ beyond contract/. */
export function layerViolations(edges: Edge[]): string[] {
  const out: string[] = [];
  const used = new Set<string>();
  for (const e of edges) {
    const excused = KNOWN_EXCEPTIONS.find((x) => x.from === e.from && x.to === e.to);
    if (excused) {
      used.add(`${e.from}->${e.to}`);
      continue;
    }
    if (isChartFile(e.from)) {
      if (e.to.startsWith('src/') && !e.to.startsWith(CHART_MAY_IMPORT))
        out.push(`${e.from} imports ${e.to}: lib/ and main.ts may import only ${CHART_MAY_IMPORT} from src/`);
      continue;
    }
    if (!e.to.startsWith('src/')) {
      // Generated CRD types are data, not a layer; anything else outside src/ is a wrong arrow.
      if (!e.to.startsWith('imports/'))
        out.push(`${e.from} imports ${e.to}: src/ must not import outside src/ (except generated imports/)`);
      continue;
    }
    const a = roomOf(e.from);
    const b = roomOf(e.to);
    if (a === b) continue;
    const la = layerOf(a);
    const lb = layerOf(b);
    if (la < 0)
      out.push(
        `${e.from}: room "${a}" is in no layer (add it to LAYERS in scripts/import-layers.ts and docs/architecture.md)`,
      );
    else if (lb < 0) out.push(`${e.to}: room "${b}" is in no layer`);
    else if (lb === la)
      out.push(`${e.from} imports ${e.to}: "${a}" and "${b}" are siblings of one layer and must not import each other`);
    else if (lb < la) out.push(`${e.from} imports ${e.to}: "${a}" is below "${b}", arrows only point down`);
  }
  for (const x of KNOWN_EXCEPTIONS)
    if (!used.has(`${x.from}->${x.to}`))
      out.push(`known exception ${x.from} -> ${x.to} is no longer needed: remove it from KNOWN_EXCEPTIONS`);
  return out;
}

/** Every import cycle between files, each reported once as `a -> b -> ... -> a`. */
export function importCycles(edges: Edge[]): string[] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of next.get(n) ?? []) {
      if (state.get(m) === 'open') cycles.push([...stack.slice(stack.indexOf(m)), m].join(' -> '));
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...next.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}
