#!/usr/bin/env node
/**
 * The release steps that run anywhere (no Docker, no GitHub): release.yml calls them and
 * test/release-local.test.ts runs them against a local registry. After `npm ci && npm run build`:
 *
 *   node build/scripts/release/cli.js snapshot-check <snapshot.json> <sha256> [--higress-version <v>]
 *   node build/scripts/release/cli.js tree <snapshot.json> --lock <lock.json> --out <dir> \
 *        [--unmanaged-lock <unmanaged-plugins.lock.json>] [lists...]
 *   node build/scripts/release/cli.js tag-check <image>:<tag> <digest>                # prints new|unchanged
 *   node build/scripts/release/cli.js chart <higress-version> --out <dir>          # prints the .tgz path
 *   node build/scripts/release/cli.js chart-push <chart.tgz> oci://<registry>/<path>  # prints the digest
 *   node build/scripts/release/cli.js cli --out <dir>                               # prints the .tgz path
 *
 * Results go to stdout (one line, for `$GITHUB_OUTPUT`), progress and errors to stderr. Exit codes:
 * 0 done, 2 a release input is wrong, 3 a tool failed (see scripts/release/errors.ts).
 */
import { Command } from 'commander';
import { errorLine, PluginServerError } from '../../src/errors';
import { EXIT, ReleaseError } from './errors';

// Each step loads its module when it runs: the chart steps pull in the cdk8s app, which the
// snapshot and tree steps do not need.
/* eslint-disable @typescript-eslint/no-require-imports -- lazy loading, see above */
const chart = () => require('./chart') as typeof import('./chart');
const pack = () => require('./pack') as typeof import('./pack');
const snapshot = () => require('./snapshot') as typeof import('./snapshot');
const tag = () => require('./tag') as typeof import('./tag');
/* eslint-enable @typescript-eslint/no-require-imports */

const say = (line: string): void => void process.stdout.write(`${line}\n`);

export function buildReleaseProgram(): Command {
  const program = new Command('release').description('release steps of higress-plugin-server (see docs/releasing.md)');
  program
    .command('snapshot-check <snapshot> <sha256>')
    .description('fail unless the snapshot file has this sha256 (and is the given release)')
    .option('--higress-version <version>', "the snapshot's gatewayVersion must be this")
    .action(async (file: string, sha: string, o: { higressVersion?: string }) =>
      say(await snapshot().checkSnapshot(file, sha, o.higressVersion)),
    );
  program
    .command('tree <snapshot> [lists...]')
    .description('pull --snapshot [--unmanaged-lock] [lists...] --frozen, then verify')
    .requiredOption('--lock <file>', 'lock file of the inputs (written by sync-plugins)')
    .requiredOption('--out <dir>', 'tree root')
    .option('--unmanaged-lock <file>', "upstream's lock of the first list's plugins the snapshot does not manage")
    .option(
      '--insecure-registry <host>',
      'plain HTTP to this registry (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action(
      (
        file: string,
        lists: string[],
        o: { lock: string; out: string; unmanagedLock?: string; insecureRegistry: string[] },
      ) => {
        snapshot().buildTree({
          snapshot: file,
          lists,
          unmanagedLock: o.unmanagedLock,
          lock: o.lock,
          out: o.out,
          insecureRegistries: o.insecureRegistry,
        });
        say(o.out);
      },
    );
  program
    .command('tag-check <image> <digest>')
    .description('fail when <image> (registry/repository:tag) already exists with another digest (tags are immutable)')
    .option(
      '--insecure-registry <host>',
      'plain HTTP to this registry (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action(async (image: string, digest: string, o: { insecureRegistry: string[] }) =>
      say(await tag().checkTag(image, digest, { insecureRegistries: o.insecureRegistry })),
    );
  program
    .command('chart <version>')
    .description('package the chart with version = appVersion = <version>')
    .requiredOption('--out <dir>', 'where the .tgz goes')
    .action((version: string, o: { out: string }) => say(chart().packageChart(version, o.out)));
  program
    .command('chart-push <tgz> <repository>')
    .description('helm push to an OCI chart repository')
    .action((tgz: string, repo: string) => say(chart().pushChart(tgz, repo)));
  program
    .command('cli')
    .description('npm pack the CLI from the tracked sources')
    .requiredOption('--out <dir>', 'where the .tgz goes')
    .action((o: { out: string }) => say(pack().packCli(o.out)));
  return program;
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildReleaseProgram().parseAsync(argv);
  } catch (err) {
    // One line ending with the code, like every error line of the project CLI (src/cli.ts).
    process.stderr.write(`error: ${errorLine(err)}${err instanceof PluginServerError ? ` [${err.code}]` : ''}\n`);
    process.exitCode = err instanceof ReleaseError && err.code === 'E_RELEASE_TOOL' ? EXIT.tool : EXIT.input;
  }
}

if (require.main === module) void main();
