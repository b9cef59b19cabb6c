/**
 * PluginServer: the Nginx Deployment, its ClusterIP Service and PodDisruptionBudget.
 *
 * Defaults (all from lib/values.ts): 2 replicas, container port 8080 named `http`, probes on
 * `/healthz`, preferred node anti-affinity + soft zone spread, RollingUpdate with maxUnavailable 0,
 * restricted security (UID/GID 101, read-only root, size-limited /tmp emptyDir), no service-account token.
 * Selector labels stay `app`/`higress` = name, compatible with the upstream chart.
 */
import { Construct } from 'constructs';
import { DeploymentSpec, PodDisruptionBudgetSpec, Probe, ServiceSpec } from '../imports/k8s';
import { NGINX_CONF, NGINX_CONF_GZIP_STATIC_OFF } from '../src/contract/gzip-static';
import { METRICS_PATH } from '../src/contract/metrics';
import { CONTAINER_PORT } from '../src/contract/service';
import {
  choice,
  eq,
  ifElse,
  int,
  intOrString,
  isSet,
  lit,
  merged,
  not,
  omit,
  releaseNamespace,
  TemplateObject,
  Tpl,
  Tree,
  userBlock,
  appended,
  when,
} from './helm';
import { H, image, LABEL_KEYS, labels, name, selectorLabels } from './helpers';
import {
  containerSecurityContext,
  imagePullPolicy,
  placementTail,
  PORT_NAME,
  restrictedPodHead,
  tmpMount,
  tmpVolume,
} from './pod-common';
import { AUTOSCALING, PDB_ABOVE_REPLICAS, PDB_AT_AUTOSCALING_FLOOR, PDB_CONDITION, refusing } from './scaling';
import { V } from './values';

/** The annotation keys an annotation-driven Prometheus reads. */
export const SCRAPE_ANNOTATIONS = {
  scrape: 'prometheus.io/scrape',
  port: 'prometheus.io/port',
  path: 'prometheus.io/path',
} as const;

const SOURCE = 'lib/plugin-server.ts';
const HOSTNAME = 'kubernetes.io/hostname';
const ZONE = 'topology.kubernetes.io/zone';

export interface PluginServerProps {
  /**
   * Name of the Nginx container.
   * @default 'plugin-server'
   */
  readonly containerName?: string;
  /**
   * Port Nginx listens on inside the container (the image's contract).
   * @default 8080 (src/contract/service.ts CONTAINER_PORT)
   */
  readonly containerPort?: number;
}

/** The pod's anti-affinity term for a mode, matching this server's own pods. */
function antiAffinity(mode: 'preferred' | 'required'): Tree {
  const term = { labelSelector: { matchLabels: merged(selectorLabels) }, topologyKey: HOSTNAME };
  return mode === 'required'
    ? { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } }
    : {
        podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] },
      };
}

/** The user's affinity, else the anti-affinity of the chosen mode, else none. */
const affinity = choice(
  [isSet(V('affinity')), V('affinity')],
  [eq<string>(V('antiAffinity'), lit('required')), antiAffinity('required')],
  [eq<string>(V('antiAffinity'), lit('preferred')), antiAffinity('preferred')],
);

/** The user's spread constraints, else the soft zone spread when enabled. */
const topologySpreadConstraints = choice(
  [isSet(V('topologySpreadConstraints')), V('topologySpreadConstraints')],
  [
    isSet(V('zoneSpread')),
    [
      {
        maxSkew: 1,
        topologyKey: ZONE,
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: merged(selectorLabels) },
      },
    ],
  ],
);

/**
 * A required anti-affinity allows one pod per node: with as many nodes as replicas a surge pod could
 * never schedule, so the rollout replaces pods one at a time instead (maxSurge 0 / maxUnavailable 1).
 */
const oneAtATime = eq<string>(V('antiAffinity'), lit('required'));

/** The PDB's minAvailable, refused where it could never allow an eviction (lib/scaling.ts). */
export const PDB_MIN_AVAILABLE = refusing(
  [PDB_ABOVE_REPLICAS, PDB_AT_AUTOSCALING_FLOOR],
  V('podDisruptionBudget.minAvailable'),
);

/**
 * The `prometheus.io/*` annotations of the pods. On the pods, not the Service: the `kubernetes-pods`
 * job of Prometheus's example configuration (and of the prometheus-community chart) reads them from
 * each pod and scrapes every pod, which is what per-pod counters need; the Service-annotation job
 * scrapes the same endpoints, so annotating both would count every pod twice. The Prometheus Operator
 * reads neither: it gets the ServiceMonitor (lib/monitoring.ts).
 */
