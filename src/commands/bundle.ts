/**
 * `bundle [lists...] --out plugins.oci.tar`: every plugin of the lists (or `--snapshot`, or a lock
 * given alone with `--lock`) in one OCI image layout tar, with the lists and a lock inside; carry it
 * into the private network and `pull oci-layout:plugins.oci.tar` or `mirror oci-layout:...` there.
 */
import { Command, Option } from 'commander';
import { formatBytes, positiveInt, repeatable } from '../airgap/cli-format';
import { BundleEvent, writeBundle } from '../airgap/bundle';
import { layoutSource, registrySource } from '../airgap/copy';
import { loadAirgapInputs } from '../airgap/inputs';
import { RegistryApi } from '../oci/registry-api';
import { reportProblems } from './report';

interface BundleFlags {
  out: string;
  snapshot?: string;
  lock?: string;
  force?: boolean;
  json?: boolean;
  concurrency: number;
  insecureRegistry: string[];
}

function textLine(e: BundleEvent): string | undefined {
  if (e.event === 'start') return `bundling ${e.plugins} plugin versions from ${e.sources} references`;
  if (e.event === 'plugin') return `bundled ${e.ref} ${e.digest} (${e.blobs} blobs, ${formatBytes(e.bytes)} new) ${e.ms} ms`;
  if (e.event === 'failed') return `FAILED ${e.ref}: ${e.error}`;
  return `ok: ${e.out} (${e.sources} references, ${formatBytes(e.bytes)}, sha256:${e.sha256}) in ${(e.ms / 1000).toFixed(1)} s`;
}

export async function bundleCommand(args: string[], flags: BundleFlags): Promise<void> {
  const { inputs, problems } = await loadAirgapInputs({ args, snapshot: flags.snapshot, lock: flags.lock });
  if (!inputs) return reportProblems(problems, `${problems.length} problem(s) in the inputs; nothing was bundled`);
  const api = new RegistryApi({ insecureHosts: flags.insecureRegistry });
  try {
    const result = await writeBundle({
      inputs,
      source: inputs.layout ? layoutSource(inputs.layout) : registrySource(api),
      out: flags.out,
      force: flags.force,
      concurrency: flags.concurrency,
      onEvent: (e) => {
        if (flags.json) process.stdout.write(`${JSON.stringify(e)}\n`);
        else process.stderr.write(`${textLine(e)}\n`);
      },
    });
    if (!result.ok) reportProblems(result.failed, `${result.failed.length} reference(s) failed; no bundle was written`);
  } finally {
    await api.close();
  }
}

export function register(program: Command): void {
  program
    .command('bundle')
    .description('write every plugin of the lists (or a snapshot or lock) into one OCI image layout tar, with the lists and a lock inside')
    .argument('[inputs...]', 'plugins.properties files (or one oci-layout:<path> to re-bundle)')
    .requiredOption('-o, --out <file>', 'the bundle to write (an OCI image layout tar)')
    .option('--snapshot <file>', 'Higress release snapshot JSON to bundle')
    .option('--lock <file>', 'lock file: alone, bundle exactly its digests; with lists, the lists must agree with it (as pull --frozen)')
    .option('--force', 'replace an existing file at --out')
    .option('--json', 'one JSON object per event on stdout')
    .addOption(new Option('--concurrency <n>', 'references copied in parallel').argParser(positiveInt).default(4))
    .option('--insecure-registry <host>', 'allow plain HTTP to this host[:port] (repeatable)', repeatable, [] as string[])
    .action((args: string[], flags: BundleFlags) => bundleCommand(args, flags));
}
