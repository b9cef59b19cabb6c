/**
 * `plugins/snapshot-inventory.json`: upstream's inventory of a snapshot build (plugin-server e56a555),
 * byte-compatible with it: a JSON object sorted by key, for each managed inventoryKey and alias
 * `{"digest", "version", "wasmSha256"}` (keys sorted), two-space indent, trailing newline. Unmanaged
 * plugins are not in it. The Higress release workflow reads it (`mcp-server`, `json-converter`,
 * `jsonrpc-converter` must be there).
 *
 * Written by `pull --snapshot` in its commit step, from the metadata of the folders just published
 * (`wasmSha256` is the sha256 of `plugins/<key>/<version>/plugin.wasm`); listed in index.json
 * (`inventory`: path, sha256, size) and checked by `verify` against the tree.
 */
import * as fs from 'fs';
import * as path from 'path';
import { VerifyError } from '../errors';
import { INVENTORY_FILE, METADATA_JSON, PLUGINS_DIR, PluginIndexInventory } from '../contract/tree-format';
import { SAFE_SEGMENT } from '../contract/plugin-identity';
import { sha256Hex, writeFileAtomic } from '../content/fsutil';
import { EPOCH } from './render';
import { assertNoSymlinkBelow } from './safe-path';

/** One name the snapshot serves, before its bytes are known. */
export interface InventoryWant {
  key: string;
  version: string;
  /** The snapshot's manifest digest. */
  digest: string;
}

export interface InventoryRecord extends InventoryWant {
  /** Hex sha256 of the module. */
  wasmSha256: string;
}

/** The largest inventory we read back: ~100 bytes per name. */
const MAX_INVENTORY_BYTES = 16 * 1024 * 1024;
const HEX64 = /^[a-f0-9]{64}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * What a version folder's metadata.json records of its bytes. Read here rather than through read.ts,
 * which imports this module (verifyTree checks the inventory); verifyTree checks the metadata itself.
 */
async function readMetadata(
  dir: string,
): Promise<{ manifestDigest: string | null; sha256: string; created: string } | undefined> {
  try {
    const m = JSON.parse(await fs.promises.readFile(path.join(dir, METADATA_JSON), 'utf8')) as Record<string, unknown>;
    if (typeof m.sha256 !== 'string' || typeof m.created !== 'string') return undefined;
    return {
      manifestDigest: typeof m.manifestDigest === 'string' ? m.manifestDigest : null,
      sha256: m.sha256,
      created: m.created,
    };
  } catch {
    return undefined;
  }
}

