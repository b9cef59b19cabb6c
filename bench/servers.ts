/**
 * Servers and clients of the shaped-link benches: Nginx and the registry run in the testbed's server
 * namespace (listening on all its addresses: its loopback, the veth and the TUN link), clients run in
 * either namespace. Also: the plugin set pushed once to a registry storage that later registries serve.
 */
import { ChildProcess } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { findNginx, prepareNginx, PreparedNginx, stopNginx } from '../src/serve/nginx-runtime';
import type { PluginModule } from './plugin-set';
import { Side, Testbed } from './testbed';

export interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs a command in a namespace to the end; rejects on a non-zero exit unless `allowFail`. */
export function runIn(
  bed: Testbed,
  side: Side,
  cmd: string,
  args: string[],
  opts: { cwd?: string; allowFail?: boolean } = {},
): Promise<Exited> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = bed.spawnIn(side, cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20000)));
    child.on('error', reject);
    child.on('exit', (code) => {
      const r = { code, stdout, stderr, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
      if (code !== 0 && !opts.allowFail)
        reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}: ${stderr.trim().slice(-1500)}`));
      else resolve(r);
    });
  });
}

/**
 * Runs a command in a namespace and reports the CPU seconds (user + system) of it and its children,
 * from bash's `times` (the command runs as a child of a bash that prints them when it ends).
 */
export async function runInWithCpu(
  bed: Testbed,
  side: Side,
  cmd: string,
  args: string[],
  opts: { cwd?: string; allowFail?: boolean } = {},
): Promise<Exited & { cpuSeconds: number }> {
  const script = '"$@"; rc=$?; times >&2; exit $rc';
  const r = await runIn(bed, side, 'bash', ['-c', script, 'bash', cmd, ...args], opts);
  const lines = r.stderr.trim().split('\n');
  const m = lines[lines.length - 1]?.match(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/);
  if (!m) throw new Error(`no CPU times in the output of ${cmd}: ${r.stderr.slice(-500)}`);
  return {
    ...r,
    stderr: lines.slice(0, -2).join('\n'),
    cpuSeconds: Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]),
  };
}

/** Polls `url` from inside the server namespace until it answers 2xx. */
async function waitReady(
  bed: Testbed,
  url: string,
  child: ChildProcess,
  what: string,
  err: () => string,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode}: ${err().trim().slice(-1000)}`);
    const r = await runIn(bed, 'server', 'curl', ['-sf', '-o', '/dev/null', '--max-time', '2', url], {
      allowFail: true,
    });
    if (r.code === 0) return;
    if (Date.now() > deadline) throw new Error(`${what} did not answer ${url}: ${err().trim().slice(-1000)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

export interface NginxInBed {
  label: string;
  port: number;
  child: ChildProcess;
  prepared: PreparedNginx;
  stop(): Promise<void>;
}

/** Nginx with `sourceConfig` (only paths, listen address and workers rewritten) in the server namespace. */
export async function startNginxIn(
  bed: Testbed,
  label: string,
  root: string,
  sourceConfig: string,
  port: number,
  workers: number,
  readyPath: string,
): Promise<NginxInBed> {
  const prepared = prepareNginx({
    root,
    host: '0.0.0.0',
    port,
    sourceConfig,
    workerProcesses: workers,
    accessLog: 'access.log',
  });
  const child = bed.spawnIn('server', findNginx(), prepared.args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const stop = async () => {
    await stopNginx(child);
    prepared.cleanup();
  };
  try {
    await waitReady(bed, `http://127.0.0.1:${port}${readyPath}`, child, `nginx (${label})`, () => err);
  } catch (e) {
    await stop();
    throw e;
  }
  return { label, port, child, prepared, stop };
}

export interface RegistryInBed {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Debian's docker-registry serving `storageDir` on all addresses of the server namespace. */
export async function startRegistryIn(
  bed: Testbed,
  storageDir: string,
  port: number,
  workDir: string,
): Promise<RegistryInBed> {
  const config = path.join(workDir, `registry-${port}.yml`);
  fs.writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storageDir}`,
      'http:',
      `  addr: 0.0.0.0:${port}`,
      `  secret: ${crypto.randomBytes(12).toString('hex')}`,
      '',
    ].join('\n'),
  );
  const { tool } = await import('../test/support/tools');
  const child = bed.spawnIn('server', tool('docker-registry'), ['serve', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitReady(bed, `http://127.0.0.1:${port}/v2/`, child, 'docker-registry', () => err);
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, child, stop };
}

/**
 * Pushes the set to a throwaway registry on 127.0.0.1 (the push helpers speak HTTP from this process,
 * which cannot enter a namespace) and keeps its storage in `dest` for registries in the testbed.
 */
export async function pushToStorage(modules: PluginModule[], dest: string): Promise<void> {
  const { startRegistry, pushWasmArtifact } = await import('../test/support/registry');
  const reg = await startRegistry();
  try {
    for (const m of modules) {
      await pushWasmArtifact(reg, m.repository, m.tag, m.wasm, {
        annotations: { 'org.opencontainers.image.created': '2025-01-01T00:00:00Z' },
      });
    }
    fs.renameSync(reg.storageDir, dest);
  } finally {
    await reg.stop();
  }
}

/** A plugin list naming the set at `host` (e.g. `198.18.0.1:5000`). */
export function writeList(file: string, modules: PluginModule[], host: string): void {
  fs.writeFileSync(file, modules.map((m) => `${m.name}=oci://${host}/${m.repository}:${m.tag}`).join('\n') + '\n');
}
