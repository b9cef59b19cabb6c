/**
 * Where the real tools the tests run live. `scripts/install-test-tools.sh` puts Go-built tools in
 * `.tools/bin` (git-ignored) and installs Debian packages; tests never download anything.
 */
import * as fs from 'fs';
import * as path from 'path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
const TOOLS_BIN = path.join(REPO_ROOT, '.tools', 'bin');

function onPath(name: string): string | undefined {
  for (const dir of [TOOLS_BIN, ...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/bin']) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

/**
 * The environment with .tools/bin first on PATH, for CLI runs that find a tool themselves (`serve`
 * takes the first nginx on PATH with njs >= 0.8.0, which Debian bookworm's /usr/sbin/nginx lacks).
 */
export function envWithTools(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PATH: [TOOLS_BIN, env.PATH].filter(Boolean).join(path.delimiter) };
}

/** Absolute path of a tool, or a clear failure that says how to install it. */
export type ToolName =
  | 'helm'
  | 'oras'
  | 'nginx'
  | 'docker-registry'
  | 'skopeo'
  | 'wrk'
  | 'kube-score'
  | 'busybox'
  | 'actionlint'
  | 'gateway-client'
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'kwok'
  | 'conformance'
  | 'openssl'
  | 'buildah'
  | 'runc'
  | 'debootstrap'
  | 'ip'
  | 'promtool';

export function tool(name: ToolName): string {
  const found = onPath(name);
  if (!found) {
    throw new Error(`test tool "${name}" not found in .tools/bin or PATH: run scripts/install-test-tools.sh`);
  }
  return found;
}
