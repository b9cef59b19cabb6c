/**
 * What `audit` and `adopt` touch in a cluster, and so the permissions they need: one list shared by
 * the CLI (its "forbidden" errors name the rule to add) and the chart generator, which writes it as
 * dist/adopt-rbac.yaml (a ClusterRole for WasmPlugins in every namespace, a Role in Higress's
 * namespace for its Deployments and the adopt record).
 */

/** The WasmPlugin resource, in every namespace. */
export const WASMPLUGIN_API = { group: 'extensions.higress.io', version: 'v1alpha1', plural: 'wasmplugins' } as const;

/** The Console Deployment, its container, and the env entry holding its plugin URL pattern. */
export const CONSOLE_DEPLOYMENT = 'higress-console';
export const CONSOLE_CONTAINER = 'higress-console';
/** The controller Deployment, its container, and the env entry holding the MCP server plugin's URL. */
export const CONTROLLER_DEPLOYMENT = 'higress-controller';
export const CONTROLLER_CONTAINER = 'higress-core';
export const MCP_SERVER_URL_ENV = 'MCP_SERVER_WASM_IMAGE_URL';

/** The ConfigMap `adopt` writes (in the server's namespace) before its first change; `adopt --revert` reads and removes it. */
export const ADOPT_RECORD_NAME = 'higress-plugin-server-adopt';
export const ADOPT_RECORD_KEY = 'record.json';

/** Name of the ServiceAccount, roles and bindings of dist/adopt-rbac.yaml. */
export const ADOPT_RBAC_NAME = 'higress-plugin-server-adopt';

export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** Cluster-wide: WasmPlugins of any namespace (audit: get, list; adopt: patch). */
export const ADOPT_CLUSTER_RULES: readonly RbacRule[] = [
  { apiGroups: [WASMPLUGIN_API.group], resources: [WASMPLUGIN_API.plural], verbs: ['get', 'list', 'patch'] },
];

/** In Higress's namespace: the Console and controller Deployments, and the adopt record. */
export const ADOPT_NAMESPACE_RULES: readonly RbacRule[] = [
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'patch'] },
  { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'update', 'delete'] },
];
