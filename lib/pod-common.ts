/**
 * Pod pieces shared by the server Deployment and the helm test pod: restricted security, the /tmp
 * emptyDir (the only place Nginx writes, so the root filesystem can stay read-only), and placement.
 */
import { ApiObject } from 'cdk8s';
import { Quantity, Volume } from '../imports/k8s';
import { ChartContext, setBlock } from './context';

export const TMP_VOLUME = 'tmp';
export const CONTAINER_PORT = 8080;
export const PORT_NAME = 'http';
export const HEALTH_PATH = '/healthz';

/**
 * The /tmp emptyDir with its size limit (`tmpVolume.sizeLimit`): Nginx only writes its pid file and
 * small temp files there, so a runaway writer is evicted instead of filling the node's disk.
 */
export function tmpVolume(ctx: ChartContext): Volume {
  return { name: TMP_VOLUME, emptyDir: { sizeLimit: Quantity.fromString(ctx.t.str('tmpVolume.sizeLimit')) } };
}
export const tmpMount = { name: TMP_VOLUME, mountPath: '/tmp' };

/**
 * Adds the pod-level blocks at `podSpec` (a JSON pointer) and the container-level security context at
 * `podSpec/containers/0`.
 */
export function addRestrictedPodBlocks(ctx: ChartContext, obj: ApiObject, podSpec: string): void {
  const { t } = ctx;
  setBlock(obj, `${podSpec}/securityContext`, t.withValues('podSecurityContext'));
  setBlock(obj, `${podSpec}/containers/0/securityContext`, t.withValues('securityContext'));
  setBlock(obj, `${podSpec}/imagePullSecrets`, t.withValues('imagePullSecrets'));
  setBlock(obj, `${podSpec}/nodeSelector`, t.withValues('nodeSelector'));
  setBlock(obj, `${podSpec}/tolerations`, t.withValues('tolerations'));
  setBlock(obj, `${podSpec}/priorityClassName`, t.optionalStr(t.values.priorityClassName, '.Values.priorityClassName'));
  setBlock(obj, `${podSpec}/containers/0/imagePullPolicy`, t.optionalStr(ctx.h.pullPolicy(), `(include "higress-plugin-server.pullPolicy" .)`));
}

/** The image, same expression for server and test pod. */
export function image(ctx: ChartContext): string {
  return ctx.t.expr(ctx.h.image(), '{{ include "higress-plugin-server.image" . | quote }}');
}

export function name(ctx: ChartContext, suffix = ''): string {
  return ctx.t.expr(ctx.h.name() + suffix, suffix ? `{{ printf "%s${suffix}" (include "higress-plugin-server.name" .) | quote }}` : '{{ include "higress-plugin-server.name" . | quote }}');
}

export function namespace(ctx: ChartContext): string {
  return ctx.t.expr(ctx.t.release.namespace, '{{ .Release.Namespace | quote }}');
}
