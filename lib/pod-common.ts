/**
 * Pod pieces shared by the server Deployment and the helm test pod: restricted security, the /tmp
 * emptyDir (the only place Nginx writes, so the root filesystem can stay read-only), placement.
 */
import { Volume, VolumeMount } from '../imports/k8s';
import { Block, optional, Tpl, userBlock } from './helm';
import { pullPolicy } from './helpers';
import { V } from './values';

export const TMP_VOLUME = 'tmp';
export const PORT_NAME = 'http';

/**
 * The /tmp emptyDir with its size limit (`tmpVolume.sizeLimit`): Nginx only writes its pid file and
 * small temp files there, so a runaway writer is evicted instead of filling the node's disk.
 */
export const tmpVolume: Tpl<Volume> = { name: TMP_VOLUME, emptyDir: { sizeLimit: V('tmpVolume.sizeLimit') } };
export const tmpMount: Tpl<VolumeMount> = { name: TMP_VOLUME, mountPath: '/tmp' };

/** Pod-level keys both pods share, in the order they are written (before `containers`). */
export const restrictedPodHead = {
  imagePullSecrets: userBlock(V('imagePullSecrets')),
  priorityClassName: optional(V('priorityClassName')),
  securityContext: userBlock(V('podSecurityContext')),
};

/** Pod-level keys both pods share after `volumes`. */
export const placementTail = {
  nodeSelector: userBlock(V('nodeSelector')),
  tolerations: userBlock(V('tolerations')),
};

/** The pull policy, present only when one is set. */
export const imagePullPolicy: Block = optional(pullPolicy);
/** The container security context. */
export const containerSecurityContext: Block = userBlock(V('securityContext'));
