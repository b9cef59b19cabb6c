/**
 * src/ociview/: the OCI view of a plugin tree, written then verified, on trees pulled for real from an
 * OCI layout (test/support/oci-layout.ts): kept source manifests and generated images, the text files
 * Nginx serves, an unchanged view left untouched, and `verify` naming each kind of tampering (and a
 * rewrite repairing it).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { closeCpuPool } from '../src/content/cpu-pool';
import { runCpuTask } from '../src/content/cpu-worker';
import type { PluginEntry } from '../src/inputs/types';
import { createLayoutClient } from '../src/oci/client';
import { OciLayout } from '../src/oci/layout/layout';
import { buildImage, tarHeader } from '../src/ociview/image';
import { hexOf, manifestFileName, ViewFile } from '../src/ociview/layout';
import { renderCatalog, renderMaps, renderTagList, renderView, textFiles, viewChunks } from '../src/ociview/render';
import { tagDigestsFromTree } from '../src/ociview/tag-digests';
import { verifyOciView } from '../src/ociview/verify';
import { assertOciDirIsOurs, readView, writeOciView } from '../src/ociview/write';
import { runPull } from '../src/pipeline/pull';
import { publishVersion, removeVersion, writeIndex } from '../src/tree/publish';
import { verifyTree } from '../src/tree/read';
import { VerifiedFiles } from '../src/tree/verified-files';
import { VERIFIED_FILE } from '../src/contract/tree-format';
import { fileEntry, LayoutImage, layoutEntry, writeOciLayout } from './support/oci-layout';
import { editInPlace, treeState, wasmVariant } from './support/tree-state';

const BASE = fs.readFileSync(path.join(__dirname, '..', 'examples', 'add-header', 'plugin.wasm'));
const A = wasmVariant(BASE, 'view-a');
const B = wasmVariant(BASE, 'view-b');
const CREATED = '2024-05-01T12:00:00Z';
const IMAGES: LayoutImage[] = [
  { repository: 'plugins/add-header', tag: '1.0.0', wasm: A, form: 'artifact', created: CREATED },
  { repository: 'plugins/key-auth', tag: '2.0.0', wasm: B, form: 'tar', created: CREATED },
  { repository: 'plugins/key-auth', tag: '2.1.0', wasm: B, form: 'tar', created: CREATED },
];

let work: string;
let layoutDir: string;
let digests: ReturnType<typeof writeOciLayout>;
/** A tree pulled once; tests that damage it work on copies. */
let pristine: string;
let copies = 0;

const entries = (): PluginEntry[] => [
  layoutEntry('add-header', 'plugins/add-header', '1.0.0'),
  layoutEntry('key-auth', 'plugins/key-auth', '2.0.0'),
  layoutEntry('key-auth', 'plugins/key-auth', '2.1.0'),
  fileEntry('local', '0.1.0', path.join(work, 'local.wasm')),
];

async function pullInto(root: string, list = entries()): Promise<void> {
  const r = await runPull({
    root,
    entries: list,
    client: createLayoutClient(await OciLayout.open(layoutDir)),
    sourceDateEpoch: CREATED,
  });
  expect(r.failed.map((f) => f.error.message)).toEqual([]);
}

function copyOf(root: string): string {
  const dest = path.join(work, `copy-${copies++}`);
  fs.cpSync(root, dest, { recursive: true });
  return dest;
}

const viewOf = (root: string) => JSON.parse(fs.readFileSync(path.join(root, 'oci/view.json'), 'utf8')) as ViewFile;
const tagOf = (root: string, name: string, version: string) =>
  viewOf(root).tags.find((t) => t.name === name && t.version === version)!;
const messages = async (root: string) => (await verifyOciView(root)).map((e) => e.message);

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ociview-'));
  layoutDir = path.join(work, 'layout');
  digests = writeOciLayout(layoutDir, IMAGES);
  fs.writeFileSync(path.join(work, 'local.wasm'), wasmVariant(BASE, 'view-local'));
  pristine = path.join(work, 'tree');
  await pullInto(pristine);
});
afterAll(async () => {
  await closeCpuPool();
  fs.rmSync(work, { recursive: true, force: true });
});

