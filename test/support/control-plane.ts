/**
 * A real Kubernetes control plane on 127.0.0.1 for chart tests: etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler (built pinned by scripts/install-test-tools.sh), with
 * kwok standing in for kubelets: it keeps fake nodes Ready and moves pods through the stages in
 * kwok-stages.yaml. There is no kubelet, so no container runs: probes, images and traffic inside pods
 * are not exercised here (the runc test covers the image).
 *
 *   let cp: ControlPlane;
 *   beforeAll(async () => { cp = await startControlPlane(); await cp.addNodes([...]); }, 180_000);
 *   afterAll(() => cp?.stop());
 *
 * One control plane per test file (start ~10-15 s), reused by its tests, each in its own namespace.
 * Every wait is bounded; stop() kills every process it started (also on a failed start), and a
 * process exit hook kills them if jest dies first.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePort } from './ports';
import { helmEnv } from './helm';
import { tool } from './tools';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface FakeNode {
  name: string;
  zone: string;
  /** Extra labels. */
  labels?: Record<string, string>;
}

export interface ControlPlane {
  /** Admin kubeconfig (system:masters client certificate). */
  kubeconfig: string;
  dir: string;
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** kubectl that must succeed; returns stdout. */
  kubectlOk(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** helm against this cluster (the helm support module's isolated HOME), killed after timeoutMs. */
  helm(args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  addNodes(nodes: FakeNode[]): Promise<void>;
  /** Polls `check` every 250 ms until it returns a value other than undefined, or fails after timeoutMs. */
  waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  /**
   * Waits until the CRD `name` is Established. `kubectl wait --for=condition=Established` fails at once
   * ("status.conditions accessor error") when it reads the CRD before the API server has set any
   * condition, so this polls the condition itself.
   */
  crdEstablished(name: string): Promise<void>;
  /** The last lines each component logged (for failure messages). */
  logs(lines?: number): string;
  stop(): Promise<void>;
}

// Next to this file in the sources; compiled into build/test/support/ (the cluster bench), the YAML
// stays in the sources, two folders up.
const STAGES = [
  path.join(__dirname, 'kwok-stages.yaml'),
  path.resolve(__dirname, '..', '..', '..', 'test', 'support', 'kwok-stages.yaml'),
].find((f) => fs.existsSync(f)) as string;
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function run(
  bin: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      bin,
      args,
      { timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, env: opts.env },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : -1
          : 0;
        resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}\n${err.message}` : stderr });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const r = await run(tool('openssl'), args, {
    timeoutMs: 30_000,
    env: { ...process.env, RANDFILE: path.join(dir, '.rnd') },
  });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** A CA, the API server's serving certificate, an admin client certificate and the service-account key pair. */
async function makePki(dir: string): Promise<void> {
  const p = (f: string) => path.join(dir, f);
  await openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.crt'),
    '-days',
    '2',
    '-subj',
    '/CN=hps-test-ca',
  ]);
  const sign = async (name: string, subject: string, ext: string) => {
    fs.writeFileSync(p(`${name}.ext`), ext);
    await openssl(dir, [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.csr`),
      '-subj',
      subject,
    ]);
    await openssl(dir, [
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-out',
      p(`${name}.crt`),
      '-days',
      '2',
      '-extfile',
      p(`${name}.ext`),
    ]);
  };
  await sign(
    'apiserver',
    '/CN=kube-apiserver',
    'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n',
  );
  await sign('admin', '/O=system:masters/CN=hps-test-admin', 'extendedKeyUsage=clientAuth\n');
  await openssl(dir, ['genrsa', '-out', p('sa.key'), '2048']);
  await openssl(dir, ['rsa', '-in', p('sa.key'), '-pubout', '-out', p('sa.pub')]);
}

