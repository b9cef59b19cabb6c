/**
 * `check --oci`: pulls every plugin (or a sample) through the server's OCI API the way the gateway's
 * fetcher does (manifest by tag, platform entry of an index, the wasm layer or the tar+gzip layer's
 * plugin.wasm) and checks every digest on the way plus the sha256 the index promises. Also checks the
 * API root and each repository's tag list.
 */
import { createHash } from 'crypto';
import * as zlib from 'zlib';
import { mapLimit } from '../content/pool';
import { IndexEntry, PluginIndex, WASM_FILE } from '../contract/tree-format';
import { MANIFEST_ACCEPT as ACCEPT } from '../oci/registry/media';
import { DOCKER_TAR_GZIP, OCI_TAR_GZIP, WASM_LAYER } from '../oci/wasm/layers';
import { repositoryName } from '../ociview/layout';
import { readBodyLimited } from './bounded-body';
import { DEFAULT_CHECK_CONCURRENCY } from '../contract/concurrency';
import { fetchFailure } from './fetch-error';

/** Manifests are at most 4 MiB (distribution's own limit); a module at most 256 MiB plus its tar. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_BLOB_BYTES = 257 * 1024 * 1024;

export interface OciCheckResult {
  kind: 'oci';
  name: string;
  version: string;
  url: string;
  ok: boolean;
  detail: string;
  /** Manifest digest the tag resolved to (what `wasmplugins --oci` pins). */
  digest?: string;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string };
}

class CheckFailure extends Error {}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

async function get(
  url: string,
  timeoutMs: number,
  limit: number,
  accept?: string,
): Promise<{ body: Buffer; headers: Headers }> {
  const res = await fetch(url, { headers: accept ? { accept } : {}, signal: AbortSignal.timeout(timeoutMs) });
  const body = await readBodyLimited(res, limit);
  if (res.status !== 200)
    throw new CheckFailure(`HTTP ${res.status} for ${url}${body.length < 300 ? `: ${body.toString().trim()}` : ''}`);
  return { body, headers: res.headers };
}

/** A manifest by tag or digest; its bytes must hash to Docker-Content-Digest (and to `digest` when given). */
async function manifest(base: string, repo: string, ref: string, timeoutMs: number, digest?: string) {
  const { body, headers } = await get(`${base}/v2/${repo}/manifests/${ref}`, timeoutMs, MAX_MANIFEST_BYTES, ACCEPT);
  const got = sha256(body);
  const header = headers.get('docker-content-digest');
  if (header !== got)
    throw new CheckFailure(`manifest ${repo}:${ref} hashes to ${got}, Docker-Content-Digest says ${header}`);
  if (digest && got !== digest) throw new CheckFailure(`manifest ${digest} hashes to ${got}`);
  return {
    digest: got,
    contentType: headers.get('content-type'),
    doc: JSON.parse(body.toString('utf8')) as { mediaType?: string; manifests?: Descriptor[]; layers?: Descriptor[] },
  };
}

async function blob(base: string, repo: string, d: Descriptor, timeoutMs: number): Promise<Buffer> {
  const { body } = await get(`${base}/v2/${repo}/blobs/${d.digest}`, timeoutMs, MAX_BLOB_BYTES);
  if (body.length !== d.size || sha256(body) !== d.digest)
    throw new CheckFailure(`blob ${d.digest} is ${body.length} bytes hashing to ${sha256(body)}`);
  return body;
}