test('the view has a tag per version: the source manifest when it can be kept, else a generated image', async () => {
  const view = viewOf(pristine);
  expect(view.tags.map((t) => [t.name, t.version, t.form])).toEqual([
    ['add-header', '1.0.0', 'original'],
    ['key-auth', '2.0.0', 'generated'],
    ['key-auth', '2.1.0', 'generated'],
    ['local', '0.1.0', 'generated'],
  ]);
  expect(tagOf(pristine, 'add-header', '1.0.0').digest).toBe(digests.get('plugins/add-header:1.0.0')!.manifestDigest);
  // Two tags of the same bytes and time share one generated image.
  expect(tagOf(pristine, 'key-auth', '2.0.0').digest).toBe(tagOf(pristine, 'key-auth', '2.1.0').digest);
  expect(await verifyOciView(pristine)).toEqual([]);
});

test('view.json is written tag by tag with the bytes of the whole model pretty-printed', () => {
  const text = fs.readFileSync(path.join(pristine, 'oci', 'view.json'), 'utf8');
  const view = JSON.parse(text) as ViewFile;
  expect(view.tags.some((t) => t.from) && view.tags.some((t) => !t.from)).toBe(true);
  expect(text).toBe(`${JSON.stringify(view, null, 2)}\n`);
  expect(renderView(view)).toBe(text);
  expect([...viewChunks(view)].length).toBe(view.tags.length + 2);
  const empty = { schemaVersion: view.schemaVersion, tags: [] };
  expect(renderView(empty)).toBe(`${JSON.stringify(empty, null, 2)}\n`);
});

test("the pull's record of files read is the pretty JSON of its paths, also when it is empty", async () => {
  const text = fs.readFileSync(path.join(pristine, VERIFIED_FILE), 'utf8');
  const record = JSON.parse(text) as { format: string; files: Record<string, string> };
  expect(Object.keys(record.files)).toContain('plugins/key-auth/2.0.0/plugin.wasm');
  expect(text).toBe(`${JSON.stringify(record, null, 1)}\n`);
  const empty = fs.mkdtempSync(path.join(work, 'record-'));
  await VerifiedFiles.none(empty).save();
  expect(fs.readFileSync(path.join(empty, VERIFIED_FILE), 'utf8')).toBe(
    `${JSON.stringify({ format: record.format, files: {} }, null, 1)}\n`,
  );
});

test('a record of more files than one batch is still that pretty JSON, files gone since left out', async () => {
  const root = fs.mkdtempSync(path.join(work, 'record-many-'));
  const names = Array.from({ length: 2100 }, (_, i) => `f${String(i).padStart(5, '0')}`);
  const record = VerifiedFiles.none(root);
  for (const n of names) {
    fs.writeFileSync(path.join(root, n), n);
    await record.vouchWritten(path.join(root, n), createHash('sha256').update(n).digest('hex'));
  }
  // Gone before the save: the first file, one at each batch boundary (1,024 files) and the last.
  const gone = new Set([names[0], names[1023], names[1024], names[2048], names[2099]]);
  for (const n of gone) fs.rmSync(path.join(root, n));
  await record.save();
  const text = fs.readFileSync(path.join(root, VERIFIED_FILE), 'utf8');
  const parsed = JSON.parse(text) as { format: string; files: Record<string, string> };
  expect(Object.keys(parsed.files)).toEqual(names.filter((n) => !gone.has(n)));
  expect(text).toBe(`${JSON.stringify(parsed, null, 1)}\n`);
  const st = fs.lstatSync(path.join(root, names[1]), { bigint: true });
  expect(parsed.files[names[1]]).toBe(
    `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}|${createHash('sha256').update(names[1]).digest('hex')}`,
  );
});

test('the text files one at a time are the ones of the whole set, each path once', () => {
  const view = viewOf(pristine);
  const files = [...textFiles(view)];
  expect(new Set(files.map(([rel]) => rel)).size).toBe(files.length);
  for (const [rel, pieces] of files)
    expect(fs.readFileSync(path.join(pristine, 'oci', rel), 'utf8')).toBe(pieces.join(''));
});

