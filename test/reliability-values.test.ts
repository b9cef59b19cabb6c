/**
 * Chart values the cluster would reject (issue 12, item 19), run through the real helm: the generated
 * values.schema.json refuses them at `helm template` time, naming the key; what a schema cannot say
 * (minAvailable above replicas) is a `fail` in the templates (lib/helm failIf). The autoscaling and
 * monitoring rules (lib/scaling.ts, lib/monitoring.ts) are refused the same way, each message naming
 * the values and what to do; test/lib-constructs.test.ts checks the TypeScript side gives the same.
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

  const template = (sets: string[]) =>
    helm([
      'template',
      'hps',
      CHART_PATH,
      '--set',
      'global.enablePluginServer=true',
      ...sets.flatMap((s) => ['--set', s]),
    ]);

  test.each([
    [
      'autoscaling.minReplicas above maxReplicas',
      ['autoscaling.enabled=true', 'autoscaling.minReplicas=6', 'autoscaling.maxReplicas=5'],
      'autoscaling.minReplicas (6) is above autoscaling.maxReplicas (5): the autoscaler cannot keep both; set autoscaling.maxReplicas to at least autoscaling.minReplicas',
    ],
    [
      'PDB minAvailable equal to the autoscaling floor',
      ['autoscaling.enabled=true', 'autoscaling.minReplicas=2', 'podDisruptionBudget.minAvailable=2'],
      'podDisruptionBudget.minAvailable (2) is not below autoscaling.minReplicas (2): at the autoscaler floor no pod could be evicted',
    ],
    [
      'PDB minAvailable above the autoscaling floor',
      ['autoscaling.enabled=true', 'autoscaling.minReplicas=3', 'podDisruptionBudget.minAvailable=5'],
      'podDisruptionBudget.minAvailable (5) is not below autoscaling.minReplicas (3)',
    ],
    [
      'autoscaling without a CPU request',
      ['autoscaling.enabled=true', 'resources.requests.cpu=null'],
      'autoscaling.enabled needs resources.requests.cpu',
    ],
    [
      'autoscaling with resources unset',
      ['autoscaling.enabled=true', 'resources=null'],
      'autoscaling.enabled needs resources.requests.cpu',
    ],
    [
      'a ServiceMonitor with metrics off',
      ['metrics.enabled=false', 'metrics.serviceMonitor.enabled=true'],
      'metrics.serviceMonitor.enabled=true needs metrics.enabled=true',
    ],
    [
      'a dashboard with metrics off',
      ['metrics.enabled=false', 'metrics.dashboard.enabled=true'],
      'metrics.dashboard.enabled=true needs metrics.enabled=true',
    ],
  ])('%s fails in the templates, naming the values', (_what, sets, message) => {
    const r = template(sets);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
  });

  test.each([
    [
      'minAvailable below the autoscaling floor',
      ['autoscaling.enabled=true', 'autoscaling.minReplicas=3', 'podDisruptionBudget.minAvailable=2'],
    ],
    [
      'minReplicas equal to maxReplicas',
      ['autoscaling.enabled=true', 'autoscaling.minReplicas=3', 'autoscaling.maxReplicas=3'],
    ],
    // minReplicas 1: no PDB is rendered, so minAvailable 1 blocks nothing.
    ['autoscaling floor 1 with minAvailable 1', ['autoscaling.enabled=true', 'autoscaling.minReplicas=1']],
    [
      'replicas below minAvailable while the autoscaler owns the count',
      ['autoscaling.enabled=true', 'autoscaling.minReplicas=4', 'replicas=1', 'podDisruptionBudget.minAvailable=3'],
    ],
    [
      'PDB disabled with minAvailable at the floor',
      ['autoscaling.enabled=true', 'podDisruptionBudget.enabled=false', 'podDisruptionBudget.minAvailable=2'],
    ],
    [
      'everything on',
      ['autoscaling.enabled=true', 'metrics.serviceMonitor.enabled=true', 'metrics.dashboard.enabled=true'],
    ],
    ['metrics off, nothing asking for them', ['metrics.enabled=false']],
  ])('%s still renders', (_what, sets) => {
    const r = template(sets);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
