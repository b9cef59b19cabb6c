/**
 * Pure rules of the air-gapped tools: --registry-map parsing and rewriting (lists, locks, snapshots),
 * the rewritten list of a mirror, which credential helper the docker config names, and which hosts
 * may receive the environment credentials.
 */
import { rewriteListText } from '../src/airgap/rewrite';
import { LockFile } from '../src/inputs/lock';
import { parsePluginList } from '../src/inputs/properties';
import { mapEntries, mapLock, mapReference, parseRegistryMap } from '../src/inputs/registry-map';
import { parseSnapshot } from '../src/inputs/snapshot';
import { sourceText } from '../src/inputs/types';
import { envCredentialsAllowed, helperFor } from '../src/oci/http/credential-helpers';

const PUBLIC = 'higress-registry.cn-hangzhou.cr.aliyuncs.com';
const D = `sha256:${'a'.repeat(64)}`;

describe('--registry-map', () => {
  test('maps a host, keeping repository, tag and digest', () => {
    const map = parseRegistryMap([`${PUBLIC}=harbor.internal:8443/higress`]);
    expect(mapReference({ registry: PUBLIC, repository: 'plugins/ai-proxy', tag: '2.0.0', digest: D }, map)).toEqual({
      registry: 'harbor.internal:8443',
      repository: 'higress/plugins/ai-proxy',
      tag: '2.0.0',
      digest: D,
    });
  });

  test('path prefixes match whole components and the longest source wins', () => {
    const map = parseRegistryMap([
      'reg.example/plugins=mirror.example/all',
      'reg.example/plugins/special=mirror.example/vip',
      'oci://reg.example=other.example',
    ]);
    const m = (repository: string) => {
      const r = mapReference({ registry: 'REG.example', repository, tag: '1' }, map);
      return `${r.registry}/${r.repository}`;
    };
    expect(m('plugins/special/x')).toBe('mirror.example/vip/x');
    expect(m('plugins/key-auth')).toBe('mirror.example/all/key-auth');
    expect(m('pluginsx/key-auth')).toBe('other.example/pluginsx/key-auth');
    expect(mapReference({ registry: 'unrelated.example', repository: 'a', tag: '1' }, map)).toEqual({
      registry: 'unrelated.example',
      repository: 'a',
      tag: '1',
    });
  });

  test('bad values are one clear error each', () => {
    expect(() => parseRegistryMap(['no-equals'])).toThrow(/bad --registry-map "no-equals": no "="/);
    expect(() => parseRegistryMap(['a.example=Bad_Host!'])).toThrow(/"Bad_Host!" is not host\[:port\]\[\/path\]/);
    expect(() => parseRegistryMap(['a.example=b.example', 'A.example=c.example'])).toThrow(
      /maps the same source as "a.example=b.example"/,
    );
    const whole = parseRegistryMap(['a.example/plugins/x=b.example']);
    expect(() => mapReference({ registry: 'a.example', repository: 'plugins/x', tag: '1' }, whole)).toThrow(
      /without a repository path/,
    );
  });

  test('applies to lists, locks and snapshots alike, so their source texts stay comparable', () => {
    const map = parseRegistryMap([`${PUBLIC}=harbor.internal/higress`]);
    const list = parsePluginList(
      `key-auth=oci://${PUBLIC}/plugins/key-auth:1.0.0\nlocal=file:x.wasm@1\n`,
      'plugins.properties',
    );
    const mapped = mapEntries(list.entries, map).map((e) => sourceText(e.source));
    expect(mapped).toEqual(['oci://harbor.internal/higress/plugins/key-auth:1.0.0', 'file:x.wasm']);
    const lock: LockFile = {
      lockVersion: 1,
      plugins: [{ name: 'key-auth', version: '1.0.0', source: `oci://${PUBLIC}/plugins/key-auth:1.0.0`, digest: D }],
    };
    expect(mapLock(lock, map).plugins[0]?.source).toBe(mapped[0]);
    const snapshot = parseSnapshot(
      JSON.stringify({
        schemaVersion: 1,
        plugins: [
          {
            logicalId: 'key-auth',
            version: '1.0.0',
            ociRef: `${PUBLIC}/plugins/key-auth:1.0.0`,
            digest: D,
            consumers: { pluginServer: { httpPath: 'key-auth' } },
          },
        ],
      }),
      'snap.json',
    );
    expect(mapEntries(snapshot.entries, map).map((e) => sourceText(e.source))).toEqual([`${mapped[0]}@${D}`]);
  });
});

test('the rewritten list of a mirror keeps every line but the references', () => {
  const map = parseRegistryMap([`${PUBLIC}=harbor.internal/higress`]);
  const text = `# comment oci://${PUBLIC}/x:1\nkey-auth=oci://${PUBLIC}/plugins/key-auth:1.0.0\n#@alias key-auth 0.9=1.0.0\npinned = oci://${PUBLIC}/plugins/p:2@${D}\nlocal=file:x.wasm@1\n`;
  expect(rewriteListText(text, map)).toBe(
    `# comment oci://${PUBLIC}/x:1\nkey-auth=oci://harbor.internal/higress/plugins/key-auth:1.0.0\n#@alias key-auth 0.9=1.0.0\npinned = oci://harbor.internal/higress/plugins/p:2@${D}\nlocal=file:x.wasm@1\n`,
  );
});

describe('credential helpers and environment credentials', () => {
  test('credHelpers for the host first, then credsStore, keys normalised like docker login writes them', () => {
    const config = {
      credsStore: 'desktop',
      credHelpers: { 'https://harbor.internal/v1/': 'pass', 'gcr.io': 'gcloud' },
    };
    expect(helperFor(config, 'harbor.internal')).toEqual({ name: 'pass', from: 'credHelpers' });
    expect(helperFor(config, 'other.example')).toEqual({ name: 'desktop', from: 'credsStore' });
    expect(helperFor({ auths: {} }, 'other.example')).toBeUndefined();
  });

  test('HIGRESS_REGISTRY_HOSTS limits where HIGRESS_REGISTRY_USERNAME/PASSWORD are sent', () => {
    expect(envCredentialsAllowed('any.example', {})).toBe(true);
    const env = { HIGRESS_REGISTRY_HOSTS: 'harbor.internal, registry.lab:5000' };
    expect(envCredentialsAllowed('harbor.internal', env)).toBe(true);
    expect(envCredentialsAllowed('registry.lab:5000', env)).toBe(true);
    expect(envCredentialsAllowed('registry.lab', env)).toBe(false);
    expect(envCredentialsAllowed(PUBLIC, env)).toBe(false);
  });
});
