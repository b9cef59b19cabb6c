/**
 * The typed values model: the single source of truth for values.yaml (with its comments),
 * values.schema.json, the README values table and the defaults the constructs resolve for dist/.
 * Keys at the top level are the ones Higress users already set under `pluginServer:` in the
 * umbrella chart, so an existing values file keeps working when the subchart is swapped in.
 */

/** A scalar key: rendered inline in templates (`{{ .Values.x }}` / `| quote`). */
export interface LeafSpec {
  kind: 'string' | 'integer' | 'boolean';
  description: string;
  default: string | number | boolean;
  enum?: readonly (string | number)[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
}

/** A map or list handed to Kubernetes as is (`{{- with }}` + `toYaml`); `schema` types its content. */
export interface BlockSpec {
  kind: 'object' | 'array';
  description: string;
  default: unknown;
  schema?: Record<string, unknown>;
}

/** A group of keys; `open` groups (only `global`) accept keys they do not know, because the umbrella chart passes many. */
export interface GroupSpec {
  kind: 'group';
  description: string;
  children: Record<string, ValueSpec>;
  open?: boolean;
}

export type ValueSpec = LeafSpec | BlockSpec | GroupSpec;

/** A non-negative Kubernetes resource quantity (`64Mi`, `1G`, `0.5Gi`, `128974848`, `1e6`). */
export const QUANTITY = '^([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$';
const STRING_MAP = { type: 'object', additionalProperties: { type: 'string' } };
const PROBE = (what: string, d: { initialDelaySeconds: number; periodSeconds: number; timeoutSeconds: number; failureThreshold: number }): GroupSpec => ({
  kind: 'group',
  description: what,
  children: {
    initialDelaySeconds: { kind: 'integer', minimum: 0, maximum: 3600, default: d.initialDelaySeconds, description: 'Seconds before the first probe.' },
    periodSeconds: { kind: 'integer', minimum: 1, maximum: 3600, default: d.periodSeconds, description: 'Seconds between probes.' },
    timeoutSeconds: { kind: 'integer', minimum: 1, maximum: 3600, default: d.timeoutSeconds, description: 'Seconds before a probe times out.' },
    failureThreshold: { kind: 'integer', minimum: 1, maximum: 1000, default: d.failureThreshold, description: 'Consecutive failures before the probe fails.' },
  },
});

/** Every key the chart accepts, in values.yaml order. */
export const VALUES_SPEC: GroupSpec = {
  kind: 'group',
  description: 'higress-plugin-server values',
  children: {
    global: {
      kind: 'group',
      open: true,
      description: 'Values shared with the Higress umbrella chart.',
      children: {
        enablePluginServer: { kind: 'boolean', default: false, description: 'Render the plugin server. Every template is gated by this flag (the Higress umbrella chart uses it as the dependency condition).' },
        hub: { kind: 'string', default: 'higress-registry.cn-hangzhou.cr.aliyuncs.com', description: 'Image registry used when `hub` is empty.' },
        imagePullPolicy: { kind: 'string', default: '', enum: ['', 'Always', 'IfNotPresent', 'Never'], description: 'Pull policy used when `imagePullPolicy` is empty; empty leaves it to Kubernetes.' },
      },
    },
    name: { kind: 'string', default: 'higress-plugin-server', pattern: '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$', description: 'Name of the Deployment and the Service (the Console URL pattern uses it).' },
    replicas: { kind: 'integer', default: 2, minimum: 0, maximum: 100, description: 'Number of Nginx replicas; a PodDisruptionBudget is added when greater than 1.' },
    image: { kind: 'string', default: 'plugin-server', pattern: '^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$', description: 'Image name; the image is `<hub>/higress/<image>:<tag>`.' },
    hub: { kind: 'string', default: '', description: 'Image registry; empty falls back to `global.hub`.' },
    tag: { kind: 'string', default: '', description: "Image tag; empty falls back to the chart's appVersion." },
    imagePullPolicy: { kind: 'string', default: '', enum: ['', 'Always', 'IfNotPresent', 'Never'], description: 'Image pull policy; empty falls back to `global.imagePullPolicy`.' },
    imagePullSecrets: {
      kind: 'array',
      default: [],
      description: 'Pull secrets for the image, e.g. `[{name: regcred}]`.',
      schema: { items: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } }, additionalProperties: false } },
    },
    labels: { kind: 'object', default: {}, schema: STRING_MAP, description: 'Extra labels on the Deployment, the Service and the PodDisruptionBudget.' },
    podLabels: { kind: 'object', default: {}, schema: STRING_MAP, description: 'Extra labels on the server pods (the selector keeps using `app` and `higress`).' },
    podAnnotations: { kind: 'object', default: {}, schema: STRING_MAP, description: 'Annotations on the server pods.' },
    service: {
      kind: 'group',
      description: 'The ClusterIP Service in front of the pods.',
      children: {
        port: { kind: 'integer', default: 80, minimum: 1, maximum: 65535, description: 'Service port (the container listens on 8080). Port 80 keeps the Console default URL pattern.' },
      },
    },
    resources: {
      kind: 'object',
      default: { requests: { cpu: '200m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
      schema: {
        properties: { requests: { type: 'object', additionalProperties: { type: ['string', 'number'] } }, limits: { type: 'object', additionalProperties: { type: ['string', 'number'] } } },
        additionalProperties: false,
      },
      description: 'Resources of the Nginx container (the Higress chart\'s defaults).',
    },
    nodeSelector: { kind: 'object', default: {}, schema: STRING_MAP, description: 'Node selector for the server pods and the helm test pod.' },
    tolerations: { kind: 'array', default: [], schema: { items: { type: 'object' } }, description: 'Tolerations for the server pods and the helm test pod.' },
    affinity: { kind: 'object', default: {}, description: 'Affinity for the server pods; when set it replaces the generated anti-affinity entirely.' },
    antiAffinity: {
      kind: 'string',
      default: 'preferred',
      enum: ['preferred', 'required', 'none'],
      description: 'Pod anti-affinity on `kubernetes.io/hostname`: `preferred` (two replicas still schedule on one node), `required` (one replica per node; rollouts then replace one pod at a time, maxSurge 0 / maxUnavailable 1, so they complete when nodes == replicas) or `none`.',
    },
    zoneSpread: { kind: 'boolean', default: true, description: 'Soft spread of the pods across `topology.kubernetes.io/zone` (ScheduleAnyway); ignored when `topologySpreadConstraints` is set.' },
    topologySpreadConstraints: { kind: 'array', default: [], schema: { items: { type: 'object' } }, description: 'Topology spread constraints for the server pods; when set they replace the soft zone spread.' },
    priorityClassName: { kind: 'string', default: '', description: 'Priority class of the server pods and the helm test pod; empty uses the cluster default.' },
    podDisruptionBudget: {
      kind: 'group',
      description: 'PodDisruptionBudget, only rendered when `replicas` is greater than 1.',
      children: {
        enabled: { kind: 'boolean', default: true, description: 'Render the PodDisruptionBudget.' },
        minAvailable: { kind: 'integer', default: 1, minimum: 0, description: 'Pods that must stay available during voluntary disruptions.' },
      },
    },
    podSecurityContext: {
      kind: 'object',
      default: { runAsNonRoot: true, runAsUser: 101, runAsGroup: 101, fsGroup: 101, seccompProfile: { type: 'RuntimeDefault' } },
      schema: { type: 'object' },
      description: 'Pod security context (restricted Pod Security Standard; UID/GID 101 of nginx-unprivileged images).',
    },
    securityContext: {
      kind: 'object',
      default: {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        runAsUser: 101,
        runAsGroup: 101,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      },
      schema: { type: 'object' },
      description: 'Container security context; Nginx writes only to the `/tmp` emptyDir.',
    },
    tmpVolume: {
      kind: 'group',
      description: 'The emptyDir mounted at `/tmp`, the only place Nginx writes (its pid file and small temp files), so the root filesystem stays read-only.',
      children: {
        sizeLimit: {
          kind: 'string',
          default: '64Mi',
          pattern: QUANTITY,
          description: 'Size limit of the emptyDir, a Kubernetes quantity such as `64Mi`; the kubelet evicts a pod that writes more.',
        },
      },
    },
    probes: {
      kind: 'group',
      description: 'Probe tuning; all probes GET `/healthz` on port `http`.',
      children: {
        startup: PROBE('Startup probe: the other probes wait until it passes (up to failureThreshold × periodSeconds).', { initialDelaySeconds: 0, periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 30 }),
        readiness: PROBE('Readiness probe: takes the pod out of the Service while it fails.', { initialDelaySeconds: 0, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 }),
        liveness: PROBE('Liveness probe: restarts the container when it fails.', { initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 }),
      },
    },
    console: {
      kind: 'group',
      description: 'The Higress Console Deployment whose plugin URL pattern points at this server (NOTES.txt and dist/console-patch.yaml).',
      children: {
        deploymentName: { kind: 'string', default: 'higress-console', description: 'Name of the Console Deployment.' },
        containerName: { kind: 'string', default: 'higress-console', description: 'Name of the Console container in that Deployment.' },
        namespace: { kind: 'string', default: '', description: "Namespace of the Console; empty means the release's namespace." },
      },
    },
    test: {
      kind: 'group',
      description: 'The `helm test` pod: fetches /healthz, /plugins/index.json and one plugin metadata.txt with the server image.',
      children: {
        enabled: { kind: 'boolean', default: true, description: 'Render the helm test pod.' },
        pluginPath: { kind: 'string', default: '', pattern: '^(/plugins/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/plugin\\.wasm)?$', description: 'Plugin to check, e.g. `/plugins/key-auth/1.0.0/plugin.wasm`; empty takes the first one in index.json.' },
      },
    },
  },
};

