/**
 * Manifest policy evidence: kube-score (default checks) on the rendered chart and on the plain
 * manifests, with every deliberate exception written down in test/fixtures/kube-score-ignore.txt;
 * and every Pod template (the Deployment's, the helm-test Pod, dist/) against each control of the
 * Pod Security Standards `restricted` profile, one assertion per control.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { helmTemplate, parseDocs } from './support/helm';
import { recordFigures, resetFigures } from './support/figures';
import { PodTemplate, podTemplates, PSS_CONTROLS } from './support/pss';
import { REPO_ROOT, tool } from './support/tools';

const IGNORE_FILE = path.join(REPO_ROOT, 'test', 'fixtures', 'kube-score-ignore.txt');
const DIST = path.join(REPO_ROOT, 'dist', 'higress-plugin-server.yaml');
const FIGURES = 'manifests';

/** kube-score grades: 1 critical, 5 warning, 7 almost OK, 10 OK. */
const FINDING_GRADE = 5;

interface Exception {
  id: string;
  reason: string;
  line: number;
}

/** Parses `<check id>: <reason>` lines; a line without a reason is returned with an empty one. */
function readExceptions(text: string): Exception[] {
  const out: Exception[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    out.push({
      id: (colon < 0 ? line : line.slice(0, colon)).trim(),
      reason: colon < 0 ? '' : line.slice(colon + 1).trim(),
      line: i + 1,
    });
  });
  return out;
}

interface ScoreFinding {
  object: string;
  check: string;
  grade: number;
  comments: string[];
}

