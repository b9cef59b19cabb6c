/**
 * An OciClient that reads plugins from an OCI layout (a bundle) instead of a registry, so `pull
 * oci-layout:<bundle>` runs the same pipeline offline: the same manifest parsing, platform and layer
 * selection, the same streaming digest checks of every blob (blob.ts), the same wasm checks after.
 * References are found by their ref.name (`host/repository:tag`); metadata.json keeps the original
 * `oci://` source, so the tree is byte-identical to one pulled from the registry.
 */
import * as path from 'path';
import { Readable } from 'stream';
import { Response } from 'undici';
import { IntegrityError } from '../errors';
import { readVerified, streamRawLayer, streamTarLayer, WrittenWasm } from '../oci/blob';
import {
  configMayHaveCreated, CREATED_ANNOTATION, Descriptor, ImageManifest, MAX_CONFIG_BYTES, normaliseCreated, parseManifest,
  selectPlatform, selectSpecLayer, selectWasmLayers,
} from '../oci/media';
import { IdleTimer } from '../oci/transport';
import type { FetchedArtifact, OciClient, OciReference, ResolvedManifest } from '../oci/types';
import { formatReference } from '../oci/types';
import { oversize } from '../oci/verify-stream';
import { MAX_WASM_BYTES, WASM_FILE } from '../tree/format';
import { layoutSource } from './copy';
import { OciLayout } from './layout';

const MAX_SPEC_BYTES = 1024 * 1024;
/** Local reads never stall like a network; the timer only exists because blob.ts touches one. */
const LOCAL_IDLE_MS = 10 * 60_000;

export class LayoutClient implements OciClient {
  private readonly source;

  constructor(private readonly layout: OciLayout, private readonly maxBytes = MAX_WASM_BYTES) {
    this.source = layoutSource(layout);
  }

  /** Nothing pooled: reads open and close their own file handles. */
  async close(): Promise<void> {
    /* nothing to release */
  }

  async resolve(ref: OciReference): Promise<ResolvedManifest> {
    const m = await this.source.manifest(ref);
    return { digest: m.digest, mediaType: m.mediaType };
  }

  async fetch(ref: OciReference, tmpDir: string, opts: { expectDigest?: string } = {}): Promise<FetchedArtifact> {
    const top = await this.source.manifest(ref);
    if (opts.expectDigest && top.digest !== opts.expectDigest) {
      throw new IntegrityError('E_DIGEST_MOVED', `${formatReference(ref)} is ${top.digest} in ${this.layout.location}, expected ${opts.expectDigest}`, { file: this.layout.location },
        'the bundle holds other bytes than the lock file names: bundle again from the locked list');
    }
    const topLabel = this.layout.label(top.digest);
    let image: ImageManifest;
    let imageLabel = topLabel;
    const parsed = parseManifest(top.bytes, top.mediaType, topLabel);
    if (parsed.kind === 'index') {
      const entry = selectPlatform(parsed, topLabel);
      const child = await this.source.manifest({ ...ref, digest: entry.digest }, entry);
      imageLabel = this.layout.label(child.digest);
      const m = parseManifest(child.bytes, child.mediaType, imageLabel);
      if (m.kind !== 'manifest') throw new IntegrityError('E_MANIFEST_NESTED', `index entry ${entry.digest} in ${topLabel} is itself an index`, { file: this.layout.location }, 'bundle a plugin image');
      image = m;
    } else {
      image = parsed;
    }
    const wasmSource = selectWasmLayers(image, imageLabel);
    const dest = path.join(tmpDir, WASM_FILE);
    const wasm = wasmSource.kind === 'raw' ? await this.raw(wasmSource.layer, dest) : await this.tars(wasmSource.layers, dest, imageLabel);
    const specLayer = selectSpecLayer(image);
    const specYaml = specLayer ? (await this.layout.read(specLayer, MAX_SPEC_BYTES)).toString('utf8') : undefined;
    const created = normaliseCreated(image.annotations?.[CREATED_ANNOTATION]) ?? (await this.configCreated(image.config));
    const out: FetchedArtifact = { manifestDigest: top.digest, wasmPath: dest, size: wasm.size, sha256: wasm.sha256 };
    if (created) out.created = created;
    if (specYaml !== undefined) out.specYaml = specYaml;
    return out;
  }

  /** The layout's bytes as the Response blob.ts streams from, with its checks unchanged. */
  private response(desc: Descriptor): Response {
    const stream = this.layout.open(desc.digest);
    return new Response(Readable.toWeb(stream) as unknown as ConstructorParameters<typeof Response>[0], { headers: { 'content-length': String(desc.size) } });
  }

  private async withTimer<T>(fn: (timer: IdleTimer) => Promise<T>): Promise<T> {
    const timer = new IdleTimer(LOCAL_IDLE_MS);
    try {
      return await fn(timer);
    } finally {
      timer.clear();
    }
  }

  private raw(layer: Descriptor, dest: string): Promise<WrittenWasm> {
    const label = this.layout.label(layer.digest);
    if (layer.size > this.maxBytes) throw oversize(label, layer.size, this.maxBytes, 'descriptor says');
    return this.withTimer((timer) => streamRawLayer(this.response(layer), layer, this.maxBytes, label, dest, timer));
  }

  private async tars(layers: Descriptor[], dest: string, imageLabel: string): Promise<WrittenWasm> {
    for (const layer of layers) {
      const label = this.layout.label(layer.digest);
      if (layer.size > this.maxBytes) throw oversize(label, layer.size, this.maxBytes, 'descriptor says');
      const found = await this.withTimer((timer) => streamTarLayer(this.response(layer), layer, this.maxBytes, label, dest, timer));
      if (found) return found;
    }
    throw new IntegrityError('E_ARTIFACT_NO_WASM', `no ${WASM_FILE} in the tar layers of ${imageLabel}`, { file: this.layout.location }, `the image must contain a file named ${WASM_FILE}`);
  }

  private async configCreated(config: Descriptor | undefined): Promise<string | undefined> {
    if (!config || !configMayHaveCreated(config)) return undefined;
    const bytes = await this.withTimer((timer) => readVerified(this.response(config), config, MAX_CONFIG_BYTES, this.layout.label(config.digest), timer));
    try {
      return normaliseCreated((JSON.parse(bytes.toString('utf8')) as { created?: unknown }).created);
    } catch {
      return undefined;
    }
  }
}
