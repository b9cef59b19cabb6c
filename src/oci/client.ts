/**
 * The OCI Distribution (v2 API) client the pull orchestration uses: resolve a reference to its
 * manifest digest with manifest requests only, or fetch its wasm into a temp folder with every
 * manifest and blob checked against its sha256. See media.ts for the format rules, transport.ts for
 * HTTP/retries/timeouts, auth.ts and credentials.ts for authentication.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { MAX_WASM_BYTES, WASM_FILE } from '../tree/format';
import { IntegrityError } from '../errors';
import { AuthManager } from './auth';
import { readLimited, readVerified, streamRawLayer, streamTarLayer, WrittenWasm } from './blob';
import { CredentialStore, defaultDockerConfigPath } from './credentials';
import { blobUrl, manifestUrl, pullScope } from './endpoint';
import {
  configMayHaveCreated, CREATED_ANNOTATION, Descriptor, DIGEST_RE, ImageManifest, MANIFEST_ACCEPT, MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES, Manifest, normaliseCreated, parseManifest, selectPlatform, selectSpecLayer, selectWasmLayers,
} from './media';
import { Transport } from './transport';
import type { FetchedArtifact, FetchOptions, OciClient, OciClientOptions, OciReference, ResolvedManifest } from './types';
import { formatReference } from './types';
import { digestMismatch, oversize } from './verify-stream';

/** spec.yaml is a short YAML document; refuse anything that is clearly not one. */
const MAX_SPEC_BYTES = 1024 * 1024;

interface FetchedManifest {
  digest: string;
  manifest: Manifest;
  url: string;
  bytes: Buffer;
}

/** Side blobs (config, spec.yaml, README, icon) kept with an original manifest; bigger ones are not kept. */
const MAX_SIDE_BLOB_BYTES = 4 * 1024 * 1024;
/** The `{}` config most Wasm artifacts carry: known bytes, no request. */
const EMPTY_JSON_DIGEST = `sha256:${createHash('sha256').update('{}').digest('hex')}`;

class DistributionClient implements OciClient {
  private readonly transport: Transport;
  private readonly insecure: string[];
  private readonly maxBytes: number;

  constructor(opts: OciClientOptions) {
    this.insecure = opts.insecureHosts ?? [];
    this.maxBytes = opts.maxBytes ?? MAX_WASM_BYTES;
    this.transport = new Transport({
      timeoutMs: opts.timeoutMs ?? 30_000,
      retries: Math.max(1, opts.retries ?? 4),
      retryBaseMs: opts.retryBaseMs ?? 250,
      onRequest: opts.onRequest,
    });
    const creds = new CredentialStore(opts.dockerConfigPath ?? defaultDockerConfigPath());
    this.transport.auth = new AuthManager(creds, this.insecure, this.transport.tokenFetch);
  }

  async resolve(ref: OciReference, signal?: AbortSignal): Promise<ResolvedManifest> {
    const url = manifestUrl(ref, this.insecure);
    const head = await this.transport.retrying(url, signal, async (timer) => {
      const res = await this.transport.send('manifest', 'HEAD', url, ref.registry, pullScope(ref), timer, MANIFEST_ACCEPT);
      return { digest: res.headers.get('docker-content-digest'), mediaType: contentType(res.headers.get('content-type')) };
    });
    if (head.digest && DIGEST_RE.test(head.digest)) {
      if (ref.digest && head.digest !== ref.digest) throw digestMismatch(url, ref.digest, head.digest);
      return { digest: head.digest, mediaType: head.mediaType };
    }
    // Registries need not send Docker-Content-Digest: hash the manifest ourselves.
    const got = await this.getManifest(ref, ref.digest ?? ref.tag ?? 'latest', signal);
    return { digest: got.digest, mediaType: got.manifest.mediaType };
  }

