/**
 * A real Docker credential helper for tests: docker-credential-pass (built from
 * github.com/docker/docker-credential-helpers by scripts/install-test-tools.sh) over `pass`, with a
 * passphrase-less gpg key in a temp GNUPGHOME, so it runs unattended. `env` holds the variables a
 * process needs to reach the store (GNUPGHOME, PASSWORD_STORE_DIR, PATH with the helper).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT } from './tools';

export interface PassStore {
  env: Record<string, string>;
  /** Stores credentials for a registry host, as `docker login` does through the helper. */
  store(host: string, username: string, secret: string): void;
  stop(): void;
}

export function helperBinary(): string {
  const bin = path.join(REPO_ROOT, '.tools', 'bin', 'docker-credential-pass');
  if (!fs.existsSync(bin))
    throw new Error('docker-credential-pass not found in .tools/bin: run scripts/install-test-tools.sh');
  return bin;
}

export function startPassStore(dir: string): PassStore {
  const gnupg = path.join(dir, 'gnupg');
  const storeDir = path.join(dir, 'password-store');
  fs.mkdirSync(gnupg, { recursive: true, mode: 0o700 });
  const env = {
    GNUPGHOME: gnupg,
    PASSWORD_STORE_DIR: storeDir,
    PATH: `${path.dirname(helperBinary())}${path.delimiter}${process.env.PATH ?? ''}`,
  };
  const run = (cmd: string, args: string[], input?: string) =>
    execFileSync(cmd, args, { env: { ...process.env, ...env }, input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  const batch = path.join(dir, 'gpg-batch');
  fs.writeFileSync(
    batch,
    [
      '%no-protection',
      'Key-Type: EDDSA',
      'Key-Curve: ed25519',
      'Subkey-Type: ECDH',
      'Subkey-Curve: cv25519',
      'Name-Real: plugin-server test',
      'Name-Email: test@example.invalid',
      'Expire-Date: 0',
      '%commit',
      '',
    ].join('\n'),
  );
  run('gpg', ['--batch', '--gen-key', batch]);
  const fpr = run('gpg', ['--batch', '--list-keys', '--with-colons'])
    .split('\n')
    .find((l) => l.startsWith('fpr:'))
    ?.split(':')[9];
  if (!fpr) throw new Error('gpg made no key');
  run('pass', ['init', fpr]);
  return {
    env,
    store: (host, username, secret) =>
      void run(helperBinary(), ['store'], JSON.stringify({ ServerURL: host, Username: username, Secret: secret })),
    stop: () => {
      try {
        run('gpgconf', ['--kill', 'gpg-agent']);
      } catch {
        /* no agent was started */
      }
    },
  };
}
