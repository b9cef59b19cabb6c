/**
 * Fetching a Higress Wasm plugin from an OCI registry, on top of the generic RegistryClient (as Istio's
 * pkg/wasm sits on a generic OCI client): pick the platform of an index, pick the layer(s) that may
 * hold the module, stream it to the caller's folder (unpacking tar layers), and read the side facts
 * the tree records: spec.yaml and the creation time.
 */
import * as path from 'path';
import { IntegrityError } from '../../errors';
import type { FetchedArtifact, FetchOptions, OciReference } from '../types';
import { formatReference } from '../types';
import type { FetchedManifest, RegistryClient } from '../registry/client';
import type { Descriptor, ImageManifest, Manifest } from '../registry/media';
import { configMayHaveCreated, CREATED_ANNOTATION, MAX_CONFIG_BYTES, normaliseCreated } from './created';
import { extractTarLayer, writeRawLayer, WrittenWasm } from './extract';
import { selectPlatform, selectSpecLayer, selectWasmLayers, WASM_ENTRY } from './layers';
import { keepOriginal } from './original';

/** spec.yaml is a short YAML document; refuse anything that is clearly not one. */
const MAX_SPEC_BYTES = 1024 * 1024;

export interface WasmFetchOptions {
  /** The top-level manifest must have this digest (lock files, pinned references). */
  expectDigest?: string;
  signal?: AbortSignal;
}

/** Where the artifact is read from: a registry, or an OCI layout (layout/store.ts) with the same checks. */
export type ArtifactStore = Pick<RegistryClient, 'manifest' | 'readBlob' | 'streamBlob'>;

export class WasmArtifactFetcher {
  /** `maxBytes`: the largest module (and layer) accepted; the caller owns that limit. */
  constructor(
    private readonly registry: ArtifactStore,
    private readonly maxBytes: number,
  ) {}

  /** Downloads the wasm of `ref` into `dir` (as plugin.wasm), with every manifest and blob verified. */
  async fetch(ref: OciReference, dir: string, opts: FetchOptions = {}): Promise<FetchedArtifact> {
    const { signal } = opts;
    const top = await this.registry.manifest(ref, ref.digest ?? ref.tag ?? 'latest', signal);
    if (opts.expectDigest && top.digest !== opts.expectDigest) {
      throw new IntegrityError({
        code: 'E_DIGEST_MOVED',
        message: `${formatReference(ref)} now resolves to ${top.digest}, expected ${opts.expectDigest}`,
        context: { url: top.url },
        hint: 'the tag moved: review the change, then pull again with --lock to update the lock file',
      });
    }
    const { image, url: imageUrl, child } = await this.image(ref, top.manifest, top.url, signal);
    const source = selectWasmLayers(image, imageUrl);
    const dest = path.join(dir, WASM_ENTRY);
    const annotated = normaliseCreated(image.annotations?.[CREATED_ANNOTATION]);
    // The small side blobs download while the wasm streams.
    const [wasm, specYaml, configCreated] = await Promise.all([
      source.kind === 'raw'
        ? this.rawLayer(ref, source.layer, dest, signal)
        : this.tarLayers(ref, source.layers, dest, imageUrl, signal),
      this.specYaml(ref, image, signal),
      annotated ? Promise.resolve(undefined) : this.configCreated(ref, image.config, signal),
    ]);
    const created = annotated ?? configCreated;
    const out: FetchedArtifact = { manifestDigest: top.digest, wasmPath: dest, size: wasm.size, sha256: wasm.sha256 };
    if (created) out.created = created;
    if (specYaml !== undefined) out.specYaml = specYaml;
    if (opts.keepOriginal && source.kind === 'raw') {
      // The stored plugin.wasm is this layer unchanged: the source's manifest can be served as is.
      const known = specYaml === undefined ? [] : [Buffer.from(specYaml, 'utf8')];
      const original = await keepOriginal(
        this.registry,
        ref,
        child ? [top, child] : [top],
        image,
        source.layer,
        dir,
        known,
        signal,
      );
      if (original) out.original = original;
    }
    return out;
  }

  /** The image manifest itself, or the linux/amd64 entry of an index. */
  private async image(
    ref: OciReference,
    top: Manifest,
    url: string,
    signal?: AbortSignal,
  ): Promise<{ image: ImageManifest; url: string; child?: FetchedManifest }> {
    if (top.kind === 'manifest') return { image: top, url };
    const entry = selectPlatform(top, url);
    const child = await this.registry.manifest(ref, entry.digest, signal, entry);
    if (child.manifest.kind !== 'manifest') {
      throw new IntegrityError({
        code: 'E_MANIFEST_NESTED',
        message: `index entry ${entry.digest} in ${url} is itself an index`,
        context: { url: child.url },
        hint: 'point the reference at a plugin image',
      });
    }
    return { image: child.manifest, url: child.url, child };
  }

  private async rawLayer(
    ref: OciReference,
    layer: Descriptor,
    dest: string,
    signal?: AbortSignal,
  ): Promise<WrittenWasm> {
    await this.registry.streamBlob(ref, layer, this.maxBytes, (verified) => writeRawLayer(verified, dest), signal);
    return { size: layer.size, sha256: layer.digest.slice('sha256:'.length) };
  }

  private async tarLayers(
    ref: OciReference,
    layers: Descriptor[],
    dest: string,
    manifestUrl: string,
    signal?: AbortSignal,
  ): Promise<WrittenWasm> {
    for (const layer of layers) {
      const found = await this.registry.streamBlob(
        ref,
        layer,
        this.maxBytes,
        (verified, url) => extractTarLayer(verified, this.maxBytes, url, dest),
        signal,
      );
      if (found) return found;
    }
    throw new IntegrityError({
      code: 'E_ARTIFACT_NO_WASM',
      message: `no ${WASM_ENTRY} in the tar layers of ${manifestUrl}`,
      context: { url: manifestUrl },
      hint: `the image must contain a file named ${WASM_ENTRY}`,
    });
  }

  private async specYaml(ref: OciReference, image: ImageManifest, signal?: AbortSignal): Promise<string | undefined> {
    const layer = selectSpecLayer(image);
    if (!layer) return undefined;
    return (await this.registry.readBlob(ref, layer, MAX_SPEC_BYTES, signal)).toString('utf8');
  }

  /** `created` of an image config; a config that is not JSON simply has none. */
  private async configCreated(
    ref: OciReference,
    config: Descriptor | undefined,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    if (!config || !configMayHaveCreated(config)) return undefined;
    const bytes = await this.registry.readBlob(ref, config, MAX_CONFIG_BYTES, signal);
    try {
      return normaliseCreated((JSON.parse(bytes.toString('utf8')) as { created?: unknown }).created);
    } catch {
      return undefined;
    }
  }
}