  async fetch(ref: OciReference, tmpDir: string, opts: FetchOptions = {}): Promise<FetchedArtifact> {
    const { signal } = opts;
    const top = await this.getManifest(ref, ref.digest ?? ref.tag ?? 'latest', signal);
    if (opts.expectDigest && top.digest !== opts.expectDigest) {
      throw new IntegrityError('E_DIGEST_MOVED', `${formatReference(ref)} now resolves to ${top.digest}, expected ${opts.expectDigest}`, { url: top.url },
        'the tag moved: review the change, then pull again with --lock to update the lock file');
    }
    let image: ImageManifest;
    let imageUrl = top.url;
    const chain = [top];
    if (top.manifest.kind === 'index') {
      const entry = selectPlatform(top.manifest, top.url);
      const child = await this.getManifest(ref, entry.digest, signal, entry);
      if (child.manifest.kind !== 'manifest') throw new IntegrityError('E_MANIFEST_NESTED', `index entry ${entry.digest} in ${top.url} is itself an index`, { url: child.url }, 'point the reference at a plugin image');
      image = child.manifest;
      imageUrl = child.url;
      chain.push(child);
    } else {
      image = top.manifest;
    }
    const source = selectWasmLayers(image, imageUrl);
    const dest = path.join(tmpDir, WASM_FILE);
    // The small side blobs download while the wasm streams.
    const [wasm, specYaml, configCreated] = await Promise.all([
      source.kind === 'raw' ? this.rawLayer(ref, source.layer, dest, signal) : this.tarLayers(ref, source.layers, dest, imageUrl, signal),
      this.specYaml(ref, image, signal),
      normaliseCreated(image.annotations?.[CREATED_ANNOTATION]) ? Promise.resolve(undefined) : this.configCreated(ref, image.config, signal),
    ]);
    const created = normaliseCreated(image.annotations?.[CREATED_ANNOTATION]) ?? configCreated;
    const out: FetchedArtifact = { manifestDigest: top.digest, wasmPath: dest, size: wasm.size, sha256: wasm.sha256 };
    if (created) out.created = created;
    if (specYaml !== undefined) out.specYaml = specYaml;
    if (source.kind === 'raw' && opts.keepOriginal?.(chain[chain.length - 1].bytes)) {
      const known = new Map([[EMPTY_JSON_DIGEST, Buffer.from('{}')]]);
      const spec = selectSpecLayer(image);
      if (spec && specYaml !== undefined) known.set(spec.digest, Buffer.from(specYaml, 'utf8'));
      const original = await this.original(ref, chain, image, source.layer, tmpDir, known, signal);
      if (original) out.original = original;
    }
    return out;
  }

