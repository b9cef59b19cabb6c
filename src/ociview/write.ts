/**
 * Writes the OCI view of a tree (layout.ts) from the tree's metadata and bytes. A version keeps its
 * source's manifest when this run fetched it (or the previous view holds it) and its wasm layer is
 * plugin.wasm unchanged; any other version gets the generated image (image.ts). The whole view is
 * built in a temp folder and swapped in with two renames, like a version folder.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as fastFs from '../content/fs-fast';
import { InputError, IntegrityError } from '../errors';
import { randomSuffix, sha256OfFile, syncDir, writeChunksDurable, writeFileDurable } from '../content/fsutil';
import { DURABLE_WRITE_CONCURRENCY, forEachLimit, mapLimit, TREE_READ_CONCURRENCY } from '../content/pool';
import { assertNoIdentityClash, compareEntries } from '../contract/plugin-identity';
import { GZ_FILE, PLUGINS_DIR, PluginMetadata, WASM_FILE } from '../contract/tree-format';
import { OCI_MANIFEST, parseManifest } from '../oci/registry/media';
import type { ImageManifest } from '../oci/registry/media';
import { gatewayLoads, WASM_LAYER } from '../oci/wasm/layers';
import type { OriginalArtifact } from '../oci/types';
import { OLD_PREFIX, TMP_PREFIX } from '../tree/publish';
import { readMetadata, readVersionMetadata, TreeReads } from '../tree/read';
import { EPOCH } from '../tree/render';
import { VerifiedFiles } from '../tree/verified-files';
import { buildImage, GeneratedImage } from './image';
import {
  BLOBS_DIR,
  hexOf,
  MANIFEST_KINDS,
  manifestFileName,
  MANIFESTS_DIR,
  MAPS_DIR,
  OCI_DIR,
  TAGS_DIR,
  ViewBlob,
  ViewFile,
  ViewManifest,
  ViewTag,
  VIEW_FILE,
  VIEW_SCHEMA_VERSION,
} from './layout';
import { renderView, textFiles, viewChunks } from './render';

export interface WriteViewOptions {
  /** Source manifests and side blobs fetched by this run, by top-level manifest digest. */
  originals?: ReadonlyMap<string, OriginalArtifact>;
  /**
   * Files this run or the last one read (src/tree/verified-files.ts): a view that is still exactly
   * what this run would write is kept untouched, and a generated image made from the same bytes is
   * reused instead of read again. Without it every file is read and the view rewritten.
   */
  verified?: VerifiedFiles;
  /** The run's reads of the tree (src/tree/read.ts), so folders it has read are not read again. */
  reads?: TreeReads;
}

