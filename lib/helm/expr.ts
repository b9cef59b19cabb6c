/**
 * `Expr<T>`: one expression, two back-ends. `eval(scope)` computes the value in TypeScript (dist/,
 * snapshot and construct tests); `tpl()` is the same computation as a Go template pipeline (the chart).
 * Every computed value of the chart (names, labels, image, pull policy, conditions, URLs) is written
 * once with the builders below, so the chart and dist/ cannot disagree; the helm-vs-dist deep-equal
 * test keeps each builder's two halves honest.
 */
import { GroupSpec, PathOf, SpecAt, specAt, ValuesOf, valueAt, isPlainObject } from './spec';

export interface Release {
  name: string;
  namespace: string;
  /** `.Release.Service`: always `Helm` when Helm renders. */
  service: string;
}

export interface ChartMeta {
  name: string;
  version: string;
  appVersion: string;
}

/** What an expression is evaluated against: `.Values`, `.Release`, `.Chart` and template variables. */
export interface Scope {
  readonly values: unknown;
  readonly release: Release;
  readonly chart: ChartMeta;
  readonly vars?: Readonly<Record<string, unknown>>;
}

/** How a value is written into YAML: strings are quoted, maps/lists go through `toYaml`. */
export type Kind = 'string' | 'number' | 'boolean' | 'map' | 'list';

export interface Expr<T> {
  readonly kind: Kind;
  eval(scope: Scope): T;
  /** The Go template pipeline, without delimiters. */
  tpl(): string;
  /** As an argument of a function call (parenthesised unless it is a single operand). */
  arg(): string;
  /** As the whole body of a `define` (statements with whitespace trimmed). */
  body(): string;
  /** Set by `include` of a map helper: the template yields YAML text, not data for `toYaml`. */
  readonly yamlText?: boolean;
}

interface Parts<T> {
  kind: Kind;
  eval: (scope: Scope) => T;
  tpl: string;
  simple?: boolean;
  body?: string;
  yamlText?: boolean;
}

export function expr<T>(p: Parts<T>): Expr<T> {
  return {
    kind: p.kind,
    eval: p.eval,
    tpl: () => p.tpl,
    arg: () => (p.simple ? p.tpl : `(${p.tpl})`),
    body: () => p.body ?? `{{- ${p.tpl} -}}`,
    yamlText: p.yamlText,
  };
}

/** `{{ x }}` inline in YAML, quoted when it is a string. */
export function inline(e: Expr<unknown>): string {
  return `{{ ${e.tpl()}${e.kind === 'string' ? ' | quote' : ''} }}`;
}

function kindOf(v: unknown): Kind {
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (Array.isArray(v)) return 'list';
  if (isPlainObject(v)) return 'map';
  return 'string';
}

/** A Go literal: strings double-quoted, numbers and booleans as is. */
export function lit<const T extends string | number | boolean>(value: T): Expr<T> {
  return expr({
    kind: kindOf(value),
    eval: () => value,
    tpl: typeof value === 'string' ? JSON.stringify(value) : String(value),
    simple: true,
  });
}

/** Typed `.Values.<path>` references for a values spec: `values(SPEC)('probes.readiness.periodSeconds')`. */
export function valueRefs<S extends GroupSpec>(
  spec: S,
): <P extends PathOf<S>>(path: P) => Expr<ValuesOf<SpecAt<S, P>>> {
  return <P extends PathOf<S>>(path: P) => {
    const node = specAt(spec, path);
    const kind: Kind =
      !node || node.kind === 'group' || node.kind === 'object'
        ? 'map'
        : node.kind === 'array'
          ? 'list'
          : node.kind === 'integer'
            ? 'number'
            : node.kind;
    return expr<ValuesOf<SpecAt<S, P>>>({
      kind,
      eval: (s) => valueAt(s.values, path) as ValuesOf<SpecAt<S, P>>,
      tpl: `.Values.${path}`,
      simple: true,
    });
  };
}

