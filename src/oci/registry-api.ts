/**
 * Raw OCI Distribution access for copying artifacts byte for byte (`bundle`, `mirror`): manifests as
 * the exact bytes the registry holds, blobs to files, existence checks (HEAD), and pushes (monolithic
 * blob upload or cross-repository mount, manifest PUT). The pull client (client.ts) only ever wants
 * the wasm; copying wants everything, unchanged, so digests stay the same in the target.
 *
 * Reads go through the same Transport (auth challenges, retries, timeouts, proxies) as pulls; writes
 * use the same AuthManager with a `pull,push` scope. Every byte read is checked against its digest.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { Agent, Dispatcher, EnvHttpProxyAgent, fetch, Response } from 'undici';
import { IntegrityError, RegistryError } from '../errors';
import { AuthManager } from './auth';
import { readLimited, readVerified } from './blob';
import { CredentialStore, defaultDockerConfigPath } from './credentials';
import { blobUrl, isLoopback, manifestUrl, pullScope } from './endpoint';
import { DIGEST_RE, MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from './media';
import { IdleTimer, RegistryStatusError, statusError, Transport } from './transport';
import type { OciClientOptions, OciReference } from './types';
import { DigestCounter, digestMismatch } from './verify-stream';

/** Plugin images are small; a layer bigger than this is not a plugin and is not copied. */
export const MAX_COPY_BLOB_BYTES = 1024 * 1024 * 1024;

export interface RawManifest {
  /** The exact bytes: their sha256 is the digest, so they are never re-serialised. */
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface BlobRef {
  digest: string;
  size: number;
}

function contentType(value: string | null): string {
  return (value ?? '').split(';')[0].trim();
}

/** The media type a manifest declares in its body (covered by the digest), else the header's. */
export function manifestMediaType(bytes: Buffer, header: string): string {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    if (typeof doc.mediaType === 'string' && doc.mediaType) return doc.mediaType;
  } catch {
    /* parseManifest reports bad JSON where it matters */
  }
  return header;
}

export class RegistryApi {
  private readonly transport: Transport;
  private readonly auth: AuthManager;
  private readonly insecure: string[];
  private readonly direct: Dispatcher;
  private readonly proxied: Dispatcher | undefined;

  constructor(opts: OciClientOptions = {}) {
    this.insecure = opts.insecureHosts ?? [];
    this.transport = new Transport({ timeoutMs: opts.timeoutMs ?? 30_000, retries: Math.max(1, opts.retries ?? 4), retryBaseMs: opts.retryBaseMs ?? 250, onRequest: opts.onRequest });
    this.auth = new AuthManager(new CredentialStore(opts.dockerConfigPath ?? defaultDockerConfigPath()), this.insecure, this.transport.tokenFetch);
    this.transport.auth = this.auth;
    this.direct = new Agent({ connections: 8, keepAliveTimeout: 10_000 });
    const env = process.env;
    this.proxied = env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy ? new EnvHttpProxyAgent() : undefined;
  }

  async close(): Promise<void> {
    await Promise.all([this.transport.close(), this.direct.close(), this.proxied?.close()]);
  }

  /** GETs a manifest by tag or digest; checks its sha256 against the digest asked for and the registry's header. */
  async getManifest(ref: OciReference, reference: string, expected?: BlobRef, signal?: AbortSignal): Promise<RawManifest> {
    const isDigest = DIGEST_RE.test(reference);
    const url = manifestUrl({ ...ref, tag: isDigest ? undefined : reference, digest: isDigest ? reference : undefined }, this.insecure);
    return this.transport.retrying(url, signal, async (timer) => {
      const res = await this.transport.send('manifest', 'GET', url, ref.registry, pullScope(ref), timer, MANIFEST_ACCEPT);
      const bytes = expected ? await readVerified(res, expected, MAX_MANIFEST_BYTES, url, timer) : await readLimited(res, MAX_MANIFEST_BYTES, url, timer);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (isDigest && digest !== reference) throw digestMismatch(url, reference, digest);
      const header = res.headers.get('docker-content-digest');
      if (header && DIGEST_RE.test(header) && header !== digest) throw digestMismatch(url, header, digest);
      return { bytes, digest, mediaType: manifestMediaType(bytes, contentType(res.headers.get('content-type'))) };
    });
  }

  /** Digest the registry holds under a tag or digest (HEAD), or undefined when it has none. */
  async manifestDigest(ref: OciReference, reference: string, signal?: AbortSignal): Promise<string | undefined> {
    const isDigest = DIGEST_RE.test(reference);
    const url = manifestUrl({ ...ref, tag: isDigest ? undefined : reference, digest: isDigest ? reference : undefined }, this.insecure);
    try {
      return await this.transport.retrying(url, signal, async (timer) => {
        const res = await this.transport.send('manifest', 'HEAD', url, ref.registry, pullScope(ref), timer, MANIFEST_ACCEPT);
        const header = res.headers.get('docker-content-digest');
        if (header && DIGEST_RE.test(header)) return header;
        // No digest header: fall back to hashing the body.
        return (await this.getManifest(ref, reference, undefined, signal)).digest;
      });
    } catch (err) {
      if (err instanceof RegistryStatusError && err.status === 404) return undefined;
      throw err;
    }
  }

  async hasBlob(ref: OciReference, digest: string, signal?: AbortSignal): Promise<boolean> {
    const url = blobUrl(ref, digest, this.insecure);
    try {
      await this.transport.retrying(url, signal, (timer) => this.transport.send('blob', 'HEAD', url, ref.registry, pullScope(ref), timer));
      return true;
    } catch (err) {
      if (err instanceof RegistryStatusError && err.status === 404) return false;
      throw err;
    }
  }

