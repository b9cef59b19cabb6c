/**
 * The OCI client against a real registry (distribution v2.8) with real compiled wasm payloads:
 * every artifact format, index selection, nested repositories, spec.yaml, created, and resolve.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createOciClient } from '../src/oci/client';
import type { OciClient } from '../src/oci/types';
import {
  pushDockerImage,
  pushIndex,
  pushOciImage,
  pushWasmArtifact,
  Registry,
  sha256,
  startRegistry,
} from './support/registry';
import { largeWasm, smallWasm } from './support/wasm';

let reg: Registry;
let small: Buffer;
let large: Buffer;
let tmp: string;
let client: OciClient & { close(): Promise<void> };
const requests: Array<{ kind: string; url: string }> = [];

beforeAll(async () => {
  [reg, small] = await Promise.all([startRegistry(), smallWasm().then((p) => fs.readFileSync(p))]);
  large = fs.readFileSync(largeWasm());
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-client-'));
  client = createOciClient({ onRequest: (kind, url) => requests.push({ kind, url }) });
});

afterAll(async () => {
  await client?.close();
  await reg?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function freshDir(): string {
  return fs.mkdtempSync(path.join(tmp, 'pull-'));
}

const hex = (b: Buffer) => sha256(b).slice(7);

describe('formats', () => {
  test('OCI artifact with a raw wasm layer, spec.yaml layer and created annotation', async () => {
    const spec =
      'apiVersion: 1.0.0\ninfo:\n  name: key-auth\n  version: 1.0.0\nspec:\n  phase: AUTHN\n  priority: 321\n';
    const pushed = await pushWasmArtifact(reg, 'plugins/key-auth', '2.0.0', small, {
      specYaml: spec,
      annotations: { 'org.opencontainers.image.created': '2024-05-06T07:08:09Z' },
      extraLayers: [
        { data: Buffer.from('# readme'), mediaType: 'application/vnd.module.wasm.doc.v1+markdown', title: 'README.md' },
      ],
    });
    const dir = freshDir();
    const got = await client.fetch(pushed.ref, dir);
    expect(got).toEqual({
      manifestDigest: pushed.manifestDigest,
      wasmPath: path.join(dir, 'plugin.wasm'),
      size: small.length,
      sha256: hex(small),
      created: '2024-05-06T07:08:09Z',
      specYaml: spec,
    });
    expect(fs.readFileSync(got.wasmPath).equals(small)).toBe(true);
  });

  test('spec.yaml recognised by its title annotation alone', async () => {
    const pushed = await pushWasmArtifact(reg, 'plugins/titled', '1.0.0', small, {
      specYaml: 'info:\n  version: 9.9.9\n',
      specBy: 'title',
    });
    const got = await client.fetch(pushed.ref, freshDir());
    expect(got.specYaml).toBe('info:\n  version: 9.9.9\n');
    expect(got.created).toBeUndefined();
  });

  test('large real module (esbuild.wasm, ~12 MB) streams to disk intact', async () => {
    const pushed = await pushWasmArtifact(reg, 'plugins/ai-proxy', '2.0.0', large);
    const got = await client.fetch(pushed.ref, freshDir());
    expect(got.size).toBe(large.length);
    expect(got.sha256).toBe(hex(large));
    expect(hex(fs.readFileSync(got.wasmPath))).toBe(hex(large));
  });

  test('Docker v2 image with a tar+gzip layer holding plugin.wasm; created from the config', async () => {
    const pushed = await pushDockerImage(reg, 'plugins/docker-style', '1.0.0', small, {
      created: '2023-01-02T03:04:05.123456789Z',
    });
    const got = await client.fetch(pushed.ref, freshDir());
    expect(got.sha256).toBe(hex(small));
    expect(got.size).toBe(small.length);
    expect(got.manifestDigest).toBe(pushed.manifestDigest);
    expect(got.created).toBe('2023-01-02T03:04:05.123Z');
    expect(fs.readFileSync(got.wasmPath).equals(small)).toBe(true);
  });

  test('OCI image with a tar+gzip layer, plugin.wasm in a sub-folder next to other files', async () => {
    const pushed = await pushOciImage(reg, 'plugins/oci-image', '1.0.0', large, {
      files: { 'README.md': Buffer.from('hi'), 'out/plugin.wasm': large, 'runtime-config.json': Buffer.from('{}') },
    });
    const got = await client.fetch(pushed.ref, freshDir());
    expect(got.sha256).toBe(hex(large));
    expect(got.created).toBeUndefined();
  });

  test.each(['oci', 'docker'] as const)('%s index: picks linux/amd64, reports the index digest', async (kind) => {
    const pushed = await pushIndex(reg, `plugins/multi-${kind}`, '1.0.0', { amd64: small, arm64: large }, kind);
    const got = await client.fetch(pushed.ref, freshDir());
    expect(got.manifestDigest).toBe(pushed.indexDigest);
    expect(got.sha256).toBe(hex(small));
  });

  test('index with a single (non-amd64) entry uses that entry', async () => {
    const pushed = await pushIndex(reg, 'plugins/single-entry', '1.0.0', { amd64: null, arm64: small }, 'oci');
    const got = await client.fetch(pushed.ref, freshDir());
    expect(got.sha256).toBe(hex(small));
  });

  test('nested repository path, served name different from the repository', async () => {
    const pushed = await pushWasmArtifact(reg, 'mcp-server/all-in-one', '2.0.0', small);
    expect(pushed.ref.repository).toBe('mcp-server/all-in-one');
    const got = await client.fetch(pushed.ref, freshDir());
    expect(got.sha256).toBe(hex(small));
  });

  test('a pinned reference (tag@digest) fetches by digest', async () => {
    const pushed = await pushWasmArtifact(reg, 'plugins/pinned', '1.0.0', small);
    await pushWasmArtifact(reg, 'plugins/pinned', '1.0.0', large); // the tag moves on
    const got = await client.fetch({ ...pushed.ref, digest: pushed.manifestDigest }, freshDir());
    expect(got.sha256).toBe(hex(small));
    await expect(client.fetch(pushed.ref, freshDir(), { expectDigest: pushed.manifestDigest })).rejects.toMatchObject({
      name: 'IntegrityError',
      code: 'E_DIGEST_MOVED',
    });
  });
});

describe('resolve', () => {
  test('returns the manifest digest with manifest requests only', async () => {
    const pushed = await pushWasmArtifact(reg, 'plugins/resolve-me', '2.0.0', large);
    requests.length = 0;
    const r = await client.resolve(pushed.ref);
    expect(r).toEqual({ digest: pushed.manifestDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((q) => q.kind === 'manifest')).toBe(true);
  });

  test('of an index returns the index digest', async () => {
    const pushed = await pushIndex(reg, 'plugins/resolve-index', '1.0.0', { amd64: small, arm64: small }, 'docker');
    const r = await client.resolve(pushed.ref);
    expect(r).toEqual({
      digest: pushed.indexDigest,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
    });
  });

  test('a missing tag is a 404 RegistryError with a hint', async () => {
    const err = await client.resolve(reg.ref('plugins/key-auth', 'no-such-tag')).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'RegistryError', code: 'E_REGISTRY_NOT_FOUND', transient: false });
    expect((err as Error & { toLine(): string }).toLine()).toMatch(
      /not found \(404\).*plugins\/key-auth\/manifests\/no-such-tag.*check the repository and tag/,
    );
  });
});
