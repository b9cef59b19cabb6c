/**
 * Runs the real helm with a throw-away HOME/XDG tree so tests never read or write the user's helm
 * config, cache or repositories. `template` runs with `--kube-version 1.28.0`, the oldest Kubernetes
 * the chart declares (kubeVersion >=1.28), so nothing newer slips into the templates unnoticed.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT, tool } from './tools';

export const CHART_PATH = path.join(REPO_ROOT, 'charts', 'higress-plugin-server');
export const KUBE_VERSION = '1.28.0';

let home: string | undefined;
function helmHome(): string {
  if (!home) {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-helm-'));
    process.on('exit', () => fs.rmSync(home!, { recursive: true, force: true }));
  }
  return home;
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** The environment helm runs with: an isolated HOME/XDG tree, nothing from the user's. */
export function helmEnv(): NodeJS.ProcessEnv {
  const h = helmHome();
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: h,
    XDG_CACHE_HOME: path.join(h, 'cache'),
    XDG_CONFIG_HOME: path.join(h, 'config'),
    XDG_DATA_HOME: path.join(h, 'data'),
    HELM_CACHE_HOME: path.join(h, 'cache', 'helm'),
    HELM_CONFIG_HOME: path.join(h, 'config', 'helm'),
    HELM_DATA_HOME: path.join(h, 'data', 'helm'),
  };
}

export function helm(args: string[], cwd = REPO_ROOT): HelmResult {
  const r = spawnSync(tool('helm'), args, { cwd, env: helmEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` options: `set` entries become `--set k=v`, `values` files `-f`. */
export interface TemplateOptions {
  release?: string;
  namespace?: string;
  set?: string[];
  /** `--set-json` entries, for maps and lists. */
  setJson?: string[];
  values?: string[];
  skipTests?: boolean;
  kubeVersion?: string;
  chart?: string;
}

export function helmTemplate(opts: TemplateOptions = {}): HelmResult {
  const args = [
    'template',
    opts.release ?? 'higress-plugin-server',
    opts.chart ?? CHART_PATH,
    '--namespace',
    opts.namespace ?? 'higress-system',
    '--kube-version',
    opts.kubeVersion ?? KUBE_VERSION,
  ];
  for (const s of opts.set ?? []) args.push('--set', s);
  for (const s of opts.setJson ?? []) args.push('--set-json', s);
  for (const f of opts.values ?? []) args.push('-f', f);
  if (opts.skipTests) args.push('--skip-tests');
  return helm(args);
}

/** Renders and parses, failing with helm's stderr when helm fails. */
export function renderObjects(opts: TemplateOptions = {}): Array<Record<string, any>> {
  const r = helmTemplate(opts);
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}): ${r.stderr}`);
  return parseDocs(r.stdout);
}

export function parseDocs(text: string): Array<Record<string, any>> {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(`invalid YAML from helm: ${d.errors[0].message}`);
      return d.toJS() as Record<string, any> | null;
    })
    .filter((o): o is Record<string, any> => o !== null && typeof o === 'object');
}

export function byKind(objects: Array<Record<string, any>>, kind: string): Record<string, any> {
  const found = objects.find((o) => o.kind === kind);
  if (!found) throw new Error(`no ${kind} among ${objects.map((o) => o.kind).join(', ')}`);
  return found;
}

/**
 * NOTES.txt as `helm install` would print it for these `--set` values. `helm template` skips
 * NOTES.txt and `helm install --dry-run` wants a cluster, so a copy of the chart renders it through
 * `tpl` into a YAML string.
 */
export function renderNotes(set: string[], opts: { release?: string; namespace?: string } = {}): string {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-notes-'));
  try {
    fs.cpSync(CHART_PATH, tmp, { recursive: true });
    fs.renameSync(path.join(tmp, 'templates', 'NOTES.txt'), path.join(tmp, 'NOTES.txt'));
    fs.writeFileSync(
      path.join(tmp, 'templates', 'notes.yaml'),
      'text: {{ tpl (.Files.Get "NOTES.txt") . | toJson }}\n',
    );
    const r = helm([
      'template',
      opts.release ?? 'ps',
      tmp,
      '--kube-version',
      KUBE_VERSION,
      '-n',
      opts.namespace ?? 'higress-system',
      '--show-only',
      'templates/notes.yaml',
      ...set.flatMap((s) => ['--set', s]),
    ]);
    if (r.status !== 0 || r.stderr) throw new Error(`rendering NOTES.txt failed: ${r.stderr}`);
    return (parseAllDocuments(r.stdout)[0].toJS() as { text: string }).text;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
