/** `index <root>`: rebuild metadata and plugins/index.json for hand-placed or edited plugin files. */
import { Command } from 'commander';
import { sourceDateEpoch } from '../contract/created';
import { exitCodesHelp } from '../errors';
import { reindexTree } from '../tree/reindex';
import { VerifiedFiles } from '../tree/verified-files';
import type { LockHolder } from '../tree/output-lock';
import { assertOciDirIsOurs, writeOciView } from '../ociview/write';
import { CliOutput, problemFields } from './output';

export async function indexCommand(root: string, flags: { json?: boolean; wait?: boolean } = {}): Promise<void> {
  const o = new CliOutput('index', Boolean(flags.json));
  const lock = {
    wait: flags.wait !== false,
    onWait: (h: LockHolder, file: string) =>
      o.human(`waiting: ${root} is in use by pid ${h.pid} (since ${h.since}); the lock is ${file}`),
  };
  await assertOciDirIsOurs(root);
  // The OCI view lists what the tree holds now (source manifests of the previous view are kept),
  // written under the same output lock as index.json. Files the last pull read and that are unchanged
  // since (the record of src/tree/verified-files.ts, as `pull` uses it) keep their generated images:
  // on an unchanged tree the view is left as it is instead of every file being read and rewritten.
  const r = await reindexTree(root, {
    sourceDateEpoch: sourceDateEpoch(),
    lock,
    thenWhileLocked: async () => {
      const verified = await VerifiedFiles.load(root);
      await writeOciView(root, { verified });
      await verified.save();
    },
  });
  for (const id of r.rebuilt) {
    const [name, version] = id.split('/') as [string, string];
    o.human(`rebuilt ${name}@${version}`);
    o.event({ event: 'plugin', command: 'index', name, version, status: 'rebuilt' });
  }
  for (const id of r.kept) {
    const [name, version] = id.split('/') as [string, string];
    o.event({ event: 'plugin', command: 'index', name, version, status: 'kept' });
  }
  for (const s of r.skipped) {
    o.human(`skipped ${s.path}: ${s.reason}`);
    o.event({ event: 'skipped', command: 'index', path: s.path, reason: s.reason });
  }
  for (const f of r.failed) {
    o.human(`error: ${f.toLine()}`);
    o.event({
      ...problemFields(f),
      event: 'plugin',
      command: 'index',
      name: f.context.plugin ?? '',
      version: f.context.version ?? '',
      status: 'failed',
    });
  }
  o.finish({
    areas: r.failed.map((f) => f.area),
    line: `index: ${r.kept.length} kept, ${r.rebuilt.length} rebuilt, ${r.failed.length} failed, ${r.skipped.length} skipped`,
    counts: { kept: r.kept.length, rebuilt: r.rebuilt.length, failed: r.failed.length, skipped: r.skipped.length },
  });
}

export function register(program: Command): void {
  program
    .command('index')
    .description(
      'rebuild metadata.txt, metadata.json and plugins/index.json of a tree (replaces generate_metadata.py), and its OCI view (oci/)',
    )
    .argument('<root>', 'tree root (contains plugins/)')
    .option('--json', 'stdout: one JSON event per line (docs/cli-events.schema.json)')
    .option('--no-wait', 'fail at once (exit 7, E_TREE_LOCKED) if another run holds the folder, instead of waiting')
    .addHelpText('after', `\n${exitCodesHelp()}`)
    .action((root: string, flags: { json?: boolean; wait?: boolean }) => indexCommand(root, flags));
}
