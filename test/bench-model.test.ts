// The pure logic of the benchmarks (bench/): the cluster model of a rollout, the gzip break-even
// link speed, the ABBA order and the plugin-set sizes. The benches themselves never run in tests.
import * as fs from 'fs';
import { GATEWAYS, LINKS, renderGzipTable } from '../bench/gzip-table';
import { clusterTime, FetchCost, gzipBreakEvenBps, gzipVerdict } from '../bench/model';
import { GZIP_DOC, readMeasurement, withGzipTable } from '../scripts/gzip-docs';
import { goModuleSize } from '../bench/plugin-set';
import { abbaOrder, median, spread } from '../bench/stats';

const shape = { gateways: 50, replicas: 2, serverEgressBps: 1e9, serverCoresPerReplica: 0.5, gatewayLinkBps: 1e9 };

describe('cluster model', () => {
  it('is bound by server egress when many gateways share few replicas', () => {
    // 50 gateways × 100 MB over 2 × 1 Gbit/s = 20 s; one gateway alone: 0.8 s + 0.5 s.
    const r = clusterTime({ bytesPerGateway: 100e6, serverCpuPerGateway: 0.01, clientCpuPerGateway: 0.5 }, shape);
    expect(r.bound).toBe('server egress');
    expect(r.seconds).toBeCloseTo(20, 6);
    expect(r.terms.gateway).toBeCloseTo(1.3, 6);
    expect(r.terms['server CPU']).toBeCloseTo(0.5, 6);
  });

  it('is bound by one gateway when there are few gateways', () => {
    const r = clusterTime(
      { bytesPerGateway: 100e6, serverCpuPerGateway: 0.01, clientCpuPerGateway: 2 },
      { ...shape, gateways: 1 },
    );
    expect(r.bound).toBe('gateway');
    expect(r.seconds).toBeCloseTo(2.8, 6);
  });

  it('is bound by server CPU when the replicas are starved of CPU', () => {
    const r = clusterTime({ bytesPerGateway: 1e6, serverCpuPerGateway: 1, clientCpuPerGateway: 0 }, shape);
    expect(r.bound).toBe('server CPU');
    expect(r.seconds).toBeCloseTo(50, 6);
  });

  it('scales the server terms with replicas', () => {
    const input = { bytesPerGateway: 100e6, serverCpuPerGateway: 0, clientCpuPerGateway: 0 };
    expect(clusterTime(input, { ...shape, replicas: 4 }).seconds).toBeCloseTo(clusterTime(input, shape).seconds / 2, 6);
  });

  it('refuses an empty cluster', () => {
    expect(() =>
      clusterTime({ bytesPerGateway: 1, serverCpuPerGateway: 0, clientCpuPerGateway: 0 }, { ...shape, replicas: 0 }),
    ).toThrow(/at least one/);
  });
});

describe("the gateway's own CPU", () => {
  it('divides the client CPU by the cores the fetch gets (default one)', () => {
    const input = { bytesPerGateway: 100e6, serverCpuPerGateway: 0, clientCpuPerGateway: 2 };
    const one = { ...shape, gateways: 1 };
    expect(clusterTime(input, one).terms.gateway).toBeCloseTo(2.8, 6);
    expect(clusterTime(input, { ...one, gatewayCores: 0.25 }).terms.gateway).toBeCloseTo(8.8, 6);
    expect(clusterTime(input, { ...one, gatewayCores: 2 }).terms.gateway).toBeCloseTo(1.8, 6);
  });

  // Per MB of wasm: 4 ms of gateway CPU plain, 9 ms with the decode; gzip sends a quarter of the bytes.
  const cost: FetchCost = {
    plainClientCpuPerMB: 0.004,
    gzipClientCpuPerMB: 0.009,
    plainServerCpuPerMB: 0,
    gzipServerCpuPerMB: 0,
  };
  const set = { plainBytes: 420e6, gzipBytes: 105e6 };
  const cluster = (gateways: number, linkBps: number, gatewayCores: number) => ({
    gateways,
    replicas: 2,
    serverEgressBps: linkBps,
    serverCoresPerReplica: 0.5,
    gatewayLinkBps: linkBps,
    gatewayCores,
  });

  it('gzip wins on a slow link whatever the gateways have to spare', () => {
    for (const cores of [1, 0.25]) expect(gzipVerdict(set, cost, cluster(1, 100e6, cores)).winner).toBe('gzip');
  });

  it('plain wins with few gateways on a fast link, gzip again once many share the egress', () => {
    expect(gzipVerdict(set, cost, cluster(1, 10e9, 1)).winner).toBe('plain');
    expect(gzipVerdict(set, cost, cluster(128, 10e9, 1)).winner).toBe('gzip');
  });

  it('busy gateways at 1 Gbit/s (the held-out run: 8 fetchers on 2 shared cores) are bound by their decode: plain wins', () => {
    const v = gzipVerdict(set, cost, cluster(8, 1e9, 0.25));
    expect(v.winner).toBe('plain');
    expect(v.gzip.bound).toBe('gateway');
    expect(gzipVerdict(set, cost, cluster(8, 100e6, 0.25)).winner).toBe('gzip');
  });

  it('docs/gzip.md holds the tables the model gives for the measured costs (run `npm run docs`)', () => {
    const m = readMeasurement();
    const doc = fs.readFileSync(GZIP_DOC, 'utf8');
    expect(withGzipTable(doc, m)).toBe(doc);
    const table = renderGzipTable(m, 1);
    expect(table.split('\n')).toHaveLength(2 + LINKS.length);
    expect(
      table
        .split('\n')[2]
        .split('|')
        .filter((c) => c.includes('s)')),
    ).toHaveLength(GATEWAYS.length);
  });
});

describe('gzip break-even link speed', () => {
  it('is the saved bits over the added decode time', () => {
    // 14 MB plain, 3.7 MB gzip, 0.1 s decode: gzip wins below ~824 Mbit/s.
    expect(gzipBreakEvenBps(14e6, 3.7e6, 0.1)).toBeCloseTo(824e6, -3);
  });
  it('is infinite when decoding adds nothing', () => {
    expect(gzipBreakEvenBps(14e6, 3.7e6, 0)).toBe(Infinity);
  });
});

describe('bench statistics', () => {
  it('orders two variants ABBA', () => {
    expect(abbaOrder('a', 'b', 2)).toEqual(['a', 'b', 'b', 'a', 'a', 'b', 'b', 'a']);
  });
  it('gives median and spread', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(spread([3, 1, 2])).toEqual({ min: 1, max: 3 });
  });
});

describe('plugin-set sizes', () => {
  it('spreads 42 Go modules evenly over 5-15 MB, each size once', () => {
    const sizes = Array.from({ length: 42 }, (_, i) => goModuleSize(i, 42));
    expect(Math.min(...sizes)).toBe(5e6);
    expect(Math.max(...sizes)).toBe(15e6);
    expect(new Set(sizes).size).toBe(42);
    // Not sorted by list position.
    expect(sizes).not.toEqual([...sizes].sort((a, b) => a - b));
  });
});
