/**
 * URLs of the plugin server as seen from inside the cluster. The Higress Console substitutes only
 * `${name}` and `${version}` in its pattern; port 80 is left out so the default pattern of the Console
 * (`http://higress-plugin-server.higress-system.svc/plugins/...`) stays byte-identical.
 */
export interface ServiceAddress {
  /** Service name (the chart's `name` value). */
  name: string;
  namespace: string;
  /** Service port (the chart's `service.port` value). */
  port: number;
}

/** `http://<name>.<namespace>.svc[:<port>]`, the port omitted when it is 80. */
export function serviceBaseUrl(addr: ServiceAddress): string {
  return `http://${addr.name}.${addr.namespace}.svc${addr.port === 80 ? '' : `:${addr.port}`}`;
}

/** Value of HIGRESS_ADMIN_WASM_PLUGIN_CUSTOM_IMAGE_URL_PATTERN for this server. */
export function consoleUrlPattern(addr: ServiceAddress): string {
  return `${serviceBaseUrl(addr)}/plugins/\${name}/\${version}/plugin.wasm`;
}

export const CONSOLE_URL_PATTERN_ENV = 'HIGRESS_ADMIN_WASM_PLUGIN_CUSTOM_IMAGE_URL_PATTERN';

/**
 * The pattern the Higress Console chart sets by itself when `global.enablePluginServer` is true
 * (`higress-console.pluginServer.urlPattern`): this server's defaults in `higress-system`.
 */
const HIGRESS_CONSOLE_DEFAULT_ADDRESS: ServiceAddress = { name: 'higress-plugin-server', namespace: 'higress-system', port: 80 };
export const HIGRESS_CONSOLE_DEFAULT_PATTERN = consoleUrlPattern(HIGRESS_CONSOLE_DEFAULT_ADDRESS);
export const HIGRESS_CONSOLE_DEFAULT_BASE = serviceBaseUrl(HIGRESS_CONSOLE_DEFAULT_ADDRESS);