export type PullPolicy = '' | 'Always' | 'IfNotPresent' | 'Never';
export type AntiAffinityMode = 'preferred' | 'required' | 'none';
export interface ProbeValues {
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

/** The shape of VALUES_SPEC's defaults (a test checks they agree key for key). */
export interface PluginServerValues {
  global: { enablePluginServer: boolean; hub: string; imagePullPolicy: PullPolicy; [key: string]: unknown };
  name: string;
  replicas: number;
  image: string;
  hub: string;
  tag: string;
  imagePullPolicy: PullPolicy;
  imagePullSecrets: Array<{ name: string }>;
  labels: Record<string, string>;
  podLabels: Record<string, string>;
  podAnnotations: Record<string, string>;
  service: { port: number };
  resources: Record<string, Record<string, string | number>>;
  nodeSelector: Record<string, string>;
  tolerations: Array<Record<string, unknown>>;
  affinity: Record<string, unknown>;
  antiAffinity: AntiAffinityMode;
  zoneSpread: boolean;
  topologySpreadConstraints: Array<Record<string, unknown>>;
  priorityClassName: string;
  podDisruptionBudget: { enabled: boolean; minAvailable: number };
  podSecurityContext: Record<string, unknown>;
  securityContext: Record<string, unknown>;
  tmpVolume: { sizeLimit: string };
  probes: { startup: ProbeValues; readiness: ProbeValues; liveness: ProbeValues };
  console: { deploymentName: string; containerName: string; namespace: string };
  test: { enabled: boolean; pluginPath: string };
}

/** Defaults of a spec node (deep copies, so callers may mutate them). */
export function defaultsOf(spec: ValueSpec): unknown {
  if (spec.kind === 'group') {
    return Object.fromEntries(Object.entries(spec.children).map(([k, child]) => [k, defaultsOf(child)]));
  }
  return structuredClone(spec.default);
}

/** The chart's default values, as values.yaml has them. */
export const DEFAULT_VALUES: PluginServerValues = defaultsOf(VALUES_SPEC) as PluginServerValues;

/** Visits every leaf and block key with its dotted path, in values.yaml order. */
export function walkSpec(spec: GroupSpec, visit: (path: string, node: LeafSpec | BlockSpec) => void, prefix = ''): void {
  for (const [key, child] of Object.entries(spec.children)) {
    const p = prefix ? `${prefix}.${key}` : key;
    if (child.kind === 'group') walkSpec(child, visit, p);
    else visit(p, child);
  }
}

/** Deep merge of plain objects (arrays and scalars replace), as Helm merges values. */
export function mergeValues<T>(base: T, override: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(override)) return (override === undefined ? base : override) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) out[k] = k in out ? mergeValues(out[k], v) : v;
  return out as T;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a dotted path (`probes.readiness.periodSeconds`) from values. */
export function valueAt(values: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (isPlainObject(v) ? v[k] : undefined), values);
}
