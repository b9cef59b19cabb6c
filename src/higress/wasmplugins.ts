/**
 * Builds Higress WasmPlugin resources that load plugins from this server, pinned by sha256. Pure: an
 * index in, manifests out. Why sha256: the gateway caches an http plugin by URL + sha256, so a pinned
 * resource downloads once per pod and only changes when the resource changes; and a byte that is not
 * the intended one fails the load instead of running.
 */
import * as semver from 'semver';
import { stringify } from 'yaml';
import { WasmPlugin, WasmPluginSpecPhase } from '../../imports/extensions.higress.io';
import { InputError } from '../errors';
import { IndexEntry, PluginIndex } from '../contract/tree-format';
import { byName } from './server-index';

export interface WasmPluginOptions {
  /** Base URL of the plugin server as the gateway reaches it, e.g. `http://higress-plugin-server.higress-system.svc`. */
  baseUrl: string;
  /** Namespace of the resources (default `higress-system`, where the gateway watches). */
  namespace: string;
  /** `name` or `name@version`; empty means every plugin at its newest version. */
  select: string[];
  /** Sets `defaultConfigDisable` (default true: a plugin does nothing until a rule configures it). */
  defaultConfigDisable: boolean;
  /** Used when the plugin's spec.yaml did not say. */
  phase?: string;
  priority?: number;
}

const PHASES = Object.values(WasmPluginSpecPhase) as string[];
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function compareVersions(a: string, b: string): number {
  const va = semver.coerce(a);
  const vb = semver.coerce(b);
  if (va && vb && semver.compare(va, vb) !== 0) return semver.compare(va, vb);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Newest version of a plugin; an alias folder is skipped, it serves another version's bytes. */
function newest(entries: IndexEntry[]): IndexEntry {
  const real = entries.filter((e) => !e.aliasOf);
  const pool = real.length ? real : entries;
  return [...pool].sort((a, b) => compareVersions(b.version, a.version))[0];
}

/** Resolves `--plugin` selections against the index; every unknown name or version is an error. */
export function selectEntries(index: PluginIndex, select: string[]): IndexEntry[] {
  const names = byName(index.plugins);
  if (select.length === 0) return [...names.keys()].sort().map((n) => newest(names.get(n)!));
  const problems: string[] = [];
  const picked: IndexEntry[] = [];
  for (const s of select) {
    const [name, version] = s.split('@');
    const versions = names.get(name);
    if (!versions) {
      problems.push(`no plugin "${name}" in the index`);
      continue;
    }
    const entry = version ? versions.find((e) => e.version === version) : newest(versions);
    if (!entry) problems.push(`plugin "${name}" has no version "${version}" (has ${versions.map((e) => e.version).join(', ')})`);
    else if (!picked.includes(entry)) picked.push(entry);
  }
  if (problems.length) throw new InputError({ code: 'E_SELECT', message: problems.join('; '), hint: 'list what the server has with `curl <server>/plugins/index.json`' });
  return picked;
}

function resourceName(entry: IndexEntry, clash: boolean): string {
  const name = (clash ? `${entry.name}-${entry.version}` : entry.name).toLowerCase();
  if (!DNS_SUBDOMAIN.test(name)) {
    throw new InputError({ code: 'E_RESOURCE_NAME', message: `"${name}" is not a valid Kubernetes resource name`, context: { plugin: entry.name, version: entry.version }, hint: 'rename the plugin in the plugin list (lower case letters, digits, "-" and ".")' });
  }
  return name;
}

/** One WasmPlugin manifest per selected entry, in a stable order. */
export function buildWasmPlugins(index: PluginIndex, opts: WasmPluginOptions): Record<string, unknown>[] {
  if (opts.phase !== undefined && !PHASES.includes(opts.phase)) {
    throw new InputError({ code: 'E_PHASE', message: `unknown phase "${opts.phase}"`, hint: `use one of ${PHASES.join(', ')}` });
  }
  const base = opts.baseUrl.replace(/\/+$/, '');
  const entries = selectEntries(index, opts.select);
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
  return entries.map((e) => {
    const specPhase = e.phase && PHASES.includes(e.phase) ? e.phase : undefined;
    const phase = (specPhase ?? opts.phase) as WasmPluginSpecPhase | undefined;
    const priority = e.priority ?? opts.priority;
    return WasmPlugin.manifest({
      metadata: {
        name: resourceName(e, (counts.get(e.name) ?? 0) > 1),
        namespace: opts.namespace,
        labels: {
          'app.kubernetes.io/name': e.name,
          'app.kubernetes.io/version': e.version,
          'app.kubernetes.io/managed-by': 'higress-plugin-server',
        },
      },
      spec: {
        url: `${base}${e.path}`,
        sha256: e.sha256,
        defaultConfigDisable: opts.defaultConfigDisable,
        ...(phase ? { phase } : {}),
        ...(priority !== undefined ? { priority } : {}),
      },
    }) as Record<string, unknown>;
  });
}

/** Multi-document YAML for `kubectl apply -f -`. */
export function renderYaml(manifests: Record<string, unknown>[]): string {
  return manifests.map((m) => stringify(m, { lineWidth: 0 })).join('---\n');
}
