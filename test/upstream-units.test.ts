/**
 * The pure parts of `outdated`: which entries are watched against which digest, the newer-tag rule
 * (SemVer precedence, pre-releases only after a pre-release), the gateway's form rules (Istio
 * pkg/wasm and go-containerregistry's platform choice; the real fetcher proves them in
 * upstream-outdated), the tag list's Link pagination, and the aligned report lines.
 */
import { renderLines } from '../src/commands/outdated';
import type { LockFile } from '../src/inputs/lock';
import type { PluginEntry } from '../src/inputs/types';
import { nextLink } from '../src/oci/registry/client';
import type { Descriptor, ImageManifest, IndexManifest } from '../src/oci/registry/media';
import {
  DOCKER_TAR_GZIP,
  gatewayIndexEntry,
  gatewayLoads,
  gatewayRejects,
  OCI_TAR_GZIP,
  WASM_LAYER,
} from '../src/oci/wasm/layers';
import { DriftResult, newerTag, planWatch } from '../src/upstream/outdated';

const D = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const layer = (mediaType: string, n = 1): Descriptor => ({ mediaType, digest: D(n), size: 1 });
const image = (mediaType: string, ...types: string[]): ImageManifest => ({
  kind: 'manifest',
  mediaType,
  layers: types.map((t, i) => layer(t, i + 1)),
});
const OCI = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER = 'application/vnd.docker.distribution.manifest.v2+json';

const entry = (name: string, source: string, digest?: string): PluginEntry => {
  const [, host, repo, tag] = /^oci:\/\/([^/]+)\/(.+):([^:@]+)$/.exec(source)!;
  return {
    name,
    version: tag,
    source: { kind: 'oci', ref: { registry: host, repository: repo, tag, ...(digest ? { digest } : {}) } },
    file: 'list.properties',
    line: 1,
  };
};

describe('planWatch', () => {
  test('the lock wins, a pin counts without one, file: entries are not watched, the rest is unpinned', () => {
    const lock: LockFile = {
      lockVersion: 1,
      plugins: [{ name: 'a', version: '1.0.0', source: 'oci://r/a:1.0.0', digest: D(1) }],
    };
    const local: PluginEntry = {
      name: 'l',
      version: '1.0.0',
      source: { kind: 'file', path: '/x.wasm', written: 'x.wasm' },
      file: 'list.properties',
      line: 3,
    };
    const plan = planWatch(
      [entry('a', 'oci://r/a:1.0.0', D(2)), entry('b', 'oci://r/b:1.0.0', D(3)), entry('c', 'oci://r/c:1.0.0'), local],
      lock,
    );
    expect(plan.watched.map((w) => [w.entry.name, w.pinned])).toEqual([
      ['a', D(1)],
      ['b', D(3)],
    ]);
    expect(plan.unpinned.map((e) => e.name)).toEqual(['c']);
    expect(plan.local).toEqual([local]);
  });
});

describe('newerTag', () => {
  test('the highest release above the current tag, by SemVer precedence, not by text', () => {
    expect(newerTag('1.0.0', ['1.0.0', '1.2.0', '1.10.0', '0.9.0', 'latest', '2.0.0-rc.1'])).toBe('1.10.0');
    expect(newerTag('2.0.0', ['1.0.0', '2.0.0', 'latest'])).toBeUndefined();
    expect(newerTag('v1.0.0', ['v1.0.1', '1.0.2'])).toBe('1.0.2');
  });
  test('pre-releases count only after a pre-release; a tag that is not SemVer has no newer one', () => {
    expect(newerTag('2.0.0-rc.1', ['2.0.0-rc.2', '1.9.0'])).toBe('2.0.0-rc.2');
    expect(newerTag('2.0.0-rc.1', ['2.0.0-rc.2', '2.0.0'])).toBe('2.0.0');
    expect(newerTag('latest', ['1.0.0', '9.9.9'])).toBeUndefined();
    expect(newerTag('20260101', ['20270101'])).toBeUndefined();
  });
});

