/**
 * McpEnvPatch: a strategic-merge patch for the Higress controller Deployment that points
 * MCP_SERVER_WASM_IMAGE_URL (the Nacos MCP server plugin) at this server's `mcp-server`, at the
 * version the release snapshot serves. An EnvPatch, like ConsoleEnvPatch:
 * dist/controller-mcp-patch.yaml with defaults, NOTES.txt with the installed values. Inside the
 * Higress chart the same value is one `controller.env` entry of higress-core (docs/installing.md).
 */
import { Construct } from 'constructs';
import {
  HIGRESS_CONTROLLER_CONTAINER,
  HIGRESS_CONTROLLER_DEPLOYMENT,
  MCP_SERVER_WASM_URL_ENV,
} from '../src/contract/service';
import { EnvPatch } from './env-patch';
import { consoleNamespace, mcpServerWasmUrl } from './helpers';

export class McpEnvPatch extends EnvPatch {
  constructor(scope: Construct, id: string) {
    super(scope, id, {
      deployment: HIGRESS_CONTROLLER_DEPLOYMENT,
      // The controller runs in Higress's namespace, the Console's (console.namespace, else the release's).
      namespace: consoleNamespace,
      container: HIGRESS_CONTROLLER_CONTAINER,
      env: MCP_SERVER_WASM_URL_ENV,
      value: mcpServerWasmUrl,
    });
  }
}
