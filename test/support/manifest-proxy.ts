/**
 * A pass-through proxy (127.0.0.1) in front of a real registry that lies about manifests, a fault the
 * generic fault proxy cannot make: it either answers manifest requests for one repository with the
 * manifest of another (a tag that "moved" between HEAD and GET), or keeps the body and sends a
 * Docker-Content-Digest header of other bytes. Everything else is forwarded untouched.
 */
import * as http from 'http';
import * as net from 'net';

export interface ManifestLie {
  /** Matched against the request path. */
  path: RegExp;
  /** GET only: serve the manifest at this other repository path (same tag) instead. */
  swapRepository?: { from: string; to: string };
  /** HEAD and GET: replace Docker-Content-Digest with this value. */
  digestHeader?: string;
}

export interface ManifestProxy {
  host: string;
  lies: ManifestLie[];
  /** Requests a lie was applied to. */
  applied: number;
  stop(): Promise<void>;
}

export async function startManifestProxy(upstream: string): Promise<ManifestProxy> {
  const target = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true });
  const state: ManifestProxy = { host: '', lies: [], applied: 0, stop: () => Promise.resolve() };
  const server = http.createServer((req, res) => {
    const lie = state.lies.find((l) => l.path.test(req.url ?? ''));
    let upstreamPath = req.url ?? '/';
    if (lie?.swapRepository && req.method === 'GET')
      upstreamPath = upstreamPath.replace(lie.swapRepository.from, lie.swapRepository.to);
    if (lie) state.applied++;
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: upstreamPath, headers: req.headers, agent },
      (upRes) => {
        const headers = { ...upRes.headers };
        if (lie?.digestHeader && headers['docker-content-digest']) headers['docker-content-digest'] = lie.digestHeader;
        res.writeHead(upRes.statusCode ?? 502, headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  state.stop = async () => {
    server.closeAllConnections();
    agent.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