describe("the gateway's form rules (Istio pkg/wasm)", () => {
  test('loads: Docker image with a Docker tar.gzip last, OCI image with an OCI tar+gzip last, wasm + one other layer', () => {
    expect(gatewayRejects(image(DOCKER, 'x', DOCKER_TAR_GZIP))).toBeUndefined();
    expect(gatewayRejects(image(OCI, OCI_TAR_GZIP))).toBeUndefined();
    expect(gatewayRejects(image(OCI, WASM_LAYER, 'application/vnd.module.wasm.spec.v1+yaml'))).toBeUndefined();
    expect(gatewayRejects(image(OCI, 'text/plain', WASM_LAYER))).toBeUndefined();
  });
  test("refuses, in Istio's words: one or three layers, no wasm layer, a Docker manifest with an OCI layer, no layer", () => {
    expect(gatewayRejects(image(OCI, WASM_LAYER))).toBe(
      `invalid media type ${WASM_LAYER} (expect ${OCI_TAR_GZIP}); number of layers must be 2 but got 1`,
    );
    expect(gatewayRejects(image(OCI, WASM_LAYER, 'a', 'b'))).toMatch(/number of layers must be 2 but got 3$/);
    expect(gatewayRejects(image(OCI, 'a', 'b'))).toMatch(/could not find the layer of type .*wasm$/);
    expect(gatewayRejects(image(DOCKER, OCI_TAR_GZIP))).toBe(
      `invalid media type ${OCI_TAR_GZIP} (expect ${DOCKER_TAR_GZIP})`,
    );
    expect(gatewayRejects(image(OCI))).toBe('number of layers must be greater than zero');
    expect(gatewayLoads(image(OCI, WASM_LAYER))).toBe(false);
  });
  test('an index: the first linux/amd64 entry, an entry without a platform counting as one; no other platform', () => {
    const idx = (...platforms: Array<Descriptor['platform']>): IndexManifest => ({
      kind: 'index',
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: platforms.map((platform, i) => ({ ...layer(OCI, i + 1), ...(platform ? { platform } : {}) })),
    });
    expect(gatewayIndexEntry(idx({ os: 'linux', architecture: 'arm64' }))).toBeUndefined();
    expect(gatewayIndexEntry(idx({ os: 'linux', architecture: 'arm64' }, undefined))?.digest).toBe(D(2));
    expect(
      gatewayIndexEntry(idx({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' }))?.digest,
    ).toBe(D(1));
    expect(gatewayIndexEntry(idx({}))).toBeUndefined();
  });
});

test('the tag list follows rel="next" Link headers only', () => {
  expect(nextLink('</v2/x/tags/list?n=2&last=b>; rel="next"')).toBe('/v2/x/tags/list?n=2&last=b');
  expect(nextLink('<https://r/a>; rel="prev", <https://r/b>; rel=next')).toBe('https://r/b');
  expect(nextLink('<https://r/a>; rel="prev"')).toBeUndefined();
  expect(nextLink(null)).toBeUndefined();
});

test('report lines: status, plugin and source columns aligned; digests short', () => {
  const r = (name: string, status: DriftResult['status'], extra: Partial<DriftResult> = {}): DriftResult => ({
    entry: entry(name, `oci://reg.example/plugins/${name}:1.0.0`),
    source: `oci://reg.example/plugins/${name}:1.0.0`,
    status,
    pinned: D(1),
    digest: D(1),
    ...extra,
  });
  expect(
    renderLines([
      r('a', 'unchanged'),
      r('long-name', 'moved', { digest: D(2) }),
      r('b', 'newer', { newer: '1.1.0' }),
      r('c', 'gone', { digest: undefined, reason: 'tag not found (the repository is there)' }),
    ]),
  ).toEqual([
    `unchanged  a@1.0.0          oci://reg.example/plugins/a:1.0.0          sha256:111111111111`,
    `moved      long-name@1.0.0  oci://reg.example/plugins/long-name:1.0.0  sha256:111111111111 -> sha256:222222222222`,
    `newer      b@1.0.0          oci://reg.example/plugins/b:1.0.0          sha256:111111111111; newer tag 1.1.0`,
    `gone       c@1.0.0          oci://reg.example/plugins/c:1.0.0          tag not found (the repository is there); the lock pins sha256:111111111111`,
  ]);
});
