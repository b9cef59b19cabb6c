/**
 * A generic OCI Distribution (v2 API) client, knowing nothing of what the images carry: resolve a
 * reference to its manifest digest, fetch a manifest checked against every digest that names it, and
 * read a blob in memory or as a stream that verifies itself against its descriptor. Requests go through
 * the layered Exchange (http/stack.ts). The Wasm artifact logic sits on top, in wasm/.
 */
import { isDigest } from '../../contract/digest';
import { createHash } from 'crypto';
import * as fs from 'fs';
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { IntegrityError, RegistryError } from '../../errors';
import { blobUrl, manifestUrl, nextHop, onRegistryOrigin, pullScope, tagsUrl } from '../http/endpoint';
import type { Exchange, RegistryResponse } from '../http/exchange';
import { RegistryStatusError } from '../http/status';
import type { OciReference, ResolvedManifest } from '../types';
import { readLimited, readVerified, verifiedStream } from './body';
import { Descriptor, Manifest, MANIFEST_ACCEPT, manifestMediaType, MAX_MANIFEST_BYTES, parseManifest } from './media';
import { digestMismatch, oversize } from './verify-stream';

/** A manifest as the exact bytes the registry holds: their sha256 is the digest, so they are never re-serialised. */
export interface RawManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface BlobRef {
  digest: string;
  size: number;
}

/** One page of a tag list is JSON of short strings; a repository with more tags than this is not a plugin's. */
const MAX_TAG_PAGE_BYTES = 4 * 1024 * 1024;
/** Pages followed through `Link: <...>; rel="next"` before giving up (a registry sending links forever). */
const MAX_TAG_PAGES = 50;

/** The `next` target of a `Link` header (RFC 8288, as the distribution spec paginates tag lists). */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /(^|;)\s*rel="?next"?\s*(;|$)/i.test(m[2])) return m[1];
  }
  return undefined;
}

/** Copies (`bundle`, `mirror`) carry whole images; a blob bigger than this is not part of a plugin. */
export const MAX_COPY_BLOB_BYTES = 1024 * 1024 * 1024;
/** Whole tries of a blob upload (session + PUT) on transient failures; the PUT itself is never resent. */
const UPLOAD_TRIES = 3;

function pushScope(ref: OciReference): string {
  return `repository:${ref.repository}:pull,push`;
}

function isNotFound(err: unknown): boolean {
  return err instanceof RegistryStatusError && err.status === 404;
}

