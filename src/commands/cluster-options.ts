/** Options `audit` and `adopt` share: where the server is (from here and from the cluster) and which cluster. */
import { Command } from 'commander';
import { DEFAULT_NAMESPACE, HIGRESS_CONSOLE_DEFAULT_BASE } from '../contract/service';
import { serverLocation } from './check';

export interface ClusterOptions {
  server: string;
  serviceUrl: string;
  kubeconfig?: string;
  context?: string;
  namespace: string;
  json?: boolean;
}

export function addClusterOptions(cmd: Command): Command {
  return cmd
    .requiredOption(
      '--server <url>',
      'plugin server base URL reachable from here, e.g. http://127.0.0.1:8080 (kubectl port-forward svc/higress-plugin-server 8080:80)',
      serverLocation,
    )
    .option(
      '--service-url <url>',
      'plugin server base URL as the cluster reaches it',
      (v: string) => v.replace(/\/+$/, ''),
      HIGRESS_CONSOLE_DEFAULT_BASE,
    )
    .option(
      '--kubeconfig <file>',
      'kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster service account)',
    )
    .option('--context <name>', 'kubeconfig context (default: its current-context)')
    .option(
      '--namespace <ns>',
      "Higress's namespace: where the higress-console and higress-controller Deployments are (WasmPlugins are read in every namespace)",
      DEFAULT_NAMESPACE,
    )
    .option('--json', 'stdout: one JSON event per line (docs/cli-events.schema.json) instead of the report lines');
}
