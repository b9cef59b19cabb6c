/**
 * Shaped links for the benches, on this machine only: two network namespaces made by the bench, a
 * server side and a client side, joined three times:
 *   - a veth pair (198.18.1.1 ↔ 198.18.1.2), unshaped: the fastest link this machine sustains;
 *   - a veth pair (198.18.2.1 ↔ 198.18.2.2) with a tbf qdisc on each end: a rate limit done entirely
 *     in the kernel, at the veth's own round trip (the in-cluster link: see PROFILES);
 *   - two TUN devices bridged by bench/delayline (198.18.0.1 ↔ 198.18.0.2), with a tbf qdisc on each
 *     device for the rate and the delay line for the round trip (this kernel has tbf but no netem).
 * Addresses are from 198.18.0.0/15, the range set aside for network benchmarks (RFC 2544), and exist
 * only inside the two namespaces: nothing routes out of them. Everything is torn down by `destroy()`.
 */
import { ChildProcess, execFile, execFileSync, spawn, SpawnOptions } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';

const execFileP = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');

export interface LinkProfile {
  key: string;
  label: string;
  /** Which pair of devices carries it (see the top of this file). */
  link: 'veth' | 'shaped-veth' | 'tun';
  /** Round trip added by the delay line (ms); only on the TUN link. */
  rttMs?: number;
  /** tbf rate in Mbit/s in each direction; undefined for the unshaped veth. */
  rateMbit?: number;
  mtu: number;
}

/**
 * The in-cluster link is shaped in the kernel only. Adding 0.1 ms each way for a 0.2 ms in-cluster round
 * trip would need the delay line, whose CPU (about 1 core-second per 50 MB here) comes out of the
 * same 2 cores the gateways decode on, and grows with the bytes, so it charged the server that sends
 * more for work no real network does. At 1 Gbit/s, 0.2 ms is 25 KB in flight, far below one TCP
 * window, so for MB-size bodies the round trip changes the time by well under 1%; the veth's own
 * round trip is measured and reported.
 */
export const PROFILES = {
  cluster1g: {
    key: 'cluster1g',
    label: 'in-cluster, 1 Gbit/s (kernel tbf on a veth pair)',
    link: 'shaped-veth',
    rateMbit: 1000,
    mtu: 1500,
  },
  wan: { key: 'wan', label: 'WAN, 200 Mbit/s, 40 ms RTT', link: 'tun', rttMs: 40, rateMbit: 200, mtu: 1500 },
  fastest: { key: 'fastest', label: 'fastest: unshaped veth', link: 'veth', mtu: 65535 },
} satisfies Record<string, LinkProfile>;

export type Side = 'server' | 'client';

const TUN_NET = { server: '198.18.0.1', client: '198.18.0.2' };
const VETH_NET = { server: '198.18.1.1', client: '198.18.1.2' };
const SHAPED_VETH_NET = { server: '198.18.2.1', client: '198.18.2.2' };
const DEVICES: Record<LinkProfile['link'], Record<Side, string>> = {
  veth: { server: 'hpsb-vs', client: 'hpsb-vc' },
  'shaped-veth': { server: 'hpsb-ks', client: 'hpsb-kc' },
  tun: { server: 'hpsb-ts', client: 'hpsb-tc' },
};
const NETS: Record<LinkProfile['link'], Record<Side, string>> = {
  veth: VETH_NET,
  'shaped-veth': SHAPED_VETH_NET,
  tun: TUN_NET,
};

/**
 * A tbf burst of 1 ms of traffic and at least two 64 KiB TSO super-packets (tbf would cut larger ones
 * back into MTU packets); a queue of one round trip, at least 5 ms: enough for one TCP flow to fill
 * the link, as a switch port's would.
 */
function tbfArgs(profile: LinkProfile): string[] {
  const rateBytes = (profile.rateMbit! * 1e6) / 8;
  const burst = Math.max(2 * 65536 + 2 * profile.mtu, Math.round(rateBytes / 1000));
  const latencyMs = Math.max(5, profile.rttMs ?? 0);
  return ['tbf', 'rate', `${profile.rateMbit}mbit`, 'burst', String(burst), 'latency', `${latencyMs}ms`];
}

