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
import { repositoryName } from '../ociview/layout';
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
  /**
   * Load through the server's OCI API instead: url `oci://<host>/plugins/<name>:<version>` and, as
   * Istio checks for oci:// URLs, `sha256` = the image manifest digest (`digests`: `name/version` -> digest).
   */
  oci?: { host: string; digests: ReadonlyMap<string, string> };
}

const PHASES = Object.values(WasmPluginSpecPhase) as string[];
/** What the API server accepts (k8s.io/apimachinery validation): resource names and label values. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_SUBDOMAIN = 253;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const MAX_LABEL_VALUE = 63;
const LABEL_KEY_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** The API server's rule for a label key: optional DNS-subdomain prefix and "/", then a 1-63 character name. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > MAX_SUBDOMAIN || !DNS_SUBDOMAIN.test(prefix)))
    return `label key ${JSON.stringify(key)}: prefix must be a lowercase DNS subdomain`;
  if (name.length > MAX_LABEL_VALUE || !LABEL_KEY_NAME.test(name))
    return `label key ${JSON.stringify(key)}: name must be 1-63 letters, digits, "-", "_", ".", alphanumeric at both ends`;
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value.length > MAX_LABEL_VALUE)
    return `label value ${JSON.stringify(value)} is ${value.length} characters (at most ${MAX_LABEL_VALUE})`;
  if (!LABEL_VALUE.test(value))
    return `label value ${JSON.stringify(value)} must be letters, digits, "-", "_", ".", alphanumeric at both ends`;
  return undefined;
}

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
    if (!entry)
      problems.push(`plugin "${name}" has no version "${version}" (has ${versions.map((e) => e.version).join(', ')})`);
    else if (!picked.includes(entry)) picked.push(entry);
  }
  if (problems.length)
    throw new InputError({
      code: 'E_SELECT',
      message: problems.join('; '),
      hint: 'list what the server has with `curl <server>/plugins/index.json`',
    });
  return picked;
}

function resourceName(entry: IndexEntry, clash: boolean): string {
  const name = (clash ? `${entry.name}-${entry.version}` : entry.name).toLowerCase();
  if (name.length > MAX_SUBDOMAIN || !DNS_SUBDOMAIN.test(name)) {
    throw new InputError({
      code: 'E_RESOURCE_NAME',
      message: `"${name}" is not a valid Kubernetes resource name`,
      context: { plugin: entry.name, version: entry.version },
      hint: 'rename the plugin in the plugin list (lower case letters, digits, "-" and ".")',
    });
  }
  return name;
}

/** The hex manifest digest an oci:// WasmPlugin pins; the digests were loaded for exactly these entries. */
function ociDigest(digests: ReadonlyMap<string, string>, e: IndexEntry): string {
  const d = digests.get(`${e.name}/${e.version}`);
  if (!d)
    throw new InputError({
      code: 'E_OCI_VIEW_MISSING',
      message: `no OCI manifest digest for ${e.name}@${e.version}`,
      context: { plugin: e.name, version: e.version },
      hint: 'run `index <root>` on the tree, or rebuild the server image',
    });
  return d.replace(/^sha256:/, '');
}

/** One WasmPlugin manifest per selected entry, in a stable order. */
export function buildWasmPlugins(index: PluginIndex, opts: WasmPluginOptions): Record<string, unknown>[] {
  if (opts.phase !== undefined && !PHASES.includes(opts.phase)) {
    throw new InputError({
      code: 'E_PHASE',
      message: `unknown phase "${opts.phase}"`,
      hint: `use one of ${PHASES.join(', ')}`,
    });
  }
  const base = opts.baseUrl.replace(/\/+$/, '');
  const entries = selectEntries(index, opts.select);
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
  const manifests = entries.map((e) => {
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
        url: opts.oci ? `oci://${opts.oci.host}/${repositoryName(e.name)}:${e.version}` : `${base}${e.path}`,
        sha256: opts.oci ? ociDigest(opts.oci.digests, e) : e.sha256,
        defaultConfigDisable: opts.defaultConfigDisable,
        ...(phase ? { phase } : {}),
        ...(priority !== undefined ? { priority } : {}),
      },
    }) as Record<string, unknown>;
  });
  checkForApiServer(manifests, entries);
  return manifests;
}

/**
 * What `kubectl apply` would refuse, found before any YAML is printed: invalid label keys and values,
 * and two resources with one name (plugins `Foo` and `foo` both become WasmPlugin `foo`, and the
 * second would silently replace the first).
 */
function checkForApiServer(manifests: Record<string, unknown>[], entries: IndexEntry[]): void {
  const problems: string[] = [];
  const byResource = new Map<string, IndexEntry>();
  manifests.forEach((m, i) => {
    const e = entries[i];
    const meta = m.metadata as { name: string; labels: Record<string, string> };
    const prev = byResource.get(meta.name);
    if (prev)
      problems.push(`${prev.name}@${prev.version} and ${e.name}@${e.version} would both be WasmPlugin "${meta.name}"`);
    else byResource.set(meta.name, e);
    for (const [k, v] of Object.entries(meta.labels)) {
      const bad = labelKeyProblem(k) ?? labelValueProblem(v);
      if (bad) problems.push(`${e.name}@${e.version}: ${bad}`);
    }
  });
  if (problems.length) {
    throw new InputError({
      code: 'E_LABEL_VALUE',
      message: `the API server would reject these WasmPlugins: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? `; and ${problems.length - 10} more` : ''}`,
      hint: 'rename the plugins or versions in the plugin list (names unique ignoring case; label values at most 63 letters, digits, "-", "_", ".", alphanumeric at both ends), or select plugins with -p',
    });
  }
}

/** Multi-document YAML for `kubectl apply -f -`. */
export function renderYaml(manifests: Record<string, unknown>[]): string {
  return manifests.map((m) => stringify(m, { lineWidth: 0 })).join('---\n');
}
