/**
 * The release's plugin input: a Higress release snapshot pinned by sha256 (as Higress's own workflow
 * checks it), pulled with `--frozen` against its lock and verified, using the project CLI exactly as
 * an operator runs it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { sha256OfFile } from '../../src/content/fsutil';
import { ReleaseError } from './errors';
import { runTool } from './run';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Resolves when the file's sha256 is `expected` (hex, optionally `sha256:`-prefixed) and, when
 * `higressVersion` is given, the snapshot is that release's (`gatewayVersion`): a correct hash of the
 * wrong release's file must not publish under this version's tag.
 */
export async function checkSnapshot(file: string, expected: string, higressVersion?: string): Promise<string> {
  const want = expected
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, '');
  if (!SHA256_HEX.test(want)) {
    throw new ReleaseError({
      code: 'E_RELEASE_INPUT',
      message: `expected sha256 "${expected}" is not 64 hex digits`,
      context: { file },
      hint: 'pass the snapshot sha256 published with the Higress release',
    });
  }
  if (!fs.existsSync(file))
    throw new ReleaseError({
      code: 'E_RELEASE_INPUT',
      message: 'snapshot file does not exist',
      context: { file },
      hint: 'pass the path of plugins/release/snapshots/<version>.json',
    });
  const got = await sha256OfFile(file);
  if (got !== want) {
    throw new ReleaseError({
      code: 'E_RELEASE_SNAPSHOT',
      message: `sha256 is ${got}, the release says ${want}`,
      context: { file },
      hint: 'the snapshot is not the released one: fetch it again from the Higress tag, do not build from it',
    });
  }
  if (higressVersion !== undefined) {
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { gatewayVersion?: unknown };
    if (doc.gatewayVersion !== higressVersion) {
      throw new ReleaseError({
        code: 'E_RELEASE_SNAPSHOT',
        message: `snapshot is for Higress ${String(doc.gatewayVersion)}, not ${higressVersion}`,
        context: { file },
        hint: 'pass the snapshot of the release being published',
      });
    }
  }
  return got;
}

/** The project CLI: build/src/cli.js next to this compiled module (build/scripts/release/). */
export function projectCli(): string {
  return path.resolve(__dirname, '..', '..', 'src', 'cli.js');
}

export interface TreeOptions {
  snapshot: string;
  /** Plugin lists pulled with the snapshot (the image's: image/plugins.properties, image/console.plugins.properties). */
  lists?: string[];
  /** Upstream's unmanaged lock of the first list (`pull --unmanaged-lock`). */
  unmanagedLock?: string;
  lock: string;
  out: string;
  insecureRegistries?: string[];
}

/**
 * `pull --snapshot [--unmanaged-lock] [lists...] --frozen --lock <lock>` then `verify`: the tree the
 * image serves (the image's default inputs, see image/Dockerfile), checked twice.
 */
export function buildTree(o: TreeOptions): void {
  if (!fs.existsSync(o.lock)) {
    throw new ReleaseError({
      code: 'E_RELEASE_INPUT',
      message: 'lock file does not exist',
      context: { file: o.lock },
      hint: 'run sync-plugins (pull --snapshot <file> --write-lock <lock>) and commit the lock first',
    });
  }
  const insecure = (o.insecureRegistries ?? []).flatMap((h) => ['--insecure-registry', h]);
  runTool('tree', process.execPath, [
    projectCli(),
    'pull',
    '--snapshot',
    o.snapshot,
    ...(o.unmanagedLock ? ['--unmanaged-lock', o.unmanagedLock] : []),
    ...(o.lists ?? []),
    '--frozen',
    '--lock',
    o.lock,
    '--out',
    o.out,
    ...insecure,
  ]);
  runTool('tree', process.execPath, [projectCli(), 'verify', o.out]);
}
