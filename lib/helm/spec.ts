/**
 * The values spec: one declaration per key (default, description, constraints) from which the values
 * type, values.yaml, values.schema.json, the README table and the typed value paths are all derived.
 * Build a spec with the builders below (`str`, `oneOf`, `int`, `bool`, `obj`, `list`, `group`) so the
 * TypeScript type of every key is inferred from its declaration: the values type is declared once.
 */

/** JSON-schema types a scalar key accepts; more than one for keys Helm users write either way (`tag: 2.2`). */
export type ScalarType = 'string' | 'integer' | 'number' | 'boolean';

/** A scalar key: rendered inline in templates. `T` is its TypeScript type (phantom). */
export interface LeafSpec<T> {
  readonly kind: 'string' | 'integer' | 'boolean';
  readonly description: string;
  readonly default: T;
  /** Extra JSON-schema types accepted besides `kind` (e.g. a numeric tag). */
  readonly alsoAccepts?: readonly ScalarType[];
  readonly enum?: readonly T[];
  readonly minimum?: number;
  readonly maximum?: number;
  /** Applies to string values only (so a numeric string `replicas: "3"` can be constrained). */
  readonly pattern?: string;
}

/** A map or list handed to Kubernetes as is (`toYaml`); `schema` types its content. */
export interface BlockSpec<T> {
  readonly kind: 'object' | 'array';
  readonly description: string;
  readonly default: T;
  readonly schema?: Readonly<Record<string, unknown>>;
}

/** A group of keys; an `open` group accepts keys it does not know (the umbrella chart's `global:`). */
export interface GroupSpec<C extends Children = Children> {
  readonly kind: 'group';
  readonly description: string;
  readonly children: C;
  readonly open?: boolean;
}

export type ValueSpec = LeafSpec<unknown> | BlockSpec<unknown> | GroupSpec;
export type Children = { readonly [key: string]: ValueSpec };

/** The TypeScript type of the values a spec describes. */
export type ValuesOf<S> =
  S extends GroupSpec<infer C>
    ? { -readonly [K in keyof C]: ValuesOf<C[K]> }
    : S extends LeafSpec<infer T>
      ? T
      : S extends BlockSpec<infer T>
        ? T
        : never;

/** Every dotted path of a spec (groups, leaves and blocks): a typo is a compile error. */
export type PathOf<S> =
  S extends GroupSpec<infer C>
    ? { [K in keyof C & string]: K | (C[K] extends GroupSpec ? `${K}.${PathOf<C[K]>}` : never) }[keyof C & string]
    : never;

/** The spec node at a dotted path. */
export type SpecAt<S, P extends string> =
  S extends GroupSpec<infer C>
    ? P extends `${infer H}.${infer R}`
      ? H extends keyof C
        ? SpecAt<C[H], R>
        : never
      : P extends keyof C
        ? C[P]
        : never
    : never;

type Common<T> = { description: string; default: T };
type LeafOptions<T> = Common<T> & Pick<LeafSpec<T>, 'alsoAccepts' | 'minimum' | 'maximum' | 'pattern'>;

export const str = (o: LeafOptions<string>): LeafSpec<string> => ({ kind: 'string', ...o });
/** A string restricted to `values`; the type is their union. */
export const oneOf = <const E extends readonly string[]>(values: E, o: Common<E[number]>): LeafSpec<E[number]> => ({
  kind: 'string',
  enum: values,
  ...o,
});
export const integer = (o: LeafOptions<number>): LeafSpec<number> => ({ kind: 'integer', ...o });
export const bool = (o: Common<boolean>): LeafSpec<boolean> => ({ kind: 'boolean', ...o });
/** A scalar key whose TypeScript type is wider than its `kind` (a string tag that may be written as a number). */
export const scalar = <T>(kind: LeafSpec<T>['kind'], o: LeafOptions<T>): LeafSpec<T> => ({ kind, ...o });
export const obj = <T extends object>(o: Common<T> & { schema?: Record<string, unknown> }): BlockSpec<T> => ({
  kind: 'object',
  ...o,
});
export const list = <T>(o: Common<T[]> & { schema?: Record<string, unknown> }): BlockSpec<T[]> => ({
  kind: 'array',
  ...o,
});
export const group = <C extends Children>(
  description: string,
  children: C,
  opts: { open?: boolean } = {},
): GroupSpec<C> => ({ kind: 'group', description, children, ...opts });

/** Defaults of a spec node (deep copies, so callers may mutate them). */
export function defaultsOf<S extends ValueSpec>(spec: S): ValuesOf<S>;
export function defaultsOf(spec: ValueSpec): unknown {
  if (spec.kind === 'group')
    return Object.fromEntries(Object.entries(spec.children).map(([k, child]) => [k, defaultsOf(child)]));
  return structuredClone(spec.default);
}

/** Visits every leaf and block key with its dotted path, in declaration (values.yaml) order. */
export function walkSpec(
  spec: GroupSpec,
  visit: (path: string, node: LeafSpec<unknown> | BlockSpec<unknown>) => void,
  prefix = '',
): void {
  for (const [key, child] of Object.entries(spec.children)) {
    const p = prefix ? `${prefix}.${key}` : key;
    if (child.kind === 'group') walkSpec(child, visit, p);
    else visit(p, child);
  }
}

/** The spec node at a dotted path, or undefined. */
export function specAt(spec: GroupSpec, path: string): ValueSpec | undefined {
  let node: ValueSpec | undefined = spec;
  for (const key of path.split('.')) node = node?.kind === 'group' ? node.children[key] : undefined;
  return node;
}

/** Deep merge of plain objects (arrays and scalars replace), as Helm merges values. */
export function mergeValues<T>(base: T, override: unknown): T;
export function mergeValues(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : override;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) out[k] = k in out ? mergeValues(out[k], v) : v;
  return out;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a dotted path (`probes.readiness.periodSeconds`) from values. */
export function valueAt(values: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (isPlainObject(v) ? v[k] : undefined), values);
}
