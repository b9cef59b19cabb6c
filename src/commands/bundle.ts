/**
 * `bundle [lists...] --out plugins.oci.tar`: every plugin of the lists (or `--snapshot`, or a lock
 * given alone with `--lock`) in one OCI image layout tar, with the lists and a lock inside; carry it
 * into the private network and `pull oci-layout:plugins.oci.tar` or `mirror oci-layout:...` there.
 */
import { Command } from 'commander';
import { BundleEvent, writeBundle } from '../airgap/bundle';
import { copySource } from '../inputs/resolve';
import { createRegistryClient } from '../oci/client';
import { formatBytes, loadCopyInputs, withCopyOptions } from './copy-options';
import { isInterruption, watchInterrupts } from './interrupt';
import { CliOutput, problemFields } from './output';

interface BundleFlags {
  out: string;
  snapshot?: string;
  lock?: string;
  force?: boolean;
  json?: boolean;
  concurrency: number;
  insecureRegistry: string[];
}

function report(o: CliOutput, e: BundleEvent): void {
  if (e.event === 'start') {
    o.human(`bundling ${e.plugins} plugin version(s) from ${e.sources} reference(s)`);
    o.event({ event: 'start', command: 'bundle', plugins: e.plugins, sources: e.sources });
  } else if (e.event === 'plugin') {
    o.human(`bundled ${e.ref} ${e.digest} (${e.blobs} blobs, ${formatBytes(e.bytes)} new) ${e.ms} ms`);
    o.event({
      event: 'copy',
      command: 'bundle',
      source: e.ref,
      digest: e.digest,
      status: 'copied',
      blobs: e.blobs,
      bytes: e.bytes,
      ms: e.ms,
    });
  } else if (e.event === 'failed') {
    o.human(`FAILED ${e.ref}: ${e.error.message}`);
    o.event({ ...problemFields(e.error), event: 'copy', command: 'bundle', source: e.ref, status: 'failed' });
  }
}

export async function bundleCommand(args: string[], flags: BundleFlags): Promise<void> {
  const o = new CliOutput('bundle', Boolean(flags.json));
  const refuse = (problems: unknown[], line: string): void =>
    o.finish({ areas: o.problems(problems), line, counts: { problems: problems.length } });
  const interrupts = watchInterrupts(o);
  const inputs = await loadCopyInputs(o, 'bundle', args, flags, 'bundled');
  if (!inputs || interrupts.signal.aborted) {
    if (inputs) refuse([interrupts.signal.reason], 'interrupted: no bundle was written');
    return interrupts.done();
  }
  const client = createRegistryClient({ insecureHosts: flags.insecureRegistry });
  try {
    const result = await writeBundle({
      signal: interrupts.signal,
      inputs,
      source: copySource(inputs, client.registry),
      out: flags.out,
      force: flags.force,
      concurrency: flags.concurrency,
      onEvent: (e) => report(o, e),
    });
    if (!result.ok) {
      return o.finish({
        areas: result.failed.map((f) => f.area),
        line: `failed: ${result.failed.length} reference(s) could not be bundled; no bundle was written`,
        counts: { failed: result.failed.length },
        ms: result.ms,
      });
    }
    o.finish({
      areas: [],
      line: `ok: ${flags.out} (${result.sources} references, ${formatBytes(result.bytes ?? 0)}, sha256:${result.sha256}) in ${(result.ms / 1000).toFixed(1)} s`,
      counts: {
        sources: result.sources,
        plugins: inputs.entries.length,
        blobs: result.blobs,
        bytes: result.bytes ?? 0,
      },
      ms: result.ms,
    });
  } catch (e) {
    return refuse(
      [e],
      isInterruption(e) ? 'interrupted: no bundle was written, its staging was removed' : 'no bundle was written',
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
      .command('bundle')
      .description(
        'write every plugin of the lists (or a snapshot or lock) into one OCI image layout tar, with the lists and a lock inside',
      )
      .argument('[inputs...]', 'plugins.properties files (or one oci-layout:<path> to re-bundle)')
      .requiredOption('-o, --out <file>', 'the bundle to write (an OCI image layout tar)')
      .option('--snapshot <file>', 'Higress release snapshot JSON to bundle')
      .option(
        '--lock <file>',
        'lock file: alone, bundle exactly its digests; with lists, the lists must agree with it (as pull --frozen)',
      )
      .option('--force', 'replace an existing file at --out')
      .option('--json', 'stdout: one JSON event per line (docs/cli-events.schema.json); human lines stay on stderr'),
  ).action((args: string[], flags: BundleFlags) => bundleCommand(args, flags));
}
