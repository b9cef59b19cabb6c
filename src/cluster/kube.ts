/**
 * The Kubernetes side of `audit` and `adopt`, on the official client (@kubernetes/client-node):
 * kubeconfig read as kubectl reads it (`--kubeconfig`, else KUBECONFIG, else ~/.kube/config, else the
 * in-cluster service account; `--context` picks a context), WasmPlugins of every namespace, one
 * Deployment's containers, and the adopt record (a ConfigMap). Every write is a JSON patch that sets
 * `metadata.resourceVersion` to the version the plan read, so the API server refuses it (409) when the
 * object changed in between: a concurrent edit is never overwritten.
 *
 * The client is an ES module; it is loaded when a command first talks to a cluster (Node 20 loads it
 * through require), so every other command starts without it.
 */
import * as http from 'http';
import * as https from 'https';
import type * as K8s from '@kubernetes/client-node';
import { EnvironmentError, InputError, PluginServerError } from '../errors';
import { ADOPT_CLUSTER_RULES, ADOPT_NAMESPACE_RULES, WASMPLUGIN_API } from '../contract/adopt-rbac';

export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
  /** WasmPlugins per list call (default LIST_PAGE_SIZE). */
  listPageSize?: number;
}

/** A WasmPlugin as the API server returned it (JSON, untouched). */
export interface WasmPluginObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion: string; [k: string]: unknown };
  spec?: { url?: string; sha256?: string; imagePullPolicy?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

export interface DeploymentView {
  namespace: string;
  name: string;
  resourceVersion: string;
  containers: Array<{ name: string; env: EnvVar[] | undefined }>;
}

export interface ConfigMapView {
  resourceVersion: string;
  data: Record<string, string>;
}

/** WasmPlugins per list call (`limit`); kubectl's default page size. */
export const LIST_PAGE_SIZE = 500;

/** One JSON patch operation (RFC 6902). */
export type PatchOp = { op: 'add' | 'replace' | 'test'; path: string; value: unknown } | { op: 'remove'; path: string };

export interface Kube {
  /** The server and user of the context in use, for messages. */
  readonly where: string;
  listWasmPlugins(): Promise<WasmPluginObject[]>;
  /** undefined when the WasmPlugin does not exist. */
  getWasmPlugin(namespace: string, name: string): Promise<WasmPluginObject | undefined>;
  /** undefined when the Deployment does not exist. */
  readDeployment(namespace: string, name: string): Promise<DeploymentView | undefined>;
  patchWasmPlugin(namespace: string, name: string, resourceVersion: string, ops: PatchOp[]): Promise<void>;
  patchDeployment(namespace: string, name: string, resourceVersion: string, ops: PatchOp[]): Promise<void>;
  readConfigMap(namespace: string, name: string): Promise<ConfigMapView | undefined>;
  /** Creates, or replaces when `resourceVersion` is given (conditional on it). */
  writeConfigMap(
    namespace: string,
    name: string,
    data: Record<string, string>,
    labels: Record<string, string>,
    resourceVersion?: string,
  ): Promise<void>;
  deleteConfigMap(namespace: string, name: string, resourceVersion: string): Promise<void>;
}

/** `{op: replace, path: /metadata/resourceVersion}` first: the API server treats it as a precondition. */
function conditional(resourceVersion: string, ops: PatchOp[]): PatchOp[] {
  return [{ op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion }, ...ops];
}

function describeRules(): string {
  const fmt = (r: { apiGroups: string[]; resources: string[]; verbs: string[] }) =>
    `${r.verbs.join('/')} ${r.resources.join(',')}${r.apiGroups[0] ? `.${r.apiGroups[0]}` : ''}`;
  return `cluster-wide ${ADOPT_CLUSTER_RULES.map(fmt).join('; ')}; in Higress's namespace ${ADOPT_NAMESPACE_RULES.map(fmt).join('; ')}`;
}

interface StatusBody {
  message?: string;
  reason?: string;
}

function statusBody(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body.slice(0, 500) };
    }
  }
  return body && typeof body === 'object' ? body : {};
}

