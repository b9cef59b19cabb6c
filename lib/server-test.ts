/**
 * ServerTest: the `helm test` pod. It runs the plugin-server image itself (busybox `wget` and `sed`
 * ship in the Alpine-based nginx-unprivileged image) so an air-gapped cluster needs no extra image,
 * and checks /healthz, /plugins/index.json and one plugin's metadata.txt through the Service.
 * It carries no selector labels, so the Service never routes traffic to it.
 */
import { Construct } from 'constructs';
import { PodSpec, ResourceRequirements } from '../imports/k8s';
import { int, merged, printf, releaseNamespace, suffixed, TemplateObject, Tpl } from './helm';
import { commonLabels, image, name } from './helpers';
import {
  containerSecurityContext,
  imagePullPolicy,
  placementTail,
  restrictedPodHead,
  tmpMount,
  tmpVolume,
} from './pod-common';
import { V } from './values';

/** `$PLUGIN_PATH`, else the first `"path"` in index.json; fails loudly on an empty index. */
export const TEST_SCRIPT = [
  'set -eu',
  'echo "GET $BASE_URL/healthz"',
  'wget -q -O - "$BASE_URL/healthz"',
  'echo "GET $BASE_URL/plugins/index.json"',
  'index=$(wget -q -O - "$BASE_URL/plugins/index.json")',
  'path="${PLUGIN_PATH:-}"',
  'if [ -z "$path" ]; then',
  '  path=$(echo "$index" | grep -o \'"path": *"[^"]*"\' | head -n 1 | sed \'s/.*"\\(\\/[^"]*\\)"$/\\1/\')',
  'fi',
  'if [ -z "$path" ]; then echo "index.json lists no plugin: pull plugins into the image first" >&2; exit 1; fi',
  'echo "GET $BASE_URL${path%/plugin.wasm}/metadata.txt"',
  'wget -q -O - "$BASE_URL${path%/plugin.wasm}/metadata.txt"',
].join('\n');

/** Small fixed resources: namespaces with a LimitRange/ResourceQuota still admit the pod. */
export const TEST_RESOURCES = { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } };

export interface ServerTestProps {
  /**
   * The shell script the pod runs (busybox `sh`), with `BASE_URL` and `PLUGIN_PATH` in its environment.
   * @default TEST_SCRIPT
   */
  readonly script?: string;
  /**
   * Resources of the test container.
   * @default TEST_RESOURCES
   */
  readonly resources?: Tpl<ResourceRequirements>;
}

export class ServerTest extends Construct {
  readonly pod: TemplateObject<PodSpec>;

  constructor(scope: Construct, id: string, props: ServerTestProps = {}) {
    super(scope, id);
    this.pod = new TemplateObject<PodSpec>(this, 'pod', {
      file: 'tests/test-connection.yaml',
      source: 'lib/server-test.ts',
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: suffixed(name, '-test'),
        namespace: releaseNamespace,
        labels: merged({ 'app.kubernetes.io/component': 'helm-test' }, commonLabels),
        annotations: { 'helm.sh/hook': 'test', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' },
      },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        ...restrictedPodHead,
        containers: [
          {
            name: 'check',
            image,
            imagePullPolicy,
            command: ['/bin/sh', '-c', props.script ?? TEST_SCRIPT],
            env: [
              { name: 'BASE_URL', value: printf('http://%s:%d', name, int(V('service.port'))) },
              { name: 'PLUGIN_PATH', value: V('test.pluginPath') },
            ],
            resources: props.resources ?? TEST_RESOURCES,
            securityContext: containerSecurityContext,
            volumeMounts: [tmpMount],
          },
        ],
        volumes: [tmpVolume],
        ...placementTail,
      },
      condition: V('test.enabled'),
      conditionNote: 'The helm test pod: runs only on `helm test`, never on install or upgrade.',
      hook: true,
    });
  }
}
