/**
 * The chart's computed values, each written once as an expression: names, labels, image, pull
 * policy, the Console URL. `_helpers.tpl` is generated from them (in this order) and dist/ evaluates
 * the same expressions, so the two cannot drift apart.
 */
import { CONSOLE_PLUGIN_PATH } from '../src/contract/service';
import {
  ChartMeta,
  chartAppVersion,
  chartName,
  chartVersion,
  dnsLabel,
  eq,
  HelperSet,
  ifElse,
  int,
  lit,
  orElse,
  printf,
  releaseName,
  releaseNamespace,
  releaseService,
  replace,
  suffixed,
  variable,
  withVar,
} from './helm';
import { V } from './values';

export const CHART_NAME = 'higress-plugin-server';
export type ChartInfo = ChartMeta;

export const H = new HelperSet(CHART_NAME);

/** Name of the Deployment, Service and PodDisruptionBudget. */
export const name = H.define('name', 'Name of the Deployment, Service and PodDisruptionBudget (the upstream key pluginServer.name).', dnsLabel(V('name')));
const chartLabel = H.define('chart', 'Chart name and version for the helm.sh/chart label.', dnsLabel(replace(printf('%s-%s', chartName, chartVersion), '+', '_')));
export const tag = H.define('tag', "Image tag: the tag value, else the chart's appVersion.", orElse(V('tag'), chartAppVersion));

export const selectorLabels = H.defineMap('selectorLabels', 'Selector labels: the upstream ones, kept so existing Deployments can be upgraded in place.', [
  { key: 'app', value: name },
  { key: 'higress', value: name },
]);

export const commonLabels = H.defineMap('commonLabels', 'Recommended labels every object carries (the helm test pod adds its own component).', [
  { key: 'app.kubernetes.io/name', value: chartName },
  { key: 'app.kubernetes.io/instance', value: releaseName },
  { key: 'app.kubernetes.io/version', value: tag, quote: true },
  { key: 'app.kubernetes.io/part-of', value: 'higress' },
  { key: 'app.kubernetes.io/managed-by', value: releaseService },
  { key: 'helm.sh/chart', value: chartLabel },
]);

export const labels = H.defineMap("labels", "Labels of the server's Deployment, pods, Service and PodDisruptionBudget.", [
  { include: selectorLabels },
  { key: 'app.kubernetes.io/component', value: 'plugin-server' },
  { include: commonLabels },
]);

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
  'In-cluster base URL, port left out when 80 (lib/console-url.ts computes the same).',
  withVar('base', printf('http://%s.%s.svc', name, releaseNamespace), ifElse(eq<number>(int(V('service.port')), lit(80)), base, printf('%s:%d', base, int(V('service.port'))))),
);

export const consoleUrlPattern = H.define(
  'consoleUrlPattern',
  "Value of the Console's HIGRESS_ADMIN_WASM_PLUGIN_CUSTOM_IMAGE_URL_PATTERN for this server.",
  suffixed(baseUrl, CONSOLE_PLUGIN_PATH),
);

export const consoleNamespace = H.define(
  'consoleNamespace',
  "Namespace of the Higress Console: console.namespace, else the release's namespace.",
  orElse(V('console.namespace'), releaseNamespace),
);
