/**
 * The GitHub workflows: the real actionlint passes on every file, every action is pinned by a full
 * commit SHA with its release in a comment, permissions are least-privilege, and release.yml calls
 * release steps that exist (the ones test/release-local.test.ts runs).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import { buildReleaseProgram } from '../scripts/release/cli';
import { REPO_ROOT, tool } from './support/tools';

const DIR = path.join(REPO_ROOT, '.github', 'workflows');
const FILES = fs
  .readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const text = (f: string) => fs.readFileSync(path.join(DIR, f), 'utf8');
type Step = { uses?: string; run?: string; with?: Record<string, unknown> };
type Job = { if?: string; permissions?: Record<string, string> | string; steps: Step[] };
type Workflow = {
  on: Record<string, unknown>;
  permissions?: Record<string, string> | string;
  jobs: Record<string, Job>;
};
const workflow = (f: string) => parse(text(f)) as Workflow;

/** What each job may do: widening any of these should be a reviewed change to this table. */
const JOB_PERMISSIONS: Record<string, Record<string, Record<string, string> | undefined>> = {
  'ci.yml': { unit: undefined, test: undefined },
  // build: read the repository, sign attestations (OIDC token) and store them; publish: the release.
  'release.yml': {
    build: { contents: 'read', 'id-token': 'write', attestations: 'write' },
    publish: { contents: 'write' },
  },
  // sync and watch: push the branch and open the pull request.
  'sync-plugins.yml': {
    sync: { contents: 'write', 'pull-requests': 'write' },
    watch: { contents: 'write', 'pull-requests': 'write' },
  },
};

