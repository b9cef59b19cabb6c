/** `verify <root>`: recompute every checksum of a tree; non-zero exit on any mismatch. */
import { Command } from 'commander';
import { verifyTree } from '../tree/read';
import { verifyOciView } from '../ociview/verify';
import { reportProblems } from './report';

export async function verifyCommand(root: string): Promise<void> {
  const { checked, problems } = await verifyTree(root);
  problems.push(...(await verifyOciView(root)));
  if (problems.length) return reportProblems(problems, `verify: ${problems.length} problem(s) in ${checked} plugin version(s)`);
  process.stderr.write(`verify: ${checked} plugin version(s) ok\n`);
}

export function register(program: Command): void {
  program
    .command('verify')
    .description('recompute every checksum of a tree against metadata, index.json and the OCI view')
    .argument('<root>', 'tree root (contains plugins/)')
    .action((root: string) => verifyCommand(root));
}
