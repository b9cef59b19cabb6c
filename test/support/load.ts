/**
 * Load and abuse clients for the reliability tests against the real Nginx: a gateway rollout burst,
 * `wrk`, slowloris-style clients, slow readers, and a memory probe for the Nginx processes. Every
 * loop is bounded (a fixed count of requests or a fixed duration) and every socket is closed by the
 * function that opened it.
 */
import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { promisify } from 'util';
import { tool } from './tools';

export interface BurstResult {
  requests: number;
  /** Count per HTTP status (0 = the request failed without a response). */
  statuses: Record<string, number>;
  bytes: number;
  /** Responses whose body did not hash to what the tree holds. */
  wrongBodies: number;
  /** Responses to gzip requests that were not sent gzip-encoded. */
  notGzip: number;
  errors: string[];
}

/**
 * `clients` concurrent clients, each downloading every path once with `Accept-Encoding: gzip` (as the
 * gateway does) on its own keep-alive connection. `expected` maps a path to the sha256 of the bytes
 * the server must send for it (the .gz file when gzip_static applies).
 */
export async function rolloutBurst(
  baseUrl: string,
  paths: string[],
  expected: Map<string, string>,
  clients: number,
): Promise<BurstResult> {
  const result: BurstResult = { requests: 0, statuses: {}, bytes: 0, wrongBodies: 0, notGzip: 0, errors: [] };
  const one = (agent: http.Agent, p: string) =>
    new Promise<void>((resolve) => {
      result.requests++;
      const req = http.get(
        `${baseUrl}${p}`,
        { agent, headers: { 'accept-encoding': 'gzip', 'user-agent': 'reliability-burst' } },
        (res) => {
          const h = crypto.createHash('sha256');
          res.on('data', (c: Buffer) => {
            h.update(c);
            result.bytes += c.length;
          });
          res.on('end', () => {
            const status = String(res.statusCode ?? 0);
            result.statuses[status] = (result.statuses[status] ?? 0) + 1;
            if (res.headers['content-encoding'] !== 'gzip') result.notGzip++;
            if (h.digest('hex') !== expected.get(p)) result.wrongBodies++;
            resolve();
          });
          res.on('error', (e) => {
            result.errors.push(`${p}: ${e.message}`);
            resolve();
          });
        },
      );
      req.on('error', (e) => {
        result.statuses['0'] = (result.statuses['0'] ?? 0) + 1;
        result.errors.push(`${p}: ${e.message}`);
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      // Each client walks the list from a different start, like gateways loading plugins in their own order.
      const order = [...paths.slice(i % paths.length), ...paths.slice(0, i % paths.length)];
      try {
        for (const p of order) await one(agent, p);
      } finally {
        agent.destroy();
      }
    }),
  );
  return result;
}

export interface WrkResult {
  requests: number;
  durationS: number;
  requestsPerSec: number;
  non2xx3xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  latencyP99: string;
  raw: string;
}

/** Parses wrk's text report. */
export function parseWrk(text: string): WrkResult {
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests: num(/(\d+) requests in/),
    durationS: num(/requests in ([\d.]+)s/),
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    non2xx3xx: num(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors: {
      connect: Number(se?.[1] ?? 0),
      read: Number(se?.[2] ?? 0),
      write: Number(se?.[3] ?? 0),
      timeout: Number(se?.[4] ?? 0),
    },
    latencyP99: /\s99%\s+(\S+)/.exec(text)?.[1] ?? 'n/a',
    raw: text,
  };
}

/** Runs wrk with a raised open-files limit (1000 connections need more than the usual 1024 fds). */
export async function runWrk(
  url: string,
  opts: { connections: number; threads: number; seconds: number; headers?: string[] },
): Promise<WrkResult> {
  const args = [
    '-t',
    String(opts.threads),
    '-c',
    String(opts.connections),
    '-d',
    `${opts.seconds}s`,
    '--latency',
    '--timeout',
    '10s',
    ...(opts.headers ?? []).flatMap((h) => ['-H', h]),
    url,
  ];
  const quoted = [tool('wrk'), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const { stdout } = await promisify(execFile)(
    'bash',
    ['-c', `ulimit -n ${opts.connections + 1024} && exec ${quoted}`],
    { maxBuffer: 4 * 1024 * 1024, timeout: (opts.seconds + 30) * 1000 },
  );
  return parseWrk(stdout);
}

/** Opens `count` connections that each send a partial request line and headers, one header every `intervalMs`, never finishing. */
export async function slowloris(
  port: number,
  count: number,
  intervalMs: number,
): Promise<{ sockets: net.Socket[]; closedByServer(): number; stop(): void }> {
  const sockets: net.Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  let closed = 0;
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const s = net.connect(port, '127.0.0.1', () => {
            s.write('GET /plugins/index.json HTTP/1.1\r\nHost: 127.0.0.1\r\n');
            resolve();
          });
          s.on('error', () => resolve());
          s.on('close', () => closed++);
          sockets.push(s);
          let n = 0;
          timers.push(setInterval(() => !s.destroyed && s.write(`X-Slow-${n++}: a\r\n`), intervalMs));
        }),
    ),
  );
  return {
    sockets,
    closedByServer: () => closed,
    stop: () => {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
    },
  };
}

/**
 * Starts `count` downloads of `target` that read only the first chunk and then stop reading, so the
 * server's send buffer fills and Nginx must hold the connection without buffering the file in memory.
 */
export async function slowReaders(
  port: number,
  target: string,
  count: number,
): Promise<{ received(): number; stop(): void }> {
  const sockets: net.Socket[] = [];
  let received = 0;
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const s = net.connect(port, '127.0.0.1', () =>
            s.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\n\r\n`),
          );
          s.once('data', (c: Buffer) => {
            received += c.length;
            s.pause();
            resolve();
          });
          s.on('error', () => resolve());
          sockets.push(s);
        }),
    ),
  );
  return { received: () => received, stop: () => sockets.forEach((s) => s.destroy()) };
}

export interface ProcessMemory {
  pids: number[];
  /** Sum of VmRSS over master and workers, in KiB. */
  rssKiB: number;
  perProcessKiB: Record<number, number>;
}

function statusField(pid: number, field: string): string | undefined {
  try {
    return new RegExp(`^${field}:\\s*(.+)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** RSS of the Nginx master (from its pid file) and every process whose parent it is (the workers). */
export function nginxMemory(runtimeDir: string): ProcessMemory {
  const master = Number(fs.readFileSync(path.join(runtimeDir, 'nginx.pid'), 'utf8').trim());
  const pids = [master];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (Number(statusField(Number(entry), 'PPid')) === master) pids.push(Number(entry));
  }
  const perProcessKiB: Record<number, number> = {};
  let rssKiB = 0;
  for (const pid of pids) {
    const kib = Number((statusField(pid, 'VmRSS') ?? '0').split(/\s+/)[0]);
    perProcessKiB[pid] = kib;
    rssKiB += kib;
  }
  return { pids, rssKiB, perProcessKiB };
}

/** Sends `text` as-is on a new connection and returns the status line's code (0 if none) and the whole reply. */
export function rawRequest(port: number, text: string | Buffer): Promise<{ status: number; reply: string }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('connect', () => s.end(text));
    s.on('data', (c: Buffer) => chunks.push(c));
    // A server may reset a connection it refuses: what it answered before that still counts.
    s.on('error', () => undefined);
    s.on('close', () => {
      const reply = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(reply)?.[1] ?? 0), reply });
    });
  });
}