/** An original's manifests (exact bytes) and side-blob files, from this run's temp folder or the previous view. */
interface OriginalFiles {
  manifests: Array<ViewManifest & { bytes: Buffer }>;
  /** Side blobs only; the wasm layer is always plugin.wasm. */
  blobs: Map<string, string>;
  wasmLayer: string;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The image manifest of an original chain (its last manifest), parsed; undefined when it is not one. */
function imageOf(o: Pick<OriginalFiles, 'manifests'>): ImageManifest | undefined {
  const last = o.manifests[o.manifests.length - 1];
  if (!last) return undefined;
  try {
    const m = parseManifest(last.bytes, last.mediaType, 'oci view');
    return m.kind === 'manifest' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Config and layers of an image manifest, in manifest order. */
function blobsOf(image: ImageManifest): ViewBlob[] {
  return [...(image.config ? [image.config] : []), ...image.layers].map((d) => ({ digest: d.digest, size: d.size }));
}

export async function readView(dir: string): Promise<ViewFile | undefined> {
  try {
    const v = JSON.parse(await fs.promises.readFile(path.join(dir, VIEW_FILE), 'utf8')) as ViewFile;
    return v && v.schemaVersion === VIEW_SCHEMA_VERSION && Array.isArray(v.tags) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** What is wrong with a file of the view: missing, or other bytes than its digest. */
async function damage(file: string, digest: string, what: string): Promise<string | undefined> {
  const bytes = await fastFs.readFile(file).catch(() => undefined);
  if (!bytes) return `${what} ${digest} is missing`;
  return sha256(bytes) === digest ? undefined : `${what} ${digest} was replaced (its file hashes to ${sha256(bytes)})`;
}

/**
 * Originals of the previous view, every manifest and side blob re-checked by sha256 before reuse;
 * `damaged` says, by manifest digest, why an original the view served cannot be served again.
 */
async function previousOriginals(
  oldDir: string,
  view: ViewFile | undefined,
): Promise<Map<string, OriginalFiles> & { damaged: Map<string, string> }> {
  const out = Object.assign(new Map<string, OriginalFiles>(), { damaged: new Map<string, string>() });
  for (const t of view?.tags ?? []) {
    if (t.form !== 'original' || out.has(t.digest) || out.damaged.has(t.digest)) continue;
    if (!t.manifests.every((m) => MANIFEST_KINDS[m.mediaType])) continue;
    const manifests = [];
    let why: string | undefined;
    for (const m of t.manifests) {
      const file = path.join(oldDir, MANIFESTS_DIR, manifestFileName(m));
      why ??= await damage(file, m.digest, 'manifest');
      if (!why) manifests.push({ ...m, bytes: await fs.promises.readFile(file) });
    }
    const image = why ? undefined : imageOf({ manifests });
    const wasmLayer = image?.layers.find((l) => l.mediaType === WASM_LAYER)?.digest;
    const blobs = new Map<string, string>();
    for (const b of image ? blobsOf(image) : []) {
      if (b.digest === wasmLayer) continue; // plugin.wasm, checked against metadata by the caller
      const file = path.join(oldDir, BLOBS_DIR, hexOf(b.digest));
      why ??= await damage(file, b.digest, image?.config?.digest === b.digest ? 'config blob' : 'blob');
      blobs.set(b.digest, file);
    }
    if (why) out.damaged.set(t.digest, why);
    else if (image && wasmLayer) out.set(t.digest, { manifests, blobs, wasmLayer });
  }
  return out;
}

/**
 * The source manifest digest is the OCI view's identity of a version (RELIABILITY.md): what a
 * WasmPlugin, a lock or an `oci://…@sha256:` reference was made against. Versions whose tag in the
 * current view is their source's own manifest (the digest their metadata records) but whose kept
 * files are missing or replaced, by `<name>/<version>`, with the reason: a generated image would
 * change the tag's digest, so `pull` fetches them from the source again and `index` refuses.
 */
export async function originalsToRestore(root: string): Promise<Map<string, { digest: string; why: string }>> {
  const dir = path.join(root, OCI_DIR);
  const view = await readView(dir);
  const out = new Map<string, { digest: string; why: string }>();
  if (!view?.tags.some((t) => t.form === 'original')) return out;
  const { damaged } = await previousOriginals(dir, view);
  for (const t of view.tags) {
    const why = t.form === 'original' ? damaged.get(t.digest) : undefined;
    if (!why) continue;
    const m = await readMetadata(path.join(root, PLUGINS_DIR, t.name, t.version));
    if (m?.manifestDigest === t.digest) out.set(`${t.name}/${t.version}`, { digest: t.digest, why });
  }
  return out;
}

/** The error for a version whose source manifest cannot be served again (see originalsToRestore). */
export function identityLost(id: { name: string; version: string }, digest: string, why: string): IntegrityError {
  return new IntegrityError({
    code: 'E_OCI_VIEW_IDENTITY',
    message: `the OCI view serves ${id.name}:${id.version} as its source manifest ${digest}, but its ${why}; a generated image would silently give the tag another digest`,
    context: { plugin: id.name, version: id.version },
    hint: '`pull` fetches it from the source again; if the source is gone, restore oci/ from a backup',
  });
}

/**
 * The metadata of every version folder whose metadata names that folder: names and versions become
 * map keys and file names of the view, so only folder names that passed SAFE_SEGMENT get there.
 */
async function versionsOf(reads: TreeReads): Promise<PluginMetadata[]> {
  return (await readVersionMetadata(await reads.versionDirs(), reads))
    .map(({ dir: v, meta: m }) => (m && m.name === v.name && m.version === v.version ? m : undefined))
    .filter((m): m is PluginMetadata => m !== undefined);
}

/**
 * Refuses to replace a `<root>/oci` this tool did not write (a folder of the user's next to the tree,
 * e.g. `--out .` in a project that has one): the view replaces the whole folder. Ours has view.json.
 * Call before changing anything, so a refused run leaves the tree as it was.
 */
export async function assertOciDirIsOurs(root: string): Promise<void> {
  const dir = path.join(root, OCI_DIR);
  const st = await fs.promises.lstat(dir).catch(() => undefined);
  if (!st) return;
  const ours =
    st.isDirectory() && (fs.existsSync(path.join(dir, VIEW_FILE)) || (await fs.promises.readdir(dir)).length === 0);
  if (!ours) {
    throw new InputError({
      code: 'E_OUTPUT_NOT_OURS',
      message: `${dir} exists and is not an OCI view this tool wrote (no ${VIEW_FILE})`,
      context: { path: dir },
      hint: `move it away: the tree's OCI view is written to ${OCI_DIR}/ next to plugins/`,
    });
  }
}

/** Writes `<root>/oci` for the tree as it is now; returns the view written. */
export async function writeOciView(root: string, opts: WriteViewOptions = {}): Promise<ViewFile> {
  await assertOciDirIsOurs(root);
  const oldDir = path.join(root, OCI_DIR);
  const verified = opts.verified ?? VerifiedFiles.none(root);
  const previous = await readView(oldDir);
  const kept = await previousOriginals(oldDir, previous);
  const reusable = new Map(kept);
  for (const [digest, o] of opts.originals ?? []) {
    reusable.set(digest, {
      manifests: o.manifests,
      blobs: new Map(o.blobs.map((b) => [b.digest, b.path])),
      wasmLayer: o.wasmLayer,
    });
  }
  const metas = (await versionsOf(opts.reads ?? new TreeReads(root))).sort(compareEntries);
  // Before anything is written: a set Nginx or the view's files cannot hold is refused whole.
  assertNoIdentityClash(metas);
  const prior: Prior = {
    dir: oldDir,
    tags: new Map((previous?.tags ?? []).map((t) => [`${t.name}/${t.version}`, t])),
    verified,
  };
  // ... and so is a version that would lose its source digest (a kept side blob lost or replaced).
  for (const m of metas) {
    const t = prior.tags.get(`${m.name}/${m.version}`);
    if (t?.form === 'original' && t.digest === m.manifestDigest && !usableOriginal(m, reusable)) {
      const why = kept.damaged.get(t.digest);
      if (why) throw identityLost(m, t.digest, why);
    }
  }
  if (previous && (await stillCurrent(root, previous, metas, kept, reusable, prior))) return previous;
  const tmp = path.join(root, `${TMP_PREFIX}oci-${randomSuffix()}`);
  try {
    for (const d of [BLOBS_DIR, MANIFESTS_DIR, TAGS_DIR, MAPS_DIR])
      await fs.promises.mkdir(path.join(tmp, d), { recursive: true });
    const images: ImageCache = new Map();
    // Versions are independent until the blobs folder, whose content-addressed names tolerate either
    // writer first; a few at once overlap one version's hashing with another's disk writes.
    const tags = await mapLimit(metas, VIEW_CONCURRENCY, (m) => writeVersion(root, tmp, m, reusable, images, prior));
    images.clear(); // every tag holds what it needs: 20,000 versions kept 7 MB here to the end
    const view: ViewFile = { schemaVersion: VIEW_SCHEMA_VERSION, tags };
    const newest = new Date(metas.reduce((max, m) => (m.created > max ? m.created : max), EPOCH));
    await writeChunksDurable(path.join(tmp, VIEW_FILE), viewChunks(view), newest);
    // Thousands of small files at a few thousand repositories (the list pages): their fsyncs overlap.
    // They are made as they are written, so only the files in flight are held (textFiles).
    const dirs = new Map<string, Promise<unknown>>();
    await forEachLimit(textFiles(view), DURABLE_WRITE_CONCURRENCY, async ([rel, pieces]) => {
      const file = path.join(tmp, rel);
      const d = path.dirname(file);
      let made = dirs.get(d);
      if (!made) dirs.set(d, (made = fs.promises.mkdir(d, { recursive: true })));
      await made;
      if (pieces.length === 1) await writeFileDurable(file, pieces[0], newest);
      else await writeChunksDurable(file, pieces, newest);
    });
    const synced = new Set([
      ...dirs.keys(),
      ...[BLOBS_DIR, MANIFESTS_DIR, TAGS_DIR, MAPS_DIR].map((d) => path.join(tmp, d)),
    ]);
    await mapLimit([...synced], DURABLE_WRITE_CONCURRENCY, (d) => syncDir(d));
    await syncDir(tmp);
    await swapView(tmp, oldDir);
    // Layers written now: the next run need not read them to reuse them.
    for (const t of tags)
      if (t.from)
        await verified.vouchWritten(path.join(oldDir, BLOBS_DIR, hexOf(t.blobs[1].digest)), hexOf(t.blobs[1].digest));
    return view;
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Hardlinks a blob into the view: plugin.wasm itself for a raw wasm layer, so the bytes are stored
 * once on disk and in the image layer (never copied). A side blob is a file this module owns, so it
 * takes the version's time; plugin.wasm keeps the tree's.
 */
async function placeBlob(src: string, dest: string, created: Date): Promise<void> {
  if (fs.existsSync(dest)) return; // content-addressed: same name, same bytes
  try {
    await fs.promises.link(src, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return; // another version placed it first
    throw err;
  }
  if (path.basename(src) !== WASM_FILE) await fs.promises.utimes(dest, created, created);
}

/** The original of this version when it can be served unchanged: its wasm layer is plugin.wasm and the gateway loads its form. */
function usableOriginal(
  m: PluginMetadata,
  reusable: Map<string, OriginalFiles>,
): { original: OriginalFiles; image: ImageManifest } | undefined {
  const original = m.manifestDigest ? reusable.get(m.manifestDigest) : undefined;
  if (
    !original ||
    original.wasmLayer !== `sha256:${m.sha256}` ||
    !original.manifests.every((x) => MANIFEST_KINDS[x.mediaType])
  )
    return undefined;
  const image = imageOf(original);
  return image && gatewayLoads(image) ? { original, image } : undefined;
}

/** What the view keeps of a generated image once its manifest and config are written: digests and sizes. */
type WrittenImage = Omit<GeneratedImage, 'manifest' | 'config'> & { configSize: number };

/**
 * Generated images of this run by the files' identity: aliases share plugin.wasm and .gz (hardlinks),
 * so each is hashed once. It holds what a tag needs, not the manifest and config bytes: those are
 * written when made, and a later alias finds them on disk (20,000 versions: no 40,000 small buffers
 * held to the end).
 */
type ImageCache = Map<string, Promise<WrittenImage>>;

/** The image of these files, made and written once: layer into `tmp`'s blobs as it is made, then manifest and config. */
async function imageOnce(
  images: ImageCache,
  wasm: string,
  gz: string,
  m: PluginMetadata,
  tmp: string,
): Promise<WrittenImage> {
  // Joined, not a template: a key of one flat string, not a rope of a dozen pieces per version.
  const id = (st: fs.Stats) => [st.dev, st.ino, st.size, st.mtimeMs].join(':');
  const key = [id(await fastFs.stat(wasm)), id(await fastFs.stat(gz)), m.size, m.created].join('|');
  let image = images.get(key);
  if (!image) images.set(key, (image = writeImage(wasm, gz, m, tmp)));
  return image;
}

async function writeImage(wasm: string, gz: string, m: PluginMetadata, tmp: string): Promise<WrittenImage> {
  const created = new Date(m.created);
  const img = await buildImage(wasm, gz, m.size, m.created, { layerDir: path.join(tmp, BLOBS_DIR) });
  const manifestFile = manifestFileName({ digest: img.manifestDigest, mediaType: OCI_MANIFEST });
  await writeOnce(path.join(tmp, MANIFESTS_DIR, manifestFile), img.manifest, created);
  await writeOnce(path.join(tmp, BLOBS_DIR, hexOf(img.configDigest)), img.config, created);
  // Kept for every version until the view is written: one literal, so all of them share one shape
  // (objects made by rest or spread got a hidden class each, about 0.5 KB per version at 20,000).
  return {
    manifestDigest: img.manifestDigest,
    configDigest: img.configDigest,
    configSize: img.config.length,
    layerDigest: img.layerDigest,
    layerSize: img.layerSize,
    wasmSha256: img.wasmSha256,
    gzSha256: img.gzSha256,
  };
}

/** The tag of a version served by its source's own manifests. */
function originalTag(m: PluginMetadata, original: OriginalFiles, image: ImageManifest): ViewTag {
  return {
    name: m.name,
    version: m.version,
    digest: original.manifests[0].digest,
    form: 'original',
    manifests: original.manifests.map(({ digest, mediaType }) => ({ digest, mediaType })),
    blobs: blobsOf(image),
  };
}

/** Writes a small file of the view once; a concurrent writer of the same content-addressed name may win. */
async function writeOnce(dest: string, data: Buffer, created: Date): Promise<void> {
  if (fs.existsSync(dest)) return;
  await writeFileDurable(dest, data, created);
}

async function writeVersion(
  root: string,
  tmp: string,
  m: PluginMetadata,
  reusable: Map<string, OriginalFiles>,
  images: ImageCache,
  prior: Prior,
): Promise<ViewTag> {
  const dir = path.join(root, PLUGINS_DIR, m.name, m.version);
  const wasm = path.join(dir, WASM_FILE);
  const created = new Date(m.created);
  const kept = usableOriginal(m, reusable);
  if (kept) {
    const { original, image } = kept;
    for (const x of original.manifests)
      await writeOnce(path.join(tmp, MANIFESTS_DIR, manifestFileName(x)), x.bytes, created);
    const blobs = blobsOf(image);
    for (const b of blobs) {
      const src = b.digest === original.wasmLayer ? wasm : original.blobs.get(b.digest);
      if (!src) {
        throw new IntegrityError({
          code: 'E_OCI_VIEW',
          message: `blob ${b.digest} of the source manifest ${m.manifestDigest} is missing`,
          context: { plugin: m.name, version: m.version },
          hint: 'run pull again',
        });
      }
      await placeBlob(src, path.join(tmp, BLOBS_DIR, hexOf(b.digest)), created);
    }
    return originalTag(m, original, image);
  }
  const gz = path.join(dir, GZ_FILE);
  const again = await previousImage(root, prior.tags.get(`${m.name}/${m.version}`), m, prior);
  if (again) {
    await writeOnce(path.join(tmp, MANIFESTS_DIR, manifestFileName(again.tag.manifests[0])), again.manifest, created);
    await writeOnce(path.join(tmp, BLOBS_DIR, hexOf(again.tag.blobs[0].digest)), again.config, created);
    await placeBlob(again.layerFile, path.join(tmp, BLOBS_DIR, hexOf(again.tag.blobs[1].digest)), created);
    return again.tag;
  }
  const generated = await imageOnce(images, wasm, gz, m, tmp);
  const manifest = { digest: generated.manifestDigest, mediaType: OCI_MANIFEST };
  return {
    name: m.name,
    version: m.version,
    digest: generated.manifestDigest,
    form: 'generated',
    manifests: [manifest],
    blobs: [
      { digest: generated.configDigest, size: generated.configSize },
      { digest: generated.layerDigest, size: generated.layerSize },
    ],
    from: { sha256: generated.wasmSha256, gzipSha256: generated.gzSha256, size: m.size, created: m.created },
  };
}

/** How many versions the view writes at once: each a few small durable writes (DURABLE_WRITE_CONCURRENCY). */
const VIEW_CONCURRENCY = DURABLE_WRITE_CONCURRENCY;

/** The view being replaced, and what this run and the last one read (verified-files.ts). */
interface Prior {
  dir: string;
  tags: ReadonlyMap<string, ViewTag>;
  verified: VerifiedFiles;
}

async function lstatOrUndefined(file: string): Promise<fs.Stats | undefined> {
  return fastFs.lstat(file).catch(() => undefined);
}

/**
 * The previous view's generated image of this version, when it was made from the bytes and time the
 * version has now (its `from`, and both files known unchanged since they were read) and its own files
 * are intact (manifest and config hashed; the layer known unchanged since written, or hashed).
 */
async function previousImage(
  root: string,
  t: ViewTag | undefined,
  m: PluginMetadata,
  prior: Prior,
): Promise<{ tag: ViewTag; manifest: Buffer; config: Buffer; layerFile: string } | undefined> {
  const f = t?.from;
  if (
    !t ||
    !f ||
    t.form !== 'generated' ||
    t.manifests.length !== 1 ||
    t.manifests[0].mediaType !== OCI_MANIFEST ||
    t.blobs.length !== 2
  )
    return undefined;
  if (f.sha256 !== m.sha256 || f.gzipSha256 !== m.gzipSha256 || f.size !== m.size || f.created !== m.created)
    return undefined;
  const dir = path.join(root, PLUGINS_DIR, m.name, m.version);
  if (
    !(await prior.verified.known(path.join(dir, WASM_FILE), f.sha256)) ||
    !(await prior.verified.known(path.join(dir, GZ_FILE), f.gzipSha256))
  )
    return undefined;
  try {
    const manifest = await fastFs.readFile(path.join(prior.dir, MANIFESTS_DIR, manifestFileName(t.manifests[0])));
    const configBlob = t.blobs[0];
    const config = await fastFs.readFile(path.join(prior.dir, BLOBS_DIR, hexOf(configBlob.digest)));
    if (sha256(manifest) !== t.digest || sha256(config) !== configBlob.digest) return undefined;
    const layer = t.blobs[1];
    const layerFile = path.join(prior.dir, BLOBS_DIR, hexOf(layer.digest));
    if (!(await prior.verified.known(layerFile, hexOf(layer.digest)))) {
      const st = await fastFs.lstat(layerFile, { bigint: true });
      if (!st.isFile() || Number(st.size) !== layer.size || `sha256:${await sha256OfFile(layerFile)}` !== layer.digest)
        return undefined;
      prior.verified.vouch(layerFile, hexOf(layer.digest), st);
    }
    return { tag: t, manifest, config, layerFile };
  } catch {
    return undefined;
  }
}

/**
 * True when the previous view is exactly what this run would write: the same tags in order, each
 * source manifest still usable (its files re-hashed by previousOriginals) with plugin.wasm still the
 * very file of its wasm blob, each generated image reusable (previousImage), and every text file as
 * view.json renders it. Then nothing is rewritten: a pull that changed nothing writes nothing here.
 */
async function stillCurrent(
  root: string,
  view: ViewFile,
  metas: PluginMetadata[],
  kept: ReadonlyMap<string, OriginalFiles>,
  reusable: Map<string, OriginalFiles>,
  prior: Prior,
): Promise<boolean> {
  if (view.tags.length !== metas.length) return false;
  if (!fastFs.holdsTextSync(path.join(prior.dir, VIEW_FILE), viewChunks(view))) return false;
  // Versions are checked concurrently (each a few small reads); the first one that differs stops the rest.
  let current = true;
  await mapLimit(metas, TREE_READ_CONCURRENCY, async (m, i) => {
    if (current && !(await tagStillCurrent(root, view.tags[i], m, kept, reusable, prior))) current = false;
  });
  if (!current) return false;
  // One file at a time, made as it is compared, and read in pieces (fs-fast.ts): the Nginx maps of
  // 20,000 versions are 6 MB each.
  for (const [rel, pieces] of textFiles(view))
    if (!fastFs.holdsTextSync(path.join(prior.dir, rel), pieces)) return false;
  return true;
}

/** One version of stillCurrent: its tag in the previous view is the one this run would write. */
async function tagStillCurrent(
  root: string,
  t: ViewTag,
  m: PluginMetadata,
  kept: ReadonlyMap<string, OriginalFiles>,
  reusable: Map<string, OriginalFiles>,
  prior: Prior,
): Promise<boolean> {
  if (t.name !== m.name || t.version !== m.version) return false;
  const wasm = path.join(root, PLUGINS_DIR, m.name, m.version, WASM_FILE);
  const usable = usableOriginal(m, reusable);
  let want: ViewTag | undefined;
  if (usable) {
    if (!kept.has(usable.original.manifests[0].digest) || !(await prior.verified.known(wasm, m.sha256))) return false;
    const [a, b] = await Promise.all([
      lstatOrUndefined(wasm),
      lstatOrUndefined(path.join(prior.dir, BLOBS_DIR, m.sha256)),
    ]);
    if (!a || !b || a.dev !== b.dev || a.ino !== b.ino) return false; // the wasm blob is plugin.wasm itself
    want = originalTag(m, usable.original, usable.image);
  } else {
    want = (await previousImage(root, t, m, prior))?.tag;
  }
  return (
    !!want &&
    renderView({ schemaVersion: VIEW_SCHEMA_VERSION, tags: [want] }) ===
      renderView({ schemaVersion: VIEW_SCHEMA_VERSION, tags: [t] })
  );
}

/** Replaces `<root>/oci` with `tmp`: the old view is renamed away first and removed after. */
async function swapView(tmp: string, target: string): Promise<void> {
  const old = path.join(path.dirname(target), `${OLD_PREFIX}oci-${randomSuffix()}`);
  let moved = false;
  try {
    await fs.promises.rename(target, old);
    moved = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    await fs.promises.rename(tmp, target);
  } catch (err) {
    if (moved) await fs.promises.rename(old, target);
    throw err;
  }
  await syncDir(path.dirname(target));
  if (moved) await fs.promises.rm(old, { recursive: true, force: true });
}
