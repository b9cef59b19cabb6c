/**
 * Chart values the cluster would reject (issue 12, item 19), run through the real helm: the generated
 * values.schema.json refuses them at `helm template` time, naming the key; what a schema cannot say
 * (minAvailable above replicas) is a `fail` in the templates (lib/helm failIf).
 */
import { CHART_PATH, helm } from './support/helm';

describe('item 19: values the cluster would reject fail in helm, naming the key', () => {
  test.each([
    // helm's validator names the offending key itself for propertyNames (its location path is not reliable).
    ['podLabels key with a space', '--set-json', 'podLabels={"bad key":"x"}', /'bad key'/],
    ['podLabels value over 63 characters', '--set', `podLabels.team=${'a'.repeat(64)}`, /podLabels/],
    ['labels value ending in "-"', '--set', 'labels.team=x-', /labels/],
    ['hub with a space', '--set', 'hub=my registry', /hub/],
    ['global.hub with a space', '--set', 'global.hub=my registry', /global.*hub|hub/],
    ['tag with a space', '--set', 'tag=1.0 beta', /tag/],
    ['junk resource quantity', '--set', 'resources.limits.memory=lots', /resources/],
    ['gzip.enabled not a boolean', '--set-string', 'gzip.enabled=maybe', /gzip/],
    ['an unknown key under gzip', '--set', 'gzip.level=9', /gzip|level/],
  ])('%s', (_what, flag, value, key) => {
    const r = helm(['template', 'hps', CHART_PATH, '--set', 'global.enablePluginServer=true', flag, value]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema|schema/);
    expect(r.stderr).toMatch(key);
  });

  test('podDisruptionBudget.minAvailable above replicas fails in the templates, naming the key', () => {
    const r = helm([
      'template',
      'hps',
      CHART_PATH,
      '--set',
      'global.enablePluginServer=true',
      '--set',
      'replicas=2',
      '--set',
      'podDisruptionBudget.minAvailable=3',
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('podDisruptionBudget.minAvailable (3) is above replicas (2)');
    expect(r.stdout).toBe('');
  });

  test.each([
    ['minAvailable equal to replicas', ['replicas=3', 'podDisruptionBudget.minAvailable=3']],
    ['minAvailable 0', ['podDisruptionBudget.minAvailable=0']],
    ['one replica (no PDB rendered) with minAvailable 5', ['replicas=1', 'podDisruptionBudget.minAvailable=5']],
  ])('%s still renders', (_what, sets) => {
    const r = helm([
      'template',
      'hps',
      CHART_PATH,
      '--set',
      'global.enablePluginServer=true',
      ...sets.flatMap((s) => ['--set', s]),
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('valid labels, hub, tag and quantities still render', () => {
    const r = helm([
      'template',
      'hps',
      CHART_PATH,
      '--set',
      'global.enablePluginServer=true',
      '--set',
      'podLabels.team=gw-1',
      '--set',
      'labels.example\\.com/owner=a_b',
      '--set',
      'hub=registry.local:5000/mirror',
      '--set',
      'tag=2.1.9',
      '--set',
      'resources.limits.memory=512Mi',
      '--set',
      'resources.requests.cpu=0.5',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
