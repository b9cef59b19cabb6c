/**
 * A small hostile HTTP server on 127.0.0.1 for the reliability tests: each route answers as a broken
 * or malicious registry or plugin server would (gzip bombs, trickled bodies, odd auth challenges,
 * forged text). It records every request so a test can assert what the client sent.
 */
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import * as zlib from 'zlib';

export type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface HostileServer {
  url: string;
  host: string;
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  close(): Promise<void>;
}

export async function startHostileServer(routes: Record<string, Route>): Promise<HostileServer> {
  const requests: HostileServer['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const path = (req.url ?? '').split('?')[0] ?? '';
    const route =
      routes[path] ?? Object.entries(routes).find(([p]) => p.endsWith('*') && path.startsWith(p.slice(0, -1)))?.[1];
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    route(req, res);
  });
  const sockets = new Set<import('net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A gzip body that decodes to `decodedBytes` of `fill`: one compressed member of 16 MiB repeated
 * (gzip decoders read concatenated members as one stream), so building a 1 GiB bomb costs ~1 MB.
 */
export function gzipBomb(decodedBytes: number, fill = ' '): Buffer {
  const member = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024, fill), { level: 9 });
  const count = Math.ceil(decodedBytes / (16 * 1024 * 1024));
  return Buffer.concat(Array.from({ length: count }, () => member));
}

/** Answers `body` gzip-encoded (the body is already gzip bytes). */
export function sendGzip(body: Buffer, contentType = 'application/json'): Route {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': contentType, 'content-encoding': 'gzip', 'content-length': body.length });
    res.end(body);
  };
}

export function sendJson(doc: unknown, status = 200, headers: http.OutgoingHttpHeaders = {}): Route {
  const body = Buffer.from(JSON.stringify(doc));
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length, ...headers });
    res.end(body);
  };
}

/**
 * Sends `body` `chunk` bytes (default one) every `intervalMs`: one byte is a slow-drip attack on
 * per-chunk idle timeouts, larger chunks a slow but steady registry.
 */
export function trickle(body: Buffer, intervalMs: number, headers: http.OutgoingHttpHeaders = {}, chunk = 1): Route {
  return (req, res) => {
    res.writeHead(200, { 'content-length': body.length, ...headers });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.flushHeaders();
    let i = 0;
    const timer = setInterval(() => {
      if (i >= body.length || res.destroyed) {
        clearInterval(timer);
        res.end();
        return;
      }
      res.write(body.subarray(i, i + chunk));
      i += chunk;
    }, intervalMs);
    req.socket.on('close', () => clearInterval(timer));
  };
}

/** The hostile servers one test file starts; `close()` (in afterAll) stops them all. */
export class HostileServers {
  private readonly started: HostileServer[] = [];

  async start(routes: Record<string, Route>): Promise<HostileServer> {
    const s = await startHostileServer(routes);
    this.started.push(s);
    return s;
  }

  async close(): Promise<void> {
    await Promise.all(this.started.map((s) => s.close()));
  }
}

/** A one-line plugin list in `dir` that asks `host` for `plugins/<name>:1.0.0`. */
export function hostileList(dir: string, host: string, name = 'x'): string {
  const file = path.join(dir, `${name}-${Math.random().toString(36).slice(2)}.properties`);
  fs.writeFileSync(file, `${name}=oci://${host}/plugins/${name}:1.0.0\n`);
  return file;
}
