/**
 * McpEnvPatch: a strategic-merge patch for the Higress controller Deployment that points
 * MCP_SERVER_WASM_IMAGE_URL (the Nacos MCP server plugin) at this server's `mcp-server`, at the
 * version the release snapshot serves. Like ConsoleEnvPatch, a file for `kubectl patch`:
 * dist/controller-mcp-patch.yaml with defaults, NOTES.txt with the installed values. Inside the
 * Higress chart the same value is one `controller.env` entry of higress-core (docs/installing.md).
 */
import { Construct } from 'constructs';
import {
  HIGRESS_CONTROLLER_CONTAINER,
  HIGRESS_CONTROLLER_DEPLOYMENT,
  MCP_SERVER_WASM_URL_ENV,
} from '../src/contract/service';
import { evalTree, Expr, Scope, templateYaml } from './helm';
import { consoleNamespace, mcpServerWasmUrl } from './helpers';

export class McpEnvPatch extends Construct {
  /** Strategic merge keys containers and env by name: only this one variable changes. */
  readonly tree = {
    spec: {
      template: {
        spec: {
          containers: [
            { name: HIGRESS_CONTROLLER_CONTAINER, env: [{ name: MCP_SERVER_WASM_URL_ENV, value: mcpServerWasmUrl }] },
          ],
        },
      },
    },
  };
  readonly deployment = HIGRESS_CONTROLLER_DEPLOYMENT;
  /** The controller runs in Higress's namespace, the Console's (console.namespace, else the release's). */
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
    const ns = scope ? this.namespace.eval(scope) : `{{ ${this.namespace.tpl()} }}`;
    return `kubectl patch deployment ${this.deployment} -n ${ns} --patch-file ${file}`;
  }
}
