/**
 * The engine's promise: each expression builder's TypeScript half (`eval`) computes what its Go
 * template half (`tpl`, or a `define` body) computes in the real helm. A throw-away chart renders
 * every expression as JSON for several value sets and the results must equal `eval`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse as parseYaml, stringify } from 'yaml';
import {
  and,
  chartAppVersion,
  chartFile,
  dig,
  ge,
  not,
  defaultsOf,
  dnsLabel,
  ChartValueError,
  eq,
  Expr,
  failIf,
  group,
  gt,
  hasKey,
  HelperSet,
  ifElse,
  indexOf,
  int,
  isSet,
  lit,
  mergeValues,
  obj,
  omit,
  or,
  orElse,
  printf,
  releaseName,
  releaseNamespace,
  replace,
  scalar,
  Scope,
  str,
  suffixed,
  tagString,
  variable,
  withVar,
} from '../lib/helm';
import { valueRefs } from '../lib/helm';
import { helm } from './support/helm';

const SPEC = group('engine test values', {
  name: str({ default: 'demo', description: 'a name' }),
  fallback: str({ default: 'fb', description: 'a fallback' }),
  tag: scalar<string | number>('string', { default: '', alsoAccepts: ['number'], description: 'a tag' }),
  replicas: scalar<number | string>('integer', { default: 2, alsoAccepts: ['string'], description: 'replicas' }),
  labels: obj<Record<string, string>>({ default: {}, description: 'labels' }),
});
const V = valueRefs(SPEC);
const CHART = { name: 'demo', version: '1.2.3+x', appVersion: '4.5.6' };
const RELEASE = { name: 'rel', namespace: 'ns', service: 'Helm' };

/** A file shipped in the chart whose text holds template delimiters: .Files.Get must not expand them. */
const SHIPPED = { file: 'files/dashboard.json', text: '{"legend": "{{plugin}} {{version}}"}\n' };

