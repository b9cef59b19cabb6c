/**
 * `verify` for the OCI view: every manifest and blob file hashes to its name, tags are exactly the
 * tree's versions, kept source manifests carry the digest metadata recorded, generated images are what
 * the tree's bytes give today, and the files Nginx serves or includes match view.json.
 */
import * as fs from 'fs';
import * as path from 'path';
import { VerifyError } from '../errors';
import { cpuPool } from '../content/cpu-pool';
import { holdsTextSync } from '../content/fs-fast';
import type { FileDigest, FramedHashes } from '../content/cpu-worker';
import { GZ_FILE, PLUGINS_DIR, PluginMetadata, WASM_FILE } from '../contract/tree-format';
import { readAllMetadata } from '../tree/read';
import { buildImage, imageOf } from './image';
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
import { textFiles, viewChunks } from './render';
import { flat, isConcatOf } from '../content/lines';

const HINT = 'run `index <root>` (or `pull` again) to rewrite the OCI view';

/** Files read per worker task (content/cpu-worker.ts `file-digests`). */
const FILES_PER_TASK = 256;

/** Size and sha256 of every file, read on the CPU pool's threads; with `skipLinked`, see FileDigest's `inode`. */
async function digestsOf(files: readonly string[], skipLinked = false): Promise<Map<string, FileDigest>> {
  const parts: string[][] = [];
  for (let i = 0; i < files.length; i += FILES_PER_TASK) parts.push(files.slice(i, i + FILES_PER_TASK));
  const out = new Map<string, FileDigest>();
  await Promise.all(
    parts.map(async (part) => {
      const got = (await cpuPool().run({ kind: 'file-digests', files: part, textUpTo: 0, skipLinked })) as FileDigest[];
      part.forEach((f, i) => out.set(f, got[i]));
    }),
  );
  return out;
}

export interface VerifyViewOptions {
  /**
   * By `name/version`: the framed hashes of the version's plugin.wasm and .gz as `verifyTree` read
   * them; a generated image is derived from these instead of reading both files again.
   */
  framed?: ReadonlyMap<string, FramedHashes | undefined>;
  /** The tree's metadata as `verifyTree` read it (read again when not given). */
  metas?: readonly PluginMetadata[];
  /**
   * By `dev:ino`: size and sha256 of the tree's files with other links, as `verifyTree` read them; a
   * blob that is one of them (a kept image's wasm layer) is not read again.
   */
  linked?: ReadonlyMap<string, { size: number; sha256: string }>;
}

/**
 * The problems of the view's text files (catalog, tag lists, pages, Nginx maps) against what view.json
 * renders. The main thread reads each in pieces with synchronous calls and compares it in
 * place (no hash, no copy between threads) while the pool's threads hash manifests, blobs and the tree; it
 * yields every TEXTS_PER_TURN files so the pool's replies are handed on without waiting for it.
 */
