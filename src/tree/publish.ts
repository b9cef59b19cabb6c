/**
 * Publishes one version folder `<root>/plugins/<name>/<version>/` atomically: everything is written
 * into a sibling temp folder (same filesystem), checked, fsynced, then renamed into place. An older
 * folder of the same version is renamed away first and removed after, so a reader sees either the
 * old complete folder or the new complete one, never a mix.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { InputError, IntegrityError } from '../errors';
import {
  GZ_FILE,
  INDEX_FILE,
  METADATA_JSON,
  METADATA_TXT,
  PLUGINS_DIR,
  PluginMetadata,
  SAFE_SEGMENT,
  SPEC_FILE,
  WASM_FILE,
} from './format';
import { randomSuffix, rfc3339, syncDir, writeFileAtomic, writeFileDurable } from './fsutil';
import { buildIndex, normalizeMetadata, renderIndex, renderMetadataJson, renderMetadataTxt } from './render';
import { readSpecYaml } from './spec';
import { checkWasm, checkWasmSize } from './wasm';
import { readAllMetadata } from './read';

export interface PublishInput {
  name: string;
  version: string;
  /** The raw wasm to publish (copied; the file is left where it is). */
  wasmPath: string;
  source: string;
  manifestDigest: string | null;
  /** RFC 3339; becomes metadata `created` and the mtime of every file written. */
  created: string;
  aliasOf?: string;
  specYaml?: string;
}

/** Prefixes of temp/old folders this module creates; leftovers of a killed run are removed by `cleanLeftovers`. */
export const TMP_PREFIX = '.tmp-';
export const OLD_PREFIX = '.old-';

/** gzip -9 with no file name and mtime 0 in the header: the same wasm always gives the same .gz. */
export function gzipDeterministic(bytes: Uint8Array): Buffer {
  return zlib.gzipSync(bytes, { level: 9 });
}

export function assertSafeSegment(kind: 'name' | 'version', value: string, ctx: { plugin?: string; version?: string } = {}): void {
  if (!SAFE_SEGMENT.test(value)) {
    throw new InputError('E_UNSAFE_SEGMENT', `unsafe plugin ${kind} ${JSON.stringify(value)}`, ctx, 'use letters, digits, ".", "_" and "-" only, not starting with a dot');
  }
}

function parseCreated(created: string, ctx: { plugin: string; version: string }): Date {
  const d = new Date(created);
  if (Number.isNaN(d.getTime())) throw new InputError('E_CREATED', `invalid created time ${JSON.stringify(created)}`, ctx, 'use RFC 3339, e.g. 2024-05-01T00:00:00Z');
  return d;
}

/** Computes the metadata of `bytes` without touching the disk. */
export function describeWasm(input: Omit<PublishInput, 'wasmPath'>, bytes: Uint8Array, gz: Uint8Array): PluginMetadata {
  const spec = input.specYaml ? readSpecYaml(input.specYaml) : {};
  return normalizeMetadata({
    schemaVersion: 1,
    name: input.name,
    version: input.version,
    size: bytes.byteLength,
    md5: crypto.createHash('md5').update(bytes).digest('hex'),
    sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    gzipSize: gz.byteLength,
    source: input.source,
    manifestDigest: input.manifestDigest,
    created: rfc3339(parseCreated(input.created, { plugin: input.name, version: input.version })),
    aliasOf: input.aliasOf,
    phase: spec.phase,
    priority: spec.priority,
  });
}

/** Validates and publishes one version folder; returns its metadata. Does not touch index.json. */
export async function publishVersion(root: string, input: PublishInput): Promise<PluginMetadata> {
  const ctx = { plugin: input.name, version: input.version };
  assertSafeSegment('name', input.name, ctx);
  assertSafeSegment('version', input.version, ctx);
  if (input.aliasOf !== undefined) assertSafeSegment('version', input.aliasOf, ctx);
  const stat = await fs.promises.stat(input.wasmPath).catch(() => undefined);
  if (!stat?.isFile()) throw new IntegrityError('E_WASM_MISSING', `wasm file ${input.wasmPath} not found`, ctx, 'check the source path');
  const created = parseCreated(input.created, ctx);
  checkWasmSize(stat.size, ctx);
  const bytes = await fs.promises.readFile(input.wasmPath);
  checkWasm(bytes, ctx);
  const gz = gzipDeterministic(bytes);
  const meta = describeWasm(input, bytes, gz);

  const pluginDir = path.join(root, PLUGINS_DIR, input.name);
  const target = path.join(pluginDir, input.version);
  await fs.promises.mkdir(pluginDir, { recursive: true });
  const tmp = path.join(pluginDir, `${TMP_PREFIX}${input.version}-${randomSuffix()}`);
  try {
    await fs.promises.mkdir(tmp);
    await writeFileDurable(path.join(tmp, WASM_FILE), bytes, created);
    await writeFileDurable(path.join(tmp, GZ_FILE), gz, created);
    await writeFileDurable(path.join(tmp, METADATA_TXT), renderMetadataTxt(meta), created);
    await writeFileDurable(path.join(tmp, METADATA_JSON), renderMetadataJson(meta), created);
    if (input.specYaml !== undefined) await writeFileDurable(path.join(tmp, SPEC_FILE), input.specYaml, created);
    await fs.promises.utimes(tmp, created, created);
    await syncDir(tmp);
    await swapInto(tmp, target);
  } catch (err) {
    await fs.promises.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await syncDir(pluginDir);
  return meta;
}

/** Moves `tmp` to `target`, replacing an existing folder with two renames. */
async function swapInto(tmp: string, target: string): Promise<void> {
  const old = path.join(path.dirname(target), `${OLD_PREFIX}${path.basename(target)}-${randomSuffix()}`);
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
  if (moved) await fs.promises.rm(old, { recursive: true, force: true });
}

/** Rewrites `<root>/plugins/index.json` from every metadata.json in the tree (atomic). */
export async function writeIndex(root: string): Promise<void> {
  const metas = await readAllMetadata(root);
  const index = buildIndex(metas);
  const dir = path.join(root, PLUGINS_DIR);
  await fs.promises.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, INDEX_FILE), renderIndex(index), new Date(index.generated));
}

/** Removes a version folder (used by `pull --prune`), atomically by renaming it away first. */
export async function removeVersion(root: string, name: string, version: string): Promise<void> {
  assertSafeSegment('name', name);
  assertSafeSegment('version', version);
  const pluginDir = path.join(root, PLUGINS_DIR, name);
  const old = path.join(pluginDir, `${OLD_PREFIX}${version}-${randomSuffix()}`);
  await fs.promises.rename(path.join(pluginDir, version), old);
  await fs.promises.rm(old, { recursive: true, force: true });
  const left = await fs.promises.readdir(pluginDir);
  if (left.length === 0) await fs.promises.rmdir(pluginDir).catch(() => undefined);
}

/** Deletes temp and old folders a killed run left behind (root, plugins/ and each plugin folder). */
export async function cleanLeftovers(root: string): Promise<string[]> {
  const removed: string[] = [];
  const sweep = async (dir: string): Promise<string[]> => {
    const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.name.startsWith(TMP_PREFIX) || e.name.startsWith(OLD_PREFIX)) {
        await fs.promises.rm(path.join(dir, e.name), { recursive: true, force: true });
        removed.push(path.join(dir, e.name));
      }
    }
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => path.join(dir, e.name));
  };
  await sweep(root);
  const plugins = await sweep(path.join(root, PLUGINS_DIR));
  for (const p of plugins) await sweep(p);
  return removed;
}
