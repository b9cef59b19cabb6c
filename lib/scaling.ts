/**
 * How many server pods there are, and the rules that keep the replica count, the autoscaler, the
 * PodDisruptionBudget and the rollout consistent. Each rule is written once as an expression: helm
 * `fail`s with its message at `helm template` time, and the TypeScript back-end (dist/, the construct
 * tests, any typed values evaluated at synth time) throws ChartValueError with the same message.
 */
import { and, Cond, dig, Expr, failIf, ge, gt, ifElse, int, lit, not, printf } from './helm';
import { V } from './values';

/** Autoscaling owns the replica count. */
export const AUTOSCALING = V('autoscaling.enabled');

/**
 * The fewest pods the chart keeps: `autoscaling.minReplicas` while the autoscaler owns the count
 * (it may sit there for hours), else `replicas`.
 */
export const replicaFloor: Expr<number> = ifElse(AUTOSCALING, int(V('autoscaling.minReplicas')), int(V('replicas')));

/** One replica plus minAvailable 1 would block every node drain, so the PDB needs a floor above 1. */
export const PDB_CONDITION = and(V('podDisruptionBudget.enabled'), gt(replicaFloor, lit(1)));

/** A combination of values the chart refuses, and the message naming the values and what to do. */
export interface ValueRule {
  readonly when: Cond;
  readonly message: Expr<string>;
}

const minAvailable = int(V('podDisruptionBudget.minAvailable'));
const minReplicas = int(V('autoscaling.minReplicas'));
const maxReplicas = int(V('autoscaling.maxReplicas'));

/**
 * minAvailable above replicas renders a PDB no eviction can ever satisfy: every node drain would hang.
 * The cluster accepts it, so the chart refuses it, naming the key.
 */
export const PDB_ABOVE_REPLICAS: ValueRule = {
  when: and(not(AUTOSCALING), gt(minAvailable, int(V('replicas')))),
  message: printf(
    'podDisruptionBudget.minAvailable (%d) is above replicas (%d): no pod could ever be evicted and node drains would hang; set podDisruptionBudget.minAvailable to at most replicas',
    minAvailable,
    int(V('replicas')),
  ),
};

/**
 * With the autoscaler at its floor (where a quiet cluster keeps it), minAvailable >= minReplicas leaves
 * zero disruptions allowed: a drain waits for a scale-up that never comes.
 */
export const PDB_AT_AUTOSCALING_FLOOR: ValueRule = {
  when: and(AUTOSCALING, ge(minAvailable, minReplicas)),
  message: printf(
    'podDisruptionBudget.minAvailable (%d) is not below autoscaling.minReplicas (%d): at the autoscaler floor no pod could be evicted and node drains would hang; raise autoscaling.minReplicas above podDisruptionBudget.minAvailable, or lower minAvailable',
    minAvailable,
    minReplicas,
  ),
};

/** The API server rejects it too, but only after helm has started applying the release. */
export const MIN_ABOVE_MAX_REPLICAS: ValueRule = {
  when: and(AUTOSCALING, gt(minReplicas, maxReplicas)),
  message: printf(
    'autoscaling.minReplicas (%d) is above autoscaling.maxReplicas (%d): the autoscaler cannot keep both; set autoscaling.maxReplicas to at least autoscaling.minReplicas',
    minReplicas,
    maxReplicas,
  ),
};

/**
 * CPU utilization is measured against the container's CPU request: without one the autoscaler reports
 * "missing request for cpu" and never scales.
 */
export const AUTOSCALING_WITHOUT_CPU_REQUEST: ValueRule = {
  when: and(AUTOSCALING, not(dig(V('resources'), 'requests', 'cpu'))),
  message: lit(
    'autoscaling.enabled needs resources.requests.cpu: the autoscaler measures CPU utilization against the request and never scales without it; set resources.requests.cpu (e.g. 200m) or autoscaling.enabled=false',
  ),
};

/** `x`, unless one of the rules holds: then rendering stops with that rule's message. */
export function refusing<T>(rules: readonly ValueRule[], x: Expr<T>): Expr<T> {
  return rules.reduceRight((inner, r) => failIf(r.when, r.message, inner), x);
}
