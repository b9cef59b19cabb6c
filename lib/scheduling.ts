/**
 * Where the server pods land: anti-affinity on the node (preferred by default so two replicas still
 * schedule on a one-node cluster) and a soft spread across zones. Both are user-overridable.
 */
import { ChartContext } from './context';
import { includeLines } from './template';
import { TPL } from './helpers';

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
      ...lines(t.renderYaml({ [key]: antiAffinity('required', selector) }, indent)),
      `${sp}{{- else if eq .Values.antiAffinity "preferred" }}`,
      ...lines(t.renderYaml({ [key]: antiAffinity('preferred', selector) }, indent)),
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
      ...lines(t.renderYaml({ [key]: zoneSpread(selector) }, indent)),
      `${sp}{{- end }}`,
    ];
  });
}

function lines(text: string): string[] {
  return text.replace(/\n$/, '').split('\n');
}