test('the text files Nginx serves: catalog, tag lists with their pages, and the request maps', () => {
  const view = viewOf(pristine);
  const oci = (rel: string) => fs.readFileSync(path.join(pristine, 'oci', rel), 'utf8');
  expect(oci('catalog.json')).toBe(renderCatalog(view));
  expect(JSON.parse(oci('catalog.json'))).toEqual({
    repositories: ['plugins/add-header', 'plugins/key-auth', 'plugins/local'],
  });
  const pages = renderTagList(view);
  expect(JSON.parse(pages.get('key-auth.json')!)).toEqual({ name: 'plugins/key-auth', tags: ['2.0.0', '2.1.0'] });
  expect(JSON.parse(pages.get('key-auth/empty.json')!).tags).toEqual([]);
  expect(oci('tags/key-auth/empty.json')).toBe(pages.get('key-auth/empty.json'));
  // ?n=1: the first page of one tag, and the page after it
  expect(JSON.parse(oci('pages/tags/key-auth/1-0.json')).tags).toEqual(['2.0.0']);
  expect(JSON.parse(oci('pages/tags/key-auth/1-1.json')).tags).toEqual(['2.1.0']);
  expect(JSON.parse(oci('pages/catalog/2-0.json')).repositories).toEqual(['plugins/add-header', 'plugins/key-auth']);
  const maps = renderMaps(view);
  const t = tagOf(pristine, 'key-auth', '2.0.0');
  expect(maps.get('manifests.map')).toContain(
    `"/v2/plugins/key-auth/manifests/2.0.0" "${manifestFileName(t.manifests[0])}";\n`,
  );
  expect(maps.get('blobs.map')).toContain(
    `"/v2/plugins/key-auth/blobs/${t.blobs[1].digest}" "${hexOf(t.blobs[1].digest)}";`,
  );
  expect(maps.get('repositories.map')).toContain('"plugins/local" "local";');
  expect(maps.get('pagestarts.map')).toContain('"plugins/key-auth|2.0.0" "1/1";');
  expect(maps.get('pagestarts.map')).toContain('"plugins/key-auth|2.1.0" "end";');
  expect(maps.get('pagestarts.map')).toContain('"_catalog|plugins%2Fkey-auth" "1/2";');
  expect(maps.get('pagelinks.map')).toContain('"plugins/key-auth|1|0" "2.0.0";');
  expect(oci('nginx/pagestarts.map')).toBe(maps.get('pagestarts.map'));
  expect(oci('nginx/pagelinks.map')).toBe(maps.get('pagelinks.map'));
});

test('a generated image is one tar+gzip layer holding plugin.wasm, the same on every build', async () => {
  const t = tagOf(pristine, 'key-auth', '2.0.0');
  const blob = (d: string) => fs.readFileSync(path.join(pristine, 'oci/blobs', hexOf(d)));
  const tar = zlib.gunzipSync(blob(t.blobs[1].digest));
  expect(tar.subarray(0, 512).equals(tarHeader('plugin.wasm', B.length, Date.parse(CREATED) / 1000))).toBe(true);
  expect(tar.subarray(512, 512 + B.length).equals(B)).toBe(true);
  const config = JSON.parse(blob(t.blobs[0].digest).toString());
  expect(config.rootfs.diff_ids).toEqual([`sha256:${createHash('sha256').update(tar).digest('hex')}`]);
  expect(config.created).toBe(CREATED);
  const dir = path.join(pristine, 'plugins/key-auth/2.0.0');
  const again = await buildImage(path.join(dir, 'plugin.wasm'), path.join(dir, 'plugin.wasm.gz'), B.length, CREATED);
  expect(again.manifestDigest).toBe(t.digest);
  expect(again.layerDigest).toBe(t.blobs[1].digest);
});

test('an unchanged view is left as it is; without the record it is rewritten to the same content', async () => {
  const root = path.join(work, 'unchanged');
  await pullInto(root);
  const before = treeState(path.join(root, 'oci'), { mtimes: true });
  const ino = fs.statSync(path.join(root, 'oci/view.json')).ino;
  const kept = await writeOciView(root, { verified: await VerifiedFiles.load(root) });
  expect(fs.statSync(path.join(root, 'oci/view.json')).ino).toBe(ino);
  expect(treeState(path.join(root, 'oci'), { mtimes: true })).toEqual(before);
  // Without the record every file is read again and the view written anew: same bytes, the source
  // manifest still kept (taken from the previous view after re-hashing it).
  const rewritten = await writeOciView(root);
  expect(rewritten).toEqual(kept);
  expect(fs.statSync(path.join(root, 'oci/view.json')).ino).not.toBe(ino);
  expect(treeState(path.join(root, 'oci'))).toEqual(treeState(path.join(pristine, 'oci')));
  expect(await readView(path.join(root, 'oci'))).toEqual(kept);
});

