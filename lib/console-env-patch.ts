/**
 * ConsoleEnvPatch: a strategic-merge patch for the Higress Console Deployment that points its
 * custom plugin URL pattern at this server. Helm cannot edit another chart's Deployment (and hook
 * Jobs that kubectl-patch it are brittle), so the patch is a file for
 * `kubectl patch deployment <console> -n <ns> --patch-file <file>`: dist/console-patch.yaml with
 * defaults, and NOTES.txt with the installed values.
 */
import { Construct } from 'constructs';
import { CONSOLE_URL_PATTERN_ENV } from '../src/contract/service';
import { evalTree, Expr, Scope, templateYaml } from './helm';
import { consoleNamespace, consoleUrlPattern } from './helpers';
import { V } from './values';

export class ConsoleEnvPatch extends Construct {
  /** Strategic merge keys containers and env by name: only this one variable changes. */
  readonly tree = {
    spec: {
      template: {
        spec: {
          containers: [
            { name: V('console.containerName'), env: [{ name: CONSOLE_URL_PATTERN_ENV, value: consoleUrlPattern }] },
          ],
        },
      },
    },
  };
  readonly deployment: Expr<string> = V('console.deploymentName');
  readonly namespace: Expr<string> = consoleNamespace;

  /** The patch for these values. */
  evaluate(scope: Scope): unknown {
    return evalTree(this.tree, scope);
  }

  /** The patch as Go template YAML (NOTES.txt). */
  template(): string {
    return templateYaml(this.tree);
  }

  /** The exact command an operator runs with the patch saved as `file`: evaluated, or as template text. */
  command(file: string, scope?: Scope): string {
    const text = (e: Expr<string>) => (scope ? e.eval(scope) : `{{ ${e.tpl()} }}`);
    return `kubectl patch deployment ${text(this.deployment)} -n ${text(this.namespace)} --patch-file ${file}`;
  }
}
