/**
 * Reading a published tree back: listing version folders, loading metadata.json, and verifying
 * that every byte on disk matches what metadata and index.json claim (used by `verify` and `index`).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { ErrorCode, VerifyError } from '../errors';
import { GZ_FILE, INDEX_FILE, METADATA_JSON, METADATA_TXT, PLUGINS_DIR, PluginIndex, PluginMetadata, WASM_FILE } from '../contract/tree-format';
import { SAFE_SEGMENT } from '../contract/plugin-identity';
import { buildIndex, renderIndex, renderMetadataJson, renderMetadataTxt } from './render';

export interface VersionDir {
  name: string;
  version: string;
  dir: string;
}

/** Every `<root>/plugins/<name>/<version>/` folder with safe names, sorted; dot-folders (temp) skipped. */
export async function listVersionDirs(root: string): Promise<VersionDir[]> {
  const base = path.join(root, PLUGINS_DIR);
  const out: VersionDir[] = [];
  const names = await fs.promises.readdir(base, { withFileTypes: true }).catch(() => []);
  for (const n of names) {
    if (!n.isDirectory() || !SAFE_SEGMENT.test(n.name)) continue;
    const versions = await fs.promises.readdir(path.join(base, n.name), { withFileTypes: true });
    for (const v of versions) {
      if (!v.isDirectory() || !SAFE_SEGMENT.test(v.name)) continue;
      out.push({ name: n.name, version: v.name, dir: path.join(base, n.name, v.name) });
    }
  }
  return out.sort((a, b) => (a.name === b.name ? (a.version < b.version ? -1 : 1) : a.name < b.name ? -1 : 1));
}

/** Parses a metadata.json; undefined when missing or not the contract's shape. */
export async function readMetadata(dir: string): Promise<PluginMetadata | undefined> {
  let text: string;
  try {
    text = await fs.promises.readFile(path.join(dir, METADATA_JSON), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const m = JSON.parse(text) as PluginMetadata;
    if (m && m.schemaVersion === 1 && typeof m.name === 'string' && typeof m.version === 'string' && typeof m.sha256 === 'string' && typeof m.size === 'number') return m;
  } catch {
    /* fall through */
  }
  return undefined;
}

/** Metadata of every version folder that has a readable metadata.json. */
export async function readAllMetadata(root: string): Promise<PluginMetadata[]> {
  const metas: PluginMetadata[] = [];
  for (const v of await listVersionDirs(root)) {
    const m = await readMetadata(v.dir);
    if (m) metas.push(m);
  }
  return metas;
}

/** Cheap check used by incremental pulls: files exist with the sizes metadata records. */
export async function filesMatchBySize(dir: string, m: PluginMetadata): Promise<boolean> {
  try {
    const [w, g] = await Promise.all([fs.promises.stat(path.join(dir, WASM_FILE)), fs.promises.stat(path.join(dir, GZ_FILE))]);
    await fs.promises.access(path.join(dir, METADATA_TXT));
    return w.size === m.size && g.size === m.gzipSize;
  } catch {
    return false;
  }
}

/** Recomputes every checksum of one folder; returns one VerifyError per problem. */
export async function verifyVersion(v: VersionDir): Promise<VerifyError[]> {
  const ctx = { plugin: v.name, version: v.version };
  const problems: VerifyError[] = [];
  const fail = (code: ErrorCode, msg: string, hint = 'run `pull` again to republish it, or `index` to rebuild metadata for hand-placed files') =>
    problems.push(new VerifyError({ code, message: msg, context: ctx, hint }));
  const m = await readMetadata(v.dir);
  if (!m) {
    fail('E_VERIFY_METADATA', `${METADATA_JSON} missing or invalid`);
    return problems;
  }
  if (m.name !== v.name || m.version !== v.version) fail('E_VERIFY_METADATA', `${METADATA_JSON} names ${m.name}@${m.version}, not its folder`);
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(path.join(v.dir, WASM_FILE));
  } catch {
    fail('E_VERIFY_MISSING', `${WASM_FILE} missing`);
    return problems;
  }
  if (bytes.byteLength !== m.size) fail('E_VERIFY_SIZE', `${WASM_FILE} is ${bytes.byteLength} bytes, metadata says ${m.size}`);
  const sha = crypto.createHash('sha256').update(bytes).digest('hex');
  if (sha !== m.sha256) fail('E_VERIFY_SHA256', `${WASM_FILE} sha256 ${sha} differs from metadata ${m.sha256}`);
  const md5 = crypto.createHash('md5').update(bytes).digest('hex');
  if (md5 !== m.md5) fail('E_VERIFY_MD5', `${WASM_FILE} md5 ${md5} differs from metadata ${m.md5}`);
  try {
    const gz = await fs.promises.readFile(path.join(v.dir, GZ_FILE));
    if (gz.byteLength !== m.gzipSize) fail('E_VERIFY_GZIP', `${GZ_FILE} is ${gz.byteLength} bytes, metadata says ${m.gzipSize}`);
    let decoded: Buffer | undefined;
    try {
      decoded = zlib.gunzipSync(gz);
    } catch {
      fail('E_VERIFY_GZIP', `${GZ_FILE} does not decode`);
    }
    if (decoded && !decoded.equals(bytes)) fail('E_VERIFY_GZIP', `${GZ_FILE} does not decode to ${WASM_FILE}`);
  } catch {
    fail('E_VERIFY_MISSING', `${GZ_FILE} missing`);
  }
  try {
    const txt = await fs.promises.readFile(path.join(v.dir, METADATA_TXT), 'utf8');
    if (txt !== renderMetadataTxt(m)) fail('E_VERIFY_METADATA', `${METADATA_TXT} does not match ${METADATA_JSON}`);
  } catch {
    fail('E_VERIFY_MISSING', `${METADATA_TXT} missing`);
  }
  const json = await fs.promises.readFile(path.join(v.dir, METADATA_JSON), 'utf8');
  if (json !== renderMetadataJson(m)) fail('E_VERIFY_METADATA', `${METADATA_JSON} is not in canonical form`);
  return problems;
}

