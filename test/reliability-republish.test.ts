/**
 * Issue 12, item 10: a republish of an existing version is invisible to clients. The real Nginx
 * serves the tree on image/nginx.conf while `pull` republishes the same version over and over with
 * other bytes (a file: source rewritten between runs). wrk loads the URL with gzip, and checking
 * clients hash every body (raw and gzip): every response must be 200 and every body exactly one of the
 * published modules, never a 404 in a swap window and never a mix of two.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { parsePluginList } from '../src/inputs/properties';
import { createOciClient } from '../src/oci/client';
import { runPull } from '../src/pipeline/pull';
import { verifyTree } from '../src/tree/read';
import { recordFigures } from './support/figures';
import { runWrk } from './support/load';
import { RunningNginx, startNginx } from './support/nginx';
import { wasmVariant } from './support/tree-state';
import { smallWasm } from './support/wasm';

const URL_PATH = '/plugins/hot/1.0.0/plugin.wasm';
const hex = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

let dir: string;
let root: string;
let nginx: RunningNginx;

afterAll(async () => {
  await nginx?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Checked {
  requests: number;
  statuses: Record<string, number>;
  wrongBodies: number;
}

/** Keep-alive clients that fetch the URL until `stop`, hashing each (decoded) body against `valid`. */
function checkingClients(port: number, count: number, valid: Set<string>, stop: { done: boolean }): Promise<Checked> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: count });
  const out: Checked = { requests: 0, statuses: {}, wrongBodies: 0 };
  const one = (gzip: boolean) =>
    new Promise<void>((resolve) => {
      const req = http.get(
        { host: '127.0.0.1', port, path: URL_PATH, agent, headers: gzip ? { 'accept-encoding': 'gzip' } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            out.requests++;
            out.statuses[String(res.statusCode)] = (out.statuses[String(res.statusCode)] ?? 0) + 1;
            if (res.statusCode === 200) {
              let body = Buffer.concat(chunks);
              try {
                if (res.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
                if (!valid.has(hex(body))) out.wrongBodies++;
              } catch {
                out.wrongBodies++;
              }
            }
            resolve();
          });
          res.on('error', () => resolve());
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        out.statuses.error = (out.statuses.error ?? 0) + 1;
        resolve();
      });
    });
  const loop = async (i: number) => {
    while (!stop.done) await one(i % 2 === 0);
  };
  return Promise.all(Array.from({ length: count }, (_, i) => loop(i))).then(() => {
    agent.destroy();
    return out;
  });
}

test('republishing a version under wrk load: 0 non-200 responses, 0 wrong or mixed bodies', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-republish-'));
  root = path.join(dir, 'out');
  // Two distinct valid modules (~17 KB): small, so many republishes (and swap windows) fit in the run.
  const base = fs.readFileSync(await smallWasm());
  const versions = [wasmVariant(base, 'one'), wasmVariant(base, 'two')];
  const valid = new Set(versions.map(hex));
  const source = path.join(dir, 'hot.wasm');
  const list = path.join(dir, 'plugins.properties');
  fs.writeFileSync(list, 'hot=file:hot.wasm@1.0.0\n');
  const entries = parsePluginList(fs.readFileSync(list, 'utf8'), list).entries;
  const client = createOciClient();
  const publish = async (i: number) => {
    fs.writeFileSync(source, versions[i % 2]);
    // Each run gets its own mtime, so validators change with every republish as they would in a rebuild.
    const t = new Date(Date.UTC(2025, 0, 1) + i * 1000);
    fs.utimesSync(source, t, t);
    const r = await runPull({ root, entries, client, concurrency: 1 });
    if (!r.ok) throw new Error(`republish ${i} failed: ${JSON.stringify(r.failed.map((f) => f.error.toLine()))}`);
  };
  try {
    await publish(0);
    nginx = await startNginx(root, { workerProcesses: 2 });
    const stop = { done: false };
    const checkers = checkingClients(nginx.port, 4, valid, stop);
    let loadDone = false;
    const wrk = runWrk(`${nginx.url}${URL_PATH}`, {
      connections: 50,
      threads: 1,
      seconds: 15,
      headers: ['Accept-Encoding: gzip'],
    }).finally(() => (loadDone = true));
    let republished = 0;
    try {
      // Republish for as long as the load runs (each run hashes, compresses and fsyncs).
      while (!loadDone) await publish(++republished);
    } finally {
      await wrk.catch(() => undefined);
      stop.done = true;
    }
    const load = await wrk;
    const checked = await checkers;
    recordFigures('republish', {
      republished,
      wrk: {
        requests: load.requests,
        requestsPerSec: load.requestsPerSec,
        non2xx3xx: load.non2xx3xx,
        socketErrors: load.socketErrors,
        latencyP99: load.latencyP99,
      },
      checked,
    });
    expect(republished).toBeGreaterThanOrEqual(5);
    expect(load.requests).toBeGreaterThan(1000);
    expect(load.non2xx3xx).toBe(0);
    expect(load.socketErrors).toEqual({ connect: 0, read: 0, write: 0, timeout: 0 });
    expect(checked.requests).toBeGreaterThan(100);
    expect(checked.statuses).toEqual({ 200: checked.requests });
    expect(checked.wrongBodies).toBe(0);
    expect((await verifyTree(root)).problems).toEqual([]);
    expect(nginx.stderr()).not.toMatch(/\[(alert|crit|emerg)\]/);
  } finally {
    await client.close();
  }
}, 120_000);
