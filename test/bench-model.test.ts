// The pure logic of the benchmarks (bench/): the cluster model of a rollout, the gzip break-even
// link speed, the ABBA order and the plugin-set sizes. The benches themselves never run in tests.
import { clusterTime, gzipBreakEvenBps } from '../bench/model';
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
