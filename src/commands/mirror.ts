/**
 * `mirror [inputs...] --to <host[/prefix]>`: copy every plugin of the lists / snapshot / lock /
 * bundle into a private registry with the same digests, then print (or write with --write-list) the
 * plugin list that names the target.
 */
import { Command, Option } from 'commander';
import { formatBytes, positiveInt, repeatable } from '../airgap/cli-format';
import { layoutSource, registrySink, registrySource } from '../airgap/copy';
import { LIST_MEDIA_TYPE, loadAirgapInputs } from '../airgap/inputs';
import { MirrorEvent, runMirror } from '../airgap/mirror';
import { listFromEntries, rewriteListText } from '../airgap/rewrite';
import { InputError } from '../errors';
import { RegistryApi } from '../oci/registry-api';
import { writeFileAtomic } from '../tree/fsutil';
import { reportProblems } from './report';

interface MirrorFlags {
  to: string;
  snapshot?: string;
  lock?: string;
  writeList?: string;
  json?: boolean;
  concurrency: number;
  insecureRegistry: string[];
}

function textLine(e: MirrorEvent): string {
  if (e.event === 'start') return `mirroring ${e.sources} references into ${e.target}`;
  if (e.event === 'plugin') {
    if (e.status === 'present') return `present ${e.target} ${e.digest}`;
    return `${e.status} ${e.source} -> ${e.target} ${e.digest} (${e.blobs} blobs, ${formatBytes(e.bytes)}; ${e.blobsPresent} blobs already there) ${e.ms} ms`;
  }
  if (e.event === 'failed') return `FAILED ${e.source} -> ${e.target}: ${e.error}`;
  return `${e.ok ? 'ok' : 'FAILED'}: ${e.sources} references, ${e.copied} copied, ${e.present} already present, ${e.failed} failed (${e.blobs} blobs, ${formatBytes(e.bytes)}) in ${(e.ms / 1000).toFixed(1)} s`;
}

export async function mirrorCommand(args: string[], flags: MirrorFlags): Promise<void> {
  const { inputs, problems } = await loadAirgapInputs({ args, snapshot: flags.snapshot, lock: flags.lock });
  if (!inputs) return reportProblems(problems, `${problems.length} problem(s) in the inputs; nothing was mirrored`);
  const target = flags.to.replace(/^oci:\/\//, '').replace(/\/+$/, '');
  const api = new RegistryApi({ insecureHosts: flags.insecureRegistry });
  try {
    const lockDigests = new Map((inputs.lock?.plugins ?? []).map((l) => [`${l.name}@${l.version}`, l.digest]));
    const result = await runMirror({
      entries: inputs.entries,
      lockDigests,
      source: inputs.layout ? layoutSource(inputs.layout) : registrySource(api),
      target,
      api,
      sink: registrySink(api),
      concurrency: flags.concurrency,
      onEvent: (e) => {
        if (flags.json) process.stdout.write(`${JSON.stringify(e)}\n`);
        else process.stderr.write(`${textLine(e)}\n`);
      },
    });
    if (!result.ok) return reportProblems(result.failed, `${result.failed.length} reference(s) failed to mirror`);
    const lists = inputs.files.filter((f) => f.mediaType === LIST_MEDIA_TYPE);
    const text = lists.length
      ? lists.map((f) => `# ${f.title}, mirrored to ${target}\n${rewriteListText(f.bytes.toString('utf8'), result.map)}`).join('\n')
      : listFromEntries(inputs.entries, result.map, `${inputs.name}, mirrored to ${target}`);
    if (flags.writeList) {
      await writeFileAtomic(flags.writeList, text, new Date());
      process.stderr.write(`wrote ${flags.writeList}\n`);
    } else if (!flags.json) {
      process.stdout.write(text);
    }
  } finally {
    await api.close();
  }
}

export function register(program: Command): void {
  program
    .command('mirror')
    .description('copy every plugin of the lists / snapshot / lock / bundle into a registry, keeping every digest; prints the list for the target')
    .argument('[inputs...]', 'plugins.properties files, or one oci-layout:<bundle>')
    .requiredOption('--to <host[/prefix]>', 'target registry and repository prefix, e.g. harbor.internal/higress')
    .option('--snapshot <file>', 'Higress release snapshot JSON to mirror')
    .option('--lock <file>', 'lock file: alone, mirror exactly its digests; with lists, the lists must agree with it')
    .option('--write-list <file>', 'write the plugin list for the target to this file instead of stdout')
    .option('--json', 'one JSON object per event on stdout (write the list with --write-list)')
    .addOption(new Option('--concurrency <n>', 'references copied in parallel').argParser(positiveInt).default(4))
    .option('--insecure-registry <host>', 'allow plain HTTP to this host[:port] (repeatable)', repeatable, [] as string[])
    .action((args: string[], flags: MirrorFlags) => {
      if (!/^[^/\s]+(\/[^\s]+)?$/.test(flags.to.replace(/^oci:\/\//, ''))) throw new InputError('E_MIRROR_TARGET', `bad --to "${flags.to}"`, {}, 'write --to host[:port][/repository/prefix]');
      return mirrorCommand(args, flags);
    });
}
