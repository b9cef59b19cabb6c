/**
 * The docs keep working: the README's quick start runs as written (only the port is changed to a
 * free one) with the real helm and nginx in a scratch clone, and every plugin list example in the
 * README and docs/ parses.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { freePort } from './support/nginx';
import { REPO_ROOT, tool } from './support/tools';

const README = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');

function quickstart(): string {
  const m = /<!-- quickstart:start -->\s*```bash\n([\s\S]*?)```\s*<!-- quickstart:end -->/.exec(README);
  if (!m) throw new Error('README.md has no quickstart block');
  return m[1];
}

/** The PATH of a new shell: system folders, never the repository's .tools/bin. */
function ordinaryPath(): string {
  const dirs = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((d) => d && !d.includes(`${path.sep}.tools${path.sep}`));
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'])
    if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(path.delimiter);
}

test('the quick start puts .tools/bin on PATH itself (helm is not on an ordinary PATH)', () => {
  expect(quickstart().split('\n')[0]).toBe('export PATH="$PWD/.tools/bin:$PATH"');
  const which = spawnSync('bash', ['-c', 'command -v helm || true'], {
    encoding: 'utf8',
    env: { ...process.env, PATH: ordinaryPath() },
  });
  // The assertion the quick start test relies on: without the export line helm would not be found
  // (unless a user installed helm system-wide, which this machine's setup does not do).
  expect(which.stdout.trim()).not.toContain('.tools');
});

test('the README quick start renders, builds, serves and checks', async () => {
  const block = quickstart();
  expect(block).toMatch(/^PORT=8080$/m);
  // Fail with the install hint, not a confusing shell error, when the tools are missing.
  expect(tool('helm')).toContain(`${path.sep}.tools${path.sep}`);
  tool('nginx');
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-quickstart-'));
  try {
    // A clone after the main job: every top-level entry, linked rather than copied, but build/ (the
    // quick start compiles its own), .git and what the quick start itself writes.
    for (const entry of fs.readdirSync(REPO_ROOT)) {
      if (['build', '.git', 'rendered.yaml', 'quickstart-tree'].includes(entry)) continue;
      fs.symlinkSync(path.join(REPO_ROOT, entry), path.join(dir, entry));
    }
    const script = `set -euo pipefail\n${block.replace(/^PORT=8080$/m, `PORT=${port}`)}`;
    const run = spawnSync('bash', ['-c', script], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 240000,
      // A user's ordinary PATH: whatever the test runner added for .tools/bin is taken out, so the
      // block's own `export PATH=...` line is what makes helm found.
      env: { ...process.env, PATH: ordinaryPath() },
    });
    const output = `${run.stdout}\n${run.stderr}`;
    if (run.status !== 0) throw new Error(`quick start failed (exit ${run.status}):\n${output}`);
    // 1. rendered manifests
    const kinds = parseAllDocuments(fs.readFileSync(path.join(dir, 'rendered.yaml'), 'utf8'))
      .map((d) => d.toJS()?.kind)
      .filter(Boolean);
    expect(kinds).toEqual(expect.arrayContaining(['Deployment', 'Service', 'PodDisruptionBudget']));
    // 2. a built, verified tree with the alias
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'quickstart-tree', 'plugins', 'index.json'), 'utf8'));
    expect(index.plugins.map((p: { name: string; version: string }) => `${p.name}@${p.version}`)).toEqual([
      'add-header@1.0',
      'add-header@1.0.0',
    ]);
    // 3 and 4. served and checked
    expect(output).toMatch(/check: 2 ok, 0 failed/);
    expect(output).toMatch(/Plugin Name: add-header/);
    expect(output).toMatch(/kind: WasmPlugin/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 300000);

test('the example plugin the quick start serves is the build of its source', async () => {
  const { smallWasm } = await import('./support/wasm');
  const built = fs.readFileSync(await smallWasm());
  const shipped = fs.readFileSync(path.join(REPO_ROOT, 'examples', 'add-header', 'plugin.wasm'));
  expect(shipped.equals(built)).toBe(true);
});

test('every plugin list example in the README and docs/ parses as written', async () => {
  const { parsePluginList } = await import('../src/inputs/properties');
  const files = ['README.md', ...fs.readdirSync(path.join(REPO_ROOT, 'docs')).map((f) => path.join('docs', f))];
  let blocks = 0;
  for (const file of files) {
    for (const m of fs.readFileSync(path.join(REPO_ROOT, file), 'utf8').matchAll(/```properties\n([\s\S]*?)```/g)) {
      blocks++;
      const text = m[1].replace(/<digest>|<64 hex digits>/g, 'a'.repeat(64));
      const { entries, problems } = parsePluginList(text, file);
      expect(problems.map((p) => p.toLine())).toEqual([]);
      expect(entries.length).toBeGreaterThan(0);
    }
  }
  expect(blocks).toBeGreaterThanOrEqual(6);
});
