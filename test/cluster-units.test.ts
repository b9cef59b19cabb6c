/**
 * The pure parts of `audit` and `adopt` (src/cluster/): matching a WasmPlugin's oci:// URL to what the
 * server holds, where a URL points, the Console's plugin versions, the plan's diff and the RBAC file.
 * The Kubernetes side runs against a real control plane in test/cluster-adopt.test.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { matchSource, renderDiff, Plan } from '../src/cluster/adopt';
import { localOci, localPath, serviceHost, serviceNamespace } from '../src/cluster/asks';
import { consolePluginsOf } from '../src/cluster/audit';
import { parseRegistryMap } from '../src/inputs/registry-map';
import { ADOPT_CLUSTER_RULES, ADOPT_NAMESPACE_RULES } from '../src/contract/adopt-rbac';
import type { IndexEntry, PluginIndex } from '../src/contract/tree-format';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function entry(
  name: string,
  version: string,
  source: string,
  manifestDigest: string | null,
  aliasOf?: string,
): IndexEntry {
  return {
    name,
    version,
    sha256: 'a'.repeat(64),
    size: 1,
    md5: 'b'.repeat(32),
    path: `/plugins/${name}/${version}/plugin.wasm`,
    source,
    manifestDigest,
    ...(aliasOf ? { aliasOf } : {}),
  };
}

const INDEX: PluginIndex = {
  schemaVersion: 1,
  generated: '2026-01-01T00:00:00Z',
  plugins: [
    entry('key-auth', '1.0.0', 'oci://mirror.local/higress/plugins/key-auth:2.0.0', D1, '2.0.0'),
    entry('key-auth', '2.0.0', 'oci://mirror.local/higress/plugins/key-auth:2.0.0', D1),
    entry('waf', '2.0.0', 'oci://Public.Example/plugins/waf:2.0.0', D2),
    entry('local', '1.0.0', 'file:local.wasm@1.0.0', null),
  ],
};
const MAP = parseRegistryMap(['public.example=mirror.local/higress']);

describe('matchSource', () => {
  test('a tag matches the source it was pulled from (host case-insensitive), the real folder before its alias', () => {
    expect(matchSource('oci://public.example/plugins/waf:2.0.0', undefined, INDEX, [])?.version).toBe('2.0.0');
    const k = matchSource('oci://mirror.local/higress/plugins/key-auth:2.0.0', undefined, INDEX, []);
    expect([k?.name, k?.version, k?.aliasOf]).toEqual(['key-auth', '2.0.0', undefined]);
  });

  test('--registry-map: the public name matches a source pulled from the mirror; without it, nothing', () => {
    expect(matchSource('oci://public.example/plugins/key-auth:2.0.0', undefined, INDEX, MAP)?.name).toBe('key-auth');
    expect(matchSource('oci://public.example/plugins/key-auth:2.0.0', undefined, INDEX, [])).toBeUndefined();
  });

  test('a digest in the URL or the pinned sha256 matches by manifest digest, whatever the host or tag', () => {
    expect(matchSource(`oci://elsewhere.io/x/y@${D2}`, undefined, INDEX, [])?.name).toBe('waf');
    expect(matchSource('oci://elsewhere.io/x/y:moved', D1.slice(7), INDEX, [])?.name).toBe('key-auth');
  });

  test('other tags, other repositories, non-oci URLs and unparsable references match nothing', () => {
    expect(matchSource('oci://public.example/plugins/waf:1.0.0', undefined, INDEX, [])).toBeUndefined();
    expect(matchSource('oci://public.example/plugins/other:2.0.0', undefined, INDEX, [])).toBeUndefined();
    expect(matchSource('http://public.example/plugins/waf:2.0.0', undefined, INDEX, [])).toBeUndefined();
    expect(matchSource('oci://', undefined, INDEX, [])).toBeUndefined();
  });
});

describe('where a URL points', () => {
  const addr = { serviceUrl: 'http://higress-plugin-server.higress-system.svc', serverUrl: 'http://127.0.0.1:8080' };
  test('the service URL (not a prefix of another host) and its OCI view host', () => {
    expect(localPath('http://higress-plugin-server.higress-system.svc/plugins/a/1/plugin.wasm', addr)).toBe(
      '/plugins/a/1/plugin.wasm',
    );
    expect(localPath('http://higress-plugin-server.higress-system.svc.evil/plugins/a', addr)).toBeUndefined();
    expect(localOci('oci://higress-plugin-server.higress-system.svc/plugins/a:1', addr)).toBe('plugins/a:1');
    expect(serviceHost('http://s.ns.svc:8080/')).toBe('s.ns.svc:8080');
    expect(serviceNamespace('http://s.ns.svc:8080')).toBe('ns');
    expect(serviceNamespace('http://10.0.0.1')).toBeUndefined();
  });
});

test("the Console's versions: spec.yaml versions of the known table, aliases left out, each once", () => {
  expect(consolePluginsOf(INDEX.plugins)).toEqual([
    { name: 'key-auth', version: '1.0.0' },
    { name: 'waf', version: '2.0.0' },
    { name: 'local', version: '1.0.0' },
  ]);
});

test('the diff names each object with the resourceVersion it was planned on, and unset fields', () => {
  const plan: Plan = {
    unchanged: [],
    missing: [],
    objects: [
      {
        object: 'WasmPlugin ns/a',
        kind: 'WasmPlugin',
        namespace: 'ns',
        name: 'a',
        resourceVersion: '7',
        changes: [
          { field: 'spec.url', from: 'oci://x/y:1', to: 'http://s/plugins/y/1/plugin.wasm' },
          { field: 'spec.sha256', to: 'c'.repeat(64) },
        ],
        ops: [],
        record: [],
      },
    ],
  };
  expect(renderDiff(plan).split('\n')).toEqual([
    '--- WasmPlugin ns/a (resourceVersion 7)',
    '-spec.url: oci://x/y:1',
    '+spec.url: http://s/plugins/y/1/plugin.wasm',
    '-spec.sha256: (unset)',
    `+spec.sha256: ${'c'.repeat(64)}`,
  ]);
});

test('dist/adopt-rbac.yaml grants exactly the rules the CLI names', () => {
  const docs = parseAllDocuments(fs.readFileSync(path.join(__dirname, '..', 'dist', 'adopt-rbac.yaml'), 'utf8')).map(
    (d) => d.toJS() as { kind: string; rules?: unknown },
  );
  expect(docs.map((d) => d.kind)).toEqual([
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Role',
    'RoleBinding',
  ]);
  expect(docs[1].rules).toEqual(ADOPT_CLUSTER_RULES);
  expect(docs[3].rules).toEqual(ADOPT_NAMESPACE_RULES);
});