const builtin = <T>(kind: Kind, tpl: string, get: (s: Scope) => T): Expr<T> =>
  expr({ kind, eval: get, tpl, simple: true });
export const releaseName = builtin('string', '.Release.Name', (s) => s.release.name);
export const releaseNamespace = builtin('string', '.Release.Namespace', (s) => s.release.namespace);
export const releaseService = builtin('string', '.Release.Service', (s) => s.release.service);
export const chartName = builtin('string', '.Chart.Name', (s) => s.chart.name);
export const chartVersion = builtin('string', '.Chart.Version', (s) => s.chart.version);
export const chartAppVersion = builtin('string', '.Chart.AppVersion', (s) => s.chart.appVersion);

/** Go template truthiness: false, 0, nil, "" and empty maps/lists are false. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isPlainObject(v)) return Object.keys(v).length > 0;
  return true;
}

/**
 * A condition: any expression, true when Go template truthiness says so (`{{ if .Values.affinity }}`).
 * Conditions are evaluated with `truthy`, so they may yield any value, as in Go templates.
 */
export type Cond = Expr<unknown>;

/** A value used as a condition, as is: `{{ if .Values.affinity }}`. */
export function isSet(e: Expr<unknown>): Cond {
  return e;
}

/** `x | default y`: y when x is empty. */
export function orElse<T>(x: Expr<T>, fallback: Expr<T>): Expr<T> {
  return expr({
    kind: x.kind,
    eval: (s) => (truthy(x.eval(s)) ? x.eval(s) : fallback.eval(s)),
    tpl: `${x.tpl()} | default ${fallback.arg()}`,
  });
}

/** `x | trunc 63 | trimSuffix "-"`: a valid DNS label length. */
export function dnsLabel(x: Expr<string>): Expr<string> {
  return expr({
    kind: 'string',
    eval: (s) => {
      const cut = String(x.eval(s)).slice(0, 63);
      return cut.endsWith('-') ? cut.slice(0, -1) : cut;
    },
    tpl: `${x.tpl()} | trunc 63 | trimSuffix "-"`,
  });
}

/** `x | replace "a" "b"`. */
export function replace(x: Expr<string>, from: string, to: string): Expr<string> {
  return expr({
    kind: 'string',
    eval: (s) => String(x.eval(s)).split(from).join(to),
    tpl: `${x.tpl()} | replace ${JSON.stringify(from)} ${JSON.stringify(to)}`,
  });
}

/** `printf "<format>" args...` with `%s` and `%d` verbs. */
export function printf(format: string, ...args: Array<Expr<unknown>>): Expr<string> {
  return expr({
    kind: 'string',
    eval: (s) => {
      let i = 0;
      return format.replace(/%[sd%]/g, (verb) =>
        verb === '%%' ? '%' : verb === '%d' ? String(Math.trunc(Number(args[i++].eval(s)))) : String(args[i++].eval(s)),
      );
    },
    tpl: `printf ${JSON.stringify(format)} ${args.map((a) => a.arg()).join(' ')}`,
  });
}

/** `int x`: a number, also from a numeric string. */
export function int(x: Expr<number | string>): Expr<number> {
  return expr({ kind: 'number', eval: (s) => Math.trunc(Number(x.eval(s))), tpl: `int ${x.arg()}` });
}

/** An int-or-string port written unquoted, so YAML reads `8080` as a number and `http` as a name. */
export function intOrString(x: Expr<string | number>): Expr<string | number> {
  return expr({ kind: 'number', eval: (s) => x.eval(s), tpl: x.tpl(), simple: true });
}

/** `toString x` for tags written as numbers; an integral float (YAML `20260101`) keeps its digits. */
export function tagString(x: Expr<string | number>): Expr<string> {
  const a = x.arg();
  return expr({
    kind: 'string',
    eval: (s) => String(x.eval(s)),
    // Helm reads numbers from values files as float64, which toString would print as 2.0260101e+07.
    tpl: `ternary (int64 ${a} | toString) (toString ${a}) (and (kindIs "float64" ${a}) (eq (float64 (int64 ${a})) ${a}))`,
  });
}

