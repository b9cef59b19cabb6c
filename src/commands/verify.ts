/** `verify <root>`: recompute every checksum of a tree; non-zero exit on any mismatch. */
import { Command } from 'commander';
import { exitCodesHelp } from '../errors';
import { verifyTree } from '../tree/read';
import { verifyOciView } from '../ociview/verify';
import { CliOutput } from './output';

export async function verifyCommand(root: string, flags: { json?: boolean } = {}): Promise<void> {
  const o = new CliOutput('verify', Boolean(flags.json));
  // The OCI view's files are read while the tree's are (both on the CPU pool, its text files on this
  // thread); its tags are checked against the tree once that is read.
  const tree = verifyTree(root);
  const [{ checked, problems, changed }, view] = await Promise.all([tree, verifyOciView(root, tree)]);
  // The OCI view's manifest of a version whose files changed differs as a consequence: the line about
  // the changed file says it all (and `pull` again rewrites both).
  const follows = (p: { code: string; context: { plugin?: string; version?: string } }) =>
    p.code === 'E_VERIFY_OCI' && changed.has(`${p.context.plugin}@${p.context.version}`);
  problems.push(...view.filter((p) => !follows(p)));
  const areas = o.problems(problems);
  o.finish({
    areas,
    line: problems.length
      ? `verify: ${problems.length} problem(s) in ${checked} plugin version(s)`
      : `verify: ${checked} plugin version(s) ok`,
    counts: { checked, problems: problems.length },
  });
}

export function register(program: Command): void {
  program
    .command('verify')
    .description('recompute every checksum of a tree against metadata, index.json and the OCI view')
    .argument('<root>', 'tree root (contains plugins/)')
    .option('--json', 'stdout: one JSON event per line (docs/cli-events.schema.json)')
    .addHelpText('after', `\n${exitCodesHelp()}`)
    .action((root: string, flags: { json?: boolean }) => verifyCommand(root, flags));
}
