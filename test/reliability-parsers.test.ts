/**
 * Property-based tests (fast-check) for every input parser: the plugin list, references, the lock
 * file, the Higress snapshot and the served index. For any input: no crash, every rejection is a
 * typed InputError with a message, and every name/version accepted stays inside the output folder.
 * Hostile names given straight to the publisher are refused without writing anything anywhere.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import fc from 'fast-check';
import { InputError } from '../src/errors';
import { parseIndex } from '../src/higress/server-index';
import { parseLock } from '../src/inputs/lock';
import { parsePluginList } from '../src/inputs/properties';
import { parseOciReference, parseSource } from '../src/inputs/reference';
import { parseSnapshot } from '../src/inputs/snapshot';
import { PluginEntry } from '../src/inputs/types';
import { PLUGINS_DIR } from '../src/contract/tree-format';
import { SAFE_SEGMENT } from '../src/contract/plugin-identity';
import { assertSafeSegment, publishVersion } from '../src/tree/publish';
import { recordFigures, resetFigures } from './support/figures';
import { treeState } from './support/tree-state';
import { shippedSmallWasm } from './support/wasm';

const FIGURES = 'parsers';
const RUNS = 2000;
const SEED = 20250102;
const OUT = path.resolve('/srv/out');
const runs: Record<string, number> = {};

/** Fragments that have broken path handling and parsers elsewhere. */
const hostile = fc.constantFrom(
  '..',
  '.',
  '/',
  '\\',
  '%2e%2e',
  '%2f',
  '\0',
  '\n',
  '\r',
  ' ',
  '=',
  ':',
  '@',
  '#',
  '!',
  '#@alias',
  'sha256:',
  'oci://',
  'file:',
  '~',
  '$',
  '${name}',
  '\u202e',
  '\u00e9',
  '\ud83d\ude00',
  'CON',
  'a'.repeat(200),
);
const token = fc.oneof(hostile, fc.string({ maxLength: 12 }), fc.stringMatching(/^[a-z0-9.-]{1,12}$/));
const name = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
  fc.array(token, { minLength: 1, maxLength: 4 }).map((t) => t.join('')),
);
const digest = fc.oneof(
  fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`),
  token,
);
const reference = fc
  .tuple(
    fc.constantFrom('oci://', 'file:', 'http://', '', 'oci:/'),
    fc.constantFrom('registry.example.com', '127.0.0.1:5000', '[::1]:5000', '', '..'),
    fc.array(token, { maxLength: 4 }),
    fc.option(name),
    fc.option(digest),
  )
  .map(
    ([scheme, host, repo, tag, d]) =>
      `${scheme}${host}/${repo.join('/')}${tag !== null ? `:${tag}` : ''}${d !== null ? `@${d}` : ''}`,
  );
const listLine = fc.oneof(
  fc.tuple(name, reference).map(([n, r]) => `${n}=${r}`),
  fc.tuple(name, name, name).map(([n, a, v]) => `#@alias ${n} ${a}=${v}`),
  fc.tuple(name, token, name).map(([n, p, v]) => `${n}=file:${p}@${v}`),
  fc.array(token, { maxLength: 5 }).map((t) => t.join('')),
  fc.string({ maxLength: 40 }),
);
const listText = fc
  .array(listLine, { maxLength: 12 })
  .chain((lines) => fc.constantFrom('\n', '\r\n').map((eol) => lines.join(eol)));

/** The folder an entry would be written to stays a child of <out>/plugins, two levels down. */
function staysInside(e: { name: string; version: string }): boolean {
  const dir = path.resolve(OUT, PLUGINS_DIR, e.name, e.version);
  return (
    SAFE_SEGMENT.test(e.name) &&
    SAFE_SEGMENT.test(e.version) &&
    path.dirname(path.dirname(dir)) === path.join(OUT, PLUGINS_DIR)
  );
}

