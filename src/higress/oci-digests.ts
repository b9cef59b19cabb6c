/**
 * Manifest digests for `wasmplugins --oci`, from a tree on disk (its OCI view) or from a running
 * server (`/v2/plugins/<name>/manifests/<version>`). It is the digest of the image manifest the gateway
 * loads and checks: for a tag that names an index, the linux/amd64 entry's (Istio resolves the index
 * first).
 */
import { InputError } from '../errors';
import { isDigest } from '../contract/digest';
import { MANIFEST_ACCEPT } from '../oci/registry/media';
import { repositoryName } from '../ociview/layout';
import { tagDigestsFromTree } from '../ociview/tag-digests';
import { readBodyLimited } from './bounded-body';

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

interface IndexDoc {
  manifests?: Array<{ digest?: string; platform?: { os?: string; architecture?: string } }>;
}

async function fromServer(base: string, e: { name: string; version: string }): Promise<string> {
  const url = `${base}/v2/${repositoryName(e.name)}/manifests/${e.version}`;
  const context = { url, plugin: e.name, version: e.version };
  const res = await fetch(url, { headers: { accept: MANIFEST_ACCEPT }, signal: AbortSignal.timeout(30_000) }).catch(
    (err: Error) => {
      throw new InputError({
        code: 'E_OCI_DIGEST',
        message: `cannot reach ${url}: ${err.message}`,
        context,
        hint: 'check the server URL and that the server runs (port-forward?)',
      });
    },
  );
  const body = await readBodyLimited(res, MAX_MANIFEST_BYTES).catch(() => Buffer.alloc(0));
  let digest = res.headers.get('docker-content-digest') ?? '';
  let doc: IndexDoc = {};
  try {
    doc = JSON.parse(body.toString('utf8')) as IndexDoc;
  } catch {
    /* not JSON: no digest below */
  }
  if (Array.isArray(doc.manifests)) {
    const amd64 = doc.manifests.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64');
    digest = (amd64 ?? (doc.manifests.length === 1 ? doc.manifests[0] : undefined))?.digest ?? '';
  }
  if (res.status !== 200 || !isDigest(digest)) {
    throw new InputError({
      code: 'E_OCI_DIGEST',
      message: `${url} answered HTTP ${res.status} without a manifest digest`,
      context,
      hint: 'the server image predates the OCI view: rebuild it, or leave out --oci',
    });
  }
  return digest;
}

/** `name/version` -> image manifest digest for each entry; `source` is a tree root or a server URL. */
export async function loadTagDigests(
  source: string,
  entries: ReadonlyArray<{ name: string; version: string }>,
): Promise<Map<string, string>> {
  if (!/^https?:\/\//.test(source)) return tagDigestsFromTree(source, entries);
  const base = source.replace(/\/+$/, '');
  const out = new Map<string, string>();
  for (const e of entries) out.set(`${e.name}/${e.version}`, await fromServer(base, e));
  return out;
}
