/**
 * Manifest trees: plain YAML data in which any value may be an `Expr` (rendered inline) or a block
 * node (a key that is conditional or filled from a helper/user map). One tree renders two ways:
 * `evalTree` resolves it against a Scope (dist/, tests) and `templateYaml` writes the Go template.
 * Keys come out in the order the construct writes them: that order is the one place it is decided.
 */
import { stringify } from 'yaml';
import { Cond, Expr, inline, Scope, truthy } from './expr';
import { isPlainObject } from './spec';

/** A key whose presence or content is decided by the template (`with`, `if`, `include`). */
export abstract class Block {
  /** The plain value, or undefined to leave the key out. */
  abstract eval(scope: Scope, evalNode: (n: unknown, s: Scope) => unknown): unknown;
  /** Template lines for `key:` at column `indent`. */
  abstract lines(key: string, indent: number, r: Renderer): string[];
}

/** A key written only when its value is not empty: `{{- with }}` in templates, left out of dist/. */
abstract class WhenNotEmpty extends Block {
  constructor(readonly value: Expr<unknown>) {
    super();
  }
  eval(s: Scope) {
    const v = this.value.eval(s);
    return truthy(v) ? v : undefined;
  }
}

/** `key: <value>` only when the value is not empty. */
class OptionalScalar extends WhenNotEmpty {
  lines(key: string, indent: number) {
    const sp = ' '.repeat(indent);
    const dot = this.value.kind === 'string' ? '. | quote' : '.';
    return [`${sp}{{- with ${this.value.arg()} }}`, `${sp}${key}: {{ ${dot} }}`, `${sp}{{- end }}`];
  }
}

/** A user map or list handed over with `toYaml`, left out when empty. */
class UserBlock extends WhenNotEmpty {
  lines(key: string, indent: number) {
    const sp = ' '.repeat(indent);
    return [
      `${sp}{{- with ${this.value.arg()} }}`,
      `${sp}${key}:`,
      `${sp}  {{- toYaml . | nindent ${indent + 2} }}`,
      `${sp}{{- end }}`,
    ];
  }
}

/** A map merged from fixed entries, map helpers (`include`) and user maps (`with` + `toYaml`), in order. */
class MergedMap extends Block {
  constructor(readonly parts: ReadonlyArray<Readonly<Record<string, string>> | Expr<Record<string, string>>>) {
    super();
  }
  eval(s: Scope) {
    const out: Record<string, string> = {};
    for (const p of this.parts) Object.assign(out, isExpr(p) ? p.eval(s) : p);
    return out;
  }
  lines(key: string, indent: number) {
    const sp = ' '.repeat(indent + 2);
    const out = [`${' '.repeat(indent)}${key}:`];
    for (const p of this.parts) {
      if (!isExpr(p)) out.push(...Object.entries(p).map(([k, v]) => `${sp}${k}: ${v}`));
      else if (p.yamlText) out.push(`${sp}{{- ${p.tpl()} | nindent ${indent + 2} }}`);
      else out.push(`${sp}{{- with ${p.arg()} }}`, `${sp}{{- toYaml . | nindent ${indent + 2} }}`, `${sp}{{- end }}`);
    }
    return out;
  }
}

/** The first branch whose condition holds; a branch is a user value (`toYaml`) or a tree. No branch: key left out. */
class Choice extends Block {
  constructor(readonly branches: ReadonlyArray<readonly [Cond, Expr<unknown> | Tree]>) {
    super();
  }
  eval(s: Scope, evalNode: (n: unknown, s: Scope) => unknown) {
    for (const [cond, value] of this.branches)
      if (truthy(cond.eval(s))) return isExpr(value) ? value.eval(s) : evalNode(value, s);
    return undefined;
  }
  lines(key: string, indent: number, r: Renderer) {
    const sp = ' '.repeat(indent);
    const out: string[] = [];
    this.branches.forEach(([cond, value], i) => {
      out.push(`${sp}{{- ${i === 0 ? 'if' : 'else if'} ${cond.tpl()} }}`);
      if (isExpr(value)) out.push(`${sp}${key}:`, `${sp}  {{- toYaml ${value.tpl()} | nindent ${indent + 2} }}`);
      else out.push(...r.yamlLines({ [key]: value }, indent));
    });
    out.push(`${sp}{{- end }}`);
    return out;
  }
}

