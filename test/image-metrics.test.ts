/**
 * GET /metrics of the shipped image/nginx.conf (njs, docs/metrics.md), run by the real Nginx on
 * 127.0.0.1: exact counts after a known mix of requests (200/304/404, gzip and plain, HEAD, the OCI
 * view), the exposition accepted by Prometheus's own `promtool check metrics` (.tools/bin/promtool), which
 * fails the same scrape once broken, a flood of distinct missing paths that leaves the series bounded (as
 * promtool counts them too), and `check`'s missing-path report read from it.
 */
import Ajv from 'ajv';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { SAFE_SEGMENT } from '../src/contract/plugin-identity';
import { METRICS, METRICS_PATH } from '../src/contract/metrics';
import { PLUGINS_DIR, PluginMetadata, METADATA_JSON, wasmUrlPath } from '../src/contract/tree-format';
import { parseExposition, Sample } from '../src/higress/server-metrics';
import { writeOciView } from '../src/ociview/write';
import { publishVersion, writeIndex } from '../src/tree/publish';
import { writeBuildInfo } from '../src/tree/build-info';
import { runCli } from './support/cli-run';
import { request } from './support/http';
import { RunningNginx, startNginx } from './support/nginx';
import { promtoolCardinality, promtoolCheckMetrics } from './support/promtool';
import { REPO_ROOT } from './support/tools';
import { smallWasm } from './support/wasm';

jest.setTimeout(120_000);

const CREATED = '2024-05-01T00:00:00Z';
const NJS = path.join(REPO_ROOT, 'image', 'njs', 'metrics.js');
const SNAPSHOT_SHA = 'ab'.repeat(32);
/** MAX_SERIES and MAX_MISSING of image/njs/metrics.js, as docs/metrics.md states them. */
const MAX_SERIES = 1000;
const MAX_MISSING = 100;

const validateEvent = new Ajv({ allErrors: true, strict: false }).compile(
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'docs', 'cli-events.schema.json'), 'utf8')),
);

let root: string;
let digests: Map<string, string>;

async function scrape(n: RunningNginx): Promise<{ text: string; samples: Sample[] }> {
  const r = await request(`${n.url}${METRICS_PATH}`);
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  const text = r.body.toString('utf8');
  return { text, samples: parseExposition(text) };
}

/** `name{a="x",...}` -> value, for exact comparison. */
function byKey(samples: Sample[], prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (!s.name.startsWith(prefix)) continue;
    const labels = Object.entries(s.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    out[`${s.name}{${labels}}`] = s.value;
  }
  return out;
}

const meta = (name: string, version: string): PluginMetadata =>
  JSON.parse(fs.readFileSync(path.join(root, PLUGINS_DIR, name, version, METADATA_JSON), 'utf8')) as PluginMetadata;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-metrics-'));
  const wasm = await smallWasm();
  for (const version of ['1.0.0', '2.0.0'])
    await publishVersion(root, {
      name: 'add-header',
      version,
      wasmPath: wasm,
      source: `file:add-header.wasm@${version}`,
      manifestDigest: null,
      created: CREATED,
    });
  await writeIndex(root);
  const view = await writeOciView(root);
  digests = new Map(view.tags.map((t) => [`${t.name}:${t.version}`, t.digest]));
  await writeBuildInfo(root, { snapshotSha256: SNAPSHOT_SHA });
});

afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

test('the njs name rule is the tree name rule (SAFE_SEGMENT of src/contract/plugin-identity.ts)', () => {
  const m = /^const SAFE_SEGMENT = \/(.*)\/;$/m.exec(fs.readFileSync(NJS, 'utf8'));
  expect(m?.[1]).toBe(SAFE_SEGMENT.source);
  const caps = fs.readFileSync(NJS, 'utf8');
  expect(caps).toMatch(new RegExp(`^const MAX_SERIES = ${MAX_SERIES};$`, 'm'));
  expect(caps).toMatch(new RegExp(`^const MAX_MISSING = ${MAX_MISSING};$`, 'm'));
  // The path the chart scrapes (src/contract/service.ts) is the one image/nginx.conf answers.
  expect(fs.readFileSync(path.join(REPO_ROOT, 'image', 'nginx.conf'), 'utf8')).toContain(
    `location = ${METRICS_PATH} {`,
  );
});