/** Turns what the client threw into one catalogued error naming the request. */
export function kubeError(err: unknown, action: string, where: string): PluginServerError {
  if (err instanceof PluginServerError) return err;
  const e = err as { code?: unknown; body?: unknown; message?: string };
  const status = typeof e.code === 'number' ? e.code : undefined;
  const body = statusBody(e.body);
  const said = body.message ?? e.message ?? String(err);
  if (status === 403)
    return new EnvironmentError({
      code: 'E_KUBE_FORBIDDEN',
      message: `${action}: forbidden: ${said}`,
      context: { url: where },
      hint: `bind the roles of dist/adopt-rbac.yaml (docs/adopting.md#rbac): ${describeRules()}`,
    });
  if (status === 409)
    return new EnvironmentError({
      code: 'E_KUBE_CONFLICT',
      message: `${action}: the object changed since it was read (${said}); it was not overwritten`,
      context: { url: where },
      hint: 'someone edited it concurrently: run the command again, it plans from the new state',
    });
  if (status === 401)
    return new EnvironmentError({
      code: 'E_KUBE_API',
      message: `${action}: unauthorized (${said})`,
      context: { url: where },
      hint: 'the credentials of the kubeconfig context were refused: log in again or pick another --context',
    });
  return new EnvironmentError({
    code: 'E_KUBE_API',
    message: `${action} failed${status ? ` (HTTP ${status})` : ''}: ${said}`,
    context: { url: where },
    hint: 'check the kubeconfig context and that the API server answers (`kubectl get --raw /readyz`)',
  });
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown }).code === 404;
}

async function loadClient(): Promise<typeof K8s> {
  try {
    return await import('@kubernetes/client-node');
  } catch (err) {
    // An ES module: Node loads it through require() from 20.19 on (ERR_REQUIRE_ESM before).
    throw new EnvironmentError({
      code: 'E_KUBE_API',
      message: `cannot load the Kubernetes client (@kubernetes/client-node) on Node ${process.version}: ${(err as Error).message}`,
      hint: 'audit and adopt need Node 20.19 or newer',
    });
  }
}

/**
 * One connection pool for every request of this client. client-node builds a new Agent for each
 * request (KubeConfig.applySecurityAuthentication), so each request opened its own TLS connection:
 * 1,000 patches meant 1,000 TLS handshakes on the API server. The first request's agent, rebuilt with
 * keep-alive when it is a plain http(s) Agent (a proxy agent is kept as it is), serves them all; its
 * options (CA, client certificate) are the same for every request of one kubeconfig context. Idle
 * sockets do not hold the CLI open (Node's Agent unrefs them: keepSocketAlive).
 */
function keepConnections(kc: K8s.KubeConfig): void {
  const authenticate = kc.applySecurityAuthentication.bind(kc);
  let shared: http.Agent | undefined;
  kc.applySecurityAuthentication = async (context) => {
    await authenticate(context);
    if (!shared) {
      const made = context.getAgent();
      if (!made) return;
      const options = (made as http.Agent & { options?: https.AgentOptions }).options ?? {};
      shared =
        made.constructor === https.Agent
          ? new https.Agent({ ...options, keepAlive: true })
          : made.constructor === http.Agent
            ? new http.Agent({ ...options, keepAlive: true })
            : made;
    }
    context.setAgent(shared);
  };
}

