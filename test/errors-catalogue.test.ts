/** Every code thrown in src/ is catalogued, every catalogued code is used, and the docs table is current. */
import * as fs from 'fs';
import * as path from 'path';
import { allCodes, areaOf, EXIT, InputError, RegistryError } from '../src/errors';
import { renderErrorTable, TROUBLESHOOTING, withErrorTable } from '../scripts/error-docs';

const ROOT = path.resolve(__dirname, '..');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? sources(p) : d.name.endsWith('.ts') ? [p] : [];
  });
}

/** Code literals in src/, scripts/ (the release steps) and bin/ (the package's launcher) outside the catalogue itself. */
function usedCodes(): Map<string, string> {
  const used = new Map<string, string>();
  const bin = fs.readdirSync(path.join(ROOT, 'bin')).map((f) => path.join(ROOT, 'bin', f));
  for (const file of [...sources(path.join(ROOT, 'src')), ...sources(path.join(ROOT, 'scripts')), ...bin]) {
    if (file.endsWith(path.join('errors', 'catalogue.ts'))) continue;
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/['"`](E_[A-Z0-9_]+)['"`]/g))
      used.set(m[1], path.relative(ROOT, file));
  }
  return used;
}

test('every code src/ and scripts/ use is in the catalogue', () => {
  const known = new Set(allCodes().map((c) => c.code as string));
  const missing = [...usedCodes()].filter(([code]) => !known.has(code)).map(([code, file]) => `${code} (${file})`);
  expect(missing).toEqual([]);
});

test('every catalogued code is used somewhere in src/ or scripts/', () => {
  const used = usedCodes();
  expect(
    allCodes()
      .filter((c) => !used.has(c.code))
      .map((c) => c.code),
  ).toEqual([]);
});

test('codes are unique across areas and each area has an exit code', () => {
  const codes = allCodes().map((c) => c.code);
  expect(new Set(codes).size).toBe(codes.length);
  for (const c of allCodes()) expect(EXIT[c.area]).toBeGreaterThan(0);
  expect(new Set(Object.values(EXIT)).size).toBe(Object.values(EXIT).length);
});

test('docs/troubleshooting.md holds the generated code table (run `npm run docs` after a catalogue change)', () => {
  const doc = fs.readFileSync(TROUBLESHOOTING, 'utf8');
  expect(doc).toContain(renderErrorTable());
  expect(withErrorTable(doc)).toBe(doc);
});

test('errors are built from an options object and report their area', () => {
  const e = new InputError({
    code: 'E_REFERENCE',
    message: 'bad',
    context: { file: 'a.properties', line: 3 },
    hint: 'fix it',
  });
  expect(e.toLine()).toBe('a.properties:3: bad (fix it)');
  expect(e.area).toBe('input');
  expect(e.exitCode).toBe(EXIT.input);
  const r = new RegistryError({ code: 'E_REGISTRY_SERVER', message: '503', transient: true });
  expect([r.transient, r.area, areaOf('E_NOT_A_CODE')]).toEqual([true, 'registry', 'internal']);
});
