/**
 * ConsoleEnvPatch: a strategic-merge patch for the Higress Console Deployment that points its
 * custom plugin URL pattern at this server. Helm cannot edit another chart's Deployment (and hook
 * Jobs that kubectl-patch it are brittle), so the patch is a file for
 * `kubectl patch deployment <console> -n <ns> --patch-file <file>`: dist/console-patch.yaml with
 * defaults, and NOTES.txt with the installed values.
 */
import { Construct } from 'constructs';
import { ChartContext } from './context';
import { CONSOLE_URL_PATTERN_ENV, consoleUrlPattern } from './console-url';
import { TPL } from './helpers';

export interface ConsoleEnvPatchProps {
  ctx: ChartContext;
}

export class ConsoleEnvPatch extends Construct {
  /** The patch document (tokens in helm mode; render with ctx.t.renderYaml). */
  readonly patch: Record<string, unknown>;
  /** Console Deployment name and namespace (template text in helm mode). */
  readonly deployment: string;
  readonly namespace: string;

  constructor(scope: Construct, id: string, props: ConsoleEnvPatchProps) {
    super(scope, id);
    const { t, h } = props.ctx;
    const v = t.values;
    const pattern = t.expr(
      consoleUrlPattern({ name: h.name(), namespace: t.release.namespace, port: v.service.port }),
      `{{ include "${TPL.consoleUrlPattern}" . | quote }}`,
    );
    // Strategic merge keys containers and env by name: only this one variable changes.
    this.patch = {
      spec: { template: { spec: { containers: [{ name: t.str('console.containerName'), env: [{ name: CONSOLE_URL_PATTERN_ENV, value: pattern }] }] } } },
    };
    this.deployment = t.helm ? '{{ .Values.console.deploymentName }}' : v.console.deploymentName;
    this.namespace = t.helm ? `{{ include "${TPL.consoleNamespace}" . }}` : h.consoleNamespace();
  }

  /** The exact command an operator runs with the patch saved as `file`. */
  command(file: string): string {
    return `kubectl patch deployment ${this.deployment} -n ${this.namespace} --patch-file ${file}`;
  }
}
