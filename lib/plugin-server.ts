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
import { CONTAINER_PORT } from '../src/contract/service';
import {
  and,
  choice,
  eq,
  failIf,
  gt,
  ifElse,
  int,
  intOrString,
  isSet,
  lit,
  merged,
  omit,
  printf,
  releaseNamespace,
  TemplateObject,
  Tpl,
  Tree,
  userBlock,
  appended,
} from './helm';
import { image, LABEL_KEYS, labels, name, selectorLabels } from './helpers';
import {
  containerSecurityContext,
  imagePullPolicy,
  placementTail,
  PORT_NAME,
  restrictedPodHead,
  tmpMount,
  tmpVolume,
} from './pod-common';
import { V } from './values';

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

/** One replica plus minAvailable 1 would block every node drain, so the PDB needs replicas > 1. */
export const PDB_CONDITION = and(V('podDisruptionBudget.enabled'), gt(int(V('replicas')), lit(1)));

/**
 * minAvailable above replicas renders a PDB no eviction can ever satisfy: every node drain would hang.
 * The cluster accepts it, so the chart refuses it, naming the key.
 */
export const PDB_MIN_AVAILABLE = failIf(
  gt(int(V('podDisruptionBudget.minAvailable')), int(V('replicas'))),
  printf(
    'podDisruptionBudget.minAvailable (%d) is above replicas (%d): no pod could ever be evicted and node drains would hang; set podDisruptionBudget.minAvailable to at most replicas',
    int(V('podDisruptionBudget.minAvailable')),
    int(V('replicas')),
  ),
  V('podDisruptionBudget.minAvailable'),
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
        replicas: int(V('replicas')),
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
            annotations: userBlock(V('podAnnotations')),
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
      conditionNote: 'With one replica, minAvailable 1 would block every node drain: no PodDisruptionBudget then.',
    });
  }
}
