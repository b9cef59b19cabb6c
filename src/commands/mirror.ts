/**
 * `mirror [inputs...] --to <host[/prefix]>`: copy every plugin of the lists / snapshot / lock /
 * bundle into a private registry with the same digests, then print (or write with --write-list) the
 * plugin list that names the target.
 */
import { Command } from 'commander';
import { MirrorEvent, runMirror } from '../airgap/mirror';
import { listFromEntries, rewriteListText } from '../airgap/rewrite';
import { writeFileAtomic } from '../content/fsutil';
import { InputError } from '../errors';
import { LIST_MEDIA_TYPE } from '../inputs/bundle-format';
import { copySource } from '../inputs/resolve';
import { createRegistryClient } from '../oci/client';
import { registrySink } from '../oci/copy/copy';
import { formatBytes, loadCopyInputs, withCopyOptions } from './copy-options';
import { isInterruption, watchInterrupts } from './interrupt';
import { CliOutput, problemFields } from './output';

interface MirrorFlags {
  to: string;
  snapshot?: string;
  lock?: string;
  writeList?: string;
  json?: boolean;
  concurrency: number;
  insecureRegistry: string[];
}

const TARGET_RE = /^[^/\s]+(\/[^\s]+)?$/;

function report(o: CliOutput, e: MirrorEvent): void {
  if (e.event === 'start') {
    o.human(`mirroring ${e.sources} reference(s) into ${e.target}`);
    o.event({ event: 'start', command: 'mirror', sources: e.sources });
  } else if (e.event === 'plugin') {
    o.human(
      e.status === 'present'
        ? `present ${e.target} ${e.digest}`
        : `${e.status} ${e.source} -> ${e.target} ${e.digest} (${e.blobs} blobs, ${formatBytes(e.bytes)}; ${e.blobsPresent} blobs already there) ${e.ms} ms`,
    );
    o.event({
      event: 'copy',
      command: 'mirror',
      source: e.source,
      target: e.target,
      digest: e.digest,
      status: e.status,
      blobs: e.blobs,
      blobsPresent: e.blobsPresent,
      bytes: e.bytes,
      ms: e.ms,
    });
  } else {
    o.human(`FAILED ${e.source} -> ${e.target}: ${e.error.message}`);
    o.event({
      ...problemFields(e.error),
      event: 'copy',
      command: 'mirror',
      source: e.source,
      target: e.target,
      status: 'failed',
    });
  }
}

export async function mirrorCommand(args: string[], flags: MirrorFlags): Promise<void> {
  const o = new CliOutput('mirror', Boolean(flags.json));
  const refuse = (problems: unknown[], line: string): void =>
    o.finish({ areas: o.problems(problems), line, counts: { problems: problems.length } });
  const target = flags.to.replace(/^oci:\/\//, '').replace(/\/+$/, '');
  if (!TARGET_RE.test(target)) {
    return refuse(
      [
        new InputError({
          code: 'E_MIRROR_TARGET',
          message: `bad --to "${flags.to}"`,
          hint: 'write --to host[:port][/repository/prefix]',
        }),
      ],
      'nothing was mirrored',
    );
  }
  const interrupts = watchInterrupts(o);
  const inputs = await loadCopyInputs(o, 'mirror', args, flags, 'mirrored');
  if (!inputs || interrupts.signal.aborted) {
    if (inputs) refuse([interrupts.signal.reason], 'interrupted: nothing was mirrored');
    return interrupts.done();
  }
  const client = createRegistryClient({ insecureHosts: flags.insecureRegistry });
  try {
    const lockDigests = new Map((inputs.lock?.plugins ?? []).map((l) => [`${l.name}@${l.version}`, l.digest]));
    const result = await runMirror({
      entries: inputs.entries,
      lockDigests,
      source: copySource(inputs, client.registry),
      target,
      registry: client.registry,
      sink: registrySink(client.registry),
      concurrency: flags.concurrency,
      onEvent: (e) => report(o, e),
      signal: interrupts.signal,
    });
    const counts = {
      sources: result.sources,
      copied: result.copied,
      present: result.present,
      failed: result.failed.length,
      blobs: result.blobs,
      bytes: result.bytes,
    };
    const parts = `${result.sources} reference(s), ${result.copied} copied, ${result.present} already present, ${result.failed.length} failed (${result.blobs} blobs, ${formatBytes(result.bytes)}) in ${(result.ms / 1000).toFixed(1)} s`;
    if (!result.ok)
      return o.finish({ areas: result.failed.map((f) => f.area), line: `failed: ${parts}`, counts, ms: result.ms });
    const lists = inputs.files.filter((f) => f.mediaType === LIST_MEDIA_TYPE);
    const text = lists.length
      ? lists
          .map((f) => `# ${f.title}, mirrored to ${target}\n${rewriteListText(f.bytes.toString('utf8'), result.map)}`)
          .join('\n')
      : listFromEntries(inputs.entries, result.map, `${inputs.name}, mirrored to ${target}`);
    if (flags.writeList) await writeFileAtomic(flags.writeList, text, new Date());
    else if (!flags.json) process.stdout.write(text);
    o.finish({
      areas: [],
      line: `ok: ${parts}${flags.writeList ? `; list for the target written to ${flags.writeList}` : ''}`,
      counts,
      ms: result.ms,
    });
  } catch (e) {
    return refuse(
      [e],
      isInterruption(e)
        ? 'interrupted: the mirror was not finished (references already copied stay in the target), its staging was removed'
        : 'the mirror was not finished',
    );
  } finally {
    // An interrupted run exits here (130) without waiting for copies still in flight.
    await interrupts.done();
    await client.close();
  }
}

export function register(program: Command): void {
  withCopyOptions(
    program
      .command('mirror')
      .description(
        'copy every plugin of the lists / snapshot / lock / bundle into a registry, keeping every digest; prints the list for the target',
      )
      .argument('[inputs...]', 'plugins.properties files, or one oci-layout:<bundle>')
      .requiredOption('--to <host[/prefix]>', 'target registry and repository prefix, e.g. harbor.internal/higress')
      .option('--snapshot <file>', 'Higress release snapshot JSON to mirror')
      .option('--lock <file>', 'lock file: alone, mirror exactly its digests; with lists, the lists must agree with it')
      .option('--write-list <file>', 'write the plugin list for the target to this file instead of stdout')
      .option(
        '--json',
        'stdout: one JSON event per line (docs/cli-events.schema.json); write the list with --write-list',
      ),
  ).action((args: string[], flags: MirrorFlags) => mirrorCommand(args, flags));
}
