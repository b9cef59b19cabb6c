/**
 * The HorizontalPodAutoscaler (autoscaling/v2) on CPU, behind `autoscaling.enabled`. The rules that
 * keep it consistent with the PodDisruptionBudget and the container's CPU request are in
 * lib/scaling.ts, written once for helm and for the TypeScript back-end; the Deployment leaves
 * `replicas` to it (lib/plugin-server.ts).
 */
import { Construct } from 'constructs';
import { HorizontalPodAutoscalerSpecV2 } from '../imports/k8s';
import { merged, releaseNamespace, TemplateObject } from './helm';
import { labels, name } from './helpers';
import { AUTOSCALING, AUTOSCALING_WITHOUT_CPU_REQUEST, MIN_ABOVE_MAX_REPLICAS, refusing } from './scaling';
import { V } from './values';

export class Autoscaler extends Construct {
  readonly hpa: TemplateObject<HorizontalPodAutoscalerSpecV2>;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.hpa = new TemplateObject<HorizontalPodAutoscalerSpecV2>(this, 'hpa', {
      file: 'horizontalpodautoscaler.yaml',
      source: 'lib/autoscaler.ts',
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name, namespace: releaseNamespace, labels: merged(labels) },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
        minReplicas: V('autoscaling.minReplicas'),
        maxReplicas: refusing([MIN_ABOVE_MAX_REPLICAS], V('autoscaling.maxReplicas')),
        metrics: [
          {
            type: 'Resource',
            resource: {
              name: 'cpu',
              target: {
                type: 'Utilization',
                averageUtilization: refusing(
                  [AUTOSCALING_WITHOUT_CPU_REQUEST],
                  V('autoscaling.targetCPUUtilizationPercentage'),
                ),
              },
            },
          },
        ],
      },
      condition: AUTOSCALING,
      conditionNote: 'Only with autoscaling.enabled: the autoscaler then owns the replica count.',
    });
  }
}