/** Reads a (small) body to its end, so the connection goes back to the pool instead of being cut. */
async function drain(res: RegistryResponse): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- each chunk is read and discarded
  for await (const _ of res.body) {
    /* discarded */
  }
}

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
  constructor(
    private readonly exchange: Exchange,
    private readonly insecureHosts: readonly string[],
  ) {}

  manifestUrl(ref: OciReference): string {
    return manifestUrl(ref, this.insecureHosts);
  }

  blobUrl(ref: OciReference, digest: string): string {
    return blobUrl(ref, digest, this.insecureHosts);
  }

  /** Manifest request(s) only: HEAD, falling back to GET when the registry sends no Docker-Content-Digest. */
  async resolve(ref: OciReference, signal?: AbortSignal): Promise<ResolvedManifest> {
    const url = this.manifestUrl(ref);
    const head = await this.exchange(
      {
        kind: 'manifest',
        method: 'HEAD',
        url,
        registry: ref.registry,
        scope: pullScope(ref),
        accept: MANIFEST_ACCEPT,
        signal,
      },
      (res) =>
        Promise.resolve({
          digest: res.headers.get('docker-content-digest'),
          mediaType: contentType(res.headers.get('content-type')),
        }),
    );
    if (head.digest && isDigest(head.digest)) {
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
  async manifest(
    ref: OciReference,
    reference: string,
    signal?: AbortSignal,
    descriptor?: Descriptor,
  ): Promise<FetchedManifest> {
    const { url, bytes, digest, contentType: type } = await this.manifestBytes(ref, reference, signal, descriptor);
    return { digest, manifest: parseManifest(bytes, type, url), url, bytes };
  }

  /** The manifest's exact bytes (for copies), checked like manifest(); the media type is the body's own when it names one. */
  async rawManifest(
    ref: OciReference,
    reference: string,
    signal?: AbortSignal,
    descriptor?: BlobRef,
  ): Promise<RawManifest> {
    const { bytes, digest, contentType: type } = await this.manifestBytes(ref, reference, signal, descriptor);
    return { bytes, digest, mediaType: manifestMediaType(bytes, contentType(type)) };
  }

  private async manifestBytes(ref: OciReference, reference: string, signal?: AbortSignal, descriptor?: BlobRef) {
    const url = this.manifestUrl({ ...ref, digest: isDigest(reference) ? reference : undefined, tag: reference });
    return this.exchange(
      {
        kind: 'manifest',
        method: 'GET',
        url,
        registry: ref.registry,
        scope: pullScope(ref),
        accept: MANIFEST_ACCEPT,
        signal,
      },
      async (res) => {
        const bytes = descriptor
          ? await readVerified(res, descriptor, MAX_MANIFEST_BYTES)
          : await readLimited(res, MAX_MANIFEST_BYTES);
        const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
        if (isDigest(reference) && digest !== reference) throw digestMismatch(url, reference, digest);
        const header = res.headers.get('docker-content-digest');
        if (header && isDigest(header) && header !== digest) throw digestMismatch(url, header, digest);
        return { url, bytes, digest, contentType: res.headers.get('content-type') };
      },
    );
  }

  /** The digest the registry holds under a tag or digest (HEAD, else GET), or undefined when it has none (404). */
  async manifestDigest(ref: OciReference, reference: string, signal?: AbortSignal): Promise<string | undefined> {
    const pinned = isDigest(reference);
    try {
      return (
        await this.resolve(
          { ...ref, tag: pinned ? undefined : reference, digest: pinned ? reference : undefined },
          signal,
        )
      ).digest;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Every tag of `ref`'s repository (the distribution tag list, following `Link` pages on the same
   * registry), or undefined when the repository does not exist (404).
   */
  async tags(ref: OciReference, signal?: AbortSignal): Promise<string[] | undefined> {
    const tags: string[] = [];
    let url: string | undefined = tagsUrl(ref, this.insecureHosts);
    for (let page = 0; url; page++) {
      if (page >= MAX_TAG_PAGES)
        throw new RegistryError({
          code: 'E_REGISTRY_STATUS',
          message: `${tagsUrl(ref, this.insecureHosts)} sent more than ${MAX_TAG_PAGES} pages of tags`,
          context: { url },
          hint: "check the registry; a plugin's repository holds a handful of tags",
        });
      const current: string = url;
      let next: string | undefined;
      try {
        next = await this.exchange(
          {
            kind: 'manifest',
            method: 'GET',
            url: current,
            registry: ref.registry,
            scope: pullScope(ref),
            accept: 'application/json',
            signal,
          },
          async (res) => {
            const body = await readLimited(res, MAX_TAG_PAGE_BYTES);
            let doc: { tags?: unknown };
            try {
              doc = JSON.parse(body.toString('utf8')) as { tags?: unknown };
            } catch {
              throw new RegistryError({
                code: 'E_REGISTRY_STATUS',
                message: `${current} answered a tag list that is not JSON`,
                context: { url: current },
                hint: 'check the registry',
              });
            }
            // A repository with no tag left answers `"tags": null`.
            if (Array.isArray(doc.tags)) for (const t of doc.tags) if (typeof t === 'string') tags.push(t);
            const link = nextLink(res.headers.get('link'));
            if (!link) return undefined;
            const hop = nextHop(current, link).toString();
            // Credentials go to the registry's own origin only: a page elsewhere is not followed.
            return onRegistryOrigin(hop, ref.registry, this.insecureHosts) ? hop : undefined;
          },
        );
      } catch (err) {
        if (page === 0 && isNotFound(err)) return undefined;
        throw err;
      }
      url = next;
    }
    return tags;
  }

  /** Whether the repository has the blob (HEAD). */
  async hasBlob(ref: OciReference, digest: string, signal?: AbortSignal): Promise<boolean> {
    const url = this.blobUrl(ref, digest);
    try {
      await this.exchange(
        { kind: 'blob', method: 'HEAD', url, registry: ref.registry, scope: pullScope(ref), signal },
        drain,
      );
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Downloads a blob to `dest`, checked against its descriptor; a partial file is removed on failure. */
  async downloadBlob(ref: OciReference, blob: BlobRef, dest: string, signal?: AbortSignal): Promise<void> {
    await this.streamBlob(
      ref,
      { ...blob, mediaType: '' },
      MAX_COPY_BLOB_BYTES,
      async (verified) => {
        try {
          await pipeline(verified, fs.createWriteStream(dest, { mode: 0o644 }));
        } catch (err) {
          await fs.promises.rm(dest, { force: true });
          throw err;
        }
      },
      signal,
    );
  }

  /**
   * Makes `blob` exist in `ref`'s repository: a cross-repository mount from `mountFrom` (same
   * registry) when given and accepted, else one monolithic upload of the bytes `open()` streams
   * (POST a session, PUT the bytes with the digest). The registry must report the same digest back.
   */
  async pushBlob(
    ref: OciReference,
    blob: BlobRef,
    open: () => Readable,
    mountFrom?: string,
    signal?: AbortSignal,
  ): Promise<'mounted' | 'uploaded'> {
    const uploads = this.blobUrl(ref, blob.digest).replace(/\/blobs\/sha256:[a-f0-9]+$/, '/blobs/uploads/');
    const base = { kind: 'blob' as const, registry: ref.registry, scope: pushScope(ref), signal };
    if (mountFrom && mountFrom !== ref.repository) {
      const url = `${uploads}?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(mountFrom)}`;
      const status = await this.exchange(
        { ...base, method: 'POST', url },
        async (res) => (await drain(res), res.status),
      );
      if (status === 201) return 'mounted';
      // 202: the registry opened an ordinary upload session instead; it expires unused, upload below.
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const location = await this.exchange({ ...base, method: 'POST', url: uploads }, async (res) => {
          await drain(res);
          return res.headers.get('location');
        });
        if (!location)
          throw new RegistryError({
            code: 'E_REGISTRY_PUSH',
            message: `no upload location from ${uploads}`,
            context: { url: uploads },
            hint: 'check that the registry accepts pushes',
          });
        // The session may live on another host:port (a storage front end): the auth layer sends the
        // target's credentials only to the target's own origin, and HTTPS is never left for HTTP.
        const put = nextHop(uploads, location);
        put.searchParams.set('digest', blob.digest);
        const stored = await this.exchange(
          {
            ...base,
            method: 'PUT',
            url: put.toString(),
            body: open,
            retry: false,
            headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
          },
          async (res) => (await drain(res), res.headers.get('docker-content-digest')),
        );
        if (stored && stored !== blob.digest) throw digestMismatch(put.toString(), blob.digest, stored);
        return 'uploaded';
      } catch (err) {
        if (signal?.aborted || !(err instanceof RegistryError) || !err.transient || attempt >= UPLOAD_TRIES) throw err;
      }
    }
  }

  /** PUTs the exact manifest bytes under a tag or digest; the registry must store them under the same digest. */
  async putManifest(ref: OciReference, reference: string, manifest: RawManifest, signal?: AbortSignal): Promise<void> {
    const pinned = isDigest(reference);
    const url = this.manifestUrl({
      ...ref,
      tag: pinned ? undefined : reference,
      digest: pinned ? reference : undefined,
    });
    const stored = await this.exchange(
      {
        kind: 'manifest',
        method: 'PUT',
        url,
        registry: ref.registry,
        scope: pushScope(ref),
        signal,
        body: () => Readable.from([manifest.bytes]),
        headers: { 'content-type': manifest.mediaType, 'content-length': String(manifest.bytes.length) },
      },
      async (res) => (await drain(res), res.headers.get('docker-content-digest')),
    );
    if (stored && stored !== manifest.digest) {
      throw new IntegrityError({
        code: 'E_MIRROR_DIGEST',
        message: `${url} stored the manifest as ${stored}, not ${manifest.digest}`,
        context: { url },
        hint: 'the target registry rewrites manifests; use a registry that stores them unchanged (distribution, Harbor)',
      });
    }
  }

  /** A small blob (config, spec.yaml) in memory, verified against its descriptor. */
  async readBlob(ref: OciReference, desc: Descriptor, limit: number, signal?: AbortSignal): Promise<Buffer> {
    const url = this.blobUrl(ref, desc.digest);
    return this.exchange(
      { kind: 'blob', method: 'GET', url, registry: ref.registry, scope: pullScope(ref), signal },
      (res) => readVerified(res, desc, limit),
    );
  }

  /**
   * Hands `consume` the blob as a stream that verifies itself (see body.ts) and returns what `consume`
   * returns. `consume` must read the stream to its end; a failure anywhere is retried as a whole when
   * transient, so `consume` must also undo its own partial work (a half-written file) before throwing.
   * A descriptor over `limit` is refused before any request.
   */
  async streamBlob<T>(
    ref: OciReference,
    desc: Descriptor,
    limit: number,
    consume: (verified: Readable, url: string) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const url = this.blobUrl(ref, desc.digest);
    if (desc.size > limit) throw oversize(url, desc.size, limit, 'descriptor says');
    return this.exchange(
      { kind: 'blob', method: 'GET', url, registry: ref.registry, scope: pullScope(ref), signal },
      async (res) => {
        const { stream, counter } = verifiedStream(res, desc, limit);
        const out = await consume(stream, url);
        if (!counter.finished) throw new Error(`blob ${url} was not read to its end`); // a bug in consume, not in the registry
        return out;
      },
    );
  }
}
