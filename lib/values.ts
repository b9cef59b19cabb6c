/**
 * The chart's values spec: the single source of truth for values.yaml (with its comments),
 * values.schema.json, the README values table, the values type and the typed `.Values` paths the
 * constructs use (`V('replicas')`; a typo fails tsc). Keys at the top level are the ones Higress
 * users already set under `pluginServer:`, so an existing values file keeps working.
 */
import { bool, defaultsOf, group, integer, list, obj, oneOf, scalar, str, valueRefs, ValuesOf } from './helm';

/** A non-negative Kubernetes resource quantity (`64Mi`, `1G`, `0.5Gi`, `128974848`, `1e6`). */
export const QUANTITY = '^([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$';
const STRING_MAP = { type: 'object', additionalProperties: { type: 'string' } };
/**
 * Label keys and values as the API server validates them (k8s.io/apimachinery): an optional DNS
 * subdomain prefix and "/", then 1-63 alphanumerics, "-", "_", "." starting and ending alphanumeric;
 * values the same without prefix, or empty. helm lint/install fails naming the key instead of the
 * cluster rejecting the release half-applied.
 */
export const LABEL_KEY =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
export const LABEL_VALUE = '^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$';
const LABEL_MAP = {
  type: 'object',
  propertyNames: { pattern: LABEL_KEY },
  additionalProperties: { type: 'string', pattern: LABEL_VALUE },
};
/** An image registry host[:port][/path]: no spaces or characters an image reference cannot hold. */
const IMAGE_HUB = '^([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]+)?(/[a-z0-9]([-a-z0-9._/]*[a-z0-9])?)?)?$';
/** An image tag (OCI distribution grammar), or empty. */
const IMAGE_TAG = '^([A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$';
const PULL_POLICIES = ['', 'Always', 'IfNotPresent', 'Never'] as const;
const PROBE = (
  what: string,
  d: { initialDelaySeconds: number; periodSeconds: number; timeoutSeconds: number; failureThreshold: number },
) =>
  group(what, {
    initialDelaySeconds: integer({
      minimum: 0,
      maximum: 3600,
      default: d.initialDelaySeconds,
      description: 'Seconds before the first probe.',
    }),
    periodSeconds: integer({
      minimum: 1,
      maximum: 3600,
      default: d.periodSeconds,
      description: 'Seconds between probes.',
    }),
    timeoutSeconds: integer({
      minimum: 1,
      maximum: 3600,
      default: d.timeoutSeconds,
      description: 'Seconds before a probe times out.',
    }),
    failureThreshold: integer({
      minimum: 1,
      maximum: 1000,
      default: d.failureThreshold,
      description: 'Consecutive failures before the probe fails.',
    }),
  });

/**
 * A Prometheus duration (`30s`, `1m30s`), the ServiceMonitor CRD's own pattern for `interval` and
 * `scrapeTimeout`; empty leaves it to Prometheus.
 */
const PROM_DURATION = '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$';
/** A namespace name (DNS label), or empty for the release's namespace. */
const NAMESPACE = '^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$';

