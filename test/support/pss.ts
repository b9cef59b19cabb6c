/**
 * The Kubernetes Pod Security Standards, `restricted` profile (which includes every `baseline`
 * control), as one small check per control, applied to a Pod template (metadata + spec) the way the
 * PodSecurity admission plugin evaluates it: every container kind counts (init, ephemeral), and a
 * container inherits pod-level securityContext fields it does not set itself.
 *
 * Source of the rules: https://kubernetes.io/docs/concepts/security/pod-security-standards/ (v1.28+).
 * Each check returns the violations it found (empty = the control passes), worded so a failing test
 * names the container and the field.
 */

/** A Pod template as it appears in a rendered manifest: `metadata` (annotations) and `spec`. */
export interface PodTemplate {
  metadata?: { annotations?: Record<string, string> };
  spec: Record<string, any>;
}

export interface PssControl {
  /** Short id used in test names. */
  id: string;
  /** The control's name in the standard. */
  title: string;
  profile: 'baseline' | 'restricted';
  check(pod: PodTemplate): string[];
}

interface Container {
  kind: string;
  name: string;
  c: Record<string, any>;
}

function containers(spec: Record<string, any>): Container[] {
  const out: Container[] = [];
  for (const kind of ['containers', 'initContainers', 'ephemeralContainers']) {
    for (const c of (spec[kind] as Array<Record<string, any>> | undefined) ?? [])
      out.push({ kind, name: String(c.name), c });
  }
  return out;
}

const label = (k: Container) => `${k.kind === 'containers' ? 'container' : k.kind.replace(/s$/, '')} ${k.name}`;
const sc = (k: Container): Record<string, any> => k.c.securityContext ?? {};
const podSc = (p: PodTemplate): Record<string, any> => p.spec.securityContext ?? {};

/** Sysctls the baseline profile allows (the "safe" set, as of Kubernetes 1.29). */
export const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);

/** Volume sources the restricted profile allows. */
export const RESTRICTED_VOLUME_TYPES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);

const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