async function run(cmd: string, args: string[]): Promise<string> {
  try {
    return (await execFileP(cmd, args, { maxBuffer: 1 << 24 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}

/** Builds bench/delayline with the Go toolchain into build/bench/ (once per source change). */
async function delayLineBinary(): Promise<string> {
  const src = path.join(ROOT, 'bench', 'delayline');
  const out = path.join(ROOT, 'build', 'bench', 'delayline');
  const newest = Math.max(...fs.readdirSync(src).map((f) => fs.statSync(path.join(src, f)).mtimeMs));
  if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < newest) {
    await execFileP('go', ['build', '-trimpath', '-o', out, '.'], {
      cwd: src,
      env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
    });
  }
  return out;
}

export class Testbed {
  readonly ns: Record<Side, string>;
  private delayLine?: ChildProcess;
  private profile?: LinkProfile;
  private offSignals = () => undefined as void;

  private constructor(tag: string) {
    this.ns = { server: `hpsb-${tag}-srv`, client: `hpsb-${tag}-cli` };
  }

  /** Namespaces, loopback up, the veth pair. */
  static async create(): Promise<Testbed> {
    if (process.getuid?.() !== 0) throw new Error('the shaped-link benches need root (ip netns, tc)');
    removeStaleNamespaces();
    const bed = new Testbed(String(process.pid));
    // Interrupted runs still leave no namespace behind.
    const onSignal = (signal: NodeJS.Signals) => {
      bed.delayLine?.kill('SIGKILL');
      for (const n of Object.values(bed.ns)) spawnSyncQuiet('ip', ['netns', 'del', n]);
      process.kill(process.pid, signal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    bed.offSignals = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
    try {
      for (const side of ['server', 'client'] as Side[]) {
        await run('ip', ['netns', 'add', bed.ns[side]]);
        await run('ip', ['-n', bed.ns[side], 'link', 'set', 'lo', 'up']);
      }
      for (const link of ['veth', 'shaped-veth'] as const) {
        const dev = DEVICES[link];
        await run('ip', [
          'link',
          'add',
          dev.server,
          'netns',
          bed.ns.server,
          'type',
          'veth',
          'peer',
          'name',
          dev.client,
          'netns',
          bed.ns.client,
        ]);
        for (const side of ['server', 'client'] as Side[]) {
          await run('ip', ['-n', bed.ns[side], 'addr', 'add', `${NETS[link][side]}/30`, 'dev', dev[side]]);
          await run('ip', ['-n', bed.ns[side], 'link', 'set', dev[side], 'up']);
        }
      }
    } catch (err) {
      await bed.destroy();
      throw err;
    }
    return bed;
  }

  /** Address of `side` on the link a profile uses. */
  address(profile: LinkProfile, side: Side): string {
    return NETS[profile.link][side];
  }

  /** Sets the tbf qdiscs of a shaped veth, or (re)starts the delay line and its tbf qdiscs; a no-op for the unshaped veth. */
  async shape(profile: LinkProfile): Promise<void> {
    if (profile.link === 'veth' || this.profile === profile) return;
    if (profile.link === 'shaped-veth') {
      for (const side of ['server', 'client'] as Side[]) {
        await run('tc', [
          '-n',
          this.ns[side],
          'qdisc',
          'replace',
          'dev',
          DEVICES['shaped-veth'][side],
          'root',
          ...tbfArgs(profile),
        ]);
      }
      return;
    }
    await this.stopDelayLine();
    const bin = await delayLineBinary();
    const child = spawn(
      bin,
      [
        '-ns-a',
        this.ns.server,
        '-dev-a',
        'hpsb-ts',
        '-ns-b',
        this.ns.client,
        '-dev-b',
        'hpsb-tc',
        '-delay',
        `${(profile.rttMs! / 2) * 1000}us`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.delayLine = child;
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`delayline exited ${code}: ${err.trim()}`)));
    });
    for (const side of ['server', 'client'] as Side[]) {
      const peer: Side = side === 'server' ? 'client' : 'server';
      const n = this.ns[side];
      const dev = DEVICES.tun[side];
      await run('ip', ['-n', n, 'addr', 'add', TUN_NET[side], 'peer', TUN_NET[peer], 'dev', dev]);
      await run('ip', ['-n', n, 'link', 'set', dev, 'mtu', String(profile.mtu), 'txqueuelen', '10000', 'up']);
      await run('tc', ['-n', n, 'qdisc', 'replace', 'dev', dev, 'root', ...tbfArgs(profile)]);
    }
    this.profile = profile;
  }

  /** Spawns `cmd` inside a namespace (`ip netns exec` execs it: the child's pid is the command's). */
  spawnIn(side: Side, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.ns[side], cmd, ...args], opts);
  }

  /** Bytes the server side has sent on a profile's link (IP bytes for the TUN, frames for the veth). */
  async serverTxBytes(profile: LinkProfile): Promise<number> {
    const dev = DEVICES[profile.link].server;
    const out = JSON.parse(await run('ip', ['-n', this.ns.server, '-s', '-j', 'link', 'show', 'dev', dev])) as Array<{
      stats64: { tx: { bytes: number } };
    }>;
    return out[0].stats64.tx.bytes;
  }

  /** CPU seconds (user + system) the delay line has used so far. */
  delayLineCpu(): number {
    return this.delayLine?.pid ? processCpuSeconds(this.delayLine.pid) : 0;
  }

  private async stopDelayLine(): Promise<void> {
    const child = this.delayLine;
    this.delayLine = undefined;
    this.profile = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stopDelayLine();
    for (const n of Object.values(this.ns)) await run('ip', ['netns', 'del', n]).catch(() => undefined);
    this.offSignals();
  }
}

function spawnSyncQuiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

/** Namespaces of earlier bench runs whose process is gone (killed hard), named hpsb-<pid>-*. */
function removeStaleNamespaces(): void {
  let names: string[];
  try {
    names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0]);
  } catch {
    return;
  }
  for (const n of names) {
    const m = n.match(/^hpsb-(\d+)-(srv|cli)$/);
    if (m && !fs.existsSync(`/proc/${m[1]}`)) spawnSyncQuiet('ip', ['netns', 'del', n]);
  }
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime + stime of one process, in seconds (0 when it is gone). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** CPU seconds of a process and its live descendants (nginx master + workers), found by parent pid. */
export function treeCpuSeconds(pid: number): number {
  const parents = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* exited meanwhile */
    }
  }
  const sum = (p: number): number => processCpuSeconds(p) + (parents.get(p) ?? []).reduce((a, c) => a + sum(c), 0);
  return sum(pid);
}

/** Busy and total CPU time of the whole machine so far (/proc/stat, all cores, in clock ticks). */
export function machineCpuTicks(): { busy: number; total: number } {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}
