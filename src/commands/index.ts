/** `index <root>`: rebuild metadata and plugins/index.json for hand-placed or edited plugin files. */
import { Command } from 'commander';
import { sourceDateEpoch } from '../pipeline/created';
import { reindexTree } from '../tree/reindex';
import { writeOciView } from '../ociview/write';
import { reportProblems } from './report';

export async function indexCommand(root: string): Promise<void> {
  const r = await reindexTree(root, { sourceDateEpoch: sourceDateEpoch() });
  await writeOciView(root);
  const summary = `index: ${r.kept.length} kept, ${r.rebuilt.length} rebuilt, ${r.failed.length} failed`;
  if (r.failed.length) return reportProblems(r.failed, summary);
  for (const id of r.rebuilt) process.stderr.write(`rebuilt ${id}\n`);
  process.stderr.write(`${summary}\n`);
}

export function register(program: Command): void {
  program
    .command('index')
    .description('rebuild metadata.txt, metadata.json and plugins/index.json of a tree (replaces generate_metadata.py)')
    .argument('<root>', 'tree root (contains plugins/)')
    .action((root: string) => indexCommand(root));
}