function kubeScore(manifest: string, ignore: string[]): ScoreFinding[] {
  const args = [
    'score',
    '-o',
    'json',
    '--kubernetes-version',
    'v1.28',
    ...ignore.flatMap((id) => ['--ignore-test', id]),
    manifest,
  ];
  const r = spawnSync(tool('kube-score'), args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.error) throw r.error;
  // kube-score exits 1 when it has findings; anything it printed is still valid JSON.
  let report: Array<{
    object_name: string;
    checks: Array<{
      check: { id: string };
      grade: number;
      skipped: boolean;
      comments: Array<{ summary: string; path?: string }> | null;
    }>;
  }>;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    throw new Error(`kube-score ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  }
  const findings: ScoreFinding[] = [];
  for (const o of report) {
    for (const c of o.checks) {
      if (c.skipped || c.grade > FINDING_GRADE) continue;
      findings.push({
        object: o.object_name,
        check: c.check.id,
        grade: c.grade,
        comments: (c.comments ?? []).map((x) => `${x.path ? `${x.path}: ` : ''}${x.summary}`),
      });
    }
  }
  return findings;
}

let tmp: string;
let rendered: string;
/** The chart with its optional objects on: the HorizontalPodAutoscaler, the ServiceMonitor, the dashboard ConfigMap. */
let renderedAll: string;
let renderedObjects: Array<Record<string, any>>;
let distObjects: Array<Record<string, any>>;
let exceptions: Exception[];

beforeAll(() => {
  resetFigures(FIGURES);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-manifests-'));
  const r = helmTemplate({ set: ['global.enablePluginServer=true'] });
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  rendered = path.join(tmp, 'chart.yaml');
  fs.writeFileSync(rendered, r.stdout);
  renderedObjects = parseDocs(r.stdout);
  const all = helmTemplate({
    set: [
      'global.enablePluginServer=true',
      'autoscaling.enabled=true',
      'metrics.serviceMonitor.enabled=true',
      'metrics.dashboard.enabled=true',
    ],
  });
  if (all.status !== 0) throw new Error(`helm template failed: ${all.stderr}`);
  renderedAll = path.join(tmp, 'chart-all.yaml');
  fs.writeFileSync(renderedAll, all.stdout);
  distObjects = parseDocs(fs.readFileSync(DIST, 'utf8'));
  exceptions = readExceptions(fs.readFileSync(IGNORE_FILE, 'utf8'));
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('kube-score', () => {
  test('every exception names a check kube-score knows and gives a reason', () => {
    const listed = spawnSync(tool('kube-score'), ['list'], { encoding: 'utf8' });
    const known = new Set(
      listed.stdout
        .split('\n')
        .map((l) => l.split(',')[0])
        .filter(Boolean),
    );
    expect(known.size).toBeGreaterThan(20);
    expect(exceptions.length).toBeGreaterThan(0);
    const bad = exceptions
      .filter((e) => !known.has(e.id) || e.reason.length < 20)
      .map((e) => `kube-score-ignore.txt:${e.line}: ${e.id}`);
    expect(bad).toEqual([]);
    expect(new Set(exceptions.map((e) => e.id)).size).toBe(exceptions.length);
  });

  test('the checker finds what it should (a bare Deployment has findings)', () => {
    const bare = path.join(tmp, 'bare.yaml');
    fs.writeFileSync(
      bare,
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bare}\nspec:\n  selector: {matchLabels: {app: bare}}\n  template:\n    metadata: {labels: {app: bare}}\n    spec: {containers: [{name: c, image: "nginx:latest"}]}\n',
    );
    const checks = new Set(
      kubeScore(
        bare,
        exceptions.map((e) => e.id),
      ).map((f) => f.check),
    );
    expect([...checks]).toEqual(
      expect.arrayContaining([
        'container-resources',
        'container-image-tag',
        'container-security-context-readonlyrootfilesystem',
      ]),
    );
  });

  test.each([
    ['the rendered chart (helm template, global.enablePluginServer=true)', () => rendered],
    ['the plain manifests (dist/higress-plugin-server.yaml)', () => DIST],
    // kube-score's deployment-targeted-by-hpa-does-not-have-replicas-configured and hpa checks run here.
    ['the rendered chart with autoscaling, ServiceMonitor and dashboard on', () => renderedAll],
  ])('%s: no WARNING or CRITICAL finding outside the written exceptions', (what, file) => {
    const all = kubeScore(file(), []);
    const left = kubeScore(
      file(),
      exceptions.map((e) => e.id),
    );
    recordFigures(FIGURES, {
      [`kubeScore:${what}`]: {
        findingsWithoutExceptions: all.map((f) => `${f.object} ${f.check}`),
        findingsAfterExceptions: left.length,
        exceptions: exceptions.map((e) => e.id),
      },
    });
    expect(left).toEqual([]);
  });
});

test('negative control: the same run flags a Deployment that keeps replicas under the HPA', () => {
  const text = fs.readFileSync(renderedAll, 'utf8');
  const dep = text.indexOf('kind: Deployment');
  const spec = text.indexOf('\nspec:\n', dep);
  expect(dep).toBeGreaterThan(-1);
  const pinned = path.join(tmp, 'chart-all-replicas.yaml');
  fs.writeFileSync(pinned, `${text.slice(0, spec)}\nspec:\n  replicas: 2\n${text.slice(spec + 7)}`);
  const checks = kubeScore(
    pinned,
    exceptions.map((e) => e.id),
  ).map((f) => f.check);
  expect(checks).toContain('deployment-targeted-by-hpa-does-not-have-replicas-configured');
});

describe('Pod Security Standards: restricted', () => {
  const sources: Array<[string, () => Array<Record<string, any>>]> = [
    ['chart', () => renderedObjects],
    ['dist', () => distObjects],
  ];

  test('the chart renders the Deployment and the helm-test Pod; dist/ the Deployment', () => {
    expect(
      podTemplates(renderedObjects)
        .map((t) => t.id)
        .sort(),
    ).toEqual(['Deployment/higress-plugin-server', 'Pod/higress-plugin-server-test']);
    expect(podTemplates(distObjects).map((t) => t.id)).toEqual(['Deployment/higress-plugin-server']);
  });

  describe.each(sources)('%s', (source, objects) => {
    test.each(PSS_CONTROLS.map((c) => [c.title, c] as const))('%s', (_title, control) => {
      const templates = podTemplates(objects());
      expect(templates.length).toBeGreaterThan(0);
      const violations = templates.flatMap((t) => control.check(t.pod).map((v) => `${source} ${t.id}: ${v}`));
      recordFigures(FIGURES, { [`pss:${source}:${control.id}`]: { templates: templates.length, violations } });
      expect(violations).toEqual([]);
    });
  });

  // A checker that never fails proves nothing: each control must catch its own violation.
  const hostile: PodTemplate = {
    metadata: { annotations: { 'container.apparmor.security.beta.kubernetes.io/c': 'unconfined' } },
    spec: {
      hostNetwork: true,
      hostPID: true,
      securityContext: {
        runAsUser: 0,
        runAsNonRoot: false,
        seccompProfile: { type: 'Unconfined' },
        sysctls: [{ name: 'kernel.msgmax', value: '1' }],
        seLinuxOptions: { user: 'root' },
        windowsOptions: { hostProcess: true },
      },
      volumes: [{ name: 'h', hostPath: { path: '/' } }],
      initContainers: [{ name: 'i', image: 'x' }],
      containers: [
        {
          name: 'c',
          image: 'x',
          ports: [{ containerPort: 80, hostPort: 80 }],
          securityContext: {
            privileged: true,
            allowPrivilegeEscalation: true,
            procMount: 'Unmasked',
            capabilities: { add: ['SYS_ADMIN'] },
            seLinuxOptions: { type: 'spc_t' },
            appArmorProfile: { type: 'Unconfined' },
          },
        },
      ],
    },
  };
  test.each(PSS_CONTROLS.map((c) => [c.id, c] as const))('control %s rejects a pod that breaks it', (_id, control) => {
    expect(control.check(hostile).length).toBeGreaterThan(0);
  });
});