export const PSS_CONTROLS: PssControl[] = [
  {
    id: 'host-process',
    title: 'HostProcess',
    profile: 'baseline',
    check: (p) => [
      ...(podSc(p).windowsOptions?.hostProcess === true
        ? ['pod securityContext.windowsOptions.hostProcess is true']
        : []),
      ...containers(p.spec)
        .filter((k) => sc(k).windowsOptions?.hostProcess === true)
        .map((k) => `${label(k)}: windowsOptions.hostProcess is true`),
    ],
  },
  {
    id: 'host-namespaces',
    title: 'Host Namespaces',
    profile: 'baseline',
    check: (p) =>
      ['hostNetwork', 'hostPID', 'hostIPC'].filter((f) => p.spec[f] === true).map((f) => `spec.${f} is true`),
  },
  {
    id: 'privileged',
    title: 'Privileged Containers',
    profile: 'baseline',
    check: (p) =>
      containers(p.spec)
        .filter((k) => sc(k).privileged === true)
        .map((k) => `${label(k)}: privileged is true`),
  },
  {
    id: 'capabilities-baseline',
    title: 'Capabilities (baseline: only the default set may be added)',
    profile: 'baseline',
    check: (p) => {
      const allowed = new Set([
        'AUDIT_WRITE',
        'CHOWN',
        'DAC_OVERRIDE',
        'FOWNER',
        'FSETID',
        'KILL',
        'MKNOD',
        'NET_BIND_SERVICE',
        'SETFCAP',
        'SETGID',
        'SETPCAP',
        'SETUID',
        'SYS_CHROOT',
      ]);
      return containers(p.spec).flatMap((k) =>
        ((sc(k).capabilities?.add as string[] | undefined) ?? [])
          .filter((c) => !allowed.has(c))
          .map((c) => `${label(k)}: adds capability ${c}`),
      );
    },
  },
  {
    id: 'host-path',
    title: 'HostPath Volumes',
    profile: 'baseline',
    check: (p) =>
      ((p.spec.volumes as Array<Record<string, any>> | undefined) ?? [])
        .filter((v) => v.hostPath !== undefined)
        .map((v) => `volume ${v.name} is a hostPath`),
  },
  {
    id: 'host-ports',
    title: 'Host Ports',
    profile: 'baseline',
    check: (p) =>
      containers(p.spec).flatMap((k) =>
        ((k.c.ports as Array<Record<string, any>> | undefined) ?? [])
          .filter((port) => port.hostPort !== undefined && port.hostPort !== 0)
          .map((port) => `${label(k)}: hostPort ${port.hostPort}`),
      ),
  },
  {
    id: 'apparmor',
    title: 'AppArmor',
    profile: 'baseline',
    check: (p) => {
      const out: string[] = [];
      for (const [key, value] of Object.entries(p.metadata?.annotations ?? {})) {
        if (
          key.startsWith('container.apparmor.security.beta.kubernetes.io/') &&
          value !== 'runtime/default' &&
          !value.startsWith('localhost/')
        )
          out.push(`annotation ${key}=${value}`);
      }
      const okType = (t: unknown) => t === undefined || t === 'RuntimeDefault' || t === 'Localhost';
      if (!okType(podSc(p).appArmorProfile?.type))
        out.push(`pod appArmorProfile.type ${podSc(p).appArmorProfile.type}`);
      for (const k of containers(p.spec))
        if (!okType(sc(k).appArmorProfile?.type))
          out.push(`${label(k)}: appArmorProfile.type ${sc(k).appArmorProfile.type}`);
      return out;
    },
  },
  {
    id: 'selinux',
    title: 'SELinux',
    profile: 'baseline',
    check: (p) => {
      const out: string[] = [];
      const checkOpts = (where: string, o: Record<string, any> | undefined) => {
        if (!o) return;
        if (o.type !== undefined && !SELINUX_TYPES.has(o.type)) out.push(`${where}: seLinuxOptions.type ${o.type}`);
        if (o.user) out.push(`${where}: seLinuxOptions.user is set`);
        if (o.role) out.push(`${where}: seLinuxOptions.role is set`);
      };
      checkOpts('pod', podSc(p).seLinuxOptions);
      for (const k of containers(p.spec)) checkOpts(label(k), sc(k).seLinuxOptions);
      return out;
    },
  },
  {
    id: 'proc-mount',
    title: '/proc Mount Type',
    profile: 'baseline',
    check: (p) =>
      containers(p.spec)
        .filter((k) => sc(k).procMount !== undefined && sc(k).procMount !== 'Default')
        .map((k) => `${label(k)}: procMount ${sc(k).procMount}`),
  },
  {
    id: 'seccomp-baseline',
    title: 'Seccomp (baseline: never Unconfined)',
    profile: 'baseline',
    check: (p) => [
      ...(podSc(p).seccompProfile?.type === 'Unconfined' ? ['pod seccompProfile is Unconfined'] : []),
      ...containers(p.spec)
        .filter((k) => sc(k).seccompProfile?.type === 'Unconfined')
        .map((k) => `${label(k)}: seccompProfile is Unconfined`),
    ],
  },
  {
    id: 'sysctls',
    title: 'Sysctls',
    profile: 'baseline',
    check: (p) =>
      ((podSc(p).sysctls as Array<{ name: string }> | undefined) ?? [])
        .filter((s) => !SAFE_SYSCTLS.has(s.name))
        .map((s) => `unsafe sysctl ${s.name}`),
  },
  {
    id: 'volume-types',
    title: 'Volume Types',
    profile: 'restricted',
    check: (p) =>
      ((p.spec.volumes as Array<Record<string, any>> | undefined) ?? []).flatMap((v) => {
        const types = Object.keys(v).filter((key) => key !== 'name');
        return types.filter((t) => !RESTRICTED_VOLUME_TYPES.has(t)).map((t) => `volume ${v.name} is of type ${t}`);
      }),
  },
  {
    id: 'privilege-escalation',
    title: 'Privilege Escalation',
    profile: 'restricted',
    // No pod-level field exists: every container must say false itself.
    check: (p) =>
      containers(p.spec)
        .filter((k) => sc(k).allowPrivilegeEscalation !== false)
        .map(
          (k) => `${label(k)}: allowPrivilegeEscalation is ${String(sc(k).allowPrivilegeEscalation)}, must be false`,
        ),
  },
  {
    id: 'run-as-non-root',
    title: 'Running as Non-root',
    profile: 'restricted',
    check: (p) => {
      const pod = podSc(p).runAsNonRoot;
      const out = pod === false ? ['pod runAsNonRoot is false'] : [];
      for (const k of containers(p.spec)) {
        const own = sc(k).runAsNonRoot;
        if (own === false) out.push(`${label(k)}: runAsNonRoot is false`);
        else if (own !== true && pod !== true) out.push(`${label(k)}: runAsNonRoot is not true (nor set on the pod)`);
      }
      return out;
    },
  },
  {
    id: 'run-as-user',
    title: 'Running as Non-root user',
    profile: 'restricted',
    check: (p) => [
      ...(podSc(p).runAsUser === 0 ? ['pod runAsUser is 0'] : []),
      ...containers(p.spec)
        .filter((k) => sc(k).runAsUser === 0)
        .map((k) => `${label(k)}: runAsUser is 0`),
    ],
  },
  {
    id: 'seccomp-restricted',
    title: 'Seccomp (restricted: RuntimeDefault or Localhost)',
    profile: 'restricted',
    check: (p) => {
      const ok = (t: unknown) => t === 'RuntimeDefault' || t === 'Localhost';
      const pod = podSc(p).seccompProfile?.type;
      const out = pod !== undefined && !ok(pod) ? [`pod seccompProfile.type ${pod}`] : [];
      for (const k of containers(p.spec)) {
        const own = sc(k).seccompProfile?.type;
        if (own !== undefined ? !ok(own) : !ok(pod))
          out.push(
            `${label(k)}: effective seccompProfile.type is ${String(own ?? pod)}, must be RuntimeDefault or Localhost`,
          );
      }
      return out;
    },
  },
  {
    id: 'capabilities-restricted',
    title: 'Capabilities (restricted: drop ALL, add only NET_BIND_SERVICE)',
    profile: 'restricted',
    check: (p) =>
      containers(p.spec).flatMap((k) => {
        const caps = sc(k).capabilities ?? {};
        const out: string[] = [];
        if (!((caps.drop as string[] | undefined) ?? []).includes('ALL'))
          out.push(`${label(k)}: capabilities.drop does not include ALL`);
        for (const c of (caps.add as string[] | undefined) ?? [])
          if (c !== 'NET_BIND_SERVICE') out.push(`${label(k)}: adds capability ${c}`);
        return out;
      }),
  },
];

/** Every Pod template of a list of rendered objects, named `<Kind>/<name>`. */
export function podTemplates(objects: Array<Record<string, any>>): Array<{ id: string; pod: PodTemplate }> {
  const out: Array<{ id: string; pod: PodTemplate }> = [];
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata?.name}`;
    if (o.kind === 'Pod') out.push({ id, pod: { metadata: o.metadata, spec: o.spec } });
    else if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(o.kind))
      out.push({ id, pod: o.spec.template });
    else if (o.kind === 'CronJob') out.push({ id, pod: o.spec.jobTemplate.spec.template });
  }
  return out;
}
