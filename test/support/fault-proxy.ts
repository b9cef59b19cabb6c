/**
 * A small HTTP proxy (node:http, 127.0.0.1) in front of a real registry that injects the faults a
 * healthy registry never produces: status codes, delays, dropped connections, truncated or corrupted
 * bodies. Requests that match no rule pass through untouched.
 *
 *   const proxy = await startFaultProxy(reg.url);
 *   proxy.add({ path: /\/blobs\//, times: 2, status: 503 });        // first two blob requests fail
 *   proxy.add({ path: /\/manifests\//, status: 500, body: '{...}' });  // with the registry's error body
 *   proxy.add({ path: /\/manifests\//, delayMs: 2000 });             // every manifest request stalls
 *   proxy.add({ path: /\/blobs\//, truncateTo: 100 });               // body cut, Content-Length fixed
 *   proxy.add({ path: /\/blobs\//, truncateTo: 100, keepLength: true }); // connection dropped mid-body
 *   proxy.add({ path: /\/blobs\//, corrupt: true });                 // one byte flipped, same length
 *   proxy.add({ path: /\/blobs\//, drop: true });                    // connection closed, no response
 *   client pulls from proxy.host; proxy.log lists every request; afterAll(() => proxy.stop()).
 */
import * as http from 'http';
import * as net from 'net';

export interface FaultRule {
  /** Matched against the request path (with query). */
  path: RegExp;
  method?: string;
  /** How many matching requests this rule affects (default: all). */
  times?: number;
  status?: number;
  /** With status: the response body (default `{"errors":[{"code":"FAULT"}]}`). */
  body?: string;
  headers?: Record<string, string>;
  delayMs?: number;
  drop?: boolean;
  truncateTo?: number;
  /** With truncateTo: keep the upstream Content-Length and close the socket early. */
  keepLength?: boolean;
  corrupt?: boolean;
}

export interface FaultProxy {
  /** `127.0.0.1:<port>` */
  host: string;
  url: string;
  log: Array<{ method: string; path: string; fault?: string }>;
  add(rule: FaultRule): void;
  clear(): void;
  stop(): Promise<void>;
}

function describe(rule: FaultRule): string {
  return Object.entries(rule)
    .filter(([k]) => k !== 'path' && k !== 'method' && k !== 'times' && k !== 'body')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',');
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  let rules: Array<FaultRule & { left: number }> = [];
  const log: FaultProxy['log'] = [];
  const agent = new http.Agent({ keepAlive: true });
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const rule = rules.find((r) => r.left > 0 && r.path.test(req.url ?? '') && (!r.method || r.method === req.method));
    if (rule) rule.left--;
    log.push({ method: req.method ?? 'GET', path: req.url ?? '', ...(rule ? { fault: describe(rule) } : {}) });
    if (rule?.drop) {
      req.socket.destroy();
      return;
    }
    if (rule?.status) {
      req.resume();
      res
        .writeHead(rule.status, { 'content-type': 'application/json', ...(rule.headers ?? {}) })
        .end(rule.body ?? '{"errors":[{"code":"FAULT"}]}');
      return;
    }
    const forward = () => {
      const up = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
        (upRes) => {
          if (!rule || (rule.truncateTo === undefined && !rule.corrupt)) {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.pipe(res);
            return;
          }
          const chunks: Buffer[] = [];
          upRes.on('data', (c: Buffer) => chunks.push(c));
          upRes.on('end', () => {
            let body = Buffer.concat(chunks);
            const headers = { ...upRes.headers };
            if (rule.corrupt && body.length) {
              body = Buffer.from(body);
              body[body.length >> 1] ^= 0xff;
            }
            if (rule.truncateTo !== undefined && rule.truncateTo < body.length) {
              const cut = body.subarray(0, rule.truncateTo);
              if (rule.keepLength) {
                res.writeHead(upRes.statusCode ?? 502, headers);
                res.write(cut, () => res.socket?.destroy());
                return;
              }
              headers['content-length'] = String(cut.length);
              body = cut;
            }
            res.writeHead(upRes.statusCode ?? 502, headers).end(body);
          });
        },
      );
      up.on('error', () => res.socket?.destroy());
      req.pipe(up);
    };
    if (rule?.delayMs) {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!req.socket.destroyed) forward();
      }, rule.delayMs);
      timers.add(t);
    } else {
      forward();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    log,
    add: (rule) => rules.push({ ...rule, left: rule.times ?? Infinity }),
    clear: () => {
      rules = [];
      log.length = 0;
    },
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