const H = new HelperSet('demo');
const port = variable<string>('p', 'string');
const DEFINED: Array<Expr<unknown>> = [
  H.define('choice', 'if/else body', ifElse(gt(int(V('replicas')), lit(2)), lit('many'), lit('few'))),
  H.define(
    'bound',
    'variable body',
    withVar('p', printf('%s-%d', V('name'), int(V('replicas'))), ifElse(isSet(V('tag')), suffixed(port, '!'), port)),
  ),
  H.define('suffix', 'suffix body', suffixed(V('name'), '/x/${name}')),
];
const INLINE: Array<Expr<unknown>> = [
  orElse(V('tag'), chartAppVersion),
  tagString(orElse(V('tag'), chartAppVersion)),
  dnsLabel(replace(printf('%s-%s', V('name'), lit('a+b')), '+', '_')),
  printf('http://%s.%s.svc:%d', V('name'), releaseNamespace, int(V('replicas'))),
  int(V('replicas')),
  eq<string>(V('name'), lit('demo')),
  and(isSet(V('labels')), hasKey(V('labels'), 'app')),
  indexOf(V('labels'), 'app'),
  omit(V('labels'), 'app', 'higress'),
  ifElse(hasKey(V('labels'), 'app'), indexOf(V('labels'), 'app'), V('name')),
  suffixed(releaseName, '-test'),
  or(V('tag'), V('name')),
  // Passes x through (even 0) unless the condition holds; the failing side is the test below.
  failIf(gt(int(V('replicas')), lit(10)), printf('replicas (%d) is above 10', int(V('replicas'))), V('name')),
  failIf(eq<string>(V('name'), lit('boom')), printf('name is %s', V('name')), lit(0)),
  not(isSet(V('tag'))),
  not(hasKey(V('labels'), 'app')),
  ge(int(V('replicas')), lit(3)),
  dig(V('labels'), 'app'),
  dig(V('labels'), 'missing', 'deeper'),
  chartFile(SHIPPED.file, () => SHIPPED.text),
  ...DEFINED,
];

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-engine-'));
  fs.mkdirSync(path.join(dir, 'templates'));
  fs.writeFileSync(path.join(dir, 'Chart.yaml'), stringify({ apiVersion: 'v2', ...CHART }));
  fs.writeFileSync(path.join(dir, 'values.yaml'), stringify(defaultsOf(SPEC)));
  fs.writeFileSync(path.join(dir, 'templates', '_helpers.tpl'), H.file('test'));
  fs.mkdirSync(path.join(dir, 'files'));
  fs.writeFileSync(path.join(dir, SHIPPED.file), SHIPPED.text);
  const data = INLINE.map((e, i) => `  e${i}: {{ toJson ${e.arg()} | quote }}`).join('\n');
  fs.writeFileSync(
    path.join(dir, 'templates', 'out.yaml'),
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: out\ndata:\n${data}\n`,
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Each case: values as a values file (YAML numbers are float64 in helm) and/or --set entries. */
const CASES: Array<[string, { file?: Record<string, unknown>; set?: string[]; equiv: Record<string, unknown> }]> = [
  ['defaults', { equiv: {} }],
  [
    'string tag, labels with app',
    {
      file: { tag: 'v1', labels: { app: 'mine', higress: 'h', team: 't' } },
      equiv: { tag: 'v1', labels: { app: 'mine', higress: 'h', team: 't' } },
    },
  ],
  ['tag 2.2 in a file', { file: { tag: 2.2 }, equiv: { tag: 2.2 } }],
  ['tag 20260101 in a file', { file: { tag: 20260101 }, equiv: { tag: 20260101 } }],
  ['--set tag=20260101 replicas=3', { set: ['tag=20260101', 'replicas=3'], equiv: { tag: 20260101, replicas: 3 } }],
  [
    'replicas as a string, long name',
    { file: { replicas: '7', name: 'n'.repeat(70) }, equiv: { replicas: '7', name: 'n'.repeat(70) } },
  ],
  ['empty app label', { file: { labels: { app: '' } }, equiv: { labels: { app: '' } } }],
];

test.each(CASES)('%s: eval equals helm', (_name, c) => {
  const args = ['template', RELEASE.name, dir, '-n', RELEASE.namespace];
  if (c.file) {
    const f = path.join(dir, 'case-values.yaml');
    fs.writeFileSync(f, stringify(c.file));
    args.push('-f', f);
  }
  for (const s of c.set ?? []) args.push('--set', s);
  const r = helm(args);
  expect(r.stderr).toBe('');
  const cm = parseYaml(r.stdout) as { data: Record<string, string> };
  const scope: Scope = { values: mergeValues(defaultsOf(SPEC), c.equiv), release: RELEASE, chart: CHART };
  const fromHelm = INLINE.map((_, i) => JSON.parse(cm.data[`e${i}`]));
  const fromEval = INLINE.map((e) => {
    const v = e.eval(scope);
    return v === undefined ? null : v;
  });
  expect(fromHelm).toEqual(fromEval);
});

test('failIf: helm fails with the message eval throws, and only when the condition holds', () => {
  const r = helm(['template', RELEASE.name, dir, '-n', RELEASE.namespace, '--set', 'replicas=11']);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain('replicas (11) is above 10');
  const scope: Scope = { values: mergeValues(defaultsOf(SPEC), { replicas: 11 }), release: RELEASE, chart: CHART };
  const guarded = INLINE.find((e) => e.tpl().includes('above 10')) as Expr<unknown>;
  expect(() => guarded.eval(scope)).toThrow(new ChartValueError('replicas (11) is above 10'));
});

test('a define body and its inline form agree', () => {
  const scope: Scope = { values: mergeValues(defaultsOf(SPEC), { tag: 'x' }), release: RELEASE, chart: CHART };
  expect(DEFINED.map((e) => e.eval(scope))).toEqual(['few', 'demo-2!', 'demo/x/${name}']);
  expect(H.file('test')).toContain('{{- $p := printf "%s-%d" .Values.name (int .Values.replicas) -}}');
});
