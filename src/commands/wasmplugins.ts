/** `wasmplugins`: WasmPlugin resources pinned by sha256 that load plugins from this server. */
import * as fs from 'fs';
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_SERVICE_NAME, DEFAULT_SERVICE_PORT, serviceBaseUrl } from '../contract/service';
import { exitCodesHelp } from '../errors';
import { loadIndex } from '../higress/server-index';
import { loadTagDigests } from '../higress/oci-digests';

export const DEFAULT_NAMESPACE = 'higress-system';

interface Options {
  index: string;
  baseUrl?: string;
  namespace: string;
  plugin: string[];
  defaultConfigDisable: boolean;
  phase?: string;
  priority?: number;
  output?: string;
  oci?: boolean;
}

function integer(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('expected an integer');
  return Number(value);
}

export async function wasmpluginsCommand(opts: Options): Promise<void> {
  // Loaded here, not at start-up: the typed WasmPlugin import pulls in cdk8s (~50 ms), which no other
  // command needs.
  const { buildWasmPlugins, renderYaml, selectEntries } = await import('../higress/wasmplugins');
  const index = await loadIndex(opts.index);
  const baseUrl =
    opts.baseUrl ??
    serviceBaseUrl({ name: DEFAULT_SERVICE_NAME, namespace: opts.namespace, port: DEFAULT_SERVICE_PORT });
  const oci = opts.oci
    ? { host: new URL(baseUrl).host, digests: await loadTagDigests(opts.index, selectEntries(index, opts.plugin)) }
    : undefined;
  const yaml = renderYaml(
    buildWasmPlugins(index, {
      baseUrl,
      namespace: opts.namespace,
      select: opts.plugin,
      defaultConfigDisable: opts.defaultConfigDisable,
      phase: opts.phase,
      priority: opts.priority,
      oci,
    }),
  );
  // Written only once everything validated: a bad index or selection leaves no partial output.
  if (opts.output) fs.writeFileSync(opts.output, yaml);
  else process.stdout.write(yaml);
}

export function register(program: Command): void {
  program
    .command('wasmplugins')
    .description(
      'emit Higress WasmPlugin resources (YAML for kubectl apply -f) that load plugins from this server, pinned by sha256',
    )
    .requiredOption('--index <dir|url>', 'a tree root (holds plugins/index.json) or a running server URL')
    .option(
      '--base-url <url>',
      'plugin server URL as the gateway reaches it (default: the in-cluster Service URL from the chart defaults)',
    )
    .option('-n, --namespace <ns>', 'namespace of the WasmPlugin resources', DEFAULT_NAMESPACE)
    .option(
      '-p, --plugin <name[@version]>',
      'plugin to emit (repeatable; default every plugin at its newest version)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      '--no-default-config-disable',
      'set defaultConfigDisable: false (default true: a plugin is off until a rule configures it)',
    )
    .option('--phase <phase>', 'phase when the plugin spec.yaml does not say (UNSPECIFIED_PHASE, AUTHN, AUTHZ, STATS)')
    .option('--priority <n>', 'priority when the plugin spec.yaml does not say', integer)
    .option(
      '--oci',
      "load through the server's OCI API: url oci://<host>/plugins/<name>:<version>, sha256 = manifest digest (the gateway needs WASM_INSECURE_REGISTRIES=<host>)",
    )
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .addHelpText('after', `\n${exitCodesHelp()}`)
    .action((opts: Options) => wasmpluginsCommand(opts));
}
