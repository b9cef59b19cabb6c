/**
 * A small OCI image layout (image-spec image-layout.md: oci-layout, index.json, blobs/sha256/*) written
 * by hand, so unit tests can pull with no registry: createLayoutClient (src/oci/client.ts) serves it
 * with the checks of a registry pull (digests, sizes, platform, layer choice). The payloads are real
 * Wasm modules; the image forms are the ones registries hold:
 *   artifact  a raw wasm layer and a spec.yaml layer (Higress releases): the OCI view keeps it as is;
 *   single    one raw wasm layer (`oras push plugin.wasm`): the gateway cannot load that form, so the
 *             view serves a generated image instead;
 *   tar       an image whose tar+gzip layer holds plugin.wasm; its time is in the config, not an annotation.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import type { PluginEntry } from '../../src/inputs/types';

export const LAYOUT_REGISTRY = 'registry.example.test';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const WASM_LAYER = 'application/vnd.module.wasm.content.layer.v1+wasm';
const SPEC_LAYER = 'application/vnd.module.wasm.spec.v1+yaml';
const TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface LayoutImage {
  /** Repository under LAYOUT_REGISTRY, e.g. `plugins/add-header`. */
  repository: string;
  tag: string;
  wasm: Buffer;
  form: 'artifact' | 'single' | 'tar';
  /** spec.yaml text (artifact form only). */
  specYaml?: string;
  /** RFC 3339; a manifest annotation, or the config's `created` for the tar form. */
  created?: string;
}

export interface WrittenImage {
  manifestDigest: string;
  /** Digest of the layer holding the wasm (the raw layer, or the tar+gzip). */
  wasmLayer: string;
}

function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * A ustar header of a regular file. `size` is the member's size, or the raw 12-byte size field as a
 * string, so a test can write a header that lies (a claim the bytes do not back, base-256, garbage).
 */
export function ustarHeader(name: string, size: number | string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 8, 'ascii');
  h.write('0000000\0', 108, 8, 'ascii');
  h.write('0000000\0', 116, 8, 'ascii');
  h.write(typeof size === 'number' ? `${size.toString(8).padStart(11, '0')}\0` : size, 124, 12, 'ascii');
  h.write('00000000000\0', 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** One ustar member `name` holding `data`, then the end-of-archive blocks. */
function tarOf(name: string, data: Buffer): Buffer {
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([ustarHeader(name, data.length), data, pad, Buffer.alloc(1024)]);
}

/** Writes `images` as a layout at `dir` (created); returns each image's digests by `repository:tag`. */
export function writeOciLayout(dir: string, images: LayoutImage[]): Map<string, WrittenImage> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (bytes: Buffer, mediaType: string, annotations?: Record<string, string>) => {
    const digest = digestOf(bytes);
    fs.writeFileSync(path.join(blobs, digest.slice('sha256:'.length)), bytes);
    return { mediaType, digest, size: bytes.length, ...(annotations ? { annotations } : {}) };
  };
  const index: object[] = [];
  const out = new Map<string, WrittenImage>();
  for (const img of images) {
    const config = put(
      Buffer.from(
        JSON.stringify({
          ...(img.form === 'tar' && img.created ? { created: img.created } : {}),
          architecture: 'amd64',
          os: 'linux',
          config: {},
          rootfs: { type: 'layers', diff_ids: [] },
        }),
      ),
      OCI_CONFIG,
    );
    const layers =
      img.form === 'tar'
        ? [put(zlib.gzipSync(tarOf('plugin.wasm', img.wasm)), TAR_GZIP)]
        : [
            put(img.wasm, WASM_LAYER, { 'org.opencontainers.image.title': 'plugin.wasm' }),
            ...(img.form === 'artifact' ? [put(Buffer.from(img.specYaml ?? 'info:\n  name: demo\n'), SPEC_LAYER)] : []),
          ];
    const annotations =
      img.form !== 'tar' && img.created ? { annotations: { 'org.opencontainers.image.created': img.created } } : {};
    const manifest = put(
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers, ...annotations })),
      OCI_MANIFEST,
      { 'org.opencontainers.image.ref.name': `${LAYOUT_REGISTRY}/${img.repository}:${img.tag}` },
    );
    index.push(manifest);
    out.set(`${img.repository}:${img.tag}`, { manifestDigest: manifest.digest, wasmLayer: layers[0].digest });
  }
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: index }, null, 2),
  );
  return out;
}

/** A list entry serving `repository:tag` of the layout as `name`/`version` (the tag by default). */
export function layoutEntry(name: string, repository: string, tag: string, version = tag): PluginEntry {
  return {
    name,
    version,
    source: { kind: 'oci', ref: { registry: LAYOUT_REGISTRY, repository, tag } },
    file: 'plugins.properties',
    line: 1,
  };
}

/** A list entry serving a local file (`file:` source). */
export function fileEntry(name: string, version: string, file: string): PluginEntry {
  return {
    name,
    version,
    source: { kind: 'file', path: file, written: path.basename(file) },
    file: 'plugins.properties',
    line: 2,
  };
}
