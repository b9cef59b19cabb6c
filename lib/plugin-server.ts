/**
 * PluginServer: the Nginx Deployment, its ClusterIP Service and PodDisruptionBudget.
 *
 * Defaults (all from lib/values.ts): 2 replicas, container port 8080 named `http`, probes on
 * `/healthz`, preferred node anti-affinity + soft zone spread, RollingUpdate with maxUnavailable 0
 * (maxUnavailable 1 / maxSurge 0 with required anti-affinity),
 * restricted security (UID/GID 101, read-only root, size-limited /tmp emptyDir), no service-account token.
 * Selector labels stay `app`/`higress` = name, compatible with the upstream chart.
 */
import { Construct } from 'constructs';
import { IntOrString, KubeDeployment, KubePodDisruptionBudget, KubeService, Probe } from '../imports/k8s';
import { ChartContext, setBlock } from './context';
import { TPL } from './helpers';
import { affinityBlock, rollingUpdate, spreadBlock } from './scheduling';
import { addRestrictedPodBlocks, CONTAINER_PORT, HEALTH_PATH, image, name, namespace, PORT_NAME, tmpMount, tmpVolume } from './pod-common';
import { includeLines } from './template';

export interface PluginServerProps {
  ctx: ChartContext;
}

/** The Deployment's RollingUpdate budget (see rollingUpdate in scheduling.ts for why it depends on antiAffinity). */
function rollingUpdateOf(ctx: ChartContext): { maxUnavailable: IntOrString; maxSurge: IntOrString } {
  const budget = rollingUpdate(ctx);
  return { maxUnavailable: IntOrString.fromNumber(budget.maxUnavailable), maxSurge: IntOrString.fromNumber(budget.maxSurge) };
}

export class PluginServer extends Construct {
  readonly deployment: KubeDeployment;
  readonly service: KubeService;
  /** Undefined in plain mode when replicas <= 1 or the PDB is disabled. */
  readonly pdb?: KubePodDisruptionBudget;

  constructor(scope: Construct, id: string, props: PluginServerProps) {
    super(scope, id);
    const { ctx } = props;
    this.deployment = this.buildDeployment(ctx);
    this.service = this.buildService(ctx);
    this.pdb = this.buildPdb(ctx);
  }

  private buildDeployment(ctx: ChartContext): KubeDeployment {
    const { t, h } = ctx;
    const v = t.values;
    const probe = (kind: 'startup' | 'readiness' | 'liveness'): Probe => ({
      httpGet: { path: HEALTH_PATH, port: IntOrString.fromString(PORT_NAME) },
      initialDelaySeconds: t.num(`probes.${kind}.initialDelaySeconds`),
      periodSeconds: t.num(`probes.${kind}.periodSeconds`),
      timeoutSeconds: t.num(`probes.${kind}.timeoutSeconds`),
      failureThreshold: t.num(`probes.${kind}.failureThreshold`),
    });
    const dep = new KubeDeployment(this, 'deployment', {
      metadata: { name: name(ctx), namespace: namespace(ctx) },
      spec: {
        replicas: t.num('replicas'),
        selector: {},
        strategy: { type: 'RollingUpdate', rollingUpdate: rollingUpdateOf(ctx) },
        template: {
          spec: {
            automountServiceAccountToken: false,
            containers: [
              {
                name: 'plugin-server',
                image: image(ctx),
                ports: [{ name: PORT_NAME, containerPort: CONTAINER_PORT, protocol: 'TCP' }],
                startupProbe: probe('startup'),
                readinessProbe: probe('readiness'),
                livenessProbe: probe('liveness'),
                volumeMounts: [tmpMount],
              },
            ],
            volumes: [tmpVolume(ctx)],
          },
        },
      },
    });
    setBlock(dep, '/metadata/labels', t.block({ ...h.labels(), ...v.labels }, includeLines([TPL.labels], '.Values.labels')));
    setBlock(dep, '/spec/selector/matchLabels', t.block(h.selectorLabels(), includeLines([TPL.selectorLabels])));
    setBlock(dep, '/spec/template/metadata', {});
    setBlock(dep, '/spec/template/metadata/labels', t.block({ ...h.labels(), ...v.podLabels }, includeLines([TPL.labels], '.Values.podLabels')));
    setBlock(dep, '/spec/template/metadata/annotations', t.withValues('podAnnotations'));
    setBlock(dep, '/spec/template/spec/containers/0/resources', t.withValues('resources'));
    addRestrictedPodBlocks(ctx, dep, '/spec/template/spec');
    setBlock(dep, '/spec/template/spec/affinity', affinityBlock(ctx));
    setBlock(dep, '/spec/template/spec/topologySpreadConstraints', spreadBlock(ctx));
    ctx.files.push({ file: 'deployment.yaml', object: dep });
    return dep;
  }

  private buildService(ctx: ChartContext): KubeService {
    const { t, h } = ctx;
    const svc = new KubeService(this, 'service', {
      metadata: { name: name(ctx), namespace: namespace(ctx) },
      spec: {
        type: 'ClusterIP',
        ports: [{ name: PORT_NAME, port: t.num('service.port'), targetPort: IntOrString.fromString(PORT_NAME), protocol: 'TCP' }],
      },
    });
    setBlock(svc, '/metadata/labels', t.block({ ...h.labels(), ...t.values.labels }, includeLines([TPL.labels], '.Values.labels')));
    setBlock(svc, '/spec/selector', t.block(h.selectorLabels(), includeLines([TPL.selectorLabels])));
    ctx.files.push({ file: 'service.yaml', object: svc });
    return svc;
  }

  private buildPdb(ctx: ChartContext): KubePodDisruptionBudget | undefined {
    const { t, h } = ctx;
    const v = t.values;
    // One replica plus minAvailable 1 would block every node drain, so the PDB needs replicas > 1.
    if (!t.helm && !(v.podDisruptionBudget.enabled && v.replicas > 1)) return undefined;
    const pdb = new KubePodDisruptionBudget(this, 'pdb', {
      metadata: { name: name(ctx), namespace: namespace(ctx) },
      spec: { minAvailable: IntOrString.fromNumber(t.num('podDisruptionBudget.minAvailable')) },
    });
    setBlock(pdb, '/metadata/labels', t.block({ ...h.labels(), ...v.labels }, includeLines([TPL.labels], '.Values.labels')));
    setBlock(pdb, '/spec/selector', { matchLabels: t.block(h.selectorLabels(), includeLines([TPL.selectorLabels])) });
    ctx.files.push({
      file: 'poddisruptionbudget.yaml',
      condition: 'and .Values.podDisruptionBudget.enabled (gt (int .Values.replicas) 1)',
      conditionNote: 'With one replica, minAvailable 1 would block every node drain: no PodDisruptionBudget then.',
      object: pdb,
    });
    return pdb;
  }
}
