/**
 * Writes the OCI view of a tree (layout.ts) from the tree's metadata and bytes. A version keeps its
 * source's manifest when this run fetched it (or the previous view holds it) and its wasm layer is
 * plugin.wasm unchanged; any other version gets the generated image (image.ts). The whole view is
 * built in a temp folder and swapped in with two renames, like a version folder.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { InputError, IntegrityError } from '../errors';
import { randomSuffix, syncDir, writeFileDurable } from '../content/fsutil';
import { compareEntries } from '../contract/plugin-identity';
import { GZ_FILE, PLUGINS_DIR, PluginMetadata, WASM_FILE } from '../contract/tree-format';
import { OCI_MANIFEST, parseManifest } from '../oci/registry/media';
import type { ImageManifest } from '../oci/registry/media';
import { gatewayLoads, WASM_LAYER } from '../oci/wasm/layers';
import type { OriginalArtifact } from '../oci/types';
import { OLD_PREFIX, TMP_PREFIX } from '../tree/publish';
import { listVersionDirs, readMetadata } from '../tree/read';
import { EPOCH } from '../tree/render';
import { buildImage, GeneratedImage, writeLayer } from './image';
import {
  BLOBS_DIR, CATALOG_FILE, hexOf, MANIFEST_KINDS, manifestFileName, MANIFESTS_DIR, MAPS_DIR, OCI_DIR, TAGS_DIR, ViewBlob, ViewFile,
  ViewManifest, ViewTag, VIEW_FILE, VIEW_SCHEMA_VERSION,
} from './layout';
import { renderCatalog, renderMaps, renderTagList, renderView } from './render';

export interface WriteViewOptions {
  /** Source manifests and side blobs fetched by this run, by top-level manifest digest. */
  originals?: ReadonlyMap<string, OriginalArtifact>;
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

/** Originals of the previous view, every manifest and side blob re-checked by sha256 before reuse. */
async function previousOriginals(oldDir: string): Promise<Map<string, OriginalFiles>> {
  const out = new Map<string, OriginalFiles>();
  const view = await readView(oldDir);
  for (const t of view?.tags ?? []) {
    if (t.form !== 'original' || out.has(t.digest) || !t.manifests.every((m) => MANIFEST_KINDS[m.mediaType])) continue;
    try {
      const manifests = [];
      for (const m of t.manifests) {
        const bytes = await fs.promises.readFile(path.join(oldDir, MANIFESTS_DIR, manifestFileName(m)));
        if (sha256(bytes) !== m.digest) throw new Error('changed');
        manifests.push({ ...m, bytes });
      }
      const image = imageOf({ manifests });
      const wasmLayer = image?.layers.find((l) => l.mediaType === WASM_LAYER)?.digest;
      if (!image || !wasmLayer) continue;
      const blobs = new Map<string, string>();
      for (const b of blobsOf(image)) {
        if (b.digest === wasmLayer) continue; // plugin.wasm, checked against metadata by the caller
        const file = path.join(oldDir, BLOBS_DIR, hexOf(b.digest));
        if (sha256(await fs.promises.readFile(file)) !== b.digest) throw new Error('changed');
        blobs.set(b.digest, file);
      }
      out.set(t.digest, { manifests, blobs, wasmLayer });
    } catch {
      /* missing or changed: that version gets a generated manifest */
    }
  }
  return out;
}

/**
 * The metadata of every version folder whose metadata names that folder: names and versions become
 * map keys and file names of the view, so only folder names that passed SAFE_SEGMENT get there.
 */
async function versionsOf(root: string): Promise<PluginMetadata[]> {
  const out: PluginMetadata[] = [];
  for (const v of await listVersionDirs(root)) {
    const m = await readMetadata(v.dir);
    if (m && m.name === v.name && m.version === v.version) out.push(m);
  }
  return out;
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
  const ours = st.isDirectory() && (fs.existsSync(path.join(dir, VIEW_FILE)) || (await fs.promises.readdir(dir)).length === 0);
  if (!ours) {
    throw new InputError({ code: 'E_OUTPUT_NOT_OURS', message: `${dir} exists and is not an OCI view this tool wrote (no ${VIEW_FILE})`, context: { path: dir },
      hint: `move it away: the tree's OCI view is written to ${OCI_DIR}/ next to plugins/` });
  }
}