/** Verifies every version folder and index.json; an empty array means the tree is sound. */
export async function verifyTree(root: string): Promise<{ checked: number; problems: VerifyError[] }> {
  const dirs = await listVersionDirs(root);
  const problems: VerifyError[] = [];
  const metas: PluginMetadata[] = [];
  for (const v of dirs) {
    problems.push(...(await verifyVersion(v)));
    const m = await readMetadata(v.dir);
    if (m) metas.push(m);
  }
  const indexFile = path.join(root, PLUGINS_DIR, INDEX_FILE);
  const where = { file: indexFile };
  let text: string | undefined;
  try {
    text = await fs.promises.readFile(indexFile, 'utf8');
  } catch {
    problems.push(new VerifyError({ code: 'E_VERIFY_INDEX', message: 'index.json missing', context: where, hint: 'run `index <root>`' }));
  }
  if (text !== undefined) {
    let index: PluginIndex | undefined;
    try {
      index = JSON.parse(text) as PluginIndex;
    } catch {
      problems.push(new VerifyError({ code: 'E_VERIFY_INDEX', message: 'index.json is not valid JSON', context: where, hint: 'run `index <root>`' }));
    }
    if (index) {
      const listed = new Set((index.plugins ?? []).map((e) => `${e.name}/${e.version}`));
      const present = new Set(dirs.map((d) => `${d.name}/${d.version}`));
      for (const k of listed) if (!present.has(k)) problems.push(new VerifyError({ code: 'E_VERIFY_INDEX', message: `index.json lists ${k}, which has no folder`, context: where, hint: 'run `index <root>`' }));
      for (const k of present) if (!listed.has(k)) problems.push(new VerifyError({ code: 'E_VERIFY_INDEX', message: `folder ${k} is missing from index.json`, context: where, hint: 'run `index <root>`' }));
      if (problems.length === 0 && text !== renderIndex(buildIndex(metas))) {
        problems.push(new VerifyError({ code: 'E_VERIFY_INDEX', message: 'index.json does not match the metadata of the tree', context: where, hint: 'run `index <root>`' }));
      }
    }
  }
  return { checked: dirs.length, problems };
}
