/**
 * Where the server pods land: anti-affinity on the node (preferred by default so two replicas still
 * schedule on a one-node cluster) and a soft spread across zones. Both are user-overridable.
 */
import { ChartContext } from './context';
import { includeLines, TemplateContext } from './template';
import { TPL } from './helpers';
import { orderKeys, POD_SPEC_SHAPE } from './key-order';

const HOSTNAME = 'kubernetes.io/hostname';
const ZONE = 'topology.kubernetes.io/zone';

export function antiAffinity(mode: 'preferred' | 'required', matchLabels: unknown): Record<string, unknown> {
  const term = { labelSelector: { matchLabels }, topologyKey: HOSTNAME };
  return mode === 'required'
    ? { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } }
    : { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] } };
}

export function zoneSpread(matchLabels: unknown): Array<Record<string, unknown>> {
  return [{ maxSkew: 1, topologyKey: ZONE, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels } }];
}

/**
 * The RollingUpdate budget. By default a new pod is surged in before an old one goes (maxSurge 1,
 * maxUnavailable 0: no capacity lost). With required anti-affinity and as many eligible nodes as
 * replicas, the surge pod has no node it may land on, stays Pending, and the rollout never ends; so in
 * that mode one old pod goes first (maxSurge 0, maxUnavailable 1), which needs no spare node.
 */
export function rollingUpdate(ctx: ChartContext): { maxUnavailable: number; maxSurge: number } {
  const { t } = ctx;
  const v = t.values;
  const required = !Object.keys(v.affinity).length && v.antiAffinity === 'required';
  const when = '{{ if and (not .Values.affinity) (eq .Values.antiAffinity "required") }}';
  return {
    maxUnavailable: t.expr(required ? 1 : 0, `${when}1{{ else }}0{{ end }}`),
    maxSurge: t.expr(required ? 0 : 1, `${when}0{{ else }}1{{ end }}`),
  };
}

/** The pod's `affinity`: the user's override, else the anti-affinity of the chosen mode, else none. */
export function affinityBlock(ctx: ChartContext): unknown {
  const { t, h } = ctx;
  const v = t.values;
  const plain = Object.keys(v.affinity).length ? v.affinity : v.antiAffinity === 'none' ? undefined : antiAffinity(v.antiAffinity, h.selectorLabels());
  return t.block(plain, (key, indent) => {
    const sp = ' '.repeat(indent);
    const selector = t.block(undefined, includeLines([TPL.selectorLabels]));
    return [
      `${sp}{{- if .Values.affinity }}`,
      `${sp}${key}:`,
      `${sp}  {{- toYaml .Values.affinity | nindent ${indent + 2} }}`,
      `${sp}{{- else if eq .Values.antiAffinity "required" }}`,
      ...podSpecLines(t, { [key]: antiAffinity('required', selector) }, indent),
      `${sp}{{- else if eq .Values.antiAffinity "preferred" }}`,
      ...podSpecLines(t, { [key]: antiAffinity('preferred', selector) }, indent),
      `${sp}{{- end }}`,
    ];
  });
}

/** The pod's `topologySpreadConstraints`: the user's list, else the soft zone spread when enabled. */
export function spreadBlock(ctx: ChartContext): unknown {
  const { t, h } = ctx;
  const v = t.values;
  const plain = v.topologySpreadConstraints.length ? v.topologySpreadConstraints : v.zoneSpread ? zoneSpread(h.selectorLabels()) : undefined;
  return t.block(plain, (key, indent) => {
    const sp = ' '.repeat(indent);
    const selector = t.block(undefined, includeLines([TPL.selectorLabels]));
    return [
      `${sp}{{- if .Values.topologySpreadConstraints }}`,
      `${sp}${key}:`,
      `${sp}  {{- toYaml .Values.topologySpreadConstraints | nindent ${indent + 2} }}`,
      `${sp}{{- else if .Values.zoneSpread }}`,
      ...podSpecLines(t, { [key]: zoneSpread(selector) }, indent),
      `${sp}{{- end }}`,
    ];
  });
}

/** A pod-spec fragment rendered inside a template block, in the same key order as everything else. */
function podSpecLines(t: TemplateContext, fragment: Record<string, unknown>, indent: number): string[] {
  return t.renderYaml(orderKeys(fragment, POD_SPEC_SHAPE), indent).replace(/\n$/, '').split('\n');
}