/** Writes `<root>/oci` for the tree as it is now; returns the view written. */
export async function writeOciView(root: string, opts: WriteViewOptions = {}): Promise<ViewFile> {
  await assertOciDirIsOurs(root);
  const oldDir = path.join(root, OCI_DIR);
  const reusable = await previousOriginals(oldDir);
  for (const [digest, o] of opts.originals ?? []) {
    reusable.set(digest, { manifests: o.manifests, blobs: new Map(o.blobs.map((b) => [b.digest, b.path])), wasmLayer: o.wasmLayer });
  }
  const metas = (await versionsOf(root)).sort(compareEntries);
  const tmp = path.join(root, `${TMP_PREFIX}oci-${randomSuffix()}`);
  try {
    for (const d of [BLOBS_DIR, MANIFESTS_DIR, TAGS_DIR, MAPS_DIR]) await fs.promises.mkdir(path.join(tmp, d), { recursive: true });
    const tags: ViewTag[] = [];
    const images: ImageCache = new Map();
    for (const m of metas) tags.push(await writeVersion(root, tmp, m, reusable, images));
    const view: ViewFile = { schemaVersion: VIEW_SCHEMA_VERSION, tags };
    const newest = new Date(metas.reduce((max, m) => (m.created > max ? m.created : max), EPOCH));
    await writeFileDurable(path.join(tmp, VIEW_FILE), renderView(view), newest);
    await writeFileDurable(path.join(tmp, CATALOG_FILE), renderCatalog(view), newest);
    for (const [rel, text] of renderTagList(view)) {
      await fs.promises.mkdir(path.dirname(path.join(tmp, TAGS_DIR, rel)), { recursive: true });
      await writeFileDurable(path.join(tmp, TAGS_DIR, rel), text, newest);
    }
    for (const [file, text] of renderMaps(view)) await writeFileDurable(path.join(tmp, MAPS_DIR, file), text, newest);
    for (const d of [BLOBS_DIR, MANIFESTS_DIR, TAGS_DIR, MAPS_DIR, '.']) await syncDir(path.join(tmp, d));
    await swapView(tmp, oldDir);
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
  await fs.promises.link(src, dest);
  if (path.basename(src) !== WASM_FILE) await fs.promises.utimes(dest, created, created);
}

/** The original of this version when it can be served unchanged: its wasm layer is plugin.wasm and the gateway loads its form. */
function usableOriginal(m: PluginMetadata, reusable: Map<string, OriginalFiles>): { original: OriginalFiles; image: ImageManifest } | undefined {
  const original = m.manifestDigest ? reusable.get(m.manifestDigest) : undefined;
  if (!original || original.wasmLayer !== `sha256:${m.sha256}` || !original.manifests.every((x) => MANIFEST_KINDS[x.mediaType])) return undefined;
  const image = imageOf(original);
  return image && gatewayLoads(image) ? { original, image } : undefined;
}

/** Generated images of this run by the files' identity: aliases share plugin.wasm and .gz (hardlinks), so each is hashed once. */
type ImageCache = Map<string, Promise<GeneratedImage>>;

async function imageOnce(images: ImageCache, wasm: string, gz: string, m: PluginMetadata): Promise<GeneratedImage> {
  const id = (st: fs.Stats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  const key = `${id(await fs.promises.stat(wasm))}|${id(await fs.promises.stat(gz))}|${m.size}|${m.created}`;
  let image = images.get(key);
  if (!image) images.set(key, (image = buildImage(wasm, gz, m.size, m.created)));
  return image;
}

async function writeVersion(root: string, tmp: string, m: PluginMetadata, reusable: Map<string, OriginalFiles>, images: ImageCache): Promise<ViewTag> {
  const dir = path.join(root, PLUGINS_DIR, m.name, m.version);
  const wasm = path.join(dir, WASM_FILE);
  const created = new Date(m.created);
  const kept = usableOriginal(m, reusable);
  if (kept) {
    const { original, image } = kept;
    for (const x of original.manifests) {
      const dest = path.join(tmp, MANIFESTS_DIR, manifestFileName(x));
      if (!fs.existsSync(dest)) await writeFileDurable(dest, x.bytes, created);
    }
    const blobs = blobsOf(image);
    for (const b of blobs) {
      const src = b.digest === original.wasmLayer ? wasm : original.blobs.get(b.digest);
      if (!src) {
        throw new IntegrityError({ code: 'E_OCI_VIEW', message: `blob ${b.digest} of the source manifest ${m.manifestDigest} is missing`, context: { plugin: m.name, version: m.version }, hint: 'run pull again' });
      }
      await placeBlob(src, path.join(tmp, BLOBS_DIR, hexOf(b.digest)), created);
    }
    return { name: m.name, version: m.version, digest: original.manifests[0]!.digest, form: 'original', manifests: original.manifests.map(({ digest, mediaType }) => ({ digest, mediaType })), blobs };
  }
  const gz = path.join(dir, GZ_FILE);
  const generated = await imageOnce(images, wasm, gz, m);
  const manifest = { digest: generated.manifestDigest, mediaType: OCI_MANIFEST };
  const manifestFile = path.join(tmp, MANIFESTS_DIR, manifestFileName(manifest));
  if (!fs.existsSync(manifestFile)) await writeFileDurable(manifestFile, generated.manifest, created);
  const configFile = path.join(tmp, BLOBS_DIR, hexOf(generated.configDigest));
  if (!fs.existsSync(configFile)) await writeFileDurable(configFile, generated.config, created);
  const layerFile = path.join(tmp, BLOBS_DIR, hexOf(generated.layerDigest));
  if (!fs.existsSync(layerFile)) {
    await writeLayer(generated, gz, layerFile);
    await fs.promises.utimes(layerFile, created, created);
  }
  return {
    name: m.name, version: m.version, digest: generated.manifestDigest, form: 'generated', manifests: [manifest],
    blobs: [{ digest: generated.configDigest, size: generated.config.length }, { digest: generated.layerDigest, size: generated.layerSize }],
  };
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
