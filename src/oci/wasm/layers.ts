/**
 * What a Higress Wasm plugin looks like inside an OCI image, as the gateway (and Istio's pkg/wasm)
 * reads it: which platform of an index, which layer holds the module, where spec.yaml is. Pure.
 */
import { IntegrityError, RegistryError, safeText } from '../../errors';
import { DOCKER_MANIFEST } from '../registry/media';
import type { Descriptor, ImageManifest, IndexManifest } from '../registry/media';

export const WASM_LAYER = 'application/vnd.module.wasm.content.layer.v1+wasm';
export const DOCKER_TAR_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const OCI_TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** Higress plugin releases push their spec.yaml with this type (and oras adds a title annotation). */
export const HIGRESS_SPEC_LAYER = 'application/vnd.module.wasm.spec.v1+yaml';
export const TITLE_ANNOTATION = 'org.opencontainers.image.title';
/** The file a tar layer must hold, and the name the fetched module gets in the caller's folder. */
export const WASM_ENTRY = 'plugin.wasm';

/** The gateway runs linux/amd64; an index with a single entry is taken as is (plugins are arch-neutral). */
export function selectPlatform(index: IndexManifest, url: string): Descriptor {
  const entries = index.manifests.filter((d) => d.platform?.os !== 'unknown'); // skip attestation manifests
  const amd64 = entries.find((d) => d.platform?.os === 'linux' && d.platform?.architecture === 'amd64');
  if (amd64) return amd64;
  if (entries.length === 1) return entries[0];
  const seen = entries.map((d) => `${d.platform?.os ?? '?'}/${d.platform?.architecture ?? '?'}`).join(', ');
  throw new RegistryError({
    code: 'E_MANIFEST_PLATFORM',
    message: `index at ${url} has no linux/amd64 entry (has ${seen || 'nothing'})`,
    context: { url },
    hint: 'pin the reference to one manifest digest or push a linux/amd64 entry',
  });
}

export type WasmSource = { kind: 'raw'; layer: Descriptor } | { kind: 'tar'; layers: Descriptor[] };

/**
 * Which layer(s) may hold the wasm: a raw wasm layer wins; otherwise the tar+gzip layers, last first
 * (in a Docker image the last layer is the one that adds plugin.wasm).
 */
export function selectWasmLayers(manifest: ImageManifest, url: string): WasmSource {
  const raw = manifest.layers.find((l) => l.mediaType === WASM_LAYER);
  if (raw) return { kind: 'raw', layer: raw };
  const tars = manifest.layers.filter((l) => l.mediaType === DOCKER_TAR_GZIP || l.mediaType === OCI_TAR_GZIP).reverse();
  if (tars.length) return { kind: 'tar', layers: tars };
  // Media types are the registry's strings: escaped and cut, whatever they hold.
  const types = [...new Set(manifest.layers.map((l) => safeText(String(l.mediaType), 120)))].join(', ');
  throw new IntegrityError({
    code: 'E_ARTIFACT_NO_WASM',
    message: `no Wasm layer in ${url} (layer types: ${types || 'none'})`,
    context: { url },
    hint: `push the plugin with a ${WASM_LAYER} layer or a tar+gzip layer holding plugin.wasm`,
  });
}

/** A Higress release's spec.yaml layer, by media type or by its file-name annotation. */
export function selectSpecLayer(manifest: ImageManifest): Descriptor | undefined {
  return (
    manifest.layers.find((l) => l.mediaType === HIGRESS_SPEC_LAYER) ??
    manifest.layers.find((l) => l.annotations?.[TITLE_ANNOTATION] === 'spec.yaml')
  );
}

/**
 * Why Istio's pkg/wasm (the gateway's fetcher, pkg/wasm/imagefetcher.go) refuses an image manifest
 * in this form, in its own words, or undefined when it loads it: a Docker manifest whose last layer
 * is a Docker tar.gzip, an OCI one whose last layer is an OCI tar+gzip (the "compat" variant), or the
 * Wasm artifact form with exactly two layers, one of them the raw wasm (the "oci" variant). One raw
 * layer (what `oras push plugin.wasm` makes) or wasm + spec.yaml + README fail there with "number of
 * layers must be 2", from any registry.
 */
export function gatewayRejects(manifest: ImageManifest): string | undefined {
  const layers = manifest.layers;
  const last = layers[layers.length - 1]?.mediaType;
  const shown = (t: string | undefined) => safeText(String(t), 120);
  if (!layers.length) return 'number of layers must be greater than zero';
  if (manifest.mediaType === DOCKER_MANIFEST)
    return last === DOCKER_TAR_GZIP ? undefined : `invalid media type ${shown(last)} (expect ${DOCKER_TAR_GZIP})`;
  if (last === OCI_TAR_GZIP) return undefined;
  const compat = `invalid media type ${shown(last)} (expect ${OCI_TAR_GZIP})`;
  if (layers.length !== 2) return `${compat}; number of layers must be 2 but got ${layers.length}`;
  if (!layers.some((l) => l.mediaType === WASM_LAYER))
    return `${compat}; could not find the layer of type ${WASM_LAYER}`;
  return undefined;
}

/** Whether the gateway's fetcher loads an image manifest in this form (see gatewayRejects). */
export function gatewayLoads(manifest: ImageManifest): boolean {
  return gatewayRejects(manifest) === undefined;
}

/**
 * The entry of an index the gateway's fetcher takes (go-containerregistry's image-by-platform under
 * Istio): the first whose platform is linux/amd64, an entry without a platform counting as
 * linux/amd64; undefined when there is none ("no child with platform linux/amd64"). Unlike
 * selectPlatform, a single entry of another platform is not taken.
 */
export function gatewayIndexEntry(index: IndexManifest): Descriptor | undefined {
  return index.manifests.find((d) => {
    const p = d.platform ?? { os: 'linux', architecture: 'amd64' };
    return p.os === 'linux' && p.architecture === 'amd64';
  });
}
