/**
 * A stand-in Kubernetes API for `helm install --dry-run`, which asks the cluster for its version and
 * the API resources of what it would create (Helm 3.22 does so even with `--dry-run=client`): the
 * discovery documents of v1 (Pod, Service), apps/v1 (Deployment) and policy/v1 (PodDisruptionBudget),
 * and 404 for every object, so nothing exists yet. It runs as its own process: the helm calls are
 * synchronous and would block a server in the test's own event loop.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const SERVER = `
const http = require('http');
const res = (gv, list) => ({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv,
  resources: list.map(([name, kind]) => ({ name, singularName: '', namespaced: true, kind, verbs: ['get', 'list', 'create'] })) });
const group = (name) => ({ name, versions: [{ groupVersion: name + '/v1', version: 'v1' }],
  preferredVersion: { groupVersion: name + '/v1', version: 'v1' } });
const routes = {
  '/version': { major: '1', minor: '34', gitVersion: 'v1.34.0' },
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] },
  '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [group('apps'), group('policy')] },
  '/api/v1': res('v1', [['pods', 'Pod'], ['services', 'Service']]),
  '/apis/apps/v1': res('apps/v1', [['deployments', 'Deployment']]),
  '/apis/policy/v1': res('policy/v1', [['poddisruptionbudgets', 'PodDisruptionBudget']]),
};
const srv = http.createServer((q, r) => {
  const body = routes[q.url.split('?')[0]];
  r.setHeader('content-type', 'application/json');
  if (body) return r.end(JSON.stringify(body));
  r.statusCode = 404;
  r.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
});
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
`;

export interface FakeKube {
  /** A kubeconfig file that points at the server. */
  kubeconfig: string;
  stop(): void;
}

export async function startFakeKube(): Promise<FakeKube> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-fake-kube-'));
  const child: ChildProcess = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
  });
  const kubeconfig = path.join(dir, 'kubeconfig.yaml');
  fs.writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${port}"}}]`,
      'contexts: [{name: fake, context: {cluster: fake}}]',
      'current-context: fake',
      'users: [{name: fake, user: {}}]',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return {
    kubeconfig,
    stop: () => {
      child.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
