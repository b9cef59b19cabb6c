/**
 * docs/air-gapped.md runs as written: its "outside" block in a scratch clone (after npm ci) against
 * registry A, its "inside" block in an empty folder holding only the carried files, with A stopped and
 * the private mirror B (htpasswd, credentials only in docker-credential-pass via credsStore) as the
 * target. Only the LIST=, SOURCE= and MIRROR= lines are changed, to name the loopback registries.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassStore, startPassStore } from './support/cred-helper';
import { pushDockerImage, pushIndex, pushWasmArtifact, Registry, startRegistry } from './support/registry';
import { REPO_ROOT } from './support/tools';
import { treeState, wasmVariant } from './support/tree-state';
import { smallWasm } from './support/wasm';

const GUIDE = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'air-gapped.md'), 'utf8');

function block(name: string): string {
  const m = new RegExp(
    `<!-- airgap:${name}:start -->\\s*\`\`\`bash\\n([\\s\\S]*?)\`\`\`\\s*<!-- airgap:${name}:end -->`,
  ).exec(GUIDE);
  if (!m) throw new Error(`docs/air-gapped.md has no ${name} block`);
  return m[1];
}

function substitute(script: string, vars: Record<string, string>): string {
  let out = script;
  for (const [name, value] of Object.entries(vars)) {
    const line = new RegExp(`^${name}=.*$`, 'm');
    if (!line.test(out)) throw new Error(`the block has no ${name}= line`);
    out = out.replace(line, `${name}=${value}`);
  }
  return out;
}

let A: Registry;
let B: Registry;
let tmp: string;
let pass: PassStore;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'docs-airgap-'));
  [A, B] = await Promise.all([startRegistry(), startRegistry({ auth: 'htpasswd' })]);
  pass = startPassStore(path.join(tmp, 'pass'));
  pass.store(B.host, B.username, B.password);
}, 60_000);

afterAll(async () => {
  pass?.stop();
  await Promise.all([A?.stop(), B?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the air-gapped guide: bundle outside, then offline tree, mirror and pinned pull inside', async () => {
  const base = fs.readFileSync(await smallWasm());
  await pushWasmArtifact(A, 'plugins/key-auth', '1.0.0', wasmVariant(base, 'key-auth'), {
    annotations: { 'org.opencontainers.image.created': '2025-01-02T03:04:05Z' },
  });
  await pushDockerImage(A, 'plugins/ai-proxy', '2.0.0', wasmVariant(base, 'ai-proxy'), {
    created: '2025-02-03T04:05:06Z',
  });
  await pushIndex(
    A,
    'plugins/multi',
    '1.0.0',
    { amd64: wasmVariant(base, 'amd64'), arm64: wasmVariant(base, 'arm64') },
    'docker',
  );
  const list = path.join(tmp, 'plugins.properties');
  fs.writeFileSync(
    list,
    [
      `key-auth=oci://${A.host}/plugins/key-auth:1.0.0`,
      `ai-proxy=oci://${A.host}/plugins/ai-proxy:2.0.0`,
      `multi=oci://${A.host}/plugins/multi:1.0.0`,
      '',
    ].join('\n'),
  );

  const clone = path.join(tmp, 'clone');
  fs.mkdirSync(clone);
  for (const entry of fs.readdirSync(REPO_ROOT)) {
    if (['build', '.git', 'tree'].includes(entry)) continue;
    fs.symlinkSync(path.join(REPO_ROOT, entry), path.join(clone, entry));
  }
  const dockerConfig = path.join(tmp, 'docker');
  fs.mkdirSync(dockerConfig);
  fs.writeFileSync(path.join(dockerConfig, 'config.json'), JSON.stringify({ credsStore: 'pass' }));
  const env: NodeJS.ProcessEnv = { ...process.env, ...pass.env, DOCKER_CONFIG: dockerConfig };
  delete env.HIGRESS_REGISTRY_USERNAME;
  delete env.HIGRESS_REGISTRY_PASSWORD;
  const run = (script: string, cwd: string) => {
    const r = spawnSync('bash', ['-c', `set -euo pipefail\n${script}`], {
      cwd,
      env,
      encoding: 'utf8',
      timeout: 400_000,
    });
    if (r.status !== 0) throw new Error(`block failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    return `${r.stdout}\n${r.stderr}`;
  };

  const carry = path.join(tmp, 'carry');
  run(substitute(block('outside'), { LIST: list, CARRY: carry }), clone);
  // The repository stays clean: nothing new in the clone but build/ (git-ignored).
  expect(fs.readdirSync(clone).filter((e) => !fs.existsSync(path.join(REPO_ROOT, e)) && e !== 'build')).toEqual([]);
  // Only the carried files cross the gap: no clone, no node_modules, and registry A is gone.
  const inside = path.join(tmp, 'inside');
  fs.mkdirSync(inside);
  for (const f of [
    'higress-plugins.oci.tar',
    'higress-plugin-server-cli.tar.gz',
    'plugins.properties',
    'plugins.lock.json',
    'carry.sha256',
  ]) {
    fs.copyFileSync(path.join(carry, f), path.join(inside, f));
  }
  await A.stop();
  const out = run(substitute(block('inside'), { MIRROR: `${B.host}/higress`, SOURCE: A.host }), inside);

  expect(out).toMatch(/higress-plugins\.oci\.tar: OK/);
  // a. the offline tree is the tree pulled outside, byte for byte
  expect(treeState(path.join(inside, 'tree'))).toEqual(treeState(path.join(carry, 'tree')));
  // b. the mirror holds everything; the second run copied nothing
  expect(fs.readFileSync(path.join(inside, 'mirror.properties'), 'utf8')).toContain(
    `key-auth=oci://${B.host}/higress/plugins/key-auth:1.0.0`,
  );
  const events = fs
    .readFileSync(path.join(inside, 'mirror-again.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(events.at(-1)).toMatchObject({
    event: 'summary',
    command: 'mirror',
    ok: true,
    counts: { copied: 0, present: 3, blobs: 0 },
  });
  // c. the pinned pull from the mirror serves the same bytes
  const wasm = (root: string) => Object.entries(treeState(root)).filter(([f]) => f.endsWith('plugin.wasm'));
  expect(wasm(path.join(inside, 'tree-from-mirror'))).toEqual(wasm(path.join(carry, 'tree')));
}, 600_000);