describe('verify names each kind of tampering, and a rewrite repairs what the tree alone can give back', () => {
  const cases: Array<[string, (root: string) => void, RegExp]> = [
    [
      'a blob that no longer hashes to its name',
      (root) => {
        const t = tagOf(root, 'local', '0.1.0');
        fs.writeFileSync(path.join(root, 'oci/blobs', hexOf(t.blobs[0].digest)), '{}');
      },
      /^blob sha256:[0-9a-f]{64} is missing or does not hash to its name$/,
    ],
    [
      'a missing manifest',
      (root) =>
        fs.rmSync(path.join(root, 'oci/manifests', manifestFileName(tagOf(root, 'local', '0.1.0').manifests[0]))),
      /^manifest sha256:[0-9a-f]{64} is missing$/,
    ],
    [
      'a corrupt manifest',
      (root) => {
        const file = path.join(
          root,
          'oci/manifests',
          manifestFileName(tagOf(root, 'add-header', '1.0.0').manifests[0]),
        );
        fs.appendFileSync(file, ' ');
      },
      /^manifest sha256:[0-9a-f]{64} is corrupt \(sha256 sha256:[0-9a-f]{64}\)$/,
    ],
    [
      'a catalog edited by hand',
      (root) => fs.writeFileSync(path.join(root, 'oci/catalog.json'), '{"repositories":[]}\n'),
      /^oci\/catalog\.json does not match view\.json$/,
    ],
    [
      'a tag list removed',
      (root) => fs.rmSync(path.join(root, 'oci/tags/local.json')),
      /^oci\/tags\/local\.json is missing$/,
    ],
    [
      'a view.json reformatted',
      (root) => fs.writeFileSync(path.join(root, 'oci/view.json'), JSON.stringify(viewOf(root))),
      /^view\.json is not in canonical form$/,
    ],
    [
      'a view.json that is not JSON',
      (root) => fs.writeFileSync(path.join(root, 'oci/view.json'), 'nonsense'),
      /^oci\/view\.json missing or invalid$/,
    ],
  ];

  test.each(cases)('%s', async (what, tamper, message) => {
    const root = copyOf(pristine);
    tamper(root);
    expect(await messages(root)).toEqual([expect.stringMatching(message)]);
    if (what === 'a corrupt manifest') {
      // A kept source manifest is the tag's identity (RELIABILITY.md): a rewrite from the tree alone
      // cannot give it back, so it refuses instead of switching the tag to a generated image's digest;
      // the next pull restores it from its source.
      const before = treeState(root);
      await expect(writeOciView(root)).rejects.toMatchObject({ code: 'E_OCI_VIEW_IDENTITY' });
      expect(treeState(root)).toEqual(before);
      return;
    }
    await writeOciView(root);
    expect(await verifyOciView(root)).toEqual([]);
  });

  test('a version the view does not know, and a tag whose folder is gone', async () => {
    const root = copyOf(pristine);
    await publishVersion(root, {
      name: 'extra',
      version: '1.0.0',
      wasmPath: path.join(work, 'local.wasm'),
      source: 'file:local.wasm',
      manifestDigest: null,
      created: CREATED,
    });
    await removeVersion(root, 'local', '0.1.0');
    await writeIndex(root);
    const problems = await verifyOciView(root);
    expect(problems.map((p) => [p.code, p.message, p.context.plugin])).toEqual([
      ['E_VERIFY_OCI', 'plugin version extra/1.0.0 has no tag in the OCI view', 'extra'],
      ['E_VERIFY_OCI', 'tag has no plugin folder', 'local'],
    ]);
    expect(problems[0].hint).toMatch(/rewrite the OCI view/);
    await writeOciView(root);
    expect(await verifyOciView(root)).toEqual([]);
  });

  test("tree bytes that are no longer the generated image's, and metadata that no longer names the kept manifest", async () => {
    const root = copyOf(pristine);
    editInPlace(path.join(root, 'plugins/local/0.1.0/plugin.wasm'), wasmVariant(BASE, 'view-LOCAL'));
    const meta = path.join(root, 'plugins/add-header/1.0.0/metadata.json');
    const m = JSON.parse(fs.readFileSync(meta, 'utf8'));
    fs.writeFileSync(
      meta,
      JSON.stringify({ ...m, manifestDigest: `sha256:${'1'.repeat(64)}`, sha256: 'f'.repeat(64) }),
    );
    expect(await messages(root)).toEqual([
      expect.stringMatching(/^kept source manifest sha256:\w+ differs from metadata manifestDigest sha256:1{64}$/),
      expect.stringMatching(/^kept source manifest sha256:\w+ does not name plugin\.wasm \(sha256:f{64}\)$/),
      expect.stringMatching(/^generated manifest sha256:\w+ is not the one the tree's bytes give \(sha256:\w+\)$/),
    ]);
  });
});

describe('the oci/ folder belongs to the view', () => {
  test('a folder of the user named oci is never replaced: the pull refuses before changing anything', async () => {
    const root = path.join(work, 'foreign');
    fs.mkdirSync(path.join(root, 'oci'), { recursive: true });
    fs.writeFileSync(path.join(root, 'oci/notes.txt'), 'mine');
    const before = treeState(root);
    await expect(pullInto(root)).rejects.toMatchObject({ code: 'E_OUTPUT_NOT_OURS' });
    await expect(writeOciView(root)).rejects.toMatchObject({ code: 'E_OUTPUT_NOT_OURS' });
    expect(treeState(root)).toEqual(before);
  });

  test('an empty oci folder, or none, is ours to write', async () => {
    const root = path.join(work, 'empty-oci');
    fs.mkdirSync(path.join(root, 'oci'), { recursive: true });
    await expect(assertOciDirIsOurs(root)).resolves.toBeUndefined();
    await expect(assertOciDirIsOurs(path.join(work, 'nothing-here'))).resolves.toBeUndefined();
    await pullInto(root, [layoutEntry('key-auth', 'plugins/key-auth', '2.0.0')]);
    expect(viewOf(root).tags).toHaveLength(1);
  });
});

test('tag digests for `wasmplugins --oci`: the image manifest of each version asked for', () => {
  const got = tagDigestsFromTree(pristine, [
    { name: 'add-header', version: '1.0.0' },
    { name: 'key-auth', version: '2.0.0' },
  ]);
  expect(got.get('add-header/1.0.0')).toBe(digests.get('plugins/add-header:1.0.0')!.manifestDigest);
  expect(got.get('key-auth/2.0.0')).toBe(tagOf(pristine, 'key-auth', '2.0.0').digest);
  expect(() => tagDigestsFromTree(pristine, [{ name: 'absent', version: '1.0.0' }])).toThrow(
    expect.objectContaining({ code: 'E_OCI_VIEW_MISSING', message: 'the OCI view has no tag for absent@1.0.0' }),
  );
  expect(() => tagDigestsFromTree(path.join(work, 'nothing-here'), [])).toThrow(
    expect.objectContaining({ code: 'E_OCI_VIEW_MISSING' }),
  );
});

test("verify hashes a kept image's wasm layer once: its blob is plugin.wasm's inode, read with the tree", async () => {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const root = path.join(work, 'linked');
  await pullInto(root);
  const wasm = path.join(root, 'plugins/add-header/1.0.0/plugin.wasm');
  const blob = path.join(root, 'oci/blobs', sha(A));
  const st = fs.statSync(wasm);
  expect(fs.statSync(blob).ino).toBe(st.ino);
  // The OCI view's read of the blob skips it, and the tree's read of plugin.wasm gives its hashes.
  const inode = `${st.dev}:${st.ino}`;
  expect(await runCpuTask({ kind: 'file-digests', files: [blob], textUpTo: 0, skipLinked: true })).toEqual([{ inode }]);
  const tree = await verifyTree(root);
  expect(tree.linked.get(inode)).toEqual({ size: A.length, sha256: sha(A) });
  expect(await verifyOciView(root, tree)).toEqual([]);
  // Changed through either path, the blob is found changed just as when it is read on its own.
  editInPlace(wasm, wasmVariant(BASE, 'view-a-changed'));
  const alone = (await verifyOciView(root)).map((e) => e.message);
  expect(alone).toContainEqual(
    expect.stringMatching(/^blob sha256:[0-9a-f]{64} is missing or does not hash to its name$/),
  );
  expect((await verifyOciView(root, verifyTree(root))).map((e) => e.message)).toEqual(alone);
});