/** Every key the chart accepts, in values.yaml order. */
export const VALUES_SPEC = group('higress-plugin-server values', {
  global: group(
    'Values shared with the Higress umbrella chart.',
    {
      enablePluginServer: bool({
        default: false,
        description:
          'Render the plugin server. Every template is gated by this flag (the Higress umbrella chart uses it as the dependency condition).',
      }),
      hub: str({
        default: 'higress-registry.cn-hangzhou.cr.aliyuncs.com',
        pattern: IMAGE_HUB,
        description: 'Image registry used when `hub` is empty.',
      }),
      imagePullPolicy: oneOf(PULL_POLICIES, {
        default: '',
        description: 'Pull policy used when `imagePullPolicy` is empty; empty leaves it to Kubernetes.',
      }),
    },
    { open: true },
  ),
  enabled: bool({
    default: true,
    description:
      'Ignored, as in the Higress core chart: `global.enablePluginServer` decides whether the server is rendered. Declared so values files that carry it keep working.',
  }),
  name: str({
    default: 'higress-plugin-server',
    pattern: '^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$',
    description: 'Name of the Deployment and the Service (the Console URL pattern uses it).',
  }),
  replicas: scalar<number | string>('integer', {
    default: 2,
    minimum: 0,
    maximum: 100,
    alsoAccepts: ['string'],
    pattern: '^[0-9]{1,3}$',
    description:
      'Number of Nginx replicas, an integer or a numeric string (as the Higress chart accepts); a PodDisruptionBudget is added when greater than 1.',
  }),
  image: str({
    default: 'plugin-server',
    pattern: '^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$',
    description: 'Image name; the image is `<hub>/higress/<image>:<tag>`.',
  }),
  hub: str({ default: '', pattern: IMAGE_HUB, description: 'Image registry; empty falls back to `global.hub`.' }),
  tag: scalar<string | number>('string', {
    default: '',
    alsoAccepts: ['number'],
    pattern: IMAGE_TAG,
    description:
      "Image tag, a string or a number (`tag: 2.2` renders `2.2`); empty falls back to the chart's appVersion, which is the Higress version the chart is released with (`helm package --version X --app-version X`), so the default tag equals Higress's.",
  }),
  imagePullPolicy: oneOf(PULL_POLICIES, {
    default: '',
    description: 'Image pull policy; empty falls back to `global.imagePullPolicy`.',
  }),
  imagePullSecrets: list<{ name: string }>({
    default: [],
    description: 'Pull secrets for the image, e.g. `[{name: regcred}]`.',
    schema: {
      items: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string', minLength: 1 } },
        additionalProperties: false,
      },
    },
  }),
  labels: obj<Record<string, string>>({
    default: {},
    schema: LABEL_MAP,
    description:
      'Extra labels on the Deployment, the Service and the PodDisruptionBudget. As in the Higress chart, `labels.app` and `labels.higress` replace the selector labels `app` and `higress` (an empty value drops that key); keep them unchanged across upgrades, a Deployment selector is immutable.',
  }),
  podLabels: obj<Record<string, string>>({
    default: {},
    schema: LABEL_MAP,
    description:
      'Extra labels on the server pods (the selector labels `app` and `higress` always come from `name` / `labels`).',
  }),
  podAnnotations: obj<Record<string, string>>({
    default: {},
    schema: STRING_MAP,
    description: 'Annotations on the server pods.',
  }),
  service: group('The Service in front of the pods.', {
    type: oneOf(['ClusterIP', 'NodePort', 'LoadBalancer'], {
      default: 'ClusterIP',
      description:
        'Service type; the Higress Console and gateways reach the server in-cluster, so ClusterIP is enough.',
    }),
    port: integer({
      default: 80,
      minimum: 1,
      maximum: 65535,
      description: 'Service port (the container listens on 8080). Port 80 keeps the Console default URL pattern.',
    }),
  }),
  resources: obj<Record<string, Record<string, string | number>>>({
    default: { requests: { cpu: '200m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
    schema: {
      // A quantity string ("200m", "128Mi") or a plain number; junk like "lots" fails here, not at apply time.
      properties: {
        requests: { type: 'object', additionalProperties: { type: ['string', 'number'], pattern: QUANTITY } },
        limits: { type: 'object', additionalProperties: { type: ['string', 'number'], pattern: QUANTITY } },
      },
      additionalProperties: false,
    },
    description: "Resources of the Nginx container (the Higress chart's defaults).",
  }),
  gzip: group('Precompressed downloads (`plugin.wasm.gz`), see docs/gzip.md.', {
    enabled: bool({
      default: true,
      description:
        "Send `plugin.wasm.gz` to gateways that accept gzip (a quarter of the bytes; each gateway decodes it). Set false where the network is fast and the gateways few, so their CPU, not the link, bounds a rollout: docs/gzip.md has the table by link speed and gateway count. `false` runs the image's `/etc/nginx/gzip-static-off/nginx.conf`.",
    }),
  }),
  extraEnv: list<Record<string, unknown>>({
    default: [],
    schema: { items: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } } },
    description:
      'Environment variables of the Nginx container, as Kubernetes `env` entries (`name` with `value` or `valueFrom`), e.g. for a proxy or an Nginx module that reads one.',
  }),
  extraVolumes: list<Record<string, unknown>>({
    default: [],
    schema: { items: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } } },
    description:
      "Volumes added to the server pods after the chart's own `tmp` emptyDir (Kubernetes `volumes` entries), mounted with `extraVolumeMounts`.",
  }),
  extraVolumeMounts: list<Record<string, unknown>>({
    default: [],
    schema: {
      items: {
        type: 'object',
        required: ['name', 'mountPath'],
        properties: { name: { type: 'string', minLength: 1 }, mountPath: { type: 'string', minLength: 1 } },
      },
    },
    description:
      'Mounts added to the Nginx container after `/tmp` (Kubernetes `volumeMounts` entries); the root filesystem stays read-only, so a mount is the way to add files.',
  }),
  nodeSelector: obj<Record<string, string>>({
    default: {},
    schema: STRING_MAP,
    description: 'Node selector for the server pods and the helm test pod.',
  }),
  tolerations: list<Record<string, unknown>>({
    default: [],
    schema: { items: { type: 'object' } },
    description: 'Tolerations for the server pods and the helm test pod.',
  }),
  affinity: obj<Record<string, unknown>>({
    default: {},
    description: 'Affinity for the server pods; when set it replaces the generated anti-affinity entirely.',
  }),
  antiAffinity: oneOf(['preferred', 'required', 'none'], {
    default: 'preferred',
    description:
      'Pod anti-affinity on `kubernetes.io/hostname`: `preferred` (two replicas still schedule on one node), `required` (one replica per node) or `none`. With `required` the rollout uses maxSurge 0 / maxUnavailable 1: a surge pod could not schedule when nodes equal replicas, and the rollout would never complete.',
  }),
  zoneSpread: bool({
    default: true,
    description:
      'Soft spread of the pods across `topology.kubernetes.io/zone` (ScheduleAnyway); ignored when `topologySpreadConstraints` is set.',
  }),
  topologySpreadConstraints: list<Record<string, unknown>>({
    default: [],
    schema: { items: { type: 'object' } },
    description: 'Topology spread constraints for the server pods; when set they replace the soft zone spread.',
  }),
  priorityClassName: str({
    default: '',
    description: 'Priority class of the server pods and the helm test pod; empty uses the cluster default.',
  }),
  podDisruptionBudget: group('PodDisruptionBudget, only rendered when `replicas` is greater than 1.', {
    enabled: bool({ default: true, description: 'Render the PodDisruptionBudget.' }),
    minAvailable: integer({
      default: 1,
      minimum: 0,
      description: 'Pods that must stay available during voluntary disruptions.',
    }),
  }),
  autoscaling: group(
    'HorizontalPodAutoscaler (autoscaling/v2) on CPU. When enabled it owns the replica count: the Deployment leaves `replicas` out (a `helm upgrade` never resets what the autoscaler chose), the PodDisruptionBudget counts from `minReplicas`, and the container needs `resources.requests.cpu` (utilization is measured against it).',
    {
      enabled: bool({ default: false, description: 'Render the HorizontalPodAutoscaler.' }),
      minReplicas: integer({
        default: 2,
        minimum: 1,
        maximum: 100,
        description:
          'Fewest replicas; above `podDisruptionBudget.minAvailable`, or no eviction could ever be allowed at the floor.',
      }),
      maxReplicas: integer({
        default: 5,
        minimum: 1,
        maximum: 100,
        description:
          'Most replicas, at least `minReplicas`. With `antiAffinity: required` each replica needs its own node: replicas past the node count stay Pending.',
      }),
      targetCPUUtilizationPercentage: integer({
        default: 80,
        minimum: 1,
        maximum: 1000,
        description: 'Average CPU use the autoscaler aims at, in percent of `resources.requests.cpu`.',
      }),
    },
  ),
  podSecurityContext: obj<Record<string, unknown>>({
    default: {
      runAsNonRoot: true,
      runAsUser: 101,
      runAsGroup: 101,
      fsGroup: 101,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    schema: { type: 'object' },
    description:
      "Pod security context (restricted Pod Security Standard). The default needs an image that runs as UID/GID 101, as this project's image does; for an older upstream image set it to `{}` (see ci/legacy-image-values.yaml).",
  }),
  securityContext: obj<Record<string, unknown>>({
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
    description:
      "Container security context. The default needs an image whose Nginx runs as UID 101 and writes only to `/tmp` (read-only root filesystem), as this project's image does; the upstream plugin-server image needs root and a writable root: set `{}` for it (see ci/legacy-image-values.yaml).",
  }),
  tmpVolume: group(
    'The emptyDir mounted at `/tmp`, the only place Nginx writes (its pid file and small temp files), so the root filesystem stays read-only.',
    {
      sizeLimit: str({
        default: '64Mi',
        pattern: QUANTITY,
        description:
          'Size limit of the emptyDir, a Kubernetes quantity such as `64Mi`; the kubelet evicts a pod that writes more.',
      }),
    },
  ),
  probes: group('Probes: all GET `path` on `port`.', {
    path: str({
      default: '/healthz',
      pattern: '^/',
      description:
        "Path the probes GET. This project's image answers `/healthz`; the upstream plugin-server image has no health path, use `/` (its autoindex) for it.",
    }),
    port: scalar<string | number>('string', {
      default: 'http',
      alsoAccepts: ['integer'],
      description: 'Port the probes use: the container port name `http` (8080) or a number.',
    }),
    startup: PROBE('Startup probe: the other probes wait until it passes (up to failureThreshold × periodSeconds).', {
      initialDelaySeconds: 0,
      periodSeconds: 2,
      timeoutSeconds: 2,
      failureThreshold: 30,
    }),
    readiness: PROBE('Readiness probe: takes the pod out of the Service while it fails.', {
      initialDelaySeconds: 0,
      periodSeconds: 5,
      timeoutSeconds: 2,
      failureThreshold: 3,
    }),
    liveness: PROBE('Liveness probe: restarts the container when it fails.', {
      initialDelaySeconds: 0,
      periodSeconds: 10,
      timeoutSeconds: 2,
      failureThreshold: 3,
    }),
  }),
  metrics: group(
    'Prometheus metrics the server answers itself at `GET /metrics` on its http port (8080, the container and Service port named `http`): requests and bytes sent per plugin and version, the top missing paths, the build facts (docs/monitoring.md).',
    {
      enabled: bool({
        default: true,
        description:
          'Scrape annotations `prometheus.io/scrape`, `prometheus.io/port` and `prometheus.io/path` on the server pods, for Prometheus configs with the usual `kubernetes-pods` job (each pod counts its own requests, so each pod is scraped; the same annotations on the Service as well would scrape every pod twice). The ServiceMonitor and the dashboard need it. Set false for an image without `/metrics` (the older upstream image, see ci/legacy-image-values.yaml).',
      }),
      serviceMonitor: group(
        "A `monitoring.coreos.com/v1` ServiceMonitor for the Prometheus Operator (kube-prometheus-stack), which ignores the annotations. Needs the operator's CRDs in the cluster.",
        {
          enabled: bool({ default: false, description: 'Render the ServiceMonitor.' }),
          namespace: str({
            default: '',
            pattern: NAMESPACE,
            description:
              "Namespace of the ServiceMonitor, e.g. the one your Prometheus watches; empty means the release's namespace. It always selects the Service in the release's namespace.",
          }),
          labels: obj<Record<string, string>>({
            default: {},
            schema: LABEL_MAP,
            description:
              "Extra labels on the ServiceMonitor: the ones your Prometheus's `serviceMonitorSelector` asks for (kube-prometheus-stack: `release: <its release name>`).",
          }),
          interval: str({
            default: '30s',
            pattern: PROM_DURATION,
            description: 'Scrape interval, a Prometheus duration; empty uses the Prometheus global interval.',
          }),
          scrapeTimeout: str({
            default: '',
            pattern: PROM_DURATION,
            description:
              'Scrape timeout, at most `interval` (the operator rejects a longer one); empty uses the Prometheus default.',
          }),
        },
      ),
      dashboard: group(
        "A ConfigMap holding the Grafana dashboard (the chart's `dashboards/higress-plugin-server.json`), for the Grafana sidecar that loads dashboards from labelled ConfigMaps (kube-prometheus-stack, the Grafana chart's `sidecar.dashboards`).",
        {
          enabled: bool({ default: false, description: 'Render the dashboard ConfigMap.' }),
          namespace: str({
            default: '',
            pattern: NAMESPACE,
            description:
              "Namespace of the ConfigMap, e.g. Grafana's when its sidecar watches only that one; empty means the release's namespace.",
          }),
          labels: obj<Record<string, string>>({
            default: { grafana_dashboard: '1' },
            schema: LABEL_MAP,
            description:
              'Labels on the ConfigMap; the sidecar loads ConfigMaps carrying its label (`sidecar.dashboards.label`, `grafana_dashboard` with value "1" by default).',
          }),
          annotations: obj<Record<string, string>>({
            default: {},
            schema: STRING_MAP,
            description:
              'Annotations on the ConfigMap, e.g. the folder for a sidecar with `folderAnnotation` set (`grafana_folder: Higress`).',
          }),
        },
      ),
    },
  ),
  console: group(
    'The Higress Console Deployment whose plugin URL pattern points at this server (NOTES.txt and dist/console-patch.yaml).',
    {
      deploymentName: str({ default: 'higress-console', description: 'Name of the Console Deployment.' }),
      containerName: str({
        default: 'higress-console',
        description: 'Name of the Console container in that Deployment.',
      }),
      namespace: str({ default: '', description: "Namespace of the Console; empty means the release's namespace." }),
    },
  ),
  test: group(
    'The `helm test` pod: fetches /healthz, /plugins/index.json and one plugin metadata.txt with the server image.',
    {
      enabled: bool({ default: true, description: 'Render the helm test pod.' }),
      pluginPath: str({
        default: '',
        pattern: '^(/plugins/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/plugin\\.wasm)?$',
        description:
          'Plugin to check, e.g. `/plugins/key-auth/1.0.0/plugin.wasm`; empty takes the first one in index.json.',
      }),
    },
  ),
});

/** The values type, derived from the spec (declared nowhere else). */
export type PluginServerValues = ValuesOf<typeof VALUES_SPEC>;

/** The chart's default values, as values.yaml has them. */
export const DEFAULT_VALUES: PluginServerValues = defaultsOf(VALUES_SPEC);

/** Typed `.Values.<path>` expressions: `V('probes.readiness.periodSeconds')`. */
export const V = valueRefs(VALUES_SPEC);