function writeKubeconfig(dir: string, server: string): string {
  const file = path.join(dir, 'admin.kubeconfig');
  fs.writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test',
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority: ${path.join(dir, 'ca.crt')}`,
      'users:',
      '- name: admin',
      '  user:',
      `    client-certificate: ${path.join(dir, 'admin.crt')}`,
      `    client-key: ${path.join(dir, 'admin.key')}`,
      'contexts:',
      '- name: test',
      '  context: {cluster: test, user: admin}',
      'current-context: test',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

export async function startControlPlane(): Promise<ControlPlane> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-control-plane-'));
  const children: Array<{ name: string; child: ChildProcess; log: string }> = [];

  const startComponent = (name: string, bin: string, args: string[]) => {
    const log = path.join(dir, `${name}.log`);
    const fd = fs.openSync(log, 'a');
    // Output goes straight to a file: nothing to drain, and helm's synchronous runs cannot stall it.
    const child = spawn(bin, args, { stdio: ['ignore', fd, fd], cwd: dir });
    fs.closeSync(fd);
    live.add(child);
    child.on('exit', () => live.delete(child));
    children.push({ name, child, log });
    return child;
  };

  const logs = (lines = 20) =>
    children
      .map(({ name, log }) => {
        const text = fs.existsSync(log)
          ? fs.readFileSync(log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
          : '';
        return `--- ${name} ---\n${text}`;
      })
      .join('\n');

  const stop = async () => {
    await Promise.all(
      [...children].reverse().map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(killer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const waitFor = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      for (const { name, child } of children) {
        if (child.exitCode !== null)
          throw new Error(`${name} exited (${child.exitCode}) while waiting for ${what}\n${logs()}`);
      }
      try {
        const value = await check();
        if (value !== undefined) return value;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}\n${logs()}`,
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  try {
    await makePki(dir);
    const [etcdClient, etcdPeer, apiPort, cmPort, schedPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const p = (f: string) => path.join(dir, f);

    startComponent('etcd', tool('etcd'), [
      '--name=test',
      `--data-dir=${p('etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=test=http://127.0.0.1:${etcdPeer}`,
      // A throwaway store: durability buys nothing and fsync costs seconds on a shared disk.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);

    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = writeKubeconfig(dir, server);
    startComponent('kube-apiserver', tool('kube-apiserver'), [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${p('apiserver-certs')}`,
      `--tls-cert-file=${p('apiserver.crt')}`,
      `--tls-private-key-file=${p('apiserver.key')}`,
      `--client-ca-file=${p('ca.crt')}`,
      `--service-account-key-file=${p('sa.pub')}`,
      `--service-account-signing-key-file=${p('sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=RBAC',
      // Default admission plugins stay on: PodSecurity (namespace labels), ServiceAccount, LimitRanger...
      '--profiling=false',
    ]);
    const kubectl = (args: string[], opts: { input?: string; timeoutMs?: number } = {}) =>
      run(tool('kubectl'), ['--kubeconfig', kubeconfig, ...args], {
        ...opts,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
      });
    await waitFor(
      'kube-apiserver /readyz',
      async () =>
        (await kubectl(['get', '--raw=/readyz'], { timeoutMs: 10_000 })).stdout.trim() === 'ok' ? true : undefined,
      90_000,
    );

    const common = [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      '--leader-elect=false',
    ];
    startComponent('kube-controller-manager', tool('kube-controller-manager'), [
      ...common,
      `--secure-port=${cmPort}`,
      `--service-account-private-key-file=${p('sa.key')}`,
      `--root-ca-file=${p('ca.crt')}`,
      '--use-service-account-credentials=false',
      '--cluster-name=hps-test',
    ]);
    startComponent('kube-scheduler', tool('kube-scheduler'), [...common, `--secure-port=${schedPort}`]);
    startComponent('kwok', tool('kwok'), [
      `--kubeconfig=${kubeconfig}`,
      `--config=${STAGES}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-label-selector=type=kwok',
      '--node-ip=10.0.0.1',
      '--cidr=10.244.0.0/16',
      '--node-lease-duration-seconds=40',
    ]);
    // Pods need the namespace's default ServiceAccount (ServiceAccount admission), which the
    // controller-manager creates.
    await waitFor(
      'the default ServiceAccount',
      async () =>
        (await kubectl(['get', 'serviceaccount', 'default', '-n', 'default'], { timeoutMs: 10_000 })).code === 0
          ? true
          : undefined,
      60_000,
    );

    const cp: ControlPlane = {
      kubeconfig,
      dir,
      kubectl,
      async kubectlOk(args, opts) {
        const r = await kubectl(args, opts);
        if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
        return r.stdout;
      },
      async crdEstablished(name) {
        await waitFor(`crd/${name} Established`, async () => {
          const r = await kubectl([
            'get',
            `crd/${name}`,
            '-o',
            'jsonpath={.status.conditions[?(@.type=="Established")].status}',
          ]);
          return r.code === 0 && r.stdout.trim() === 'True' ? true : undefined;
        });
      },
      helm: (args, opts) =>
        run(tool('helm'), [...args, '--kubeconfig', kubeconfig], {
          timeoutMs: opts?.timeoutMs ?? 180_000,
          env: helmEnv(),
        }),
      async addNodes(nodes) {
        const docs = nodes.map((n) =>
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Node',
            metadata: {
              name: n.name,
              annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
              labels: {
                type: 'kwok',
                'kubernetes.io/hostname': n.name,
                'kubernetes.io/os': 'linux',
                'kubernetes.io/arch': 'amd64',
                'topology.kubernetes.io/zone': n.zone,
                ...n.labels,
              },
            },
            status: {
              allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
              capacity: { cpu: '32', memory: '256Gi', pods: '110' },
            },
          }),
        );
        await cp.kubectlOk(['create', '-f', '-'], { input: docs.join('\n') });
        await waitFor(`nodes ${nodes.map((n) => n.name).join(', ')} Ready and untainted`, async () => {
          const out = JSON.parse(await cp.kubectlOk(['get', 'nodes', '-o', 'json']));
          const ready = out.items.filter(
            (n: any) =>
              n.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') &&
              !(n.spec.taints ?? []).some((t: any) => t.effect === 'NoSchedule'),
          );
          return nodes.every((want) => ready.some((n: any) => n.metadata.name === want.name)) ? true : undefined;
        });
      },
      waitFor,
      logs,
      stop,
    };
    return cp;
  } catch (e) {
    const detail = logs();
    await stop();
    throw new Error(`control plane did not start: ${(e as Error).message}\n${detail}`, { cause: e });
  }
}
