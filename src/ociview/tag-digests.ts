/**
 * Manifest digests of plugin versions in a tree's OCI view (`oci/view.json`), for `wasmplugins --oci`.
 * It is the digest of the image manifest the gateway loads: for a tag that names an index, the chosen
 * linux/amd64 entry's (Istio resolves the index to that image and checks the image's digest).
 */
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { isDigest } from '../contract/digest';
import { OCI_DIR, ViewFile, VIEW_FILE } from './layout';

/** `name/version` -> image manifest digest, for every entry asked; a missing view or tag is an InputError. */
export function tagDigestsFromTree(
  root: string,
  entries: ReadonlyArray<{ name: string; version: string }>,
): Map<string, string> {
  const file = path.join(root, OCI_DIR, VIEW_FILE);
  let view: ViewFile;
  try {
    view = JSON.parse(fs.readFileSync(file, 'utf8')) as ViewFile;
  } catch {
    throw new InputError({
      code: 'E_OCI_VIEW_MISSING',
      message: `no OCI view at ${file}`,
      context: { path: file },
      hint: `run \`index ${root}\` to write it`,
    });
  }
  const out = new Map<string, string>();
  for (const t of Array.isArray(view.tags) ? view.tags : []) {
    const image = t.manifests?.[t.manifests.length - 1]?.digest ?? '';
    if (isDigest(image)) out.set(`${t.name}/${t.version}`, image);
  }
  for (const e of entries) {
    if (!out.has(`${e.name}/${e.version}`)) {
      throw new InputError({
        code: 'E_OCI_VIEW_MISSING',
        message: `the OCI view has no tag for ${e.name}@${e.version}`,
        context: { path: file, plugin: e.name, version: e.version },
        hint: `run \`index ${root}\` to rewrite it`,
      });
    }
  }
  return out;
}