export function eq<T extends string | number | boolean>(a: Expr<T>, b: Expr<T>): Expr<boolean> {
  return expr({ kind: 'boolean', eval: (s) => a.eval(s) === b.eval(s), tpl: `eq ${a.arg()} ${b.arg()}` });
}

export function gt(a: Expr<number>, b: Expr<number>): Expr<boolean> {
  return expr({ kind: 'boolean', eval: (s) => a.eval(s) > b.eval(s), tpl: `gt ${a.arg()} ${b.arg()}` });
}

/** `and a b...`: like Go, the first empty operand, else the last one (use it as a condition). */
export function and(...xs: Cond[]): Cond {
  return expr<unknown>({
    kind: 'boolean',
    eval: (s) => {
      let v: unknown = true;
      for (const x of xs) if (!truthy((v = x.eval(s)))) return v;
      return v;
    },
    tpl: `and ${xs.map((x) => x.arg()).join(' ')}`,
  });
}

/** `hasKey map "key"`. */
export function hasKey(map: Expr<Record<string, unknown>>, key: string): Expr<boolean> {
  return expr({
    kind: 'boolean',
    eval: (s) => Object.prototype.hasOwnProperty.call(map.eval(s) ?? {}, key),
    tpl: `hasKey ${map.arg()} ${JSON.stringify(key)}`,
  });
}

/** `index map "key"`. */
export function indexOf<T>(map: Expr<Record<string, T>>, key: string, kind: Kind = 'string'): Expr<T | undefined> {
  return expr({ kind, eval: (s) => (map.eval(s) ?? {})[key], tpl: `index ${map.arg()} ${JSON.stringify(key)}` });
}

/** `omit map "k"...`: the map without some keys. */
export function omit<T>(map: Expr<Record<string, T>>, ...keys: string[]): Expr<Record<string, T>> {
  return expr({
    kind: 'map',
    eval: (s) => Object.fromEntries(Object.entries(map.eval(s) ?? {}).filter(([k]) => !keys.includes(k))),
    tpl: `omit ${map.arg()} ${keys.map((k) => JSON.stringify(k)).join(' ')}`,
  });
}

/**
 * `cond ? a : b`. Inline it is `ternary`; as a define body it is an if/else statement, which only
 * evaluates the branch taken.
 */
export function ifElse<T>(cond: Cond, a: Expr<T>, b: Expr<T>): Expr<T> {
  return expr({
    kind: a.kind,
    eval: (s) => (truthy(cond.eval(s)) ? a.eval(s) : b.eval(s)),
    tpl: `ternary ${a.arg()} ${b.arg()} ${cond.arg()}`,
    body: [`{{- if ${cond.tpl()} -}}`, a.body(), '{{- else -}}', b.body(), '{{- end -}}'].join('\n'),
  });
}

/** A template variable `$name` bound by `withVar`. */
export function variable<T>(name: string, kind: Kind): Expr<T> {
  return expr({ kind, eval: (s) => s.vars?.[name] as T, tpl: `$${name}`, simple: true });
}

/** `{{- $name := value -}}` then `body` (define bodies only). */
export function withVar<T>(name: string, value: Expr<unknown>, body: Expr<T>): Expr<T> {
  return expr({
    kind: body.kind,
    eval: (s) => body.eval({ ...s, vars: { ...s.vars, [name]: value.eval(s) } }),
    tpl: body.tpl().split(`$${name}`).join(value.arg()),
    body: `{{- $${name} := ${value.tpl()} -}}\n${body.body()}`,
  });
}

