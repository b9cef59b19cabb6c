/**
 * A real registry (distribution on 127.0.0.1) holding a module at every reference of Higress's own
 * inputs: a release snapshot, upstream's unmanaged lock and plugin lists (the 2.2.4 files of
 * test/fixtures/reference, or the image's defaults in image/). Each `repository:tag` gets a valid module
 * of its own (a custom section naming it), so every served byte can be traced to the reference it came
 * from. The inputs come back re-pointed at the registry, with the snapshot's digests and the lock's
 * digest and wasmSha256 rewritten to what was pushed; every other byte of them is kept.
 */
import * as crypto from 'crypto';
import { parsePluginList } from '../../src/inputs/properties';
import { pushWasmArtifact, Pushed, Registry } from './registry';
import { wasmVariant } from './tree-state';

/** The registry host every Higress input names. */
export const UPSTREAM_HOST = 'higress-registry.cn-hangzhou.cr.aliyuncs.com';

export interface SnapshotDoc {
  plugins: Array<{
    logicalId: string;
    version: string;
    ociRef: string;
    digest: string;
    consumers: { pluginServer?: { inventoryKey?: string; httpPath: string; aliases?: string[] } };
  }>;
}
export interface LockDoc {
  schemaVersion: 1;
  plugins: Record<
    string,
    { repository: string; tag: string; digest: string; wasmSha256: string; servedVersion: string }
  >;
}

export interface ReferenceInputs {
  /** The snapshot text, re-pointed, digests rewritten (two-space JSON, trailing newline). */
  snapshot: string;
  /** The unmanaged lock text, re-pointed, digest and wasmSha256 rewritten. */
  lock: string;
  /** Each list's text, re-pointed (tags only: nothing else to rewrite). */
  lists: string[];
  /** The module pushed at `repository:tag` (repository without the host). */
  moduleAt(repository: string, tag: string): Buffer;
  /** What was pushed at `repository:tag`: manifest digest, wasm layer. */
  pushedAt(repository: string, tag: string): Pushed;
}

const hex = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** The module every test pushes at `repository:tag` (also to restore a tag a test moved). */
export function referenceModule(base: Buffer, repository: string, tag: string): Buffer {
  return wasmVariant(base, `${repository}:${tag}`);
}

/**
 * Pushes a module at every reference of the inputs (each `repository:tag` once) and returns the inputs
 * rewritten to the registry. `base` is the module the variants are made of (test/support/wasm.ts).
 */
export async function pushReferenceInputs(
  reg: Registry,
  base: Buffer,
  inputs: { snapshot: string; lock: string; lists: string[] },
): Promise<ReferenceInputs> {
  const pushed = new Map<string, { bytes: Buffer; artifact: Pushed }>();
  const repoOf = (hostAndRepo: string) => hostAndRepo.slice(reg.host.length + 1);
  const push = async (repository: string, tag: string) => {
    const key = `${repository}:${tag}`;
    const have = pushed.get(key);
    if (have) return have;
    const bytes = referenceModule(base, repository, tag);
    const done = { bytes, artifact: await pushWasmArtifact(reg, repository, tag, bytes) };
    pushed.set(key, done);
    return done;
  };
  const repoint = (text: string) => text.split(UPSTREAM_HOST).join(reg.host);

  const snapshot = JSON.parse(repoint(inputs.snapshot)) as SnapshotDoc;
  for (const p of snapshot.plugins) {
    if (!p.consumers.pluginServer) continue;
    const [hostAndRepo] = p.ociRef.split(/:(?=[^:/]+$)/);
    p.digest = (await push(repoOf(hostAndRepo), p.version)).artifact.manifestDigest;
  }
  const lock = JSON.parse(repoint(inputs.lock)) as LockDoc;
  for (const l of Object.values(lock.plugins)) {
    const { bytes, artifact } = await push(repoOf(l.repository), l.tag);
    l.digest = artifact.manifestDigest;
    l.wasmSha256 = hex(bytes);
  }
  const lists = inputs.lists.map(repoint);
  for (const text of lists)
    for (const e of parsePluginList(text, 'list').entries)
      if (!e.aliasOf && e.source.kind === 'oci' && e.source.ref.tag)
        await push(e.source.ref.repository, e.source.ref.tag);

  const at = (repository: string, tag: string) => {
    const p = pushed.get(`${repository}:${tag}`);
    if (!p) throw new Error(`nothing was pushed at ${repository}:${tag}`);
    return p;
  };
  return {
    snapshot: `${JSON.stringify(snapshot, null, 2)}\n`,
    lock: `${JSON.stringify(lock, null, 2)}\n`,
    lists,
    moduleAt: (repository, tag) => at(repository, tag).bytes,
    pushedAt: (repository, tag) => at(repository, tag).artifact,
  };
}
