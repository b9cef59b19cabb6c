/**
 * Bench section `cluster-scale`: `audit` and `adopt` against a real API server holding 1,000
 * WasmPlugins (BENCH_CLUSTER_PLUGINS). The control plane is the tests' own (test/support/control-plane:
 * etcd, kube-apiserver, kwok); the plugin server is Nginx with image/nginx.conf serving a tree of 100
 * small `file:` plugins. The WasmPlugins, spread over 10 namespaces, each load one of those plugins by
 * its in-cluster URL without a sha256, so `adopt` has one field to write in every one of them:
 *   audit (before)   every URL fetched and hashed (exits 6: no sha256 pinned)
 *   adopt            plan (each served module hashed once) and 1,000 conditional JSON patches
 *   audit (after)    every URL checked against its new sha256
 *   adopt again      the plan only: nothing left to change
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import type { BenchSection } from './section';
import { leb128, wasmVariant } from './wasm-variant';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'build', 'src', 'cli.js');
const SERVICE = 'http://higress-plugin-server.higress-system.svc';
const MODULES = 100;
const NAMESPACES = 10;

function module(tag: string): Buffer {
  const name = Buffer.from('hps-bench');
  const content = Buffer.concat([leb128(name.length), name, Buffer.alloc(2048, 7)]);
  return wasmVariant(
    Buffer.concat([Buffer.from('\0asm\x01\0\0\0', 'latin1'), Buffer.from([0]), leb128(content.length), content]),
    tag,
  );
}

/** The CLI to the end: wall seconds, exit code and the last line it printed. */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; code: number | null; last: string }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('exit', (code) =>
      resolve({
        seconds: Number(process.hrtime.bigint() - t0) / 1e9,
        code,
        last: out.trim().split('\n').pop() ?? '',
      }),
    );
  });
}

export async function run(): Promise<BenchSection> {
  process.env.PATH = `${path.join(ROOT, '.tools', 'bin')}${path.delimiter}${process.env.PATH ?? ''}`;
  const count = Math.max(1, Number(process.env.BENCH_CLUSTER_PLUGINS ?? 1000));
  const { startControlPlane } = await import('../test/support/control-plane');
  const { startNginx } = await import('../test/support/nginx');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-bench-cluster-'));
  const load = os.loadavg()[0];
  const cp = await startControlPlane();
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  const rows: string[] = [];
  try {
    fs.mkdirSync(path.join(work, 'wasm'));
    const lines: string[] = [];
    for (let i = 0; i < MODULES; i++) {
      fs.writeFileSync(path.join(work, 'wasm', `m${i}.wasm`), module(`m${i}`));
      lines.push(`m${i}=file:wasm/m${i}.wasm@1.0.0`);
    }
    fs.writeFileSync(path.join(work, 'plugins.properties'), lines.join('\n') + '\n');
    const tree = path.join(work, 'tree');
    const pulled = await cli(['pull', path.join(work, 'plugins.properties'), '--out', tree], process.env);
    if (pulled.code !== 0) throw new Error(`pull failed: ${pulled.last}`);
    nginx = await startNginx(tree);

    await cp.kubectlOk(['apply', '-f', path.join(ROOT, 'imports', 'crds', 'wasmplugin.yaml')]);
    await cp.crdEstablished('wasmplugins.extensions.higress.io');
    const namespaces = ['higress-system', ...Array.from({ length: NAMESPACES - 1 }, (_, i) => `team-${i}`)];
    for (const ns of namespaces) await cp.kubectlOk(['create', 'namespace', ns]);
    const objects = Array.from({ length: count }, (_, i) => ({
      apiVersion: 'extensions.higress.io/v1alpha1',
      kind: 'WasmPlugin',
      metadata: { name: `w${String(i).padStart(4, '0')}`, namespace: namespaces[i % NAMESPACES] },
      spec: { url: `${SERVICE}/plugins/m${i % MODULES}/1.0.0/plugin.wasm`, priority: i % 100 },
    }));
    const t0 = process.hrtime.bigint();
    await cp.kubectlOk(['create', '-f', '-'], {
      input: objects.map((o) => JSON.stringify(o)).join('\n'),
      timeoutMs: 600_000,
    });
    const createSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const env = { ...process.env, KUBECONFIG: cp.kubeconfig, HOME: work };
    const common = ['--server', nginx.url];
    const row = (label: string, r: { seconds: number; code: number | null; last: string }, target?: number) =>
      rows.push(
        `| ${label} | ${r.seconds.toFixed(2)} s | ${target ? `${target} s: ${r.seconds < target ? 'met' : '**not met**'}` : ''} | ${r.code} | ${r.last.replace(/\|/g, '\\|').slice(0, 160)} |`,
      );
    row('`audit` (before: no sha256 pinned)', await cli(['audit', ...common], env), 10);
    row('`adopt`', await cli(['adopt', ...common], env), 30);
    row('`audit` (after)', await cli(['audit', ...common], env), 10);
    row('`adopt` again (nothing to change)', await cli(['adopt', ...common], env));
    rows.push(`| (\`kubectl create\` of the ${count} objects, for scale) | ${createSeconds.toFixed(2)} s | | | |`);
  } finally {
    await nginx?.stop();
    await cp.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return {
    title: `Cluster scale: audit and adopt of ${count} WasmPlugins`,
    body: [
      `\`npm run bench -- cluster-scale\` (\`BENCH_CLUSTER_PLUGINS\`, default 1000): a real kube-apiserver with etcd (the tests' control plane, test/support/control-plane.ts) holding ${count} WasmPlugins in ${NAMESPACES} namespaces, each loading one of ${MODULES} small plugins from the plugin server by its in-cluster URL, no sha256; the plugin server is Nginx with image/nginx.conf on 127.0.0.1 (\`--server\`). \`adopt\` writes the sha256 of each (1,000 conditional JSON patches). One run each, in this order, load average (1 min) ${load.toFixed(1)} at the start on a shared 2-core machine (API server, etcd, Nginx and the CLI share the cores). Targets (issue 26): audit under 10 s, adopt under 30 s.`,
      '',
      '| step | wall | target | exit | last line |',
      '| --- | ---: | --- | ---: | --- |',
      ...rows,
    ].join('\n'),
  };
}