/** Loads the kubeconfig the way kubectl does and returns the client the commands use. */
export async function connect(opts: KubeOptions): Promise<Kube> {
  const k8s = await loadClient();
  const kc = new k8s.KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new InputError({
      code: 'E_KUBECONFIG',
      message: `cannot read the kubeconfig${opts.kubeconfig ? ` ${opts.kubeconfig}` : ''}: ${(err as Error).message}`,
      context: opts.kubeconfig ? { file: opts.kubeconfig } : {},
      hint: 'pass --kubeconfig <file>, set KUBECONFIG, or run in a pod with a service account',
    });
  }
  if (opts.context !== undefined) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(opts.context))
      throw new InputError({
        code: 'E_KUBECONFIG',
        message: `the kubeconfig has no context "${opts.context}" (it has ${names.join(', ') || 'none'})`,
        context: opts.kubeconfig ? { file: opts.kubeconfig } : {},
        hint: 'pick one of the listed contexts (`kubectl config get-contexts`)',
      });
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster)
    throw new InputError({
      code: 'E_KUBECONFIG',
      message: 'the kubeconfig names no cluster for its current context',
      context: opts.kubeconfig ? { file: opts.kubeconfig } : {},
      hint: 'set a current-context, or pass --context',
    });
  const where = cluster.server;
  keepConnections(kc);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
  const call = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw kubeError(err, action, where);
    }
  };
  const { group, version, plural } = WASMPLUGIN_API;

  return {
    where,
    async listWasmPlugins() {
      // Pages of LIST_PAGE_SIZE (limit/continue): a cluster with thousands of WasmPlugins is read in a
      // few calls of bounded size, each page from the same consistent snapshot (the API server's
      // guarantee for continue tokens).
      const items: WasmPluginObject[] = [];
      let next: string | undefined;
      do {
        const page = await call(
          `list ${plural}.${group} in every namespace`,
          async () =>
            (await custom.listClusterCustomObject({
              group,
              version,
              plural,
              limit: opts.listPageSize ?? LIST_PAGE_SIZE,
              _continue: next,
            })) as { items?: WasmPluginObject[]; metadata?: { continue?: string } },
        );
        items.push(...(page.items ?? []));
        next = page.metadata?.continue || undefined;
      } while (next);
      return items.sort(
        (a, b) =>
          a.metadata.namespace.localeCompare(b.metadata.namespace) || a.metadata.name.localeCompare(b.metadata.name),
      );
    },
    async getWasmPlugin(namespace, name) {
      try {
        return (await custom.getNamespacedCustomObject({
          group,
          version,
          plural,
          namespace,
          name,
        })) as WasmPluginObject;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw kubeError(err, `get ${plural}.${group} ${namespace}/${name}`, where);
      }
    },
    async readDeployment(namespace, name) {
      let d: K8s.V1Deployment;
      try {
        d = await apps.readNamespacedDeployment({ name, namespace });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw kubeError(err, `get deployment ${namespace}/${name}`, where);
      }
      return {
        namespace,
        name,
        resourceVersion: d.metadata?.resourceVersion ?? '',
        containers: (d.spec?.template.spec?.containers ?? []).map((c) => ({
          name: c.name,
          // The typed model's fields are the JSON names: a plain copy is what the API server holds.
          env: c.env === undefined ? undefined : (JSON.parse(JSON.stringify(c.env)) as EnvVar[]),
        })),
      };
    },
    async patchWasmPlugin(namespace, name, resourceVersion, ops) {
      await call(`patch ${plural}.${group} ${namespace}/${name}`, () =>
        custom.patchNamespacedCustomObject(
          { group, version, plural, namespace, name, body: conditional(resourceVersion, ops) },
          jsonPatch,
        ),
      );
    },
    async patchDeployment(namespace, name, resourceVersion, ops) {
      await call(`patch deployment ${namespace}/${name}`, () =>
        apps.patchNamespacedDeployment({ namespace, name, body: conditional(resourceVersion, ops) }, jsonPatch),
      );
    },
    async readConfigMap(namespace, name) {
      try {
        const cm = await core.readNamespacedConfigMap({ namespace, name });
        return { resourceVersion: cm.metadata?.resourceVersion ?? '', data: cm.data ?? {} };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw kubeError(err, `get configmap ${namespace}/${name}`, where);
      }
    },
    async writeConfigMap(namespace, name, data, labels, resourceVersion) {
      const body = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace, labels, resourceVersion },
        data,
      };
      if (resourceVersion === undefined)
        await call(`create configmap ${namespace}/${name}`, () => core.createNamespacedConfigMap({ namespace, body }));
      else
        await call(`update configmap ${namespace}/${name}`, () =>
          core.replaceNamespacedConfigMap({ namespace, name, body }),
        );
    },
    async deleteConfigMap(namespace, name, resourceVersion) {
      await call(`delete configmap ${namespace}/${name}`, () =>
        core.deleteNamespacedConfigMap({ namespace, name, body: { preconditions: { resourceVersion } } }),
      );
    },
  };
}
