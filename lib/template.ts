/**
 * The Helm templating layer. Constructs are written once and synthesised twice:
 *  - `plain` mode resolves every value (dist/ manifests, snapshot tests);
 *  - `helm` mode puts placeholder tokens where values go; `renderYaml` swaps them for Go template text
 *    after YAML serialisation, so numbers stay numbers, strings are quoted, and maps/lists become
 *    `{{- with }}`/`toYaml`/`nindent` blocks at the right indentation.
 * A construct asks this context for every value instead of reading values itself, which is what keeps
 * the chart and the plain manifests from disagreeing.
 */
import { stringify } from 'yaml';
import { PluginServerValues, valueAt } from './values';

export type SynthMode = 'plain' | 'helm';

/** Builds template lines for a map key whose value is a block; `indent` is the key's column. */
export type BlockLines = (key: string, indent: number) => string[];

interface Release {
  /** Stand-ins for .Release.* in plain mode (dist/ is what `helm template <name> -n <namespace>` renders). */
  name: string;
  namespace: string;
}

const TOKEN = /__HPS_(\d+)__/g;
const BLOCK_LINE = /^( *)(- )?([A-Za-z0-9_./-]+): __HPS_(\d+)__$/;

export class TemplateContext {
  private readonly inline = new Map<number, string>();
  private readonly blocks = new Map<number, BlockLines>();
  private next = 0;

  constructor(
    readonly mode: SynthMode,
    /** Resolved values; in helm mode only the defaults (used for nothing but structure). */
    readonly values: PluginServerValues,
    readonly release: Release,
  ) {}

  get helm(): boolean {
    return this.mode === 'helm';
  }

  /** A string value: `{{ .Values.<path> | quote }}`. */
  str(path: string): string {
    return this.helm ? this.token(`{{ .Values.${path} | quote }}`) : (valueAt(this.values, path) as string);
  }

  /** A number value: `{{ .Values.<path> }}`, unquoted so YAML reads a number. */
  num(path: string): number {
    return this.helm ? (this.token(`{{ .Values.${path} }}`) as unknown as number) : (valueAt(this.values, path) as number);
  }

  /** Any inline value with its own template expression (the caller quotes strings with `| quote`). */
  expr<T>(plain: T, helmText: string): T {
    return this.helm ? (this.token(helmText) as unknown as T) : plain;
  }

  /** A whole map/list value: the plain value, or a token that `renderYaml` expands with `lines`. */
  block<T>(plain: T, lines: BlockLines): T {
    if (!this.helm) return plain;
    const id = this.next++;
    this.blocks.set(id, lines);
    return `__HPS_${id}__` as unknown as T;
  }

  /** `{{- with .Values.<path> }}` + toYaml: omitted when empty. */
  withValues<T>(path: string): T | undefined {
    const plain = valueAt(this.values, path) as T;
    return this.block(isEmpty(plain) ? undefined : plain, withLines(`.Values.${path}`));
  }

  /** A scalar key that is only present when its value is non-empty. */
  optionalStr(plain: string, helmExpr: string): string | undefined {
    return this.block(plain === '' ? undefined : plain, (key, indent) => {
      const sp = ' '.repeat(indent);
      return [`${sp}{{- with ${helmExpr} }}`, `${sp}${key}: {{ . | quote }}`, `${sp}{{- end }}`];
    });
  }

  /** Serialises `obj` as YAML at column `indent`, expanding tokens. */
  renderYaml(obj: unknown, indent = 0): string {
    const text = stringify(obj, { lineWidth: 0, minContentWidth: 0 }).replace(/\n$/, '');
    const sp = ' '.repeat(indent);
    const out: string[] = [];
    for (const raw of text.split('\n')) {
      const line = sp + raw;
      const m = BLOCK_LINE.exec(line);
      const lines = m ? this.blocks.get(Number(m[4])) : undefined;
      if (m && lines) {
        // A block as the first key of a list item would need the `- ` moved onto its first line.
        if (m[2]) throw new Error(`template block "${m[3]}" cannot be the first key of a list item`);
        out.push(...lines(m[3], m[1].length));
        continue;
      }
      out.push(line.replace(TOKEN, (_, id: string) => {
        const text = this.inline.get(Number(id));
        if (text === undefined) throw new Error(`template token ${id} used where only a map key can hold it`);
        return text;
      }));
    }
    return out.join('\n') + '\n';
  }

  private token(text: string): string {
    const id = this.next++;
    this.inline.set(id, text);
    return `__HPS_${id}__`;
  }
}

/** Lines for `key:` + `toYaml <expr>` guarded by `with`, so empty maps and lists render nothing. */
export function withLines(expr: string): BlockLines {
  return (key, indent) => {
    const sp = ' '.repeat(indent);
    return [`${sp}{{- with ${expr} }}`, `${sp}${key}:`, `${sp}  {{- toYaml . | nindent ${indent + 2} }}`, `${sp}{{- end }}`];
  };
}

/** Lines for a map key filled from named templates, then an optional user map merged below them. */
export function includeLines(templates: string[], extraExpr?: string): BlockLines {
  return (key, indent) => {
    const sp = ' '.repeat(indent + 2);
    const lines = [`${' '.repeat(indent)}${key}:`, ...templates.map((t) => `${sp}{{- include "${t}" . | nindent ${indent + 2} }}`)];
    if (extraExpr) lines.push(`${sp}{{- with ${extraExpr} }}`, `${sp}{{- toYaml . | nindent ${indent + 2} }}`, `${sp}{{- end }}`);
    return lines;
  };
}

export function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}
