/**
 * The three places a running Higress asks for plugin URLs, read from the cluster: every WasmPlugin
 * (`spec.url`, `spec.sha256`), the Console's URL pattern (an env entry of the `higress-console`
 * Deployment; unset means the public registry) and the controller's MCP server URL (an env entry of
 * the `higress-core` container of `higress-controller`). And where a URL points: at the plugin server
 * (its Service URL, or its OCI view's host) or elsewhere.
 */
import { CONSOLE_URL_PATTERN_ENV } from '../contract/service';
import {
  CONSOLE_CONTAINER,
  CONSOLE_DEPLOYMENT,
  CONTROLLER_CONTAINER,
  CONTROLLER_DEPLOYMENT,
  MCP_SERVER_URL_ENV,
} from '../contract/adopt-rbac';
import type { DeploymentView, EnvVar, Kube, WasmPluginObject } from './kube';

/** Where the cluster reaches the server (`--service-url`) and where this machine does (`--server`). */
export interface ServerAddress {
  /** Base URL as the gateway and Console use it, e.g. `http://higress-plugin-server.higress-system.svc`. */
  serviceUrl: string;
  /** Base URL reachable from here (a port-forward), e.g. `http://127.0.0.1:8080`. */
  serverUrl: string;
}

/** One env entry of one container of a Deployment. */
export interface EnvAsk {
  deployment: DeploymentView;
  containerIndex: number;
  container: string;
  name: string;
  /** The entry as the Deployment holds it, undefined when it is not set. */
  entry: EnvVar | undefined;
  entryIndex: number;
}

export interface ClusterAsks {
  wasmPlugins: WasmPluginObject[];
  /** undefined when the Deployment (or its container) does not exist. */
  console?: EnvAsk;
  controller?: EnvAsk;
}

export function trimBase(url: string): string {
  return url.replace(/\/+$/, '');
}

/** `host[:port]` of the service URL: the registry host of the server's OCI view. */
export function serviceHost(serviceUrl: string): string {
  return trimBase(serviceUrl).replace(/^[a-z]+:\/\//i, '');
}

/** The namespace in `http://<name>.<namespace>.svc[...]`, when the URL has that form. */
export function serviceNamespace(serviceUrl: string): string | undefined {
  const m = /^[a-z]+:\/\/[a-z0-9-]+\.([a-z0-9-]+)\.svc(\.|:|\/|$)/i.exec(serviceUrl);
  return m?.[1];
}

/** The path on the server when `url` points at the service URL, else undefined. */
export function localPath(url: string, addr: ServerAddress): string | undefined {
  const base = trimBase(addr.serviceUrl);
  return url.startsWith(`${base}/`) ? url.slice(base.length) : undefined;
}

/** `plugins/<name>:<tag>` (and digest) when `url` is an oci:// reference to the server's OCI view. */
export function localOci(url: string, addr: ServerAddress): string | undefined {
  const prefix = `oci://${serviceHost(addr.serviceUrl)}/`;
  return url.startsWith(prefix) ? url.slice(prefix.length) : undefined;
}

function envAsk(d: DeploymentView | undefined, container: string, name: string): EnvAsk | undefined {
  if (!d) return undefined;
  let containerIndex = d.containers.findIndex((c) => c.name === container);
  // A renamed Console container: a Deployment of one container has no other place for the pattern.
  if (containerIndex < 0 && d.containers.length === 1) containerIndex = 0;
  if (containerIndex < 0) return undefined;
  const env = d.containers[containerIndex].env ?? [];
  const entryIndex = env.findIndex((e) => e.name === name);
  return {
    deployment: d,
    containerIndex,
    container: d.containers[containerIndex].name,
    name,
    entry: entryIndex >= 0 ? env[entryIndex] : undefined,
    entryIndex,
  };
}

/** Reads the three places; `namespace` is Higress's (the Console's and controller's Deployments). */
export async function readAsks(kube: Kube, namespace: string): Promise<ClusterAsks> {
  const [wasmPlugins, consoleDeployment, controllerDeployment] = await Promise.all([
    kube.listWasmPlugins(),
    kube.readDeployment(namespace, CONSOLE_DEPLOYMENT),
    kube.readDeployment(namespace, CONTROLLER_DEPLOYMENT),
  ]);
  return {
    wasmPlugins,
    console: envAsk(consoleDeployment, CONSOLE_CONTAINER, CONSOLE_URL_PATTERN_ENV),
    controller: envAsk(controllerDeployment, CONTROLLER_CONTAINER, MCP_SERVER_URL_ENV),
  };
}

export function wasmPluginLabel(w: WasmPluginObject): string {
  return `WasmPlugin ${w.metadata.namespace}/${w.metadata.name}`;
}

export function envLabel(kind: 'Console' | 'Controller', a: EnvAsk): string {
  return `${kind} ${a.deployment.namespace}/${a.deployment.name}`;
}