/** Fixed list items followed by a user list (`with` + `toYaml`): e.g. the chart's volumes, then `extraVolumes`. */
class AppendedList extends Block {
  constructor(
    readonly fixed: TreeNode[],
    readonly extra: Expr<unknown>,
  ) {
    super();
  }
  eval(s: Scope, evalNode: (n: unknown, s: Scope) => unknown) {
    const extra = this.extra.eval(s);
    return [...(evalNode(this.fixed, s) as unknown[]), ...(Array.isArray(extra) ? (extra as unknown[]) : [])];
  }
  lines(key: string, indent: number, r: Renderer) {
    const sp = ' '.repeat(indent + 2);
    return [
      ...r.yamlLines({ [key]: this.fixed }, indent),
      `${sp}{{- with ${this.extra.arg()} }}`,
      `${sp}{{- toYaml . | nindent ${indent + 2} }}`,
      `${sp}{{- end }}`,
    ];
  }
}

/** `key: <value>` only while `cond` holds (the Deployment's `replicas`, left to the autoscaler when it is on). */
class WhenCond extends Block {
  constructor(
    readonly cond: Cond,
    readonly value: Expr<unknown>,
  ) {
    super();
  }
  eval(s: Scope) {
    return truthy(this.cond.eval(s)) ? this.value.eval(s) : undefined;
  }
  lines(key: string, indent: number) {
    const sp = ' '.repeat(indent);
    return [`${sp}{{- if ${this.cond.tpl()} }}`, `${sp}${key}: ${inline(this.value)}`, `${sp}{{- end }}`];
  }
}

export type TreeNode =
  Block | Expr<unknown> | string | number | boolean | null | undefined | TreeNode[] | { [key: string]: TreeNode };
export type Tree = TreeNode;

export const optional = (value: Expr<unknown>): Block => new OptionalScalar(value);
export const userBlock = (value: Expr<unknown>): Block => new UserBlock(value);
export const merged = (...parts: Array<Readonly<Record<string, string>> | Expr<Record<string, string>>>): Block =>
  new MergedMap(parts);
export const appended = (fixed: TreeNode[], extra: Expr<unknown>): Block => new AppendedList(fixed, extra);
export const when = (cond: Cond, value: Expr<unknown>): Block => new WhenCond(cond, value);
export const choice = (...branches: Array<readonly [Cond, Expr<unknown> | Tree]>): Block => new Choice(branches);

function isExpr(v: unknown): v is Expr<unknown> {
  return isPlainObject(v) && typeof v.tpl === 'function' && typeof v.eval === 'function';
}

/** The tree resolved against `scope`: keys whose value is undefined are left out. */
export function evalTree(node: unknown, scope: Scope): unknown {
  if (node instanceof Block) return node.eval(scope, evalTree);
  if (isExpr(node)) return node.eval(scope);
  if (Array.isArray(node)) return node.map((n) => evalTree(n, scope));
  if (isPlainObject(node)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      const r = evalTree(v, scope);
      if (r !== undefined) out[k] = r;
    }
    return out;
  }
  return node;
}

const TOKEN = /__HPS_(\d+)__/g;
const BLOCK_LINE = /^( *)(- )?([A-Za-z0-9_./-]+): __HPS_(\d+)__$/;

/** Writes trees as Go template YAML: serialise with placeholders, then swap in template text. */
class Renderer {
  private readonly inlines = new Map<number, string>();
  private readonly blocks = new Map<number, Block>();
  private next = 0;

  yamlLines(tree: unknown, indent: number): string[] {
    const text = stringify(this.tokenise(tree), { lineWidth: 0, minContentWidth: 0 }).replace(/\n$/, '');
    const sp = ' '.repeat(indent);
    const out: string[] = [];
    for (const raw of text.split('\n')) {
      const line = sp + raw;
      const m = BLOCK_LINE.exec(line);
      const block = m ? this.blocks.get(Number(m[4])) : undefined;
      if (m && block) {
        // `- {{- if }}` would put the list dash inside the condition: keep a plain key first in the item.
        if (m[2])
          throw new Error(`template block "${m[3]}" cannot be the first key of a list item: put a plain key before it`);
        out.push(...block.lines(m[3], m[1].length, this));
        continue;
      }
      out.push(
        line.replace(TOKEN, (_, id: string) => {
          const text = this.inlines.get(Number(id));
          if (text === undefined) throw new Error(`template block ${id} used where only a map key can hold it`);
          return text;
        }),
      );
    }
    return out;
  }

  private tokenise(node: unknown): unknown {
    if (node instanceof Block) {
      const id = this.next++;
      this.blocks.set(id, node);
      return `__HPS_${id}__`;
    }
    if (isExpr(node)) {
      const id = this.next++;
      this.inlines.set(id, inline(node));
      return `__HPS_${id}__`;
    }
    if (Array.isArray(node)) return node.map((n) => this.tokenise(n));
    if (isPlainObject(node)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) if (v !== undefined) out[k] = this.tokenise(v);
      return out;
    }
    return node;
  }
}

/** The tree as Go template YAML at column `indent` (ends with a newline). */
export function templateYaml(tree: unknown, indent = 0): string {
  return new Renderer().yamlLines(tree, indent).join('\n') + '\n';
}