function typedProblems(problems: unknown[], file: string): boolean {
  return problems.every(
    (p) => p instanceof InputError && p.message.length > 0 && p.context.file === file && p.toLine().startsWith(file),
  );
}

function checked(id: string, prop: fc.IProperty<any>, numRuns = RUNS): void {
  fc.assert(prop, { numRuns, seed: SEED });
  runs[id] = numRuns;
}

beforeAll(() => resetFigures(FIGURES));
afterAll(() => recordFigures(FIGURES, { runs, seed: SEED }));

test('plugin list: never throws; problems are InputErrors with file:line; entries stay inside the tree', () => {
  checked(
    'plugins.properties',
    fc.property(listText, (text) => {
      const r = parsePluginList(text, 'plugins.properties');
      const lines = text.split(/\r?\n/).length;
      return (
        typedProblems(r.problems, 'plugins.properties') &&
        r.problems.every((p) => (p.context.line ?? 0) >= 1 && (p.context.line ?? 0) <= lines) &&
        r.entries.every((e: PluginEntry) => staysInside(e) && (e.aliasOf === undefined || SAFE_SEGMENT.test(e.aliasOf)))
      );
    }),
  );
});

test('references: never throw; accepted ones name a safe version folder', () => {
  checked(
    'references',
    fc.property(fc.oneof(reference, fc.string({ maxLength: 80 })), (value) => {
      const r = parseSource(value, '/srv/lists');
      const o = parseOciReference(value.replace(/^oci:\/\//, ''));
      const okRef =
        !o.ok ||
        (o.ref.registry.length > 0 && o.ref.repository.length > 0 && !o.ref.repository.split('/').includes('..'));
      if (!r.ok) return r.message.length > 0 && r.hint.length > 0 && /^E_/.test(r.code) && okRef;
      return SAFE_SEGMENT.test(r.version) && okRef;
    }),
  );
});

test('lock file: any text or JSON value gives a lock or InputErrors, never a crash', () => {
  const lockEntry = fc.record({ name, version: name, source: reference, digest }, { requiredKeys: [] });
  const lockDoc = fc.oneof(
    fc.record({
      lockVersion: fc.constantFrom(1, 2, '1'),
      plugins: fc.oneof(fc.array(fc.oneof(lockEntry, fc.anything())), fc.anything()),
    }),
    fc.anything(),
  );
  checked(
    'lock',
    fc.property(
      fc.oneof(
        lockDoc.map((d) => JSON.stringify(d) ?? 'undefined'),
        fc.string({ maxLength: 60 }),
      ),
      (text) => {
        const r = parseLock(text, 'plugins.lock.json');
        return typedProblems(r.problems, 'plugins.lock.json') && (r.lock === undefined) === r.problems.length > 0;
      },
    ),
  );
});

test('snapshot: any document gives entries that stay inside the tree, or InputErrors', () => {
  const plugin = fc.record(
    {
      logicalId: fc.oneof(name, fc.anything()),
      version: fc.oneof(name, fc.constant('2.0.0'), fc.anything()),
      ociRef: fc.oneof(
        reference.map((r) => r.replace(/^oci:\/\//, '')),
        fc.anything(),
      ),
      digest: fc.oneof(digest, fc.anything()),
      consumers: fc.oneof(
        fc.record(
          {
            pluginServer: fc.record(
              {
                httpPath: fc.oneof(name, fc.anything()),
                aliases: fc.oneof(fc.array(name, { maxLength: 3 }), fc.anything()),
              },
              { requiredKeys: [] },
            ),
          },
          { requiredKeys: [] },
        ),
        fc.anything(),
      ),
    },
    { requiredKeys: [] },
  );
  const doc = fc.oneof(
    fc.record({
      schemaVersion: fc.constantFrom(1, 2),
      plugins: fc.oneof(fc.array(fc.oneof(plugin, fc.anything()), { maxLength: 6 }), fc.anything()),
    }),
    fc.anything(),
  );
  checked(
    'snapshot',
    fc.property(
      fc.oneof(
        doc.map((d) => JSON.stringify(d, null, 2) ?? 'null'),
        fc.string({ maxLength: 60 }),
      ),
      (text) => {
        const r = parseSnapshot(text, 'snapshot.json');
        return typedProblems(r.problems, 'snapshot.json') && r.entries.every(staysInside);
      },
    ),
  );
});

test('index: any JSON value is either a valid index of in-tree paths or one InputError', () => {
  const entry = fc.record(
    {
      name: fc.oneof(name, fc.anything()),
      version: fc.oneof(name, fc.anything()),
      sha256: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.anything()),
      size: fc.oneof(fc.integer(), fc.anything()),
      md5: fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), fc.anything()),
      path: fc.oneof(
        fc.tuple(name, name).map(([n, v]) => `/plugins/${n}/${v}/plugin.wasm`),
        fc.string(),
        fc.constant('/plugins/../../etc/plugin.wasm'),
      ),
      manifestDigest: fc.oneof(fc.constant(null), digest),
    },
    { requiredKeys: [] },
  );
  const index = fc.oneof(
    fc.record(
      {
        schemaVersion: fc.constantFrom(1, 2),
        generated: fc.string(),
        plugins: fc.oneof(fc.array(fc.oneof(entry, fc.anything()), { maxLength: 5 }), fc.anything()),
      },
      { requiredKeys: [] },
    ),
    fc.anything(),
  );
  checked(
    'index.json',
    fc.property(index, (data) => {
      try {
        const parsed = parseIndex(data, 'index.json');
        return parsed.plugins.every(
          (e) => staysInside(e) && e.path === `/${PLUGINS_DIR}/${e.name}/${e.version}/plugin.wasm`,
        );
      } catch (err) {
        return err instanceof InputError && err.message.length > 0 && err.context.file === 'index.json';
      }
    }),
  );
});

test('assertSafeSegment: accepts exactly the names that stay one folder deep', () => {
  checked(
    'assertSafeSegment',
    fc.property(fc.oneof(name, fc.string({ maxLength: 20 })), (value) => {
      let accepted = true;
      try {
        assertSafeSegment('name', value);
      } catch (err) {
        if (!(err instanceof InputError)) return false;
        accepted = false;
      }
      const resolved = path.resolve(OUT, value);
      const oneDeep = path.dirname(resolved) === OUT && path.basename(resolved) === value && !value.startsWith('.');
      return !accepted || oneDeep;
    }),
  );
});

test('publishVersion with hostile names and versions writes nothing, inside or outside the output folder', async () => {
  const sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-parsers-'));
  try {
    const out = path.join(sandbox, 'nested', 'out');
    fs.mkdirSync(out, { recursive: true });
    const wasm = shippedSmallWasm();
    const before = treeState(sandbox);
    const unsafe = fc
      .oneof(
        hostile,
        fc.array(token, { minLength: 1, maxLength: 3 }).map((t) => t.join('/')),
      )
      .filter((s) => !SAFE_SEGMENT.test(s));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.tuple(unsafe, fc.constant('1.0.0')), fc.tuple(fc.constant('ok'), unsafe)),
        async ([n, v]) => {
          const err = await publishVersion(out, {
            name: n,
            version: v,
            wasmPath: wasm,
            source: 'file:x.wasm',
            manifestDigest: null,
            created: '2025-01-01T00:00:00Z',
          }).then(
            () => undefined,
            (e: unknown) => e,
          );
          return err instanceof InputError && err.code === 'E_UNSAFE_SEGMENT' && err.message.length > 0;
        },
      ),
      { numRuns: 300, seed: SEED },
    );
    runs.publishVersion = 300;
    expect(treeState(sandbox)).toEqual(before);
    expect(fs.readdirSync(out)).toEqual([]);
  } finally {
    fs.rmSync(sandbox, { recursive: true, force: true });
  }
});