/** `x` followed by fixed text: `printf "%s<text>" x` inline, `{{- x }}<text>` as a define body. */
export function suffixed(x: Expr<string>, text: string): Expr<string> {
  return expr({
    kind: 'string',
    eval: (s) => `${x.eval(s)}${text}`,
    tpl: `printf ${JSON.stringify(`%s${text.replace(/%/g, '%%')}`)} ${x.arg()}`,
    body: `{{- ${x.tpl()} }}${text}`,
  });
}

/** What the eval back-end throws where helm's `fail` stops rendering; the message is the same text. */
export class ChartValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChartValueError';
  }
}

/** `fail msg`: rendering stops with `msg`. Only useful where it is reached conditionally: see `failIf`. */
export function fail(message: Expr<string>): Expr<never> {
  return expr<never>({
    kind: 'string',
    eval: (s) => {
      throw new ChartValueError(message.eval(s));
    },
    tpl: `fail ${message.arg()}`,
  });
}

/** `or a b...`: like Go, the first non-empty operand, else the last one (evaluated left to right, stopping there). */
export function or<T>(...xs: Array<Expr<T>>): Expr<T> {
  return expr<T>({
    kind: xs[xs.length - 1]?.kind ?? 'boolean',
    eval: (s) => {
      let v: T | undefined;
      for (const x of xs) if (truthy((v = x.eval(s)))) return v;
      return v as T;
    },
    tpl: `or ${xs.map((x) => x.arg()).join(' ')}`,
  });
}

/**
 * `x`, unless `cond` holds: then rendering fails with `message`, which should name the values key
 * and what to do. One expression for both back-ends: the template is `or (and cond (fail msg)) x`
 * (Go's `and`/`or` stop at the first operand that decides, since Go 1.18 / Helm 3.8, so `fail` runs
 * only when `cond` holds, and `or` yields `x` even when it is 0 or ""), and eval throws
 * ChartValueError with the same message.
 */
export function failIf<T>(cond: Cond, message: Expr<string>, x: Expr<T>): Expr<T> {
  return expr<T>({
    kind: x.kind,
    eval: (s) => {
      if (truthy(cond.eval(s))) throw new ChartValueError(message.eval(s));
      return x.eval(s);
    },
    tpl: `or (and ${cond.arg()} ${fail(message).arg()}) ${x.arg()}`,
  });
}

/** `not x`: true when x is empty (Go template truthiness). */
export function not(x: Cond): Expr<boolean> {
  return expr({ kind: 'boolean', eval: (s) => !truthy(x.eval(s)), tpl: `not ${x.arg()}` });
}

/** `ge a b`: a >= b. */
export function ge(a: Expr<number>, b: Expr<number>): Expr<boolean> {
  return expr({ kind: 'boolean', eval: (s) => a.eval(s) >= b.eval(s), tpl: `ge ${a.arg()} ${b.arg()}` });
}

/**
 * `dig "k1" "k2" "" map`: the value at a key path of a user map, or "" when any key on the way is
 * missing (`index` would fail on a missing intermediate map, dig does not) or the map itself is unset.
 */
export function dig(map: Expr<Record<string, unknown>>, ...keys: string[]): Expr<unknown> {
  return expr<unknown>({
    kind: 'string',
    eval: (s) => {
      let v: unknown = map.eval(s);
      for (const k of keys) v = isPlainObject(v) && k in v ? v[k] : undefined;
      return v ?? '';
    },
    // `default dict`: a map the user set to null (helm then drops the key) is an empty map, not a type error.
    tpl: `dig ${keys.map((k) => JSON.stringify(k)).join(' ')} "" (${map.tpl()} | default dict)`,
  });
}

/**
 * `.Files.Get "<path>"`: a file shipped inside the chart (the Grafana dashboard), so its text, which may
 * hold `{{` of its own, never goes through the template engine. `content` is the same file's text for
 * the eval back-end: the synthesiser writes that text to `<path>` in the chart.
 */
export function chartFile(file: string, content: () => string): Expr<string> {
  return expr({ kind: 'string', eval: () => content(), tpl: `.Files.Get ${JSON.stringify(file)}` });
}
