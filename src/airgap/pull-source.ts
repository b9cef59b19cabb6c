/**
 * `pull oci-layout:<bundle>`: the entries, lock and client when a pull reads from a bundle instead of
 * registries. The bundle's own lists/snapshot are used unless lists are given too; its lock is what
 * `--frozen` checks unless `--lock <file>` names another.
 */
import { PluginServerError } from '../errors';
import { LockFile } from '../inputs/lock';
import { PluginEntry } from '../inputs/types';
import { loadAirgapInputs } from './inputs';
import { layoutPath } from '../oci/layout/layout';
import { createLayoutClient } from '../oci/client';
import type { OciClient } from '../oci/types';

export interface BundlePullSource {
  entries: PluginEntry[];
  problems: PluginServerError[];
  name: string;
  lock?: LockFile;
  lockName?: string;
  client?: OciClient & { close(): Promise<void> };
}

export function isLayoutArg(arg: string): boolean {
  return layoutPath(arg) !== undefined;
}

export async function bundlePullSource(args: string[], snapshot: string | undefined): Promise<BundlePullSource> {
  const { inputs, problems } = await loadAirgapInputs({ args, snapshot });
  if (!inputs || !inputs.layout) return { entries: [], problems, name: args.join(' + ') };
  return {
    entries: inputs.entries,
    problems,
    name: inputs.name,
    lock: inputs.lock,
    lockName: inputs.lockName,
    client: createLayoutClient(inputs.layout),
  };
}
