/**
 * `--registry-map SRC=DST`: host (and optional repository path prefix) rewrites applied to every
 * input (plugin lists, lock files, snapshots) before anything is compared or pulled, so a list or
 * lock made against the public registry names the private mirror instead:
 *
 *   higress-registry.cn-hangzhou.cr.aliyuncs.com=harbor.internal/higress
 *   oci://A/plugins/ai-proxy:1.0.0  ->  oci://harbor.internal/higress/plugins/ai-proxy:1.0.0
 *
 * Both sides are `host[:port][/path/prefix]` (an `oci://` prefix is accepted). A prefix matches whole
 * path components only; the longest matching source wins. Digests are never rewritten: a pinned
 * reference or a lock entry still names the exact bytes, so `--frozen` proves the mirror serves them.
 * Pure: no I/O.
 */
import { InputError } from '../errors';
import { formatReference, OciReference } from '../oci/types';
import { LockFile } from './lock';
import { parseOciReference } from './reference';
import { PluginEntry } from './types';

export interface RegistryMapping {
  /** Lower-cased `host[:port]`. */
  fromHost: string;
  /** Repository path prefix without slashes at either end; '' for the whole host. */
  fromPrefix: string;
  toHost: string;
  toPrefix: string;
  /** The flag value as written, for messages. */
  text: string;
}

const HINT =
  'write --registry-map SRC=DST, each side host[:port][/path/prefix], e.g. registry.example.com=harbor.internal/higress';

function parseSide(side: string, text: string): { host: string; prefix: string } {
  const bare = side
    .trim()
    .replace(/^oci:\/\//, '')
    .replace(/\/+$/, '');
  const slash = bare.indexOf('/');
  const host = slash < 0 ? bare : bare.slice(0, slash);
  const prefix = slash < 0 ? '' : bare.slice(slash + 1);
  // Reuse the reference grammar: a side is valid when `<side>/x` is a valid repository reference.
  const probe = parseOciReference(`${host}/${prefix ? `${prefix}/` : ''}x`);
  if (!host || !probe.ok || probe.ref.tag !== undefined) {
    throw new InputError({
      code: 'E_REGISTRY_MAP',
      message: `bad --registry-map "${text}": "${side}" is not host[:port][/path]${probe.ok ? '' : ` (${probe.message})`}`,
      hint: HINT,
    });
  }
  return { host: host.toLowerCase(), prefix };
}

/** Parses the repeated flag values; longest source first so the most specific mapping wins. */
export function parseRegistryMap(values: readonly string[] = []): RegistryMapping[] {
  const out: RegistryMapping[] = [];
  for (const text of values) {
    const eq = text.indexOf('=');
    if (eq < 0)
      throw new InputError({ code: 'E_REGISTRY_MAP', message: `bad --registry-map "${text}": no "="`, hint: HINT });
    const from = parseSide(text.slice(0, eq), text);
    const to = parseSide(text.slice(eq + 1), text);
    const dup = out.find((m) => m.fromHost === from.host && m.fromPrefix === from.prefix);
    if (dup)
      throw new InputError({
        code: 'E_REGISTRY_MAP',
        message: `--registry-map "${text}" maps the same source as "${dup.text}"`,
        hint: 'give each source one destination',
      });
    out.push({ fromHost: from.host, fromPrefix: from.prefix, toHost: to.host, toPrefix: to.prefix, text });
  }
  return out.sort((a, b) => b.fromHost.length + b.fromPrefix.length - (a.fromHost.length + a.fromPrefix.length));
}

function matches(m: RegistryMapping, ref: OciReference): boolean {
  if (ref.registry.toLowerCase() !== m.fromHost) return false;
  return m.fromPrefix === '' || ref.repository === m.fromPrefix || ref.repository.startsWith(`${m.fromPrefix}/`);
}

/** The reference under the first matching mapping (tag and digest kept); unchanged when none matches. */
export function mapReference(ref: OciReference, map: readonly RegistryMapping[]): OciReference {
  const m = map.find((x) => matches(x, ref));
  if (!m) return ref;
  const rest = ref.repository.slice(m.fromPrefix.length).replace(/^\//, '');
  const repository = [m.toPrefix, rest].filter(Boolean).join('/');
  if (!repository) {
    throw new InputError({
      code: 'E_REGISTRY_MAP',
      message: `--registry-map "${m.text}" leaves ${formatReference(ref)} without a repository path`,
      hint: 'map a host or a shorter prefix, or give the destination a path',
    });
  }
  return { ...ref, registry: m.toHost, repository };
}

export function mapEntries(entries: PluginEntry[], map: readonly RegistryMapping[]): PluginEntry[] {
  if (!map.length) return entries;
  return entries.map((e) =>
    e.source.kind === 'oci' ? { ...e, source: { kind: 'oci', ref: mapReference(e.source.ref, map) } } : e,
  );
}

/** Rewrites the `oci://` source text of a lock entry; file: sources and unmatched hosts are kept. */
export function mapSourceText(text: string, map: readonly RegistryMapping[]): string {
  if (!map.length || !text.startsWith('oci://')) return text;
  const r = parseOciReference(text.slice('oci://'.length));
  return r.ok ? formatReference(mapReference(r.ref, map)) : text;
}

export function mapLock(lock: LockFile, map: readonly RegistryMapping[]): LockFile {
  if (!map.length) return lock;
  return { ...lock, plugins: lock.plugins.map((p) => ({ ...p, source: mapSourceText(p.source, map) })) };
}
