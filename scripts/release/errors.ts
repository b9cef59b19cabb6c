/** Release step failures: one line naming the file, version or tool, and what to do. */
import { PluginServerError } from '../../src/errors';

export class ReleaseError extends PluginServerError {}

/** Exit codes of `node build/scripts/release/cli.js`, documented in docs/releasing.md. */
export const EXIT = {
  /** A release input is wrong (snapshot sha256, version, missing file): fix the input. */
  input: 2,
  /** A tool the step runs (the project CLI, helm, npm) failed: its own output says why. */
  tool: 3,
} as const;
