/**
 * One version source: package.json sets the CLI's --version, the npm tarball name and the chart in
 * charts/ (version = appVersion); CHANGELOG.md has its section, which Chart.yaml lists as Artifact
 * Hub changes. Releases override the chart and image version with the Higress version
 * (release-local.test.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { ChangelogError, changesFor } from '../lib/changelog';
import { TARGET_HIGRESS_VERSION } from '../lib/chart-files';
import { buildProgram } from '../src/cli';
import { REPO_ROOT } from './support/tools';

const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
const changelog = fs.readFileSync(path.join(REPO_ROOT, 'CHANGELOG.md'), 'utf8');
const chart = parse(fs.readFileSync(path.join(REPO_ROOT, 'charts', 'higress-plugin-server', 'Chart.yaml'), 'utf8')) as {
  version: string;
  appVersion: string;
  annotations: Record<string, string>;
};

test('the CLI reports the package.json version', () => {
  expect(buildProgram().version()).toBe(pkg.version);
});

test('the generated chart carries the package.json version as version, and the Higress version it targets as appVersion (the default image tag: one Higress publishes)', () => {
  expect(chart.version).toBe(pkg.version);
  expect(chart.appVersion).toBe(TARGET_HIGRESS_VERSION);
  expect(TARGET_HIGRESS_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
});

test('CHANGELOG.md has a section for the package.json version, and Chart.yaml lists exactly its entries', () => {
  const changes = changesFor(changelog, pkg.version);
  expect(changes.length).toBeGreaterThan(0);
  expect(parse(chart.annotations['artifacthub.io/changes'])).toEqual(changes);
});

test('Artifact Hub annotations: license, links, and the image tagged with the appVersion', () => {
  expect(chart.annotations['artifacthub.io/license']).toBe('Apache-2.0');
  expect((parse(chart.annotations['artifacthub.io/links']) as Array<{ name: string }>).map((l) => l.name)).toEqual([
    'Higress',
    'Source',
  ]);
  expect((parse(chart.annotations['artifacthub.io/images']) as Array<{ image: string }>)[0].image).toMatch(
    new RegExp(`/higress/plugin-server:${TARGET_HIGRESS_VERSION.replace(/\./g, '\\.')}$`),
  );
});

describe('changesFor', () => {
  const text = [
    '# Changelog',
    '',
    '## [Unreleased]',
    '### Added',
    '- next',
    '',
    '## [1.2.0] - 2026-01-01',
    '### Fixed',
    '- a bug  ',
    '### Security',
    '- a CVE',
    '',
    '## [1.1.0]',
    '### Added',
    '- old',
  ].join('\n');

  test('reads only the given version, with Artifact Hub kinds', () => {
    expect(changesFor(text, '1.2.0')).toEqual([
      { kind: 'fixed', description: 'a bug' },
      { kind: 'security', description: 'a CVE' },
    ]);
    expect(changesFor(text, 'Unreleased')).toEqual([{ kind: 'added', description: 'next' }]);
    expect(changesFor(text, '9.9.9')).toEqual([]);
  });

  test('a heading Artifact Hub does not know, or an entry before any heading, names the line', () => {
    expect(() => changesFor('## [1.0.0]\n### Improved\n- x', '1.0.0', 'CHANGELOG.md')).toThrow(
      new ChangelogError(
        'CHANGELOG.md',
        2,
        '"### Improved" is not a change kind (use one of added, changed, deprecated, removed, fixed, security)',
      ),
    );
    expect(() => changesFor('## [1.0.0]\n- x', '1.0.0')).toThrow(
      /CHANGELOG\.md:2: entry before any "### <kind>" heading/,
    );
  });
});