/** plugin.wasm out of a tar+gzip layer (any folder, like Istio). */
function wasmFromTarGz(layer: Buffer): Buffer {
  const tar = zlib.gunzipSync(layer, { maxOutputLength: MAX_BLOB_BYTES });
  for (let off = 0; off + 512 <= tar.length;) {
    const name = tar.toString('latin1', off, off + 100).replace(/\0.*$/s, '');
    if (!name) break;
    const size = parseInt(
      tar
        .toString('latin1', off + 124, off + 136)
        .replace(/\0.*$/s, '')
        .trim(),
      8,
    );
    if (name.split('/').pop() === WASM_FILE) return tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new CheckFailure(`no ${WASM_FILE} in the tar+gzip layer`);
}

async function checkVersion(base: string, e: IndexEntry, timeoutMs: number): Promise<OciCheckResult> {
  const repo = repositoryName(e.name);
  const r = {
    kind: 'oci' as const,
    name: e.name,
    version: e.version,
    url: `${base}/v2/${repo}/manifests/${e.version}`,
  };
  try {
    const top = await manifest(base, repo, e.version, timeoutMs);
    let image = top;
    if (top.doc.manifests) {
      const entries = top.doc.manifests;
      const pick =
        entries.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64') ??
        (entries.length === 1 ? entries[0] : undefined);
      if (!pick) throw new CheckFailure('index has no linux/amd64 entry');
      image = await manifest(base, repo, pick.digest, timeoutMs, pick.digest);
    }
    const layers = image.doc.layers ?? [];
    const raw = layers.find((l) => l.mediaType === WASM_LAYER);
    const last = layers[layers.length - 1];
    let wasm: Buffer;
    if (raw) wasm = await blob(base, repo, raw, timeoutMs);
    else if (last && (last.mediaType === OCI_TAR_GZIP || last.mediaType === DOCKER_TAR_GZIP))
      wasm = wasmFromTarGz(await blob(base, repo, last, timeoutMs));
    else
      throw new CheckFailure(
        `no wasm layer and no tar+gzip last layer (${layers.map((l) => l.mediaType).join(', ') || 'no layers'})`,
      );
    const got = sha256(wasm).slice(7);
    if (got !== e.sha256) throw new CheckFailure(`${WASM_FILE} sha256 ${got} != index ${e.sha256}`);
    return {
      ...r,
      ok: true,
      digest: top.digest,
      detail: `manifest ${top.digest} (${top.contentType}), ${wasm.length} bytes, sha256 ok`,
    };
  } catch (err) {
    return {
      ...r,
      ok: false,
      detail: err instanceof CheckFailure ? err.message : `request failed: ${fetchFailure(err)}`,
    };
  }
}

async function checkRepository(
  base: string,
  name: string,
  versions: string[],
  timeoutMs: number,
): Promise<OciCheckResult> {
  const url = `${base}/v2/${repositoryName(name)}/tags/list`;
  const r = { kind: 'oci' as const, name, version: '*', url };
  try {
    const tags =
      (JSON.parse((await get(url, timeoutMs, MAX_MANIFEST_BYTES)).body.toString('utf8')) as { tags?: string[] }).tags ??
      [];
    const missing = versions.filter((v) => !tags.includes(v));
    if (missing.length) return { ...r, ok: false, detail: `tags/list lacks ${missing.join(', ')}` };
    return { ...r, ok: true, detail: `tags/list has all ${versions.length} version(s)` };
  } catch (err) {
    return {
      ...r,
      ok: false,
      detail: err instanceof CheckFailure ? err.message : `request failed: ${fetchFailure(err)}`,
    };
  }
}

export async function checkOciServer(
  index: PluginIndex,
  opts: {
    baseUrl: string;
    entries: IndexEntry[];
    concurrency?: number;
    timeoutMs?: number;
    onResult?: (r: OciCheckResult) => void;
  },
): Promise<OciCheckResult[]> {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 60000;
  const report = (r: OciCheckResult) => (opts.onResult?.(r), r);
  const root: OciCheckResult = { kind: 'oci', name: '/v2/', version: '-', url: `${base}/v2/`, ok: false, detail: '' };
  try {
    const res = await fetch(root.url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    const api = res.headers.get('docker-distribution-api-version');
    Object.assign(
      root,
      res.status === 200 && api === 'registry/2.0'
        ? { ok: true, detail: 'API root answers 200, registry/2.0' }
        : {
            detail: `API root answered HTTP ${res.status}, Docker-Distribution-API-Version ${api ?? 'missing'} (an image without the OCI view?)`,
          },
    );
  } catch (err) {
    root.detail = `request failed: ${fetchFailure(err)}`;
  }
  const out = [report(root)];
  if (!root.ok) return out;
  const names = [...new Set(opts.entries.map((e) => e.name))].sort();
  const versions = (n: string) => index.plugins.filter((e) => e.name === n).map((e) => e.version);
  out.push(
    ...(await mapLimit(names, opts.concurrency ?? DEFAULT_CHECK_CONCURRENCY, async (n) =>
      report(await checkRepository(base, n, versions(n), timeoutMs)),
    )),
  );
  out.push(
    ...(await mapLimit(opts.entries, opts.concurrency ?? DEFAULT_CHECK_CONCURRENCY, async (e) =>
      report(await checkVersion(base, e, timeoutMs)),
    )),
  );
  return out;
}
