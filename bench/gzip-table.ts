/**
 * The gzip decision table of docs/gzip.md: the cluster model (model.ts) for both forms of a rollout,
 * by link speed and gateway count, with the fetch costs measured by bench/gzip-decode.ts (kept in
 * bench/fixtures/gateway-decode.json so `npm run docs` renders the same table on any machine). Pure.
 */
import { ClusterShape, FetchCost, gzipVerdict, PluginSetBytes } from './model';

/** What bench/gzip-decode.ts measured and wrote to bench/fixtures/gateway-decode.json. */
export interface DecodeMeasurement extends FetchCost {
  /** Day of the run, and what ran it. */
  measured: string;
  command: string;
  /** The measured modules: how many, their wasm and .gz bytes, ABBA rounds per form. */
  modules: number;
  plainBytes: number;
  gzipBytes: number;
  rounds: number;
  /** The bench's 43-plugin set (the default image's list), for the model: wasm bytes, .gz bytes at the measured ratio. */
  set: PluginSetBytes & { plugins: number };
}

export const LINKS: ReadonlyArray<readonly [string, number]> = [
  ['100 Mbit/s', 100e6],
  ['1 Gbit/s', 1e9],
  ['10 Gbit/s', 10e9],
];
export const GATEWAYS = [1, 8, 32, 128] as const;
/** The chart's defaults: 2 replicas, each limited to 0.5 CPU. */
export const REPLICAS = 2;
export const SERVER_CORES = 0.5;
/**
 * CPU a gateway's fetch gets: the Higress chart gives each gateway pod 2 CPUs, shared with the
 * traffic it serves. 1 core: a gateway with half its CPU free; 0.25: a busy one, or several gateways
 * on the cores of one node (the held-out run: 8 gateways' fetchers on 2 shared cores).
 */
export const GATEWAY_CORES = [1, 0.25] as const;

function shape(gateways: number, linkBps: number, gatewayCores: number): ClusterShape {
  return {
    gateways,
    replicas: REPLICAS,
    serverEgressBps: linkBps,
    serverCoresPerReplica: SERVER_CORES,
    gatewayLinkBps: linkBps,
    gatewayCores,
  };
}

const secs = (s: number) => (s < 10 ? s.toFixed(1) : s.toFixed(0));

/** One table: rows by link speed, columns by gateway count; each cell the winner and both times. */
export function renderGzipTable(m: DecodeMeasurement, gatewayCores: number): string {
  const head = `| link (each replica's egress and each gateway's) | ${GATEWAYS.map((g) => `${g} gateway${g > 1 ? 's' : ''}`).join(' | ')} |`;
  const rule = `| --- | ${GATEWAYS.map(() => '---').join(' | ')} |`;
  const rows = LINKS.map(([label, bps]) => {
    const cells = GATEWAYS.map((g) => {
      const v = gzipVerdict(m.set, m, shape(g, bps, gatewayCores));
      return `**${v.winner}** (gzip ${secs(v.gzip.seconds)} s, plain ${secs(v.plain.seconds)} s)`;
    });
    return `| ${label} | ${cells.join(' | ')} |`;
  });
  return [head, rule, ...rows].join('\n');
}

const MB = (b: number) => (b / 1e6).toFixed(0);

/** The generated part of docs/gzip.md: the inputs, then one table per gateway CPU assumption. */
export function renderGzipSection(m: DecodeMeasurement): string {
  const ms = (perMB: number) => (perMB * 1000).toFixed(2);
  return [
    `Inputs, measured ${m.measured} with \`${m.command}\` (the gateway's own fetcher, \`.tools/bin/gateway-client\`:`,
    `Istio's \`pkg/wasm\`, fetching ${m.modules} Go-sized modules of ${MB(m.plainBytes)} MB, ${MB(m.gzipBytes)} MB as .gz, through the real`,
    `Nginx on \`image/nginx.conf\` with \`gzip.enabled\` on and off, ${m.rounds} ABBA round(s), medians):`,
    `- gateway CPU per MB of wasm: **${ms(m.plainClientCpuPerMB)} ms** plain, **${ms(m.gzipClientCpuPerMB)} ms** with gzip`,
    `  (the decode adds ${ms(m.gzipClientCpuPerMB - m.plainClientCpuPerMB)} ms per MB); server CPU per MB: ${ms(m.plainServerCpuPerMB)} ms plain,`,
    `  ${ms(m.gzipServerCpuPerMB)} ms gzip;`,
    `- every gateway fetches the default image's ${m.set.plugins} plugins: ${MB(m.set.plainBytes)} MB of wasm, ${MB(m.set.gzipBytes)} MB as .gz;`,
    `- ${REPLICAS} replicas limited to ${SERVER_CORES} CPU each (the chart's defaults), every link at the speed of its row.`,
    '',
    `A gateway with **${GATEWAY_CORES[0]} core** free for the fetch (half of its pod's 2 CPUs):`,
    '',
    renderGzipTable(m, GATEWAY_CORES[0]),
    '',
    `A busy gateway, or several on the cores of one node: **${GATEWAY_CORES[1]} core** each for the fetch:`,
    '',
    renderGzipTable(m, GATEWAY_CORES[1]),
  ].join('\n');
}
