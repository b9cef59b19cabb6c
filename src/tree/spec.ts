/** Reads the few fields of a Higress plugin spec.yaml the tree records (version, phase, priority). */
import { parse } from 'yaml';

export interface SpecInfo {
  version?: string;
  phase?: string;
  priority?: number;
}

/** Never throws: a spec.yaml is advisory, an unreadable one just yields no fields. */
export function readSpecYaml(text: string): SpecInfo {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    return {};
  }
  if (!doc || typeof doc !== 'object') return {};
  const d = doc as { info?: { version?: unknown }; spec?: { phase?: unknown; priority?: unknown } };
  const out: SpecInfo = {};
  const v = d.info?.version;
  if (typeof v === 'string' || typeof v === 'number') out.version = String(v);
  if (typeof d.spec?.phase === 'string') out.phase = d.spec.phase;
  const p = d.spec?.priority;
  if (typeof p === 'number' && Number.isFinite(p)) out.priority = p;
  else if (typeof p === 'string' && /^-?\d+$/.test(p)) out.priority = Number(p);
  return out;
}