const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** Upstream's bytes: sorted keys at both levels, two-space indent, trailing newline. */
export function renderInventory(records: InventoryRecord[]): string {
  const doc: Record<string, { digest: string; version: string; wasmSha256: string }> = {};
  for (const r of [...records].sort(byKey))
    doc[r.key] = { digest: r.digest, version: r.version, wasmSha256: r.wasmSha256 };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Parses an inventory; a string problem when it is not one (shape only: the tree is checked by verifyInventory). */
export function parseInventory(text: string): { records: InventoryRecord[] } | { problem: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { problem: 'is not valid JSON' };
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { problem: 'is not a JSON object' };
  const records: InventoryRecord[] = [];
  for (const [key, raw] of Object.entries(doc as Record<string, unknown>)) {
    const v = raw as Record<string, unknown> | null;
    if (
      !SAFE_SEGMENT.test(key) ||
      !v ||
      typeof v !== 'object' ||
      typeof v.version !== 'string' ||
      !SAFE_SEGMENT.test(v.version) ||
      typeof v.digest !== 'string' ||
      !DIGEST.test(v.digest) ||
      typeof v.wasmSha256 !== 'string' ||
      !HEX64.test(v.wasmSha256) ||
      Object.keys(v).length !== 3
    )
      return { problem: `entry ${JSON.stringify(key).slice(0, 140)} is not {digest, version, wasmSha256}` };
    records.push({ key, version: v.version, digest: v.digest, wasmSha256: v.wasmSha256 });
  }
  return { records };
}

/**
 * The records of the wanted names whose folder holds the snapshot's digest (from its metadata); the
 * names whose folder is missing or holds another source are returned apart (a --keep-going run).
 */
export async function collectInventory(
  root: string,
  wants: InventoryWant[],
): Promise<{ records: InventoryRecord[]; absent: InventoryWant[]; created: string }> {
  const records: InventoryRecord[] = [];
  const absent: InventoryWant[] = [];
  let created = EPOCH;
  for (const w of wants) {
    const m = await readMetadata(path.join(root, PLUGINS_DIR, w.key, w.version));
    if (!m || m.manifestDigest !== w.digest) {
      absent.push(w);
      continue;
    }
    records.push({ ...w, wasmSha256: m.sha256 });
    if (m.created > created) created = m.created;
  }
  return { records: records.sort(byKey), absent, created };
}

/** Writes the inventory of the wanted names atomically (mtime: the newest `created` among them). */
export async function writeInventory(root: string, wants: InventoryWant[]): Promise<InventoryRecord[]> {
  const { records, created } = await collectInventory(root, wants);
  await assertNoSymlinkBelow(root, PLUGINS_DIR, INVENTORY_FILE);
  await writeFileAtomic(path.join(root, PLUGINS_DIR, INVENTORY_FILE), renderInventory(records), new Date(created));
  return records;
}

/** Reads a regular file without following a symlink; undefined when it does not exist. */
async function readInventoryFile(file: string): Promise<Buffer | undefined> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${file} is not a file`), { code: 'EISDIR' });
    if (st.size > MAX_INVENTORY_BYTES) throw new RangeError(`${file} is over ${MAX_INVENTORY_BYTES} bytes`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** What index.json says of the inventory (undefined when the tree has none). */
export async function inventoryFacts(root: string): Promise<PluginIndexInventory | undefined> {
  const data = await readInventoryFile(path.join(root, PLUGINS_DIR, INVENTORY_FILE));
  if (!data) return undefined;
  return { path: `/${PLUGINS_DIR}/${INVENTORY_FILE}`, sha256: sha256Hex(data), size: data.length };
}

/**
 * `verify`: the inventory (when there is one) is upstream's canonical bytes, and every name in it has
 * its folder, holding the recorded manifest digest and a plugin.wasm of the recorded sha256 (as its
 * metadata says; verifyTree hashes the files against the metadata).
 */
export async function verifyInventory(root: string): Promise<VerifyError[]> {
  const file = path.join(root, PLUGINS_DIR, INVENTORY_FILE);
  const fail = (message: string) =>
    new VerifyError({
      code: 'E_VERIFY_INVENTORY',
      message: `${INVENTORY_FILE} ${message}`,
      context: { file },
      hint: 'pull the snapshot again',
    });
  let data: Buffer | undefined;
  try {
    data = await readInventoryFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return []; // verifyTree reports every symlink
    return [fail(err instanceof RangeError ? 'is too large' : `cannot be read: ${(err as Error).message}`)];
  }
  if (!data) return [];
  const text = data.toString('utf8');
  const parsed = parseInventory(text);
  if ('problem' in parsed) return [fail(parsed.problem)];
  const problems: VerifyError[] = [];
  if (renderInventory(parsed.records) !== text)
    problems.push(fail('is not canonical (keys sorted at both levels, two-space indent, trailing newline)'));
  for (const r of parsed.records) {
    const m = await readMetadata(path.join(root, PLUGINS_DIR, r.key, r.version));
    if (!m) problems.push(fail(`lists ${r.key}@${r.version}, which has no folder`));
    else if (m.manifestDigest !== r.digest)
      problems.push(fail(`lists ${r.key}@${r.version} with digest ${r.digest}, the folder holds ${m.manifestDigest}`));
    else if (m.sha256 !== r.wasmSha256)
      problems.push(fail(`lists ${r.key}@${r.version} with wasmSha256 ${r.wasmSha256}, the folder holds ${m.sha256}`));
  }
  return problems;
}
