/**
 * The chart's computed values, each written once as an expression: names, labels, image, pull
 * policy, the Console URL. `_helpers.tpl` is generated from them (in this order) and dist/ evaluates
 * the same expressions, so the two cannot drift apart.
 */
import { CONSOLE_PLUGIN_PATH, MCP_SERVER_PLUGIN_PATH } from '../src/contract/service';
import {
  ChartMeta,
  chartAppVersion,
  chartVersion,
  dnsLabel,
  eq,
  hasKey,
  HelperSet,
  ifElse,
  indexOf,
  int,
  lit,
  MapEntry,
  orElse,
  printf,
  releaseName,
  releaseNamespace,
  releaseService,
  replace,
  suffixed,
  tagString,
  variable,
  withVar,
} from './helm';
import { V } from './values';
import { ChartChange } from './changelog';

export const CHART_NAME = 'higress-plugin-server';
export interface ChartInfo extends ChartMeta {
  /** Artifact Hub `changes` for Chart.yaml (from CHANGELOG.md); none when empty or absent. */
  changes?: ChartChange[];
}

export const H = new HelperSet(CHART_NAME);

/** Name of the Deployment, Service and PodDisruptionBudget. */
export const name = H.define(
  'name',
  'Name of the Deployment, Service and PodDisruptionBudget (the upstream key pluginServer.name).',
  dnsLabel(V('name')),
);
/* The chart's own name, not .Chart.Name: inside the Higress chart that is the alias `pluginServer`. */
const chartLabel = H.define(
  'chart',
  'Chart name and version for the helm.sh/chart label (the chart name, never the alias it is embedded under).',
  dnsLabel(replace(printf('%s-%s', lit(CHART_NAME), chartVersion), '+', '_')),
);
export const tag = H.define(
  'tag',
  "Image tag: the tag value (a number is written as typed, 2.2 or 20260101), else the chart's appVersion (the Higress version it ships with).",
  withVar('tag', orElse(V('tag'), chartAppVersion), tagString(variable<string | number>('tag', 'string'))),
);

/** Upstream's rule: `labels.<key>` replaces the selector label when present (quoted; an empty value drops it). */
const selectorValue = (key: 'app' | 'higress') => ifElse(hasKey(V('labels'), key), indexOf(V('labels'), key), name);
const selectorLabel = (key: 'app' | 'higress'): MapEntry => ({ key, value: selectorValue(key), optional: true });
/** The `app` selector label's value (NOTES.txt lists Deployments with it). */
export const selectorApp = selectorValue('app');
export const SELECTOR_KEYS = ['app', 'higress'] as const;
export const selectorLabels = H.defineMap(
  'selectorLabels',
  'Selector labels as the Higress chart computes them (labels.app / labels.higress win), so existing Deployments upgrade in place.',
  SELECTOR_KEYS.map(selectorLabel),
);

const COMMON_LABELS: MapEntry[] = [
  { key: 'app.kubernetes.io/name', value: CHART_NAME },
  { key: 'app.kubernetes.io/instance', value: releaseName },
  { key: 'app.kubernetes.io/version', value: tag, quote: true },
  { key: 'app.kubernetes.io/part-of', value: 'higress' },
  { key: 'app.kubernetes.io/managed-by', value: releaseService },
  { key: 'helm.sh/chart', value: chartLabel },
];
export const commonLabels = H.defineMap(
  'commonLabels',
  'Recommended labels every object carries (the helm test pod adds its own component).',
  COMMON_LABELS,
);

const COMPONENT = { key: 'app.kubernetes.io/component', value: 'plugin-server' };
export const labels = H.defineMap(
  'labels',
  "Labels of the server's Deployment, pods, Service and PodDisruptionBudget.",
  [{ include: selectorLabels }, COMPONENT, { include: commonLabels }],
);

/** Keys the `labels` helper writes: user label maps leave them out, so no key is written twice. */
export const LABEL_KEYS: readonly string[] = [
  ...SELECTOR_KEYS,
  COMPONENT.key,
  ...COMMON_LABELS.flatMap((e) => ('key' in e ? [e.key] : [])),
];

export const image = H.define(
  'image',
  '<hub or global.hub>/higress/<image>:<tag or appVersion>, as the upstream template builds it.',
  printf('%s/higress/%s:%s', orElse(V('hub'), V('global.hub')), V('image'), tag),
);

export const pullPolicy = H.define(
  'pullPolicy',
  'Pull policy: imagePullPolicy, else global.imagePullPolicy; empty leaves it to Kubernetes.',
  orElse<string>(V('imagePullPolicy'), V('global.imagePullPolicy')),
);

const base = variable<string>('base', 'string');
/** `http://<name>.<namespace>.svc[:<port>]` (src/contract/service.ts's serviceBaseUrl; a test checks they agree). */
export const baseUrl = H.define(
  'baseUrl',
  'In-cluster base URL, port left out when 80 (serviceBaseUrl in src/contract/service.ts computes the same).',
  withVar(
    'base',
    printf('http://%s.%s.svc', name, releaseNamespace),
    ifElse(eq<number>(int(V('service.port')), lit(80)), base, printf('%s:%d', base, int(V('service.port')))),
  ),
);

const host = variable<string>('host', 'string');
/** `<name>.<namespace>.svc[:<port>]`: the registry host of the OCI view (src/contract/service.ts's serviceHost). */
export const registryHost = H.define(
  'registryHost',
  'In-cluster host (and port when not 80) of the read-only OCI registry under /v2/ (serviceHost in src/contract/service.ts computes the same).',
  withVar(
    'host',
    printf('%s.%s.svc', name, releaseNamespace),
    ifElse(eq<number>(int(V('service.port')), lit(80)), host, printf('%s:%d', host, int(V('service.port')))),
  ),
);

export const consoleUrlPattern = H.define(
  'consoleUrlPattern',
  "Value of the Console's HIGRESS_ADMIN_WASM_PLUGIN_CUSTOM_IMAGE_URL_PATTERN for this server.",
  suffixed(baseUrl, CONSOLE_PLUGIN_PATH),
);

export const mcpServerWasmUrl = H.define(
  'mcpServerWasmUrl',
  "Value of the Higress controller's MCP_SERVER_WASM_IMAGE_URL: this server's mcp-server at the snapshot version.",
  suffixed(baseUrl, MCP_SERVER_PLUGIN_PATH),
);

export const consoleNamespace = H.define(
  'consoleNamespace',
  "Namespace of the Higress Console: console.namespace, else the release's namespace.",
  orElse(V('console.namespace'), releaseNamespace),
);
