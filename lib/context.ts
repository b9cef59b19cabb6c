/**
 * What every construct of the chart receives: the templating context, the plain-mode helpers and the
 * list the synthesiser turns into template files (helm mode) or dist/ documents (plain mode).
 */
import { ApiObject, JsonPatch } from 'cdk8s';
import { ChartInfo, PlainHelpers } from './helpers';
import { orderManifest } from './key-order';
import { TemplateContext } from './template';

export interface TemplateFile {
  /** Path under templates/, e.g. `deployment.yaml`, `tests/test-connection.yaml`. */
  file: string;
  /** Extra `{{- if }}` condition inside the global gate (helm mode only; plain mode just skips the object). */
  condition?: string;
  /** Why the condition is there, for whoever reads the template (a Helm comment above the `if`). */
  conditionNote?: string;
  object: ApiObject;
  /** Helm hooks (the test pod) are not part of dist/. */
  hook?: boolean;
}

export interface ChartContext {
  t: TemplateContext;
  h: PlainHelpers;
  chart: ChartInfo;
  files: TemplateFile[];
}

const blockPatches = new WeakMap<ApiObject, JsonPatch[]>();

/**
 * Sets a map/list field after the L1 props were rendered. Block tokens are strings, and the typed
 * L1 renderers (which also run over cdk8s's own JSON patches) would mangle them, so blocks are kept
 * aside and applied by `renderObject`; undefined means "leave the key out".
 */
export function setBlock(obj: ApiObject, pointer: string, value: unknown): void {
  if (value === undefined) return;
  const list = blockPatches.get(obj) ?? [];
  list.push(JsonPatch.add(pointer, value));
  blockPatches.set(obj, list);
}

/**
 * The object's manifest: L1 rendering first, then the blocks, then the canonical key order
 * (lib/key-order.ts). Both the Helm templates and dist/ are rendered from this, so they share it.
 */
export function renderObject(obj: ApiObject): Record<string, unknown> {
  return orderManifest(JsonPatch.apply(obj.toJson(), ...(blockPatches.get(obj) ?? [])) as Record<string, unknown>);
}