describe('a known mix of requests', () => {
  let nginx: RunningNginx;
  beforeAll(async () => {
    nginx = await startNginx(root);
  });
  afterAll(async () => nginx?.stop());

  test('gives exact counters, the build facts, and an exposition `promtool check metrics` accepts', async () => {
    const url = (p: string) => `${nginx.url}${p}`;
    const wasm1 = url(wasmUrlPath('add-header', '1.0.0'));
    const m1 = meta('add-header', '1.0.0');
    const bytes: Record<string, number> = {};
    const add = (key: string, n: number) => (bytes[key] = (bytes[key] ?? 0) + n);

    // add-header/1.0.0: 2 plain, 1 gzip, 1 HEAD (200 with no body), 1 revalidation (304).
    for (let i = 0; i < 2; i++) add('add-header/1.0.0', (await request(wasm1)).body.length);
    const gz = await request(wasm1, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    add('add-header/1.0.0', gz.body.length);
    expect((await request(wasm1, { method: 'HEAD' })).body.length).toBe(0);
    const etag = (await request(wasm1, { method: 'HEAD' })).headers.etag!;
    const notModified = await request(wasm1, { headers: { 'If-None-Match': etag } });
    expect(notModified.status).toBe(304);
    // add-header/2.0.0: metadata.json once.
    add('add-header/2.0.0', (await request(url('/plugins/add-header/2.0.0/metadata.json'))).body.length);
    // Missing: the Console asks for key-auth/1.0.0 three times; a name outside the rule once.
    for (let i = 0; i < 3; i++) {
      const r = await request(url('/plugins/key-auth/1.0.0/plugin.wasm'));
      expect(r.status).toBe(404);
      add('key-auth/1.0.0', r.body.length);
    }
    const bad = await request(url('/plugins/%22bad%22/1.0.0/plugin.wasm'));
    expect(bad.status).toBe(404);
    add('_other/_other', bad.body.length);
    // The OCI view: a manifest by tag, the blob it names, the tag list, and a tag that does not exist.
    const manifest = await request(url('/v2/plugins/add-header/manifests/2.0.0'), {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(manifest.status).toBe(200);
    add('add-header/2.0.0', manifest.body.length);
    const layer = (JSON.parse(manifest.body.toString()) as { layers: { digest: string }[] }).layers[0].digest;
    const blob = await request(url(`/v2/plugins/add-header/blobs/${layer}`));
    expect(blob.status).toBe(200);
    add('add-header/_digest', blob.body.length);
    const byDigest = await request(url(`/v2/plugins/add-header/manifests/${digests.get('add-header:2.0.0')}`));
    expect(byDigest.status).toBe(200);
    add('add-header/_digest', byDigest.body.length);
    add('add-header/_tags', (await request(url('/v2/plugins/add-header/tags/list'))).body.length);
    const noTag = await request(url('/v2/plugins/add-header/manifests/9.9.9'));
    expect(noTag.status).toBe(404);
    add('add-header/9.9.9', noTag.body.length);
    // Not requests of a plugin version: not counted.
    expect((await request(url('/plugins/index.json'))).status).toBe(200);
    expect((await request(url('/plugins/add-header/'))).status).toBe(200);
    expect((await request(url('/v2/'))).status).toBe(200);
    expect((await request(url('/healthz'))).status).toBe(200);

    const { text, samples } = await scrape(nginx);
    expect(byKey(samples, 'higress_plugin_server_requests_total')).toEqual({
      'higress_plugin_server_requests_total{plugin=_other,version=_other,status=404}': 1,
      'higress_plugin_server_requests_total{plugin=add-header,version=1.0.0,status=200}': 5,
      'higress_plugin_server_requests_total{plugin=add-header,version=1.0.0,status=304}': 1,
      'higress_plugin_server_requests_total{plugin=add-header,version=2.0.0,status=200}': 2,
      'higress_plugin_server_requests_total{plugin=add-header,version=9.9.9,status=404}': 1,
      'higress_plugin_server_requests_total{plugin=add-header,version=_digest,status=200}': 2,
      'higress_plugin_server_requests_total{plugin=add-header,version=_tags,status=200}': 1,
      'higress_plugin_server_requests_total{plugin=key-auth,version=1.0.0,status=404}': 3,
    });
    expect(bytes['add-header/1.0.0']).toBe(2 * m1.size + m1.gzipSize);
    const sent: Record<string, number> = {};
    for (const [k, v] of Object.entries(bytes)) {
      const [plugin, version] = k.split('/');
      sent[`higress_plugin_server_sent_bytes_total{plugin=${plugin},version=${version}}`] = v;
    }
    expect(byKey(samples, 'higress_plugin_server_sent_bytes_total')).toEqual(sent);
    expect(byKey(samples, 'higress_plugin_server_missing_path_requests')).toEqual({
      'higress_plugin_server_missing_path_requests{path=/plugins/key-auth/1.0.0/plugin.wasm}': 3,
      'higress_plugin_server_missing_path_requests{path=/v2/plugins/add-header/manifests/9.9.9}': 1,
    });
    const version = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
      .version;
    expect(byKey(samples, 'higress_plugin_server_build_info')).toEqual({
      [`higress_plugin_server_build_info{version=${version},snapshot_sha256=${SNAPSHOT_SHA},plugins=1,plugin_versions=2}`]: 1,
    });
    expect(promtoolCheckMetrics(text)).toEqual({ status: 0, out: '' });
    // The families and labels the chart's dashboard is written against (src/contract/metrics.ts).
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    expect(types).toEqual(
      Object.values(METRICS)
        .map((m) => `${m.name} ${m.type}`)
        .sort(),
    );
    for (const sample of samples) {
      const spec = Object.values(METRICS).find((m) => m.name === sample.name)!;
      expect([sample.name, Object.keys(sample.labels)]).toEqual([sample.name, [...spec.labels]]);
    }
    expect(nginx.stderr()).not.toMatch(/metrics:/);
  });

  test('promtool fails the same scrape once it breaks the rules: no HELP, a counter without _total, a value that is no number', async () => {
    const { text } = await scrape(nginx);
    expect(promtoolCheckMetrics(text)).toEqual({ status: 0, out: '' });
    const families = Object.values(METRICS).map((m) => m.name);

    const noHelp = promtoolCheckMetrics(text.replace(/^# HELP .*\n/gm, ''));
    expect(noHelp.status).toBe(3);
    expect(noHelp.out.trim().split('\n').sort()).toEqual(families.map((f) => `${f} no help text`).sort());

    const requests = METRICS.requests.name;
    const unsuffixed = requests.replace(/_total$/, '');
    const noTotal = promtoolCheckMetrics(text.split(requests).join(unsuffixed));
    expect(noTotal).toEqual({ status: 3, out: `${unsuffixed} counter metrics should have "_total" suffix\n` });

    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.startsWith(`${METRICS.buildInfo.name}{`));
    lines[at] = lines[at].replace(/ 1$/, ' one');
    expect(lines[at]).toMatch(/ one$/);
    const notANumber = promtoolCheckMetrics(lines.join('\n'));
    expect(notANumber).toEqual({
      status: 1,
      out: `error while linting: text format parsing error in line ${at + 1}: expected float as value, got "one"\n`,
    });
  });

  test('check reports the missing paths the server saw, most asked first, and still passes', async () => {
    const res = await runCli('check', nginx.url);
    expect(res.code).toBe(0);
    const missing = res.stdout.split('\n').filter((l) => l.startsWith('missing'));
    expect(missing).toEqual([
      'missing key-auth/1.0.0 asked 3 time(s), answered 404 [/plugins/key-auth/1.0.0/plugin.wasm]',
      'missing add-header/9.9.9 asked 1 time(s), answered 404 [/v2/plugins/add-header/manifests/9.9.9]',
    ]);
    const json = await runCli('check', nginx.url, '--oci', '--json');
    expect(json.code).toBe(0);
    const events = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; path?: string; requests?: number });
    for (const e of events) expect(validateEvent(e) ? e : validateEvent.errors).toBe(e);
    expect(events.filter((e) => e.event === 'missing')).toEqual([
      { event: 'missing', command: 'check', path: '/plugins/key-auth/1.0.0/plugin.wasm', requests: 3 },
      { event: 'missing', command: 'check', path: '/v2/plugins/add-header/manifests/9.9.9', requests: 1 },
    ]);
  });
});

describe('a flood of 1,500 distinct missing paths', () => {
  let nginx: RunningNginx;
  beforeAll(async () => {
    nginx = await startNginx(root);
  });
  afterAll(async () => nginx?.stop());

  test('stays bounded: MAX_SERIES series per family, then one _other series; the missing record keeps its size and still finds a path asked often', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const get = (p: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.get(`${nginx.url}${p}`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
      });
    const statuses = new Set<number>();
    for (let i = 0; i < 1500; i += 50)
      for (const s of await Promise.all(
        Array.from({ length: 50 }, (_, j) => get(`/plugins/flood-${i + j}/1.0.0/plugin.wasm`)),
      ))
        statuses.add(s);
    expect([...statuses]).toEqual([404]);
    // After the flood, the Console asks for one missing version 40 times.
    for (let i = 0; i < 40; i++) await get('/plugins/key-auth/1.0.0/plugin.wasm');
    agent.destroy();

    const { text, samples } = await scrape(nginx);
    const requests = samples.filter((s) => s.name === 'higress_plugin_server_requests_total');
    const sent = samples.filter((s) => s.name === 'higress_plugin_server_sent_bytes_total');
    const missing = samples.filter((s) => s.name === 'higress_plugin_server_missing_path_requests');
    expect(requests).toHaveLength(MAX_SERIES + 1);
    expect(sent).toHaveLength(MAX_SERIES + 1);
    expect(missing).toHaveLength(MAX_MISSING);
    const other = requests.find((s) => s.labels.plugin === '_other')!;
    expect(other.labels).toEqual({ plugin: '_other', version: '_other', status: '404' });
    // 1,500 flood paths + 40: the first MAX_SERIES label sets have one request each.
    expect(other.value).toBe(1500 + 40 - MAX_SERIES);
    expect(requests.reduce((n, s) => n + s.value, 0)).toBe(1540);
    // Space-Saving: a path asked 40 times after the flood is the most asked one of the record.
    const top = [...missing].sort((a, b) => b.value - a.value)[0];
    expect(top.labels.path).toBe('/plugins/key-auth/1.0.0/plugin.wasm');
    expect(top.value).toBeGreaterThanOrEqual(40);
    expect(text.split('\n').length).toBeLessThan(2 * MAX_SERIES + MAX_MISSING + 20);
    expect(promtoolCheckMetrics(text)).toEqual({ status: 0, out: '' });
    // promtool's own count of the series (`--extended`, its text parser): the same bounds.
    expect(promtoolCardinality(text)).toEqual({
      [METRICS.requests.name]: MAX_SERIES + 1,
      [METRICS.sentBytes.name]: MAX_SERIES + 1,
      [METRICS.missingPaths.name]: MAX_MISSING,
      [METRICS.buildInfo.name]: 1,
    });
    // Nothing failed in the log phase (metrics.js logs `metrics: <error>` when it does).
    expect(nginx.stderr()).not.toMatch(/metrics:/);
  });
});
