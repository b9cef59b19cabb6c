/**
 * The gateway's own fetcher (test/gateway-client, built by scripts/install-test-tools.sh): Istio's
 * pkg/wasm local cache, the code Higress's pilot-agent runs for every WasmPlugin URL. Each fetch gets an
 * empty cache (a freshly started gateway), so every result comes from the server.
 *
 *   const results = await gatewayFetch([{ url, sha256 }]);   // one result per request, in order
 */
import { execFile } from 'child_process';
import { tool } from './tools';

export interface GatewayFetchRequest {
  url: string;
  /** Hex sha256 the WasmPlugin carries; omitted = no checksum (Istio then accepts any valid module). */
  sha256?: string;
}

export interface GatewayFetchResult {
  url: string;
  sha256?: string;
  ok: boolean;
  /** Istio's own error text (e.g. "module downloaded from ... has checksum ..., which does not match: ..."). */
  error?: string;
  /** Size of the decoded module the gateway would load. */
  bytes: number;
  seconds: number;
}

export interface GatewayFetchOptions {
  /** Per-request timeout (pilot-agent: 15 s) and attempts (pilot-agent: 5). */
  requestTimeout?: string;
  retries?: number;
  /** Whole fetch timeout (istiod sets 30 s). */
  fetchTimeout?: string;
  /** Hosts allowed over plain HTTP for oci:// URLs (pilot-agent's WASM_INSECURE_REGISTRIES). */
  insecureRegistries?: string[];
  /** Bound on the whole run; the process is killed past it. */
  killAfterMs?: number;
}

/** Runs the fetcher once for all requests; resolves with its JSON lines and exit code, never rejects on a failed fetch. */
export function gatewayFetch(
  requests: GatewayFetchRequest[],
  opts: GatewayFetchOptions = {},
): Promise<{ code: number; results: GatewayFetchResult[]; stderr: string }> {
  const args = ['-from', '-'];
  if (opts.requestTimeout) args.push('-request-timeout', opts.requestTimeout);
  if (opts.retries !== undefined) args.push('-retries', String(opts.retries));
  if (opts.fetchTimeout) args.push('-fetch-timeout', opts.fetchTimeout);
  if (opts.insecureRegistries?.length) args.push('-insecure-registries', opts.insecureRegistries.join(','));
  return new Promise((resolve, reject) => {
    const child = execFile(
      tool('gateway-client'),
      args,
      { timeout: opts.killAfterMs ?? 120_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number | undefined) : 0;
        if (typeof code !== 'number')
          return reject(new Error(`gateway-client did not finish: ${err?.message}\n${stderr}`));
        const results = stdout
          .split('\n')
          // Istio's own logger writes its `info wasm fetching image ...` lines (oci:// only) to stdout
          // too; the results are the JSON lines.
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as GatewayFetchResult);
        resolve({ code, results, stderr });
      },
    );
    child.stdin!.end(requests.map((r) => `${r.url}${r.sha256 ? ` ${r.sha256}` : ''}\n`).join(''));
  });
}
