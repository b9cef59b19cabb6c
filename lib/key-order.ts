/**
 * Canonical key order for every object the chart renders, so templates/ and dist/ read like a
 * hand-written chart (`apiVersion, kind, metadata, spec`; `name` first in containers, ports, volumes;
 * probes after ports; `volumeMounts` last) instead of cdk8s's alphabetical order.
 *
 * This is the ONE place that decides the order: `renderObject` (lib/context.ts) applies it to every
 * object before it becomes a Helm template or a dist/ document, and the template blocks that render
 * their own YAML (lib/scheduling.ts) pass through it too. Keys a shape does not list keep their
 * current order after the listed ones, so user-supplied maps (resources, security contexts) are not
 * reshuffled. Pure: returns new objects, never mutates its input.
 */

/** How to order one map, and the shapes of the values under its keys (a list applies to each item). */
export interface Shape {
  order: readonly string[];
  children?: Readonly<Record<string, Shape>>;
}

const LABEL_SELECTOR: Shape = { order: ['matchLabels', 'matchExpressions'] };
const METADATA: Shape = { order: ['name', 'namespace', 'labels', 'annotations'] };

const PROBE: Shape = {
  order: ['httpGet', 'tcpSocket', 'exec', 'initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold'],
  children: { httpGet: { order: ['path', 'port', 'scheme'] } },
};

const CONTAINER: Shape = {
  order: [
    'name',
    'image',
    'imagePullPolicy',
    'command',
    'args',
    'env',
    'ports',
    'startupProbe',
    'readinessProbe',
    'livenessProbe',
    'resources',
    'securityContext',
    'volumeMounts',
  ],
  children: {
    env: { order: ['name', 'value', 'valueFrom'] },
    ports: { order: ['name', 'containerPort', 'protocol'] },
    startupProbe: PROBE,
    readinessProbe: PROBE,
    livenessProbe: PROBE,
    resources: { order: ['requests', 'limits'] },
    volumeMounts: { order: ['name', 'mountPath', 'subPath', 'readOnly'] },
  },
};

const AFFINITY_TERM: Shape = { order: ['labelSelector', 'topologyKey'], children: { labelSelector: LABEL_SELECTOR } };

const POD_SPEC: Shape = {
  order: [
    'restartPolicy',
    'automountServiceAccountToken',
    'imagePullSecrets',
    'priorityClassName',
    'securityContext',
    'containers',
    'volumes',
    'nodeSelector',
    'tolerations',
    'affinity',
    'topologySpreadConstraints',
  ],
  children: {
    containers: CONTAINER,
    volumes: { order: ['name', 'emptyDir'], children: { emptyDir: { order: ['medium', 'sizeLimit'] } } },
    affinity: {
      order: ['nodeAffinity', 'podAffinity', 'podAntiAffinity'],
      children: {
        podAntiAffinity: {
          order: ['requiredDuringSchedulingIgnoredDuringExecution', 'preferredDuringSchedulingIgnoredDuringExecution'],
          children: {
            requiredDuringSchedulingIgnoredDuringExecution: AFFINITY_TERM,
            preferredDuringSchedulingIgnoredDuringExecution: { order: ['weight', 'podAffinityTerm'], children: { podAffinityTerm: AFFINITY_TERM } },
          },
        },
      },
    },
    topologySpreadConstraints: { order: ['maxSkew', 'topologyKey', 'whenUnsatisfiable', 'labelSelector'], children: { labelSelector: LABEL_SELECTOR } },
  },
};

const POD_TEMPLATE: Shape = { order: ['metadata', 'spec'], children: { metadata: METADATA, spec: POD_SPEC } };

const manifest = (spec: Shape): Shape => ({ order: ['apiVersion', 'kind', 'metadata', 'spec'], children: { metadata: METADATA, spec } });

/** Shapes of the top-level objects by `kind`; an unknown kind still gets `apiVersion, kind, metadata, spec`. */
export const SHAPES: Readonly<Record<string, Shape>> = {
  Deployment: manifest({
    order: ['replicas', 'selector', 'strategy', 'template'],
    children: {
      selector: LABEL_SELECTOR,
      strategy: { order: ['type', 'rollingUpdate'], children: { rollingUpdate: { order: ['maxUnavailable', 'maxSurge'] } } },
      template: POD_TEMPLATE,
    },
  }),
  Pod: manifest(POD_SPEC),
  Service: manifest({
    order: ['type', 'ports', 'selector'],
    children: { ports: { order: ['name', 'port', 'targetPort', 'protocol'] } },
  }),
  PodDisruptionBudget: manifest({ order: ['minAvailable', 'maxUnavailable', 'selector'], children: { selector: LABEL_SELECTOR } }),
};

export const POD_SPEC_SHAPE = POD_SPEC;

/** `value` with the keys of every map the shape knows put in canonical order. */
export function orderKeys<T>(value: T, shape: Shape): T {
  if (Array.isArray(value)) return value.map((item) => orderKeys(item, shape)) as T;
  if (!isMap(value)) return value;
  const rank = (k: string) => {
    const i = shape.order.indexOf(k);
    return i < 0 ? shape.order.length : i;
  };
  // Array.prototype.sort is stable: unlisted keys keep their relative order.
  const keys = Object.keys(value).sort((a, b) => rank(a) - rank(b));
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const child = shape.children?.[k];
    out[k] = child ? orderKeys(value[k], child) : value[k];
  }
  return out as T;
}

/** A whole manifest, shaped by its `kind`. */
export function orderManifest<T extends Record<string, unknown>>(obj: T): T {
  return orderKeys(obj, SHAPES[String(obj.kind)] ?? manifest({ order: [] }));
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