export const scrapeAnnotations = H.defineMap(
  'scrapeAnnotations',
  'Annotations that let an annotation-driven Prometheus scrape each server pod at GET /metrics on the http port.',
  [
    { key: SCRAPE_ANNOTATIONS.scrape, value: lit('true'), quote: true },
    { key: SCRAPE_ANNOTATIONS.port, value: lit(String(CONTAINER_PORT)), quote: true },
    { key: SCRAPE_ANNOTATIONS.path, value: lit(METRICS_PATH), quote: true },
  ],
);

/** With metrics on: the scrape annotations, then the user's (which may not replace them); else only the user's. */
const podAnnotations = choice(
  [V('metrics.enabled'), merged(scrapeAnnotations, omit(V('podAnnotations'), ...Object.values(SCRAPE_ANNOTATIONS)))],
  [isSet(V('podAnnotations')), V('podAnnotations')],
);

export class PluginServer extends Construct {
  readonly deployment: TemplateObject<DeploymentSpec>;
  readonly service: TemplateObject<ServiceSpec>;
  readonly pdb: TemplateObject<PodDisruptionBudgetSpec>;

  constructor(scope: Construct, id: string, props: PluginServerProps = {}) {
    super(scope, id);
    const containerName = props.containerName ?? 'plugin-server';
    const containerPort = props.containerPort ?? CONTAINER_PORT;
    const metadata = { name, namespace: releaseNamespace, labels: merged(labels, omit(V('labels'), ...LABEL_KEYS)) };
    const probe = (kind: 'startup' | 'readiness' | 'liveness'): Tpl<Probe> => ({
      httpGet: { path: V('probes.path'), port: intOrString(V('probes.port')) },
      initialDelaySeconds: V(`probes.${kind}.initialDelaySeconds`),
      periodSeconds: V(`probes.${kind}.periodSeconds`),
      timeoutSeconds: V(`probes.${kind}.timeoutSeconds`),
      failureThreshold: V(`probes.${kind}.failureThreshold`),
    });

    this.deployment = new TemplateObject<DeploymentSpec>(this, 'deployment', {
      file: 'deployment.yaml',
      source: SOURCE,
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata,
      spec: {
        // Left to the autoscaler when it is on: a value here would reset its count on every upgrade.
        replicas: when(not(AUTOSCALING), int(V('replicas'))),
        selector: { matchLabels: merged(selectorLabels) },
        strategy: {
          type: 'RollingUpdate',
          rollingUpdate: {
            maxUnavailable: ifElse(oneAtATime, lit(1), lit(0)),
            maxSurge: ifElse(oneAtATime, lit(0), lit(1)),
          },
        },
        template: {
          metadata: {
            labels: merged(labels, omit(V('podLabels'), ...LABEL_KEYS)),
            annotations: podAnnotations,
          },
          spec: {
            automountServiceAccountToken: false,
            ...restrictedPodHead,
            containers: [
              {
                name: containerName,
                image,
                imagePullPolicy,
                // The image's entrypoint is nginx; -c picks the config with or without gzip_static.
                args: ['-c', ifElse(V('gzip.enabled'), lit(NGINX_CONF), lit(NGINX_CONF_GZIP_STATIC_OFF))],
                ports: [{ name: PORT_NAME, containerPort, protocol: 'TCP' }],
                startupProbe: probe('startup'),
                readinessProbe: probe('readiness'),
                livenessProbe: probe('liveness'),
                env: userBlock(V('extraEnv')),
                resources: userBlock(V('resources')),
                securityContext: containerSecurityContext,
                volumeMounts: appended([tmpMount], V('extraVolumeMounts')),
              },
            ],
            volumes: appended([tmpVolume], V('extraVolumes')),
            ...placementTail,
            affinity,
            topologySpreadConstraints,
          },
        },
      },
    });

    this.service = new TemplateObject<ServiceSpec>(this, 'service', {
      file: 'service.yaml',
      source: SOURCE,
      apiVersion: 'v1',
      kind: 'Service',
      metadata,
      spec: {
        type: V('service.type'),
        ports: [{ name: PORT_NAME, port: V('service.port'), targetPort: PORT_NAME, protocol: 'TCP' }],
        selector: merged(selectorLabels),
      },
    });

    this.pdb = new TemplateObject<PodDisruptionBudgetSpec>(this, 'pdb', {
      file: 'poddisruptionbudget.yaml',
      source: SOURCE,
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata,
      spec: { minAvailable: PDB_MIN_AVAILABLE, selector: { matchLabels: merged(selectorLabels) } },
      condition: PDB_CONDITION,
      conditionNote:
        'With one replica (or autoscaling.minReplicas 1), minAvailable 1 would block every node drain: no PodDisruptionBudget then.',
    });
  }
}
