/**
 * The chart of a Higress release: generated from lib/ with version = appVersion = the Higress
 * version (so the image annotation and default tag name the image pushed with that tag), packaged
 * with the same versions forced by `helm package`, pushed to an OCI chart repository.
 */
import { isDigest } from '../../src/contract/digest';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as semver from 'semver';
import { chartInfo, writeSynth } from '../../main';
import { CHART_DIR, synthesize } from '../../lib/synth';
import { ReleaseError } from './errors';
import { helmBinary, runTool } from './run';

/** Helm chart versions are SemVer 2; Higress versions (2.2.4, 2.2.5-rc.1) already are. */
export function releaseVersion(version: string): string {
  const v = version.replace(/^v/, '');
  if (!semver.valid(v))
    throw new ReleaseError({
      code: 'E_RELEASE_VERSION',
      message: `"${version}" is not a SemVer version`,
      hint: 'pass the Higress version, e.g. 2.2.4',
    });
  return v;
}

/** `helm lint` + `helm package --version X --app-version X`; returns the .tgz path in `outDir`. */
export function packageChart(version: string, outDir: string): string {
  const v = releaseVersion(version);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-release-chart-'));
  try {
    writeSynth(work, synthesize({ ...chartInfo(), version: v, appVersion: v }));
    const dir = path.join(work, CHART_DIR);
    fs.mkdirSync(outDir, { recursive: true });
    runTool('chart', helmBinary(), ['lint', '--strict', dir]);
    runTool('chart', helmBinary(), ['package', dir, '--version', v, '--app-version', v, '--destination', outDir]);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const tgz = path.join(outDir, `${path.basename(CHART_DIR)}-${v}.tgz`);
  if (!fs.existsSync(tgz))
    throw new ReleaseError({
      code: 'E_RELEASE_TOOL',
      message: `helm package did not write ${tgz}`,
      hint: 'see the helm output above',
    });
  return tgz;
}

/** Loopback registries speak plain HTTP (the tests' docker-registry), like the CLI's own policy. */
function isLoopback(repo: string): boolean {
  const host = repo
    .replace(/^oci:\/\//, '')
    .split('/')[0]
    .replace(/:\d+$/, '');
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}

/** `helm push`; returns the pushed manifest digest (for the provenance attestation). */
export function pushChart(tgz: string, repo: string): string {
  if (!repo.startsWith('oci://'))
    throw new ReleaseError({
      code: 'E_RELEASE_INPUT',
      message: `chart repository "${repo}" is not oci://<registry>/<path>`,
      hint: 'pass e.g. oci://ghcr.io/<owner>/charts',
    });
  const plain = isLoopback(repo) ? ['--plain-http'] : [];
  const { output } = runTool('chart-push', helmBinary(), ['push', tgz, repo, ...plain], { capture: true });
  const digest = /Digest:\s*(\S+)/.exec(output)?.[1];
  if (!isDigest(digest))
    throw new ReleaseError({
      code: 'E_RELEASE_TOOL',
      message: 'helm push printed no digest',
      hint: 'check the helm version (3.8 or newer pushes to OCI)',
    });
  return digest;
}