async function textProblems(dir: string, view: ViewFile): Promise<Array<{ message: string; file: string }>> {
  const out: Array<{ message: string; file: string }> = [];
  let done = 0;
  for (const [rel, pieces] of textFiles(view)) {
    const file = path.join(dir, rel);
    const same = holdsTextSync(file, pieces);
    if (!same)
      out.push({
        message: `${OCI_DIR}/${rel} ${same === undefined ? 'is missing' : 'does not match view.json'}`,
        file,
      });
    if (++done % TEXTS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return out;
}

/** Text files compared between two turns of the event loop (see textProblems). */
const TEXTS_PER_TURN = 256;

/**
 * view.json parsed, and whether it is in canonical form; throws when it is missing or not a view. Its
 * text (18 MB at 20,000 versions) is not kept past this call.
 */
async function readView(file: string): Promise<{ view: ViewFile; canonical: boolean }> {
  const text = await fs.promises.readFile(file, 'utf8');
  const view = JSON.parse(text) as ViewFile;
  if (view.schemaVersion !== VIEW_SCHEMA_VERSION || !Array.isArray(view.tags)) throw new Error('shape');
  return { view, canonical: isConcatOf(text, viewChunks(view)) };
}

/**
 * `opts` may still be coming (a promise of what `verifyTree` reads): the view's own files are read and
 * compared meanwhile, and the tags are checked once it is there.
 */
export async function verifyOciView(
  root: string,
  opts: VerifyViewOptions | PromiseLike<VerifyViewOptions> = {},
): Promise<VerifyError[]> {
  const dir = path.join(root, OCI_DIR);
  const problems: VerifyError[] = [];
  const fail = (message: string, context: { plugin?: string; version?: string; file?: string } = {}) =>
    problems.push(new VerifyError({ code: 'E_VERIFY_OCI', message, context, hint: HINT }));
  let view: ViewFile;
  const viewFile = path.join(dir, VIEW_FILE);
  try {
    const read = await readView(viewFile);
    view = read.view;
    if (!read.canonical) fail(`${VIEW_FILE} is not in canonical form`, { file: viewFile });
  } catch {
    await opts; // settled either way, so a failure of the tree's read is not left unobserved
    fail(`${OCI_DIR}/${VIEW_FILE} missing or invalid`, { file: viewFile });
    return problems;
  }
  // Every manifest and blob file is read once, on the CPU pool, before the tags are checked; the
  // text files are compared on this thread meanwhile.
  // Flat: 60,000 paths at 20,000 versions, each a key of the digests read.
  const manifestFile = (x: { digest: string; mediaType: string }) =>
    flat(path.join(dir, MANIFESTS_DIR, manifestFileName(x)));
  const blobFile = (digest: string) => flat(path.join(dir, BLOBS_DIR, hexOf(digest)));
  const reading = digestsOf(
    [
      ...new Set(
        view.tags.flatMap((t) => [
          ...t.manifests.filter((x) => MANIFEST_KINDS[x.mediaType]).map(manifestFile),
          ...t.blobs.map((b) => blobFile(b.digest)),
        ]),
      ),
    ],
    true,
  );
  reading.catch(() => undefined); // awaited below; observed now in case this function fails before then
  const texts = await textProblems(dir, view);
  const tree = await opts;
  const metas = new Map((tree.metas ?? (await readAllMetadata(root))).map((m) => [`${m.name}/${m.version}`, m]));
  const tagged = new Set(view.tags.map((t) => `${t.name}/${t.version}`));
  for (const [k, m] of metas)
    if (!tagged.has(k)) fail(`plugin version ${k} has no tag in the OCI view`, { plugin: m.name, version: m.version });
  const read = await reading;
  // A file with other links that the tree's read did not hash (no tree file is that inode) is read now.
  const again = [...read].filter(([f, d]) => {
    const known = d.inode === undefined ? undefined : tree.linked?.get(d.inode);
    if (known) read.set(f, known);
    return d.inode !== undefined && !known;
  });
  for (const [f, d] of await digestsOf(again.map(([f]) => f))) read.set(f, d);
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
      const sha = read.get(manifestFile(x))?.sha256;
      const got = sha === undefined ? 'missing' : `sha256:${sha}`;
      if (got !== x.digest)
        fail(`manifest ${x.digest} is ${got === 'missing' ? 'missing' : `corrupt (sha256 ${got})`}`, ctx);
    }
    for (const b of t.blobs) {
      if (!checkedBlobs.has(b.digest)) {
        const got = read.get(blobFile(b.digest));
        checkedBlobs.set(b.digest, got?.size === b.size && `sha256:${got.sha256}` === b.digest);
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
      const framed = tree.framed?.get(`${t.name}/${t.version}`);
      const image = framed
        ? imageOf(framed, m.created)
        : await buildImage(path.join(vdir, WASM_FILE), path.join(vdir, GZ_FILE), m.size, m.created).catch(
            () => undefined,
          );
      if (image?.manifestDigest !== t.digest)
        fail(
          `generated manifest ${t.digest} is not the one the tree's bytes give (${image?.manifestDigest ?? 'unreadable'})`,
          ctx,
        );
    }
  }
  for (const t of texts) fail(t.message, { file: t.file });
  return problems;
}
