/**
 * The plugin server's in-cluster address, as Higress expects it: the Service
 * `higress-plugin-server` in `higress-system` on port 80, forwarding to the container's 8080, and the
 * Console's URL pattern built from it. Shared by the chart generator (lib/) and the CLI (wasmplugins),
 * so neither imports the other.
 */

/** Default Service (and Deployment) name: Higress's `pluginServer.name`. */
export const DEFAULT_SERVICE_NAME = 'higress-plugin-server';
/** Namespace Higress installs into, which the Console's default pattern hard-codes. */
export const DEFAULT_NAMESPACE = 'higress-system';
/** Service port: 80 keeps the Console's default pattern (no port in the URL). */
export const DEFAULT_SERVICE_PORT = 80;
/** The port Nginx listens on in the image (the Service targets it by the name `http`). */
export const CONTAINER_PORT = 8080;
/** The container port's name: the Service targets it, and Prometheus scrapes /metrics on it. */
export const HTTP_PORT_NAME = 'http';
/** Where image/nginx.conf answers the Prometheus exposition (docs/metrics.md), on the http port. */
export const METRICS_PATH = '/metrics';

export interface ServiceAddress {
  /** Service name. */
  name: string;
  namespace: string;
  /** Service port. */
  port: number;
}

export const DEFAULT_ADDRESS: ServiceAddress = {
  name: DEFAULT_SERVICE_NAME,
  namespace: DEFAULT_NAMESPACE,
  port: DEFAULT_SERVICE_PORT,
};

/** `http://<name>.<namespace>.svc[:<port>]`, the port left out when it is 80. */
export function serviceBaseUrl(addr: ServiceAddress): string {
  return `http://${addr.name}.${addr.namespace}.svc${addr.port === 80 ? '' : `:${addr.port}`}`;
}

/** Path of a plugin under the server root, with the Console's placeholders. */
export const CONSOLE_PLUGIN_PATH = '/plugins/${name}/${version}/plugin.wasm';

/** Value of HIGRESS_ADMIN_WASM_PLUGIN_CUSTOM_IMAGE_URL_PATTERN for a server (only `${name}` and `${version}` are substituted). */
export function consoleUrlPattern(addr: ServiceAddress): string {
  return `${serviceBaseUrl(addr)}${CONSOLE_PLUGIN_PATH}`;
}

export const CONSOLE_URL_PATTERN_ENV = 'HIGRESS_ADMIN_WASM_PLUGIN_CUSTOM_IMAGE_URL_PATTERN';

/** The pattern the Higress Console chart sets by itself when `global.enablePluginServer` is true. */
export const HIGRESS_CONSOLE_DEFAULT_PATTERN = consoleUrlPattern(DEFAULT_ADDRESS);
export const HIGRESS_CONSOLE_DEFAULT_BASE = serviceBaseUrl(DEFAULT_ADDRESS);

/** `<name>.<namespace>.svc[:<port>]`: the registry host of the server's OCI view (`oci://<host>/plugins/<name>:<version>`). */
export function serviceHost(addr: ServiceAddress): string {
  return serviceBaseUrl(addr).slice('http://'.length);
}

/** Repository namespace of the OCI view: the upstream registry's (`<registry>/plugins/<name>`), so only the host changes. */
export const OCI_REPOSITORY_NAMESPACE = 'plugins';
/** The Console builds `oci://<registry>/<namespace>/<name>:<version>` from these two when no URL pattern is set. */
export const CONSOLE_IMAGE_REGISTRY_ENV = 'HIGRESS_ADMIN_WASM_PLUGIN_IMAGE_REGISTRY';
export const CONSOLE_IMAGE_NAMESPACE_ENV = 'HIGRESS_ADMIN_WASM_PLUGIN_IMAGE_NAMESPACE';
/** pilot-agent (the gateway) fetches oci:// over plain HTTP only from the hosts listed here (comma-separated). */
export const GATEWAY_INSECURE_REGISTRIES_ENV = 'WASM_INSECURE_REGISTRIES';

/**
 * The Higress controller loads the MCP server plugin (Nacos MCP servers) from this variable; its
 * default is the public `oci://…/mcp-server/all-in-one` image, which a private network cannot reach,
 * and `global.enablePluginServer` does not change it (higress#2852).
 */
export const MCP_SERVER_WASM_URL_ENV = 'MCP_SERVER_WASM_IMAGE_URL';
/**
 * `mcp-server` at the version the Higress release snapshot serves it (2.2.4: inventory key
 * `mcp-server`, version 2.0.1; test/lib-synth.test.ts checks it against the snapshot).
 */
export const MCP_SERVER_PLUGIN = { name: 'mcp-server', version: '2.0.1' } as const;
export const MCP_SERVER_PLUGIN_PATH = `/plugins/${MCP_SERVER_PLUGIN.name}/${MCP_SERVER_PLUGIN.version}/plugin.wasm`;
/** The Higress controller Deployment and its container (helm/core names the container after the chart). */
export const HIGRESS_CONTROLLER_DEPLOYMENT = 'higress-controller';
export const HIGRESS_CONTROLLER_CONTAINER = 'higress-core';

/** Value of the controller's MCP_SERVER_WASM_IMAGE_URL for a server. */
export function mcpServerWasmUrl(addr: ServiceAddress): string {
  return `${serviceBaseUrl(addr)}${MCP_SERVER_PLUGIN_PATH}`;
}
