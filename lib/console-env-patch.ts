/**
 * ConsoleEnvPatch: the EnvPatch that points the Higress Console's custom plugin URL pattern at this
 * server: dist/console-patch.yaml with defaults, and NOTES.txt with the installed values.
 */
import { Construct } from 'constructs';
import { CONSOLE_URL_PATTERN_ENV } from '../src/contract/service';
import { EnvPatch } from './env-patch';
import { consoleNamespace, consoleUrlPattern } from './helpers';
import { V } from './values';

export class ConsoleEnvPatch extends EnvPatch {
  constructor(scope: Construct, id: string) {
    super(scope, id, {
      deployment: V('console.deploymentName'),
      namespace: consoleNamespace,
      container: V('console.containerName'),
      env: CONSOLE_URL_PATTERN_ENV,
      value: consoleUrlPattern,
    });
  }
}