  /** Downloads a blob to `dest`, checked against its descriptor; a partial file is removed on failure. */
  async downloadBlob(ref: OciReference, blob: BlobRef, dest: string, signal?: AbortSignal): Promise<void> {
    const url = blobUrl(ref, blob.digest, this.insecure);
    await this.transport.retrying(url, signal, async (timer) => {
      const res = await this.transport.send('blob', 'GET', url, ref.registry, pullScope(ref), timer);
      const counter = new DigestCounter(blob, MAX_COPY_BLOB_BYTES, url);
      const body = res.body ? Readable.fromWeb(res.body as import('stream/web').ReadableStream<Uint8Array>) : Readable.from([]);
      try {
        await pipeline(body, async function* (src: AsyncIterable<Buffer>) {
          for await (const chunk of src) {
            timer.touch();
            counter.update(chunk);
            yield chunk;
          }
          counter.finish();
        }, fs.createWriteStream(dest));
      } catch (err) {
        await fs.promises.rm(dest, { force: true });
        throw err;
      }
    });
  }

  /**
   * Makes `blob` exist in `ref`'s repository: a cross-repository mount from `mountFrom` (same
   * registry) when given and accepted, else one monolithic upload of the bytes `open()` streams.
   */
  async pushBlob(ref: OciReference, blob: BlobRef, open: () => Readable, mountFrom?: string, signal?: AbortSignal): Promise<'mounted' | 'uploaded'> {
    const uploads = `${blobUrl(ref, blob.digest, this.insecure).replace(/\/blobs\/sha256:[a-f0-9]+$/, '')}/blobs/uploads/`;
    const scope = `repository:${ref.repository}:pull,push`;
    if (mountFrom && mountFrom !== ref.repository) {
      const url = `${uploads}?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(mountFrom)}`;
      const res = await this.transport.retrying(url, signal, (timer) => this.write('POST', url, ref.registry, scope, timer, undefined, {}, [201, 202]));
      await res.body?.cancel();
      if (res.status === 201) return 'mounted';
      // 202: the registry started a normal upload session instead; abandon it and upload below.
    }
    await this.transport.retrying(uploads, signal, async (timer) => {
      const start = await this.write('POST', uploads, ref.registry, scope, timer, undefined, {}, [202]);
      await start.body?.cancel();
      const location = start.headers.get('location');
      if (!location) throw new RegistryError('E_REGISTRY_PUSH', `no upload location from ${uploads}`, { url: uploads }, 'check that the registry accepts pushes');
      const put = new URL(location, uploads);
      put.searchParams.set('digest', blob.digest);
      const res = await this.write('PUT', put.toString(), ref.registry, scope, timer, open,
        { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) }, [201]);
      await res.body?.cancel();
      const stored = res.headers.get('docker-content-digest');
      if (stored && stored !== blob.digest) throw digestMismatch(put.toString(), blob.digest, stored);
    });
    return 'uploaded';
  }

  /** PUTs the exact manifest bytes under a tag or digest; the registry must store them under the same digest. */
  async putManifest(ref: OciReference, reference: string, manifest: RawManifest, signal?: AbortSignal): Promise<void> {
    const url = manifestUrl({ ...ref, tag: DIGEST_RE.test(reference) ? undefined : reference, digest: DIGEST_RE.test(reference) ? reference : undefined }, this.insecure);
    const scope = `repository:${ref.repository}:pull,push`;
    await this.transport.retrying(url, signal, async (timer) => {
      const res = await this.write('PUT', url, ref.registry, scope, timer, () => Readable.from([manifest.bytes]),
        { 'content-type': manifest.mediaType, 'content-length': String(manifest.bytes.length) }, [201]);
      await res.body?.cancel();
      const stored = res.headers.get('docker-content-digest');
      if (stored && stored !== manifest.digest) {
        throw new IntegrityError('E_MIRROR_DIGEST', `${url} stored the manifest as ${stored}, not ${manifest.digest}`, { url },
          'the target registry rewrites manifests; use a registry that stores them unchanged (distribution, Harbor)');
      }
    });
  }

  /** One write request with auth (one challenge answered); statuses outside `ok` become RegistryErrors. */
  private async write(method: 'POST' | 'PUT', url: string, registry: string, scope: string, timer: IdleTimer,
    body: (() => Readable) | undefined, headers: Record<string, string>, ok: number[]): Promise<Response> {
    let authorization = await this.auth.header(registry, scope);
    for (let round = 0; ; round++) {
      const h: Record<string, string> = { ...headers };
      if (authorization) h.authorization = authorization;
      const stream = body?.();
      const res = await fetch(url, {
        method,
        headers: h,
        body: stream ? (Readable.toWeb(stream) as unknown as ReadableStream) : undefined,
        duplex: 'half',
        signal: timer.signal,
        dispatcher: this.proxied && !isLoopback(registry) ? this.proxied : this.direct,
      } as Parameters<typeof fetch>[1]);
      timer.touch();
      if (res.status === 401 && round === 0) {
        await res.body?.cancel();
        authorization = await this.auth.challenged(registry, scope, res.headers.get('www-authenticate'), url, authorization);
        continue;
      }
      if (ok.includes(res.status)) return res;
      const text = await res.text().catch(() => '');
      if (res.status === 401 || res.status === 403) throw this.auth.denied(url, `push refused (${res.status})`, registry);
      const err = statusError(res.status, url, method === 'PUT' ? 'upload' : 'upload session', res.headers.get('retry-after'));
      if (res.status >= 400 && res.status < 500 && res.status !== 404 && res.status !== 429) {
        throw new RegistryError('E_REGISTRY_PUSH', `${method} ${url} answered ${res.status}: ${text.slice(0, 200)}`, { url }, 'check the target repository and your push rights');
      }
      throw err;
    }
  }
}
