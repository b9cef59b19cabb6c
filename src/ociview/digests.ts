/**
 * Manifest digests of plugin versions in the OCI view, for `wasmplugins --oci`: from a tree on disk
 * (`oci/view.json`) or from a running server. It is the digest of the image manifest the gateway
 * loads: for a tag that names an index, the linux/amd64 entry's (Istio resolves the index to that
 * image and checks the image's digest).
 */
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_DIR, OCI_INDEX, OCI_MANIFEST, repositoryName, ViewFile, VIEW_FILE } from './layout';

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const ACCEPT = [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST].join(', ');

export async function loadTagDigests(source: string, entries: Array<{ name: string; version: string }>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (/^https?:\/\//.test(source)) {
    const base = source.replace(/\/+$/, '');
    for (const e of entries) {
      const url = `${base}/v2/${repositoryName(e.name)}/manifests/${e.version}`;
      const res = await fetch(url, { headers: { accept: ACCEPT }, signal: AbortSignal.timeout(30000) }).catch((err: Error) => {
        throw new InputError('E_OCI_DIGEST', `cannot reach ${url}: ${err.message}`, { url, plugin: e.name, version: e.version }, 'check the server URL');
      });
      let digest = res.headers.get('docker-content-digest') ?? '';
      const doc = (await res.json().catch(() => ({}))) as { manifests?: Array<{ digest: string; platform?: { os?: string; architecture?: string } }> };
      if (doc.manifests) digest = (doc.manifests.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64') ?? (doc.manifests.length === 1 ? doc.manifests[0] : undefined))?.digest ?? '';
      if (res.status !== 200 || !DIGEST.test(digest)) {
        throw new InputError('E_OCI_DIGEST', `${url} answered HTTP ${res.status} without a manifest digest`, { url, plugin: e.name, version: e.version }, 'the server image predates the OCI view: rebuild it, or leave out --oci');
      }
      out.set(`${e.name}/${e.version}`, digest);
    }
    return out;
  }
  const file = path.join(source, OCI_DIR, VIEW_FILE);
  let view: ViewFile;
  try {
    view = JSON.parse(fs.readFileSync(file, 'utf8')) as ViewFile;
  } catch {
    throw new InputError('E_OCI_VIEW_MISSING', `no OCI view at ${file}`, { file }, `run \`index ${source}\` to write it`);
  }
  for (const t of view.tags ?? []) {
    const image = t.manifests?.[t.manifests.length - 1]?.digest ?? '';
    if (DIGEST.test(image)) out.set(`${t.name}/${t.version}`, image);
  }
  for (const e of entries) {
    if (!out.has(`${e.name}/${e.version}`)) throw new InputError('E_OCI_VIEW_MISSING', `the OCI view has no tag for ${e.name}@${e.version}`, { file, plugin: e.name, version: e.version }, `run \`index ${source}\` to rewrite it`);
  }
  return out;
}
