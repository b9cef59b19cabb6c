/**
 * The cluster model of a rollout burst, for a cluster where every gateway runs on its own node (this
 * machine's two cores cannot host 50 gateways without the clients bounding the result):
 *
 *   time ≈ max( G · bytes per gateway / (R · server egress per replica),
 *               G · server CPU per gateway / (R · server cores per replica),
 *               bytes per gateway / gateway link + client CPU per gateway / gateway cores )
 *
 * The first two terms are the server side (all gateways share R replicas), the last is one gateway
 * alone on its node (its download, then its decode and sha256 check, counted in series to stay on the
 * safe side: the Go client decodes while it downloads). The gateway's own CPU is what it has to spare
 * for the fetch: a Higress gateway pod has 2 CPUs, shared with the traffic it serves, so a busy
 * gateway gives the decode less than one core. Inputs come from the measured burst and the measured
 * decode cost (bench/gzip-decode.ts). Pure.
 */
export interface ModelInput {
  /** Bytes one gateway pulls over the network for all plugins (as measured on the wire). */
  bytesPerGateway: number;
  /** Server CPU seconds per gateway (all plugins). */
  serverCpuPerGateway: number;
  /** Client CPU seconds per gateway (all plugins: transfer, gzip decode, sha256, cache write). */
  clientCpuPerGateway: number;
}

export interface ClusterShape {
  gateways: number;
  replicas: number;
  /** Egress of one server replica's node, bits per second. */
  serverEgressBps: number;
  /** CPU cores one replica may use (the chart's limit). */
  serverCoresPerReplica: number;
  /** One gateway node's link, bits per second. */
  gatewayLinkBps: number;
  /** CPU cores one gateway's fetch gets (its pod's CPUs less what its traffic keeps busy); default 1. */
  gatewayCores?: number;
}

export type Bound = 'server egress' | 'server CPU' | 'gateway';

export interface ModelResult {
  seconds: number;
  bound: Bound;
  terms: Record<Bound, number>;
}

export function clusterTime(input: ModelInput, shape: ClusterShape): ModelResult {
  if (shape.gateways < 1 || shape.replicas < 1) throw new Error('the model needs at least one gateway and one replica');
  const terms: Record<Bound, number> = {
    'server egress': (shape.gateways * input.bytesPerGateway * 8) / (shape.replicas * shape.serverEgressBps),
    'server CPU': (shape.gateways * input.serverCpuPerGateway) / (shape.replicas * shape.serverCoresPerReplica),
    gateway: (input.bytesPerGateway * 8) / shape.gatewayLinkBps + input.clientCpuPerGateway / (shape.gatewayCores ?? 1),
  };
  const bound = (Object.keys(terms) as Bound[]).reduce((a, b) => (terms[b] > terms[a] ? b : a));
  return { seconds: terms[bound], bound, terms };
}

/**
 * The link speed (bits per second) below which a gzip download beats a plain one for a single
 * client: the bytes gzip saves take longer to send than the decoding it adds. Infinity when decoding
 * costs nothing more than the plain download's own client CPU.
 */
export function gzipBreakEvenBps(plainBytes: number, gzipBytes: number, extraDecodeCpuSeconds: number): number {
  if (extraDecodeCpuSeconds <= 0) return Infinity;
  return ((plainBytes - gzipBytes) * 8) / extraDecodeCpuSeconds;
}

/** What a gateway's fetch costs per MB (10^6 bytes) of wasm, measured with the real fetcher (bench/gzip-decode.ts). */
export interface FetchCost {
  /** Client CPU seconds per MB fetched plain (transfer, sha256, cache write). */
  plainClientCpuPerMB: number;
  /** Client CPU seconds per MB fetched as gzip: the same plus the decode. */
  gzipClientCpuPerMB: number;
  /** Server CPU seconds per MB of wasm served, each way. */
  plainServerCpuPerMB: number;
  gzipServerCpuPerMB: number;
}

/** The plugins every gateway fetches: wasm bytes, and the .gz bytes gzip sends instead. */
export interface PluginSetBytes {
  plainBytes: number;
  gzipBytes: number;
}

export interface GzipVerdict {
  plain: ModelResult;
  gzip: ModelResult;
  /** The form that finishes the rollout first (gzip on a tie: it also spares the network). */
  winner: 'gzip' | 'plain';
}

/** The cluster model for both forms of the same rollout: which one finishes first. */
export function gzipVerdict(set: PluginSetBytes, cost: FetchCost, shape: ClusterShape): GzipVerdict {
  const mb = set.plainBytes / 1e6;
  const plain = clusterTime(
    {
      bytesPerGateway: set.plainBytes,
      serverCpuPerGateway: cost.plainServerCpuPerMB * mb,
      clientCpuPerGateway: cost.plainClientCpuPerMB * mb,
    },
    shape,
  );
  const gzip = clusterTime(
    {
      bytesPerGateway: set.gzipBytes,
      serverCpuPerGateway: cost.gzipServerCpuPerMB * mb,
      clientCpuPerGateway: cost.gzipClientCpuPerMB * mb,
    },
    shape,
  );
  return { plain, gzip, winner: gzip.seconds <= plain.seconds ? 'gzip' : 'plain' };
}
