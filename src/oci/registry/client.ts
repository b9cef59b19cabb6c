/**
 * A generic OCI Distribution (v2 API) client, knowing nothing of what the images carry: resolve a
 * reference to its manifest digest, fetch a manifest checked against every digest that names it, and
 * read a blob in memory or as a stream that verifies itself against its descriptor. Requests go through
 * the layered Exchange (http/stack.ts). The Wasm artifact logic sits on top, in wasm/.
 */
import { createHash } from 'crypto';
import type { Readable } from 'stream';
import { blobUrl, manifestUrl, pullScope } from '../http/endpoint';
import type { Exchange } from '../http/exchange';
import type { OciReference, ResolvedManifest } from '../types';
import { readLimited, readVerified, verifiedStream } from './body';
import { Descriptor, DIGEST_RE, Manifest, MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, parseManifest } from './media';
import { digestMismatch, oversize } from './verify-stream';

export interface FetchedManifest {
  digest: string;
  manifest: Manifest;
  url: string;
  /** The exact bytes received (they hash to `digest`): a caller may keep them to serve them unchanged. */
  bytes: Buffer;
}

function contentType(value: string | null): string {
  return (value ?? '').split(';')[0].trim();
}

export class RegistryClient {
  constructor(private readonly exchange: Exchange, private readonly insecureHosts: readonly string[]) {}

  manifestUrl(ref: OciReference): string {
    return manifestUrl(ref, this.insecureHosts);
  }

  blobUrl(ref: OciReference, digest: string): string {
    return blobUrl(ref, digest, this.insecureHosts);
  }

  /** Manifest request(s) only: HEAD, falling back to GET when the registry sends no Docker-Content-Digest. */
  async resolve(ref: OciReference, signal?: AbortSignal): Promise<ResolvedManifest> {
    const url = this.manifestUrl(ref);
    const head = await this.exchange({ kind: 'manifest', method: 'HEAD', url, registry: ref.registry, scope: pullScope(ref), accept: MANIFEST_ACCEPT, signal },
      async (res) => ({ digest: res.headers.get('docker-content-digest'), mediaType: contentType(res.headers.get('content-type')) }));
    if (head.digest && DIGEST_RE.test(head.digest)) {
      if (ref.digest && head.digest !== ref.digest) throw digestMismatch(url, ref.digest, head.digest);
      return { digest: head.digest, mediaType: head.mediaType };
    }
    // Registries need not send Docker-Content-Digest: hash the manifest ourselves.
    const got = await this.manifest(ref, ref.digest ?? ref.tag ?? 'latest', signal);
    return { digest: got.digest, mediaType: got.manifest.mediaType };
  }

  /**
   * GETs a manifest (by tag or digest) and checks its sha256 against everything that names it: the
   * requested digest, the descriptor it was found through (size too), and Docker-Content-Digest.
   */
  async manifest(ref: OciReference, reference: string, signal?: AbortSignal, descriptor?: Descriptor): Promise<FetchedManifest> {
    const url = this.manifestUrl({ ...ref, digest: DIGEST_RE.test(reference) ? reference : undefined, tag: reference });
    return this.exchange({ kind: 'manifest', method: 'GET', url, registry: ref.registry, scope: pullScope(ref), accept: MANIFEST_ACCEPT, signal }, async (res) => {
      const bytes = descriptor ? await readVerified(res, descriptor, MAX_MANIFEST_BYTES) : await readLimited(res, MAX_MANIFEST_BYTES);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (DIGEST_RE.test(reference) && digest !== reference) throw digestMismatch(url, reference, digest);
      const header = res.headers.get('docker-content-digest');
      if (header && DIGEST_RE.test(header) && header !== digest) throw digestMismatch(url, header, digest);
      return { digest, manifest: parseManifest(bytes, res.headers.get('content-type'), url), url, bytes };
    });
  }

  /** A small blob (config, spec.yaml) in memory, verified against its descriptor. */
  async readBlob(ref: OciReference, desc: Descriptor, limit: number, signal?: AbortSignal): Promise<Buffer> {
    const url = this.blobUrl(ref, desc.digest);
    return this.exchange({ kind: 'blob', method: 'GET', url, registry: ref.registry, scope: pullScope(ref), signal }, (res) => readVerified(res, desc, limit));
  }

  /**
   * Hands `consume` the blob as a stream that verifies itself (see body.ts) and returns what `consume`
   * returns. `consume` must read the stream to its end; a failure anywhere is retried as a whole when
   * transient, so `consume` must also undo its own partial work (a half-written file) before throwing.
   * A descriptor over `limit` is refused before any request.
   */
  async streamBlob<T>(ref: OciReference, desc: Descriptor, limit: number, consume: (verified: Readable, url: string) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const url = this.blobUrl(ref, desc.digest);
    if (desc.size > limit) throw oversize(url, desc.size, limit, 'descriptor says');
    return this.exchange({ kind: 'blob', method: 'GET', url, registry: ref.registry, scope: pullScope(ref), signal }, async (res) => {
      const { stream, counter } = verifiedStream(res, desc, limit);
      const out = await consume(stream, url);
      if (!counter.finished) throw new Error(`blob ${url} was not read to its end`); // a bug in consume, not in the registry
      return out;
    });
  }
}