  /** Best effort: without every side blob the plugin is still served, under a generated manifest. */
  /** `known`: bytes already in hand (the `{}` config, the spec.yaml read above), used when they hash right. */
  private async original(ref: OciReference, chain: FetchedManifest[], image: ImageManifest, wasm: Descriptor, tmpDir: string, known: Map<string, Buffer>, signal?: AbortSignal): Promise<FetchedArtifact['original']> {
    const side = [...(image.config ? [image.config] : []), ...image.layers.filter((l) => l.digest !== wasm.digest)];
    if (side.some((d) => d.size > MAX_SIDE_BLOB_BYTES)) return undefined;
    try {
      const blobs = await Promise.all([...new Map(side.map((d) => [d.digest, d])).values()].map(async (d) => {
        const file = path.join(tmpDir, `side-${d.digest.slice(7)}`);
        const have = known.get(d.digest);
        const ok = have && have.length === d.size && `sha256:${createHash('sha256').update(have).digest('hex')}` === d.digest;
        await fs.promises.writeFile(file, ok ? have : await this.smallBlob(ref, d, MAX_SIDE_BLOB_BYTES, signal));
        return { digest: d.digest, size: d.size, path: file };
      }));
      return { manifests: chain.map((m) => ({ digest: m.digest, mediaType: m.manifest.mediaType, bytes: m.bytes })), blobs, wasmLayer: wasm.digest };
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /**
   * GETs a manifest and checks its sha256 against everything that names it: the requested digest, the
   * index descriptor (size too), and the registry's Docker-Content-Digest header.
   */
  private async getManifest(ref: OciReference, reference: string, signal: AbortSignal | undefined, descriptor?: Descriptor): Promise<FetchedManifest> {
    const url = manifestUrl({ ...ref, digest: DIGEST_RE.test(reference) ? reference : undefined, tag: reference }, this.insecure);
    return this.transport.retrying(url, signal, async (timer) => {
      const res = await this.transport.send('manifest', 'GET', url, ref.registry, pullScope(ref), timer, MANIFEST_ACCEPT);
      const bytes = descriptor
        ? await readVerified(res, descriptor, MAX_MANIFEST_BYTES, url, timer)
        : await readLimited(res, MAX_MANIFEST_BYTES, url, timer);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (DIGEST_RE.test(reference) && digest !== reference) throw digestMismatch(url, reference, digest);
      const header = res.headers.get('docker-content-digest');
      if (header && DIGEST_RE.test(header) && header !== digest) throw digestMismatch(url, header, digest);
      return { digest, manifest: parseManifest(bytes, res.headers.get('content-type'), url), url, bytes };
    });
  }

  private rawLayer(ref: OciReference, layer: Descriptor, dest: string, signal?: AbortSignal): Promise<WrittenWasm> {
    const url = blobUrl(ref, layer.digest, this.insecure);
    // Refuse before the request: an oversize descriptor never costs a download.
    if (layer.size > this.maxBytes) throw oversize(url, layer.size, this.maxBytes, 'descriptor says');
    return this.transport.retrying(url, signal, async (timer) => {
      const res = await this.transport.send('blob', 'GET', url, ref.registry, pullScope(ref), timer);
      return streamRawLayer(res, layer, this.maxBytes, url, dest, timer);
    });
  }

  private async tarLayers(ref: OciReference, layers: Descriptor[], dest: string, manifestUrl: string, signal?: AbortSignal): Promise<WrittenWasm> {
    for (const layer of layers) {
      const url = blobUrl(ref, layer.digest, this.insecure);
      if (layer.size > this.maxBytes) throw oversize(url, layer.size, this.maxBytes, 'descriptor says');
      const found = await this.transport.retrying(url, signal, async (timer) => {
        const res = await this.transport.send('blob', 'GET', url, ref.registry, pullScope(ref), timer);
        return streamTarLayer(res, layer, this.maxBytes, url, dest, timer);
      });
      if (found) return found;
    }
    throw new IntegrityError('E_ARTIFACT_NO_WASM', `no ${WASM_FILE} in the tar layers of ${manifestUrl}`, { url: manifestUrl },
      `the image must contain a file named ${WASM_FILE}`);
  }

  private async smallBlob(ref: OciReference, desc: Descriptor, limit: number, signal?: AbortSignal): Promise<Buffer> {
    const url = blobUrl(ref, desc.digest, this.insecure);
    return this.transport.retrying(url, signal, async (timer) => {
      const res = await this.transport.send('blob', 'GET', url, ref.registry, pullScope(ref), timer);
      return readVerified(res, desc, limit, url, timer);
    });
  }

  private async specYaml(ref: OciReference, image: ImageManifest, signal?: AbortSignal): Promise<string | undefined> {
    const layer = selectSpecLayer(image);
    if (!layer) return undefined;
    return (await this.smallBlob(ref, layer, MAX_SPEC_BYTES, signal)).toString('utf8');
  }

  /** `created` of an image config; a config that is not JSON simply has none. */
  private async configCreated(ref: OciReference, config: Descriptor | undefined, signal?: AbortSignal): Promise<string | undefined> {
    if (!config || !configMayHaveCreated(config)) return undefined;
    const bytes = await this.smallBlob(ref, config, MAX_CONFIG_BYTES, signal);
    try {
      return normaliseCreated((JSON.parse(bytes.toString('utf8')) as { created?: unknown }).created);
    } catch {
      return undefined;
    }
  }
}

function contentType(value: string | null): string {
  return (value ?? '').split(';')[0].trim();
}

/** Creates a client; call `close()` (optional) to drop pooled connections when done. */
export function createOciClient(opts: OciClientOptions = {}): OciClient & { close(): Promise<void> } {
  return new DistributionClient(opts);
}
