/**
 * The lock file written by `pull --write-lock` and enforced by `pull --frozen` (or read with `--lock <file>`): every entry of the list
 * with the manifest digest it resolved to (file: sources: the sha256 of the file). Deterministic:
 * sorted by name then version, fixed key order, trailing newline.
 *
 *   {"lockVersion": 1, "plugins": [{"name", "version", "source", "digest", "aliasOf"?, "fromSpec"?}]}
 */
import { InputError } from '../errors';
import { isDigest } from '../contract/digest';
import { compareEntries } from '../contract/plugin-identity';

export interface LockEntry {
  name: string;
  version: string;
  /** Canonical source text (see sourceText). */
  source: string;
  /** `sha256:<hex>` of the resolved top-level manifest, or of the file for file: sources. */
  digest: string;
  aliasOf?: string;
  /** Version alias added from the artifact's spec.yaml, not declared in the list. */
  fromSpec?: true;
}

export interface LockFile {
  lockVersion: 1;
  plugins: LockEntry[];
}

export function renderLock(entries: LockEntry[]): string {
  const plugins = [...entries].sort(compareEntries).map((e) => {
    const o: LockEntry = { name: e.name, version: e.version, source: e.source, digest: e.digest };
    if (e.aliasOf !== undefined) o.aliasOf = e.aliasOf;
    if (e.fromSpec) o.fromSpec = true;
    return o;
  });
  return `${JSON.stringify({ lockVersion: 1, plugins }, null, 2)}\n`;
}

export function parseLock(text: string, file: string): { lock?: LockFile; problems: InputError[] } {
  const fail = (msg: string) => ({
    problems: [
      new InputError({
        code: 'E_LOCK',
        message: msg,
        context: { file },
        hint: 'regenerate it with `pull --write-lock`',
      }),
    ],
  });
  let doc: LockFile;
  try {
    doc = JSON.parse(text) as LockFile;
  } catch (e) {
    return fail(`not valid JSON: ${(e as Error).message}`);
  }
  if (!doc || doc.lockVersion !== 1 || !Array.isArray(doc.plugins))
    return fail('not a plugin lock file (want lockVersion 1 and a plugins array)');
  const problems: InputError[] = [];
  doc.plugins.forEach((p, i) => {
    if (
      !p ||
      typeof p.name !== 'string' ||
      typeof p.version !== 'string' ||
      typeof p.source !== 'string' ||
      typeof p.digest !== 'string' ||
      !isDigest(p.digest)
    ) {
      problems.push(
        new InputError({
          code: 'E_LOCK',
          message: `plugins[${i}] is incomplete (name, version, source, sha256 digest)`,
          context: { file },
          hint: 'regenerate it with `pull --write-lock`',
        }),
      );
    }
  });
  return { lock: problems.length ? undefined : doc, problems };
}

/**
 * When the list names the same repository and tag on another host (a mirror), the fix is to map the
 * lock's host, not to rewrite the lock: `pull --write-lock` would discard a lock made outside.
 */
function mirrorHint(locked: string, listed: string): string | undefined {
  const ref = /^oci:\/\/([^/]+)\/(.+?)(?:@sha256:[0-9a-f]{64})?$/;
  const a = ref.exec(locked);
  const b = ref.exec(listed);
  if (!a || !b || a[1] === b[1]) return undefined;
  // `mirror --to <host>/<prefix>` keeps the repository path under the prefix.
  let target: string;
  if (b[2] === a[2]) target = b[1];
  else if (b[2].endsWith(`/${a[2]}`)) target = `${b[1]}/${b[2].slice(0, -a[2].length - 1)}`;
  else return undefined;
  return `the lock was made against ${a[1]}, the list reads the same plugin from ${target}: add --registry-map ${a[1]}=${target} to check the lock against the mirror (\`pull --write-lock\` would replace the lock made outside)`;
}

/**
 * Compares the list (as lock entries without digests) with the lock: any added, removed or
 * re-sourced entry is a problem under --frozen. Digest drift is checked after resolving.
 */
export function diffLock(wanted: Array<Omit<LockEntry, 'digest'>>, lock: LockFile, file: string): InputError[] {
  const key = (e: { name: string; version: string }) => `${e.name}@${e.version}`;
  const locked = new Map(lock.plugins.map((e) => [key(e), e]));
  const problems: InputError[] = [];
  const hint = 'run `pull --write-lock` to update the lock file, or revert the list';
  for (const w of [...wanted].sort(compareEntries)) {
    const l = locked.get(key(w));
    if (!l)
      problems.push(
        new InputError({
          code: 'E_FROZEN',
          message: `${key(w)} is in the list but not in the lock file`,
          context: { file, plugin: w.name, version: w.version },
          hint,
        }),
      );
    else if (l.source !== w.source || (l.aliasOf ?? null) !== (w.aliasOf ?? null)) {
      problems.push(
        new InputError({
          code: 'E_FROZEN',
          message: `${key(w)} source changed from ${l.source} to ${w.source}`,
          context: { file, plugin: w.name, version: w.version },
          hint: mirrorHint(l.source, w.source) ?? hint,
        }),
      );
    }
    locked.delete(key(w));
  }
  for (const l of locked.values())
    if (!l.fromSpec)
      problems.push(
        new InputError({
          code: 'E_FROZEN',
          message: `${key(l)} is locked but no longer in the list`,
          context: { file, plugin: l.name, version: l.version },
          hint,
        }),
      );
  return problems;
}
