/**
 * ServerTest: the `helm test` pod. It runs the plugin-server image itself (busybox `wget` and `sed`
 * ship in the Alpine-based nginx-unprivileged image) so an air-gapped cluster needs no extra image,
 * and checks /healthz, /plugins/index.json and one plugin's metadata.txt through the Service.
 * It carries no selector labels, so the Service never routes traffic to it.
 */
import { Construct } from 'constructs';
import { KubePod } from '../imports/k8s';
import { ChartContext, setBlock } from './context';
import { TPL } from './helpers';
import { addRestrictedPodBlocks, image, name, namespace, tmpMount, tmpVolume } from './pod-common';
import { includeLines } from './template';

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

export interface ServerTestProps {
  ctx: ChartContext;
}

export class ServerTest extends Construct {
  readonly pod: KubePod;

  constructor(scope: Construct, id: string, props: ServerTestProps) {
    super(scope, id);
    const { ctx } = props;
    const { t, h } = ctx;
    const baseUrl = t.expr(
      `http://${h.name()}:${t.values.service.port}`,
      '{{ printf "http://%s:%d" (include "higress-plugin-server.name" .) (int .Values.service.port) | quote }}',
    );
    this.pod = new KubePod(this, 'pod', {
      metadata: {
        name: name(ctx, '-test'),
        namespace: namespace(ctx),
        annotations: { 'helm.sh/hook': 'test', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' },
      },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        containers: [
          {
            name: 'check',
            image: image(ctx),
            command: ['/bin/sh', '-c', TEST_SCRIPT],
            env: [
              { name: 'BASE_URL', value: baseUrl },
              { name: 'PLUGIN_PATH', value: t.str('test.pluginPath') },
            ],
            volumeMounts: [tmpMount],
          },
        ],
        volumes: [tmpVolume(ctx)],
      },
    });
    // Small fixed resources: namespaces with a LimitRange/ResourceQuota still admit the pod.
    setBlock(this.pod, '/spec/containers/0/resources', { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } });
    setBlock(
      this.pod,
      '/metadata/labels',
      t.block({ 'app.kubernetes.io/component': 'helm-test', ...h.commonLabels() }, (key, indent) => {
        const [keyLine, ...includes] = includeLines([TPL.commonLabels])(key, indent);
        return [keyLine, `${' '.repeat(indent + 2)}app.kubernetes.io/component: helm-test`, ...includes];
      }),
    );
    addRestrictedPodBlocks(ctx, this.pod, '/spec');
    ctx.files.push({
      file: 'tests/test-connection.yaml',
      condition: '.Values.test.enabled',
      conditionNote: 'The helm test pod: runs only on `helm test`, never on install or upgrade.',
      object: this.pod,
      hook: true,
    });
  }
}
