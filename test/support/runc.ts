/**
 * The server image built and run for real without Docker: Debian's buildah (chroot isolation,
 * overlay or vfs storage in a private folder) builds image/Dockerfile, runc runs it as the chart does (UID 101,
 * read-only root, tmpfs /tmp, no capabilities) inside a network namespace this module creates.
 * Everything is private to one test file and removed by cleanup(), also after a failure.
 */
import { execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { REPO_ROOT, tool } from './tools';

/**
 * The Debian suite of the base images scripts/install-test-tools.sh makes (its BASE_SUITE): trixie,
 * whose nginx has njs >= 0.8.0 for image/nginx.conf's /metrics.
 */
export const BASE_SUITE = 'trixie';

/**
 * The rootfs tar of a base image install-test-tools.sh made: Debian's nginx (+ njs), or that plus Node;
 * the nginx one also for arm64 (the two-architecture release image).
 */
export function baseRootfs(kind: 'nginx' | 'node', arch: 'amd64' | 'arm64' = 'amd64'): string {
  const suffix = arch === 'amd64' ? '' : `-${arch}`;
  return path.join(REPO_ROOT, '.tools', 'images', `debian-${BASE_SUITE}-${kind}-rootfs${suffix}.tar`);
}

/**
 * A build context for image/Dockerfile's final stage from a prebuilt tree: the files of image/ it
 * COPYs (nginx.conf, its njs module, the gzip_static snippets beside each of the two configs) as shipped.
 */
export function imageBuildContext(context: string): void {
  fs.mkdirSync(path.join(context, 'image'), { recursive: true });
  for (const f of ['Dockerfile', 'nginx.conf', 'njs', 'plugin-server', 'gzip-static-off'])
    fs.cpSync(path.join(REPO_ROOT, 'image', f), path.join(context, 'image', f), { recursive: true });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  bin: string,
  args: string[],
  opts: { timeoutMs?: number; input?: string; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      bin,
      args,
      { timeout: opts.timeoutMs ?? 120_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, cwd: opts.cwd },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : -1
          : 0;
        resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}\n${err.message}` : stderr });
      },
    );
    // A program that exits without reading its stdin (`ip netns add`) makes this write fail with
    // EPIPE; its exit code and output are what count, so that error is not the test's.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(opts.input ?? '');
  });
}

export async function ok(
  bin: string,
  args: string[],
  opts: { timeoutMs?: number; input?: string; cwd?: string } = {},
): Promise<string> {
  const r = await run(bin, args, opts);
  if (r.code !== 0) throw new Error(`${path.basename(bin)} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/**
 * The storage driver for a private buildah store in `dir`: overlay where the kernel has it and `dir`
 * is not itself on an overlay or tmpfs (overlay's upper directories cannot live there), else vfs.
 * vfs copies every layer's whole rootfs for each step; overlay stacks them, which made the image
 * builds of the test suite several minutes faster (README, "How long CI takes").
 */
export function storageDriver(dir: string): 'overlay' | 'vfs' {
  if (!/\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'))) return 'vfs';
  const mounts = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length > 2)
    .map(([, at, type]) => ({ at: at.replace(/\\040/g, ' '), type }));
  const real = fs.realpathSync(dir);
  const under = mounts
    .filter((m) => real === m.at || real.startsWith(m.at.endsWith('/') ? m.at : `${m.at}/`))
    .sort((a, b) => b.at.length - a.at.length)[0];
  return under && ['overlay', 'tmpfs'].includes(under.type) ? 'vfs' : 'overlay';
}

/** buildah with a private store (see storageDriver for which driver). */
export class Buildah {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-buildah-'));
  readonly driver = storageDriver(this.dir);

  private store(): string[] {
    return [
      '--root',
      path.join(this.dir, 'root'),
      '--runroot',
      path.join(this.dir, 'run'),
      '--storage-driver',
      this.driver,
    ];
  }

  run(args: string[], timeoutMs = 900_000): Promise<RunResult> {
    return run(tool('buildah'), [...this.store(), ...args], { timeoutMs });
  }

  async ok(args: string[], timeoutMs = 900_000): Promise<string> {
    const r = await this.run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`buildah ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /**
   * A base image from a rootfs tar, pushed to `ref` (a registry on 127.0.0.1, plain HTTP). `arch`
   * (default: this machine's) is the architecture its config declares: an arm64 rootfs says arm64.
   */
  async pushRootfs(tar: string, ref: string, arch?: 'amd64' | 'arm64'): Promise<void> {
    const ctr = (await this.ok(['from', 'scratch'])).trim();
    const mnt = (await this.ok(['mount', ctr])).trim();
    await ok('tar', ['--numeric-owner', '-C', mnt, '-xf', tar], { timeoutMs: 600_000 });
    await this.ok(['umount', ctr]);
    if (arch) await this.ok(['config', '--os', 'linux', '--arch', arch, ctr]);
    const image = `hps-base-${process.pid}-${arch ?? 'host'}`;
    await this.ok(['commit', '--format', 'docker', ctr, image]);
    await this.ok(['rm', ctr]);
    await this.ok(['push', '--tls-verify=false', image, `docker://${ref}`]);
  }

  /** Copies an image's filesystem to `dest` and returns its Docker-format config. */
  async export(image: string, dest: string): Promise<Record<string, any>> {
    const ctr = (await this.ok(['from', '--pull-never', image])).trim();
    const mnt = (await this.ok(['mount', ctr])).trim();
    fs.mkdirSync(dest, { recursive: true });
    await ok('cp', ['-a', `${mnt}/.`, dest], { timeoutMs: 600_000 });
    await this.ok(['umount', ctr]);
    await this.ok(['rm', ctr]);
    return JSON.parse(await this.ok(['inspect', '--type', 'image', image])).Docker.config;
  }

  async cleanup(): Promise<void> {
    await this.run(['rm', '--all'], 120_000);
    await this.run(['rmi', '--all', '--force'], 120_000);
    // overlay: the store's own mounts (its shm and layer mounts) outlive `rmi`; lazily detach each
    // one under this store before its folder goes, deepest first.
    const real = fs.realpathSync(this.dir);
    const mounts = fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
      .filter((at): at is string => !!at && at.startsWith(`${real}/`))
      .sort((a, b) => b.length - a.length);
    for (const at of mounts) await run('umount', ['-l', at], { timeoutMs: 30_000 });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface RunningContainer {
  id: string;
  netns: string;
  log(): string;
  exec(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** Runs a host command inside the container's network namespace (reaches its 127.0.0.1:8080). */
  inNetns(bin: string, args: string[], opts?: { timeoutMs?: number; input?: string }): Promise<RunResult>;
  stop(): Promise<void>;
}

/**
 * Runs an exported rootfs with runc the way the chart runs the pod: UID/GID 101, read-only root,
 * a 64 MiB tmpfs at /tmp, no capabilities, no new privileges, and RLIMIT_NOFILE 1024 (runc's default,
 * lower than any worker_rlimit_nofile would want), in a fresh network namespace with only loopback.
 */
export async function runContainer(rootfs: string, config: Record<string, any>): Promise<RunningContainer> {
  const suffix = `${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const id = `hps-${suffix}`;
  const netns = `hps-${suffix}`;
  const bundle = path.dirname(rootfs);
  const stateRoot = path.join(bundle, 'runc-state');
  const logFile = path.join(bundle, 'container.log');
  const ip = tool('ip');
  const runc = tool('runc');
  const [uid, gid] = String(config.User ?? '0').split(':');
  const spec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: Number(uid), gid: Number(gid ?? uid) },
      args: [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])],
      env: config.Env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: config.WorkingDir || '/',
      capabilities: { bounding: [], effective: [], permitted: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'plugin-server',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      // The chart's emptyDir at /tmp (tmpVolume.sizeLimit 64Mi).
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=64m'] },
    ],
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'network', path: `/var/run/netns/${netns}` },
      ],
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  await ok(ip, ['netns', 'add', netns]);
  let started = false;
  const stop = async () => {
    if (started) {
      await run(runc, ['--root', stateRoot, 'kill', id, 'KILL'], { timeoutMs: 30_000 });
      await run(runc, ['--root', stateRoot, 'delete', '--force', id], { timeoutMs: 30_000 });
    }
    await run(ip, ['netns', 'delete', netns], { timeoutMs: 30_000 });
  };
  try {
    await ok(ip, ['netns', 'exec', netns, ip, 'link', 'set', 'lo', 'up']);
    const fd = fs.openSync(logFile, 'a');
    // -d: runc returns once the container runs; its stdout/stderr stay on the log file.
    await new Promise<void>((resolve, reject) => {
      const child = spawn(runc, ['--root', stateRoot, 'run', '-d', '--bundle', bundle, id], {
        stdio: ['ignore', fd, fd],
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('exit', (code: number | null) => {
        clearTimeout(timer);
        fs.closeSync(fd);
        if (code === 0) resolve();
        else reject(new Error(`runc run exited ${code}: ${fs.readFileSync(logFile, 'utf8')}`));
      });
    });
    started = true;
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    id,
    netns,
    log: () => fs.readFileSync(logFile, 'utf8'),
    exec: (args, timeoutMs = 30_000) =>
      run(runc, ['--root', stateRoot, 'exec', '--user', `${uid}:${gid ?? uid}`, id, ...args], { timeoutMs }),
    inNetns: (bin, args, opts = {}) => run(ip, ['netns', 'exec', netns, bin, ...args], opts),
    stop,
  };
}
