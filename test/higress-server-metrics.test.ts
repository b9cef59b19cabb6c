/**
 * The narrow exposition parser `check` reads a server's /metrics with (src/higress/server-metrics.ts):
 * escapes in label values, comments, lines that are not samples, and the order of the missing-path
 * report. test/image-metrics.test.ts runs it against the real Nginx.
 */
import { missingPaths, MISSING_PATH_METRIC, parseExposition } from '../src/higress/server-metrics';

test('samples with and without labels, escaped label values, special values; comments and junk skipped', () => {
  const text = [
    '# HELP a_total A counter.',
    '# TYPE a_total counter',
    'a_total{plugin="key-auth",version="1.0.0",status="404"} 40',
    'a_total 3 1700000000000',
    'b{path="/a\\"b\\\\c\\nd", x = "y" } +Inf',
    'c NaN',
    '',
    'not a sample line',
    'd{unterminated="x} 1',
    'e{a="b"} not-a-number',
  ].join('\n');
  const samples = parseExposition(text);
  expect(samples.map((s) => [s.name, s.labels, s.value])).toEqual([
    ['a_total', { plugin: 'key-auth', version: '1.0.0', status: '404' }, 40],
    ['a_total', {}, 3],
    ['b', { path: '/a"b\\c\nd', x: 'y' }, Infinity],
    ['c', {}, NaN],
  ]);
});

test('missing paths: most asked first, then by path; other metrics and empty counts left out', () => {
  const samples = parseExposition(
    [
      `${MISSING_PATH_METRIC}{path="/plugins/b/1.0.0/plugin.wasm"} 3`,
      `${MISSING_PATH_METRIC}{path="/plugins/a/1.0.0/plugin.wasm"} 3`,
      `${MISSING_PATH_METRIC}{path="/v2/plugins/c/manifests/2.0.0"} 40`,
      `${MISSING_PATH_METRIC}{path="/plugins/z/1.0.0/plugin.wasm"} 0`,
      'higress_plugin_server_requests_total{plugin="a",version="1.0.0",status="404"} 6',
    ].join('\n'),
  );
  expect(missingPaths(samples)).toEqual([
    { path: '/v2/plugins/c/manifests/2.0.0', requests: 40 },
    { path: '/plugins/a/1.0.0/plugin.wasm', requests: 3 },
    { path: '/plugins/b/1.0.0/plugin.wasm', requests: 3 },
  ]);
});
