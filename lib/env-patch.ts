/**
 * EnvPatch: a strategic-merge patch that sets one environment variable of one container of a
 * Deployment another chart owns. Helm cannot edit another chart's Deployment (and hook Jobs that
 * kubectl-patch it are brittle), so each patch is a file for
 * `kubectl patch deployment <name> -n <ns> --patch-file <file>`: in dist/ with defaults, and in
 * NOTES.txt with the installed values. Strategic merge keys containers and env by name, so only
 * that one variable changes.
 */
import { Construct } from 'constructs';
import { evalTree, Expr, Scope, templateYaml } from './helm';

export interface EnvPatchProps {
  /** The Deployment to patch. */
  readonly deployment: Expr<string> | string;
  /** Its namespace. */
  readonly namespace: Expr<string>;
  /** The container whose environment changes. */
  readonly container: Expr<string> | string;
  /** The variable set, and its value. */
  readonly env: string;
  readonly value: Expr<string>;
}

export class EnvPatch extends Construct {
  readonly tree: object;
  readonly deployment: Expr<string> | string;
  readonly namespace: Expr<string>;

  constructor(scope: Construct, id: string, props: EnvPatchProps) {
    super(scope, id);
    this.deployment = props.deployment;
    this.namespace = props.namespace;
    this.tree = {
      spec: {
        template: {
          spec: { containers: [{ name: props.container, env: [{ name: props.env, value: props.value }] }] },
        },
      },
    };
  }

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
    const text = (e: Expr<string> | string) => (typeof e === 'string' ? e : scope ? e.eval(scope) : `{{ ${e.tpl()} }}`);
    return `kubectl patch deployment ${text(this.deployment)} -n ${text(this.namespace)} --patch-file ${file}`;
  }
}
