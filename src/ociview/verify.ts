/**
 * `verify` for the OCI view: every manifest and blob file hashes to its name, tags are exactly the
 * tree's versions, kept source manifests carry the digest metadata recorded, generated images are what
 * the tree's bytes give today, and the files Nginx serves or includes match view.json.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { VerifyError } from '../errors';
import { sha256OfFile } from '../content/fsutil';
import { GZ_FILE, PLUGINS_DIR, WASM_FILE } from '../contract/tree-format';
import { readAllMetadata } from '../tree/read';
import { buildImage } from './image';
import {
  BLOBS_DIR,
  hexOf,
  manifestFileName,
  MANIFEST_KINDS,
  MANIFESTS_DIR,
  OCI_DIR,
  ViewFile,
  VIEW_FILE,
  VIEW_SCHEMA_VERSION,
} from './layout';
import { renderTextFiles, renderView } from './render';

const HINT = 'run `index <root>` (or `pull` again) to rewrite the OCI view';

export async function verifyOciView(root: string): Promise<VerifyError[]> {
  const dir = path.join(root, OCI_DIR);
  const problems: VerifyError[] = [];
  const fail = (message: string, context: { plugin?: string; version?: string; file?: string } = {}) =>
    problems.push(new VerifyError({ code: 'E_VERIFY_OCI', message, context, hint: HINT }));
  let view: ViewFile;
  const viewFile = path.join(dir, VIEW_FILE);
  try {
    const text = await fs.promises.readFile(viewFile, 'utf8');
    view = JSON.parse(text) as ViewFile;
    if (view.schemaVersion !== VIEW_SCHEMA_VERSION || !Array.isArray(view.tags)) throw new Error('shape');
    if (text !== renderView(view)) fail(`${VIEW_FILE} is not in canonical form`, { file: viewFile });
  } catch {
    fail(`${OCI_DIR}/${VIEW_FILE} missing or invalid`, { file: viewFile });
    return problems;
  }
  const metas = new Map((await readAllMetadata(root)).map((m) => [`${m.name}/${m.version}`, m]));
  const tagged = new Set(view.tags.map((t) => `${t.name}/${t.version}`));
  for (const [k, m] of metas)
    if (!tagged.has(k)) fail(`plugin version ${k} has no tag in the OCI view`, { plugin: m.name, version: m.version });
  const checkedBlobs = new Map<string, boolean>();
  for (const t of view.tags) {
    const ctx = { plugin: t.name, version: t.version };
    const m = metas.get(`${t.name}/${t.version}`);
    if (!m) {
      fail('tag has no plugin folder', ctx);
      continue;
    }
    if (t.manifests[0]?.digest !== t.digest)
      fail(`tag points at ${t.digest} but its first manifest is ${t.manifests[0]?.digest}`, ctx);
    for (const x of t.manifests) {
      if (!MANIFEST_KINDS[x.mediaType]) {
        fail(`manifest ${x.digest} has unsupported media type ${x.mediaType}`, ctx);
        continue;
      }
      const file = path.join(dir, MANIFESTS_DIR, manifestFileName(x));
      const got = await fs.promises.readFile(file).then(
        (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`,
        () => 'missing',
      );
      if (got !== x.digest)
        fail(`manifest ${x.digest} is ${got === 'missing' ? 'missing' : `corrupt (sha256 ${got})`}`, ctx);
    }
    for (const b of t.blobs) {
      if (!checkedBlobs.has(b.digest)) {
        const file = path.join(dir, BLOBS_DIR, hexOf(b.digest));
        const st = await fs.promises.stat(file).catch(() => undefined);
        checkedBlobs.set(b.digest, !!st && st.size === b.size && `sha256:${await sha256OfFile(file)}` === b.digest);
      }
      if (!checkedBlobs.get(b.digest)) fail(`blob ${b.digest} is missing or does not hash to its name`, ctx);
    }
    if (t.form === 'original') {
      if (m.manifestDigest !== t.digest)
        fail(`kept source manifest ${t.digest} differs from metadata manifestDigest ${m.manifestDigest}`, ctx);
      if (!t.blobs.some((b) => b.digest === `sha256:${m.sha256}`))
        fail(`kept source manifest ${t.digest} does not name ${WASM_FILE} (sha256:${m.sha256})`, ctx);
    } else {
      const vdir = path.join(root, PLUGINS_DIR, t.name, t.version);
      const image = await buildImage(path.join(vdir, WASM_FILE), path.join(vdir, GZ_FILE), m.size, m.created).catch(
        () => undefined,
      );
      if (image?.manifestDigest !== t.digest)
        fail(
          `generated manifest ${t.digest} is not the one the tree's bytes give (${image?.manifestDigest ?? 'unreadable'})`,
          ctx,
        );
    }
  }
  for (const [rel, text] of renderTextFiles(view)) {
    const got = await fs.promises.readFile(path.join(dir, rel), 'utf8').catch(() => undefined);
    if (got !== text)
      fail(`${OCI_DIR}/${rel} ${got === undefined ? 'is missing' : 'does not match view.json'}`, {
        file: path.join(dir, rel),
      });
  }
  return problems;
}
