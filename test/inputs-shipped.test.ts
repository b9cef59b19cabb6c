/**
 * The shipped plugin lists: image/plugins.properties (what Higress's plugin server ships) and
 * image/console.plugins.properties (what the Higress Console knows). Pulled together, the server has
 * a folder for every URL the Console builds, including the spec.yaml versions.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CONSOLE_SPEC_VERSIONS } from '../src/higress/console-versions';
import { loadInputs } from '../src/inputs/load';
import { REPO_ROOT } from './support/tools';

const SERVER_LIST = path.join(REPO_ROOT, 'image', 'plugins.properties');
const CONSOLE_LIST = path.join(REPO_ROOT, 'image', 'console.plugins.properties');

test('the console list is the reference list with a header', () => {
  const body = (f: string) =>
    fs
      .readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'));
  expect(body(CONSOLE_LIST)).toEqual(
    body(path.join(REPO_ROOT, 'test', 'fixtures', 'reference', 'console.plugins.properties')),
  );
});

test('both lists merge without a problem and cover every URL the Console builds', () => {
  const merged = loadInputs({ lists: [SERVER_LIST, CONSOLE_LIST] });
  expect(merged.problems.map((p) => p.toLine())).toEqual([]);
  const served = new Set(merged.entries.map((e) => `${e.name}/${e.version}`));
  const consoleOnly = loadInputs({ lists: [CONSOLE_LIST] });
  expect(consoleOnly.entries.length).toBe(52);
  for (const e of consoleOnly.entries) {
    const known = CONSOLE_SPEC_VERSIONS[e.name];
    const version = known && known.tag === e.version ? known.specVersion : e.version;
    expect(served.has(`${e.name}/${version}`) ? `${e.name}/${version}` : `missing ${e.name}/${version}`).toBe(
      `${e.name}/${version}`,
    );
  }
});