function actionlint(cwd: string, files: string[]) {
  const r = spawnSync(tool('actionlint'), ['-no-color', ...files], { cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

test('the three workflows exist', () => {
  expect(FILES).toEqual(['ci.yml', 'release.yml', 'sync-plugins.yml']);
});

test('actionlint passes on every workflow', () => {
  const r = actionlint(
    REPO_ROOT,
    FILES.map((f) => path.join('.github', 'workflows', f)),
  );
  expect(r.out).toBe('');
  expect(r.code).toBe(0);
});

test('actionlint is really linting: a broken copy of release.yml fails it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'actionlint-'));
  try {
    fs.mkdirSync(path.join(dir, '.github', 'workflows'), { recursive: true });
    const broken = text('release.yml').replace(
      '${{ needs.build.outputs.version }}',
      '${{ needs.build.outputs.verison }}',
    );
    fs.writeFileSync(path.join(dir, '.github', 'workflows', 'release.yml'), broken);
    const r = actionlint(dir, ['.github/workflows/release.yml']);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/property "verison" is not defined/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe.each(FILES)('%s', (file) => {
  test('every action is pinned by a 40-hex commit SHA with its release in a comment', () => {
    const lines = text(file)
      .split('\n')
      .filter((l) => /^\s*-?\s*uses:/.test(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines)
      expect(/uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$/.test(line) ? 'pinned' : line).toBe('pinned');
    // The parsed view agrees (no `uses:` hidden in a flow mapping the line check would miss).
    const uses = Object.values(workflow(file).jobs).flatMap((j) =>
      j.steps.map((s) => s.uses).filter((u): u is string => !!u),
    );
    expect(uses).toHaveLength(lines.length);
  });

  test('least privilege: the workflow grants nothing (ci: read), each job only what it uses', () => {
    const w = workflow(file);
    expect(w.permissions === undefined ? 'missing top-level permissions' : w.permissions).toEqual(
      file === 'ci.yml' ? { contents: 'read' } : {},
    );
    const perJob = Object.fromEntries(Object.entries(w.jobs).map(([name, job]) => [name, job.permissions]));
    expect(perJob).toEqual(JOB_PERMISSIONS[file]);
  });

  test('checkout does not leave the token in .git/config unless the job pushes', () => {
    for (const job of Object.values(workflow(file).jobs)) {
      for (const s of job.steps.filter((x) => x.uses?.startsWith('actions/checkout@'))) {
        const pushes = job.steps.some((x) => x.uses?.startsWith('peter-evans/create-pull-request@'));
        expect(pushes || s.with?.['persist-credentials'] === false).toBe(true);
      }
    }
  });
});

test('ci.yml runs the unit tier as its own job, and .ci/run, on pull requests and on main', () => {
  const w = workflow('ci.yml');
  expect(Object.keys(w.on).sort()).toEqual(['pull_request', 'push']);
  expect((w.on.push as { branches: string[] }).branches).toEqual(['main']);
  const runs = (job: string) => w.jobs[job].steps.map((s) => s.run).filter(Boolean);
  expect(Object.keys(w.jobs)).toEqual(['unit', 'test']);
  expect(runs('unit')).toEqual(['npm ci && npm run test:unit']);
  expect(runs('test')).toEqual(['.ci/run']);
});

describe('release.yml', () => {
  const w = workflow('release.yml');
  const steps = Object.values(w.jobs).flatMap((j) => j.steps);
  const runs = steps.map((s) => s.run ?? '').join('\n');

  test('calls every release step, and only steps that exist', () => {
    const known = buildReleaseProgram().commands.map((c) => c.name());
    const called = [...runs.matchAll(/node build\/scripts\/release\/cli\.js ([\w-]+)/g)].map((m) => m[1]);
    expect([...new Set(called)].sort()).toEqual([...known].sort());
  });

  test('manual inputs are the Higress version, the snapshot and its sha256; a v* tag also releases', () => {
    const dispatch = w.on.workflow_dispatch as { inputs: Record<string, { required: boolean }> };
    expect(Object.keys(dispatch.inputs).sort()).toEqual(['higress-version', 'snapshot', 'snapshot-sha256']);
    expect(dispatch.inputs['higress-version'].required && dispatch.inputs['snapshot-sha256'].required).toBe(true);
    expect((w.on.push as { tags: string[] }).tags).toEqual(['v*']);
    // Inputs reach shell scripts through env only (no `${{ inputs.* }}` spliced into a script).
    expect(runs).not.toMatch(/\$\{\{\s*inputs\./);
  });

  test('multi-arch image from the verified tree, with SBOM and provenance, tagged with the Higress version', () => {
    const build = steps.find((s) => s.uses?.startsWith('docker/build-push-action@'))!;
    const args = String(build.with!['build-args']);
    expect(build.with!.platforms).toBe('linux/amd64,linux/arm64');
    expect(args).toMatch(/^PLUGINS_FROM=prebuilt$/m);
    // The tree step writes where the build takes it from.
    const prebuilt = /^PREBUILT_TREE=(\S+)$/m.exec(args)![1];
    // ... from the image's default inputs (image/Dockerfile): the snapshot, upstream's unmanaged lock, both lists.
    expect(runs.replace(/\s+/g, ' ')).toContain(
      `tree "$SNAPSHOT" image/plugins.properties image/console.plugins.properties --unmanaged-lock image/unmanaged-plugins.lock.json --lock "$LOCK" --out ${prebuilt}`,
    );
    expect(fs.readFileSync(path.join(REPO_ROOT, 'image', 'Dockerfile'), 'utf8')).toMatch(
      /^FROM scratch AS tree-prebuilt\nARG PREBUILT_TREE=/m,
    );
    // Pushed by digest; the version tag comes after tag-check (published tags are immutable).
    expect(build.with).toMatchObject({
      sbom: true,
      provenance: 'mode=max',
      outputs: 'type=image,name=${{ env.IMAGE }},push-by-digest=true,name-canonical=true,push=true',
    });
    expect(build.with).not.toHaveProperty('tags');
    const at = (re: RegExp) => steps.findIndex((s) => re.test(s.run ?? ''));
    const check = at(/release\/cli\.js tag-check "\$IMAGE:\$VERSION" "\$IMAGE_DIGEST"/);
    const tag = at(/imagetools create --tag "\$IMAGE:\$VERSION" "\$IMAGE@\$IMAGE_DIGEST"/);
    expect(check).toBeGreaterThan(steps.indexOf(build));
    expect(tag).toBeGreaterThan(check);
    expect(steps.filter((s) => s.uses?.startsWith('actions/attest-build-provenance@'))).toHaveLength(3);
  });

  test('helm in the workflow is the version the tests run', () => {
    const helmStep = steps.find((s) => s.uses?.startsWith('azure/setup-helm@'))!;
    const pinned = /^HELM_VERSION=(\S+)$/m.exec(
      fs.readFileSync(path.join(REPO_ROOT, 'scripts', 'install-test-tools.sh'), 'utf8'),
    )![1];
    expect(helmStep.with!.version).toBe(pinned);
  });
});

describe('sync-plugins.yml', () => {
  const w = workflow('sync-plugins.yml');

  test('a release sync by hand, a drift watch on a schedule: each job runs on its own trigger only', () => {
    expect(Object.keys(w.on).sort()).toEqual(['schedule', 'workflow_dispatch']);
    expect(w.on.schedule).toEqual([{ cron: expect.stringMatching(/^\d+ \d+ \* \* \*$/) }]);
    expect(w.jobs.sync.if).toBe("github.event_name == 'workflow_dispatch'");
    expect(w.jobs.watch.if).toBe("github.event_name == 'schedule'");
  });

  test('the watch runs `outdated` on both lists against their lock, relocks with a real pull, and opens a pull request', () => {
    const runs = w.jobs.watch.steps.map((s) => s.run ?? '').join('\n');
    expect(runs).toMatch(
      /outdated image\/plugins\.properties image\/console\.plugins\.properties \\\n\s+--lock image\/plugins\.lock\.json --json/,
    );
    expect(runs).toContain('--write-lock image/plugins.lock.json');
    // exit 9 is drift, not a failure of the step; every other non-zero code is
    expect(runs).toContain('if [ "$status" -ne 0 ] && [ "$status" -ne 9 ]; then exit "$status"; fi');
    const pr = w.jobs.watch.steps.find((s) => s.uses?.startsWith('peter-evans/create-pull-request@'))!;
    expect(String(pr.with!['add-paths']).trim().split('\n')).toEqual([
      'image/plugins.properties',
      'image/plugins.lock.json',
    ]);
  });
});
