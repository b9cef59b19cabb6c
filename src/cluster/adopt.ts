/**
 * `adopt`: moves a running Higress onto the plugin server, and `adopt --revert` moves it back.
 *
 * It plans first, from one read of the cluster: each WasmPlugin whose `oci://` source the server
 * holds (matched through index.json: the source reference it was pulled from, or the manifest digest
 * when the URL pins one; `--registry-map` applied) gets the server's URL and the served sha256; the
 * Console's pattern and the controller's MCP server URL point at the server; nothing else changes.
 * A plan with a source the server lacks changes nothing (unless `skipMissing`). Before the first
 * write the original value of every field it changes goes into a record (a ConfigMap in the server's
 * namespace); each write is a JSON patch conditional on the resourceVersion the plan read.
 */
import * as semver from 'semver';
import { InputError, PluginServerError, VerifyError } from '../errors';
import type { IndexEntry, PluginIndex } from '../contract/tree-format';
import { ADOPT_RECORD_KEY, ADOPT_RECORD_NAME } from '../contract/adopt-rbac';
import { CONSOLE_PLUGIN_PATH } from '../contract/service';
import { mapReference, RegistryMapping } from '../inputs/registry-map';
import { parseOciReference } from '../inputs/reference';
import { repositoryName } from '../ociview/layout';
import { loadTagDigests } from '../higress/oci-digests';
import {
  ClusterAsks,
  EnvAsk,
  envLabel,
  localOci,
  localPath,
  serviceHost,
  ServerAddress,
  trimBase,
  wasmPluginLabel,
} from './asks';
import { fetchSha256 } from './audit';
import { mapLimit } from '../content/pool';
import type { EnvVar, Kube, PatchOp, WasmPluginObject } from './kube';

export interface FieldChange {
  field: string;
  /** undefined: not set. */
  from?: string;
  to?: string;
}

/** The original of one field `adopt` changed, as the record keeps it. */
export type RecordEntry =
  | { kind: 'WasmPlugin'; namespace: string; name: string; field: 'url' | 'sha256'; original: string | null }
  | {
      kind: 'Deployment';
      namespace: string;
      name: string;
      container: string;
      env: string;
      /** The env entry as it was (null: absent), and where it stood. */
      original: EnvVar | null;
      index: number;
      /** The container had no env list at all. */
      envWasAbsent: boolean;
    };

export interface AdoptRecord {
  kind: 'higress-plugin-server-adopt-record';
  version: 1;
  serviceUrl: string;
  entries: RecordEntry[];
}

export interface PlannedObject {
  object: string;
  kind: 'WasmPlugin' | 'Deployment';
  namespace: string;
  name: string;
  resourceVersion: string;
  changes: FieldChange[];
  ops: PatchOp[];
  record: RecordEntry[];
}

export interface Missing {
  object: string;
  /** The field that asks for it: `spec.url`, or `env <container>/<NAME>`. */
  field: string;
  url: string;
  why: string;
}

export interface Plan {
  objects: PlannedObject[];
  /** Objects already as adopt wants them, or not adoptable (not an `oci://` source): left alone. */
  unchanged: Array<{ object: string; why: string }>;
  missing: Missing[];
}

export interface PlanOptions extends ServerAddress {
  index: PluginIndex;
  registryMap: readonly RegistryMapping[];
  /** Point at the server's OCI view (`oci://<service host>/plugins/<name>:<version>`) instead of HTTP. */
  oci: boolean;
  timeoutMs?: number;
  /** The target of each `name/version`, asked of the server once per plan (filled by planAdopt). */
  targets?: Map<string, Promise<Target>>;
}

/**
 * WasmPlugins planned (each may fetch its module from the server) and objects patched at once. The
 * API server and the plugin server serve requests in parallel; one at a time, 1,000 WasmPlugins take
 * 1,000 round trips each way (BENCHMARKS.md, section `cluster-scale`).
 */
export const ADOPT_CONCURRENCY = 8;

function recordKey(e: RecordEntry): string {
  return e.kind === 'WasmPlugin'
    ? `WasmPlugin ${e.namespace}/${e.name} ${e.field}`
    : `Deployment ${e.namespace}/${e.name} env ${e.container}/${e.env}`;
}

function sameRef(a: { registry: string; repository: string; tag?: string }, b: typeof a): boolean {
  return (
    a.registry.toLowerCase() === b.registry.toLowerCase() &&
    a.repository === b.repository &&
    (a.tag ?? 'latest') === (b.tag ?? 'latest')
  );
}

/** The index entry an `oci://` URL (and, for oci://, the manifest digest a WasmPlugin pins) names. */
export function matchSource(
  url: string,
  pinned: string | undefined,
  index: PluginIndex,
  map: readonly RegistryMapping[],
): IndexEntry | undefined {
  if (!url.startsWith('oci://')) return undefined;
  const parsed = parseOciReference(url.slice('oci://'.length));
  if (!parsed.ok) return undefined;
  const refs = [parsed.ref, mapReference(parsed.ref, map)];
  const digests = [parsed.ref.digest, pinned ? `sha256:${pinned.replace(/^sha256:/, '').toLowerCase()}` : undefined];
  const entries = [...index.plugins.filter((e) => !e.aliasOf), ...index.plugins.filter((e) => e.aliasOf)];
  const byDigest = parsed.ref.digest ? entries.find((e) => e.manifestDigest === parsed.ref.digest) : undefined;
  if (byDigest) return byDigest;
  for (const e of entries) {
    if (!e.source.startsWith('oci://')) continue;
    const src = parseOciReference(e.source.slice('oci://'.length));
    if (!src.ok) continue;
    if (refs.some((r) => sameRef(r, src.ref))) return e;
  }
  // A tag that moved upstream still names the bytes the server holds when the pinned digest says so.
  return entries.find((e) => e.manifestDigest && digests.includes(e.manifestDigest));
}

type Target = { url: string; sha256: string } | { problem: string };

/** The served module for an entry: URL as the cluster uses it, and sha256 (HTTP: of the served bytes; OCI: manifest digest). */
function target(e: IndexEntry, opts: PlanOptions): Promise<Target> {
  if (!opts.targets) return fetchTarget(e, opts);
  const key = `${e.name}/${e.version}`;
  let t = opts.targets.get(key);
  if (!t) opts.targets.set(key, (t = fetchTarget(e, opts)));
  return t;
}

async function fetchTarget(e: IndexEntry, opts: PlanOptions): Promise<Target> {
  if (opts.oci) {
    try {
      const d = await loadTagDigests(trimBase(opts.serverUrl), [{ name: e.name, version: e.version }]);
      const digest = (d.get(`${e.name}/${e.version}`) ?? '').replace(/^sha256:/, '');
      return { url: `oci://${serviceHost(opts.serviceUrl)}/${repositoryName(e.name)}:${e.version}`, sha256: digest };
    } catch (err) {
      return { problem: (err as Error).message };
    }
  }
  const got = await fetchSha256(`${trimBase(opts.serverUrl)}${e.path}`, opts.timeoutMs ?? 60_000);
  if (got.status !== 200 || !got.sha256)
    return { problem: `the server answers ${got.error ?? `HTTP ${got.status}`} for ${e.path}` };
  return { url: `${trimBase(opts.serviceUrl)}${e.path}`, sha256: got.sha256 };
}

function newest(entries: IndexEntry[]): IndexEntry | undefined {
  const real = entries.filter((e) => !e.aliasOf);
  return [...(real.length ? real : entries)].sort((a, b) => {
    const va = semver.coerce(a.version);
    const vb = semver.coerce(b.version);
    return va && vb ? semver.compare(vb, va) : b.version.localeCompare(a.version);
  })[0];
}

async function planWasmPlugin(w: WasmPluginObject, opts: PlanOptions, plan: Plan): Promise<void> {
  const object = wasmPluginLabel(w);
  const url = w.spec?.url ?? '';
  const sha = w.spec?.sha256;
  let entry: IndexEntry | undefined;
  const path = localPath(url, opts);
  if (path !== undefined) entry = opts.index.plugins.find((e) => e.path === path);
  else if (localOci(url, opts) !== undefined) {
    plan.unchanged.push({ object, why: 'already loads from the server (OCI view)' });
    return;
  } else if (url.startsWith('oci://')) entry = matchSource(url, sha, opts.index, opts.registryMap);
  else {
    plan.unchanged.push({ object, why: `not an oci:// source (${url || 'no url'}): left as it is` });
    return;
  }
  if (!entry) {
    plan.missing.push({ object, field: 'spec.url', url, why: 'the server holds no plugin pulled from this source' });
    return;
  }
  const t = await target(entry, opts);
  if ('problem' in t) {
    plan.missing.push({ object, field: 'spec.url', url, why: t.problem });
    return;
  }
  const changes: FieldChange[] = [];
  const ops: PatchOp[] = [];
  const record: RecordEntry[] = [];
  const base = { kind: 'WasmPlugin' as const, namespace: w.metadata.namespace, name: w.metadata.name };
  if (url !== t.url) {
    changes.push({ field: 'spec.url', from: url, to: t.url });
    ops.push({ op: 'replace', path: '/spec/url', value: t.url });
    record.push({ ...base, field: 'url', original: url });
  }
  if (sha !== t.sha256) {
    changes.push({ field: 'spec.sha256', from: sha, to: t.sha256 });
    ops.push({ op: 'add', path: '/spec/sha256', value: t.sha256 });
    record.push({ ...base, field: 'sha256', original: sha ?? null });
  }
  if (!changes.length) {
    plan.unchanged.push({ object, why: 'already loads from the server, sha256 pinned' });
    return;
  }
  plan.objects.push({
    object,
    kind: 'WasmPlugin',
    namespace: w.metadata.namespace,
    name: w.metadata.name,
    resourceVersion: w.metadata.resourceVersion,
    changes,
    ops,
    record,
  });
}

function envPath(a: EnvAsk): string {
  return `/spec/template/spec/containers/${a.containerIndex}/env`;
}

/** The patch that sets one env entry to a literal value; the container's name is tested first. */
function envOps(a: EnvAsk, value: string): PatchOp[] {
  const ops: PatchOp[] = [
    { op: 'test', path: `/spec/template/spec/containers/${a.containerIndex}/name`, value: a.container },
  ];
  const entry = { name: a.name, value };
  const env = a.deployment.containers[a.containerIndex].env;
  if (a.entryIndex >= 0) ops.push({ op: 'replace', path: `${envPath(a)}/${a.entryIndex}`, value: entry });
  else if (env === undefined) ops.push({ op: 'add', path: envPath(a), value: [entry] });
  else ops.push({ op: 'add', path: `${envPath(a)}/-`, value: entry });
  return ops;
}

function planEnv(kind: 'Console' | 'Controller', a: EnvAsk, value: string, plan: Plan): void {
  const object = envLabel(kind, a);
  if (a.entry?.value === value && a.entry.valueFrom === undefined) {
    plan.unchanged.push({ object, why: `${a.name} already points at the server` });
    return;
  }
  const field = `env ${a.container}/${a.name}`;
  const change: FieldChange = { field, from: a.entry?.value, to: value };
  const record: RecordEntry = {
    kind: 'Deployment',
    namespace: a.deployment.namespace,
    name: a.deployment.name,
    container: a.container,
    env: a.name,
    original: a.entry ?? null,
    index: a.entryIndex,
    envWasAbsent: a.deployment.containers[a.containerIndex].env === undefined,
  };
  // Console and controller may share a Deployment: one patch, both changes, one resourceVersion.
  const same = plan.objects.find(
    (o) => o.kind === 'Deployment' && o.namespace === a.deployment.namespace && o.name === a.deployment.name,
  );
  if (same) {
    same.changes.push(change);
    same.ops.push(...envOps(a, value).slice(1));
    same.record.push(record);
    return;
  }
  plan.objects.push({
    object,
    kind: 'Deployment',
    namespace: a.deployment.namespace,
    name: a.deployment.name,
    resourceVersion: a.deployment.resourceVersion,
    changes: [change],
    ops: envOps(a, value),
    record: [record],
  });
}

export async function planAdopt(asks: ClusterAsks, opts: PlanOptions): Promise<Plan> {
  const plan: Plan = { objects: [], unchanged: [], missing: [] };
  // Each WasmPlugin is planned into a plan of its own, ADOPT_CONCURRENCY at once (each may ask the
  // server for its module), then merged in list order so the plan never depends on timing. Objects
  // served by the same version ask for it once (`targets`).
  const o = { ...opts, targets: opts.targets ?? new Map() };
  const parts = await mapLimit(asks.wasmPlugins, ADOPT_CONCURRENCY, async (w) => {
    const part: Plan = { objects: [], unchanged: [], missing: [] };
    await planWasmPlugin(w, o, part);
    return part;
  });
  for (const part of parts) {
    plan.objects.push(...part.objects);
    plan.unchanged.push(...part.unchanged);
    plan.missing.push(...part.missing);
  }
  if (asks.console) {
    const pattern = opts.oci
      ? `oci://${serviceHost(opts.serviceUrl)}/${repositoryName('${name}')}:\${version}`
      : `${trimBase(opts.serviceUrl)}${CONSOLE_PLUGIN_PATH}`;
    planEnv('Console', asks.console, pattern, plan);
  }
  if (asks.controller) {
    const c = asks.controller;
    const current = c.entry?.value;
    let entry: IndexEntry | undefined;
    if (current !== undefined && localPath(current, opts) !== undefined)
      entry = opts.index.plugins.find((e) => e.path === localPath(current, opts));
    else if (current !== undefined && localOci(current, opts) !== undefined) entry = undefined;
    else if (current !== undefined && current.startsWith('oci://'))
      entry = matchSource(current, undefined, opts.index, opts.registryMap);
    else entry = newest(opts.index.plugins.filter((e) => e.name === 'mcp-server'));
    const object = envLabel('Controller', c);
    if (current !== undefined && localOci(current, opts) !== undefined)
      plan.unchanged.push({ object, why: 'already loads from the server (OCI view)' });
    else if (!entry)
      plan.missing.push({
        object,
        field: `env ${c.container}/${c.name}`,
        url: current ?? '(unset: the public registry)',
        why: 'the server holds no mcp-server plugin for it',
      });
    else {
      const t = await target(entry, opts);
      if ('problem' in t)
        plan.missing.push({ object, field: `env ${c.container}/${c.name}`, url: current ?? '(unset)', why: t.problem });
      else planEnv('Controller', c, t.url, plan);
    }
  }
  return plan;
}

/** The plan as a diff, one block per object. */
export function renderDiff(plan: Plan): string {
  const show = (v: string | undefined) => (v === undefined ? '(unset)' : v);
  return plan.objects
    .map((o) =>
      [
        `--- ${o.object} (resourceVersion ${o.resourceVersion})`,
        ...o.changes.flatMap((c) => [`-${c.field}: ${show(c.from)}`, `+${c.field}: ${show(c.to)}`]),
      ].join('\n'),
    )
    .join('\n');
}

export function missingError(missing: Missing[]): VerifyError {
  const listed = missing.map((m) => `${m.object} (${m.url}): ${m.why}`);
  return new VerifyError({
    code: 'E_ADOPT_MISSING',
    message: `${missing.length} source(s) are not on the server, nothing was changed: ${listed.slice(0, 20).join('; ')}${listed.length > 20 ? `; and ${listed.length - 20} more` : ''}`,
    hint: 'pull them into the server (add them to plugins.properties, or --registry-map for a mirror), or pass --skip-missing to adopt the rest',
  });
}

function parseRecord(text: string | undefined, where: string): AdoptRecord {
  try {
    const r = JSON.parse(text ?? '') as AdoptRecord;
    if (r.kind === 'higress-plugin-server-adopt-record' && r.version === 1 && Array.isArray(r.entries)) return r;
  } catch {
    /* below */
  }
  throw new InputError({
    code: 'E_ADOPT_RECORD',
    message: `${where} is not an adopt record this tool wrote`,
    hint: 'leave it alone, or delete it by hand if you know it is stale',
  });
}

export const RECORD_LABELS = { 'app.kubernetes.io/managed-by': 'higress-plugin-server' };

/** Merges the plan's originals into the record (an original already recorded is kept) and writes it first. */
async function writeRecord(kube: Kube, namespace: string, plan: Plan, serviceUrl: string): Promise<number> {
  const current = await kube.readConfigMap(namespace, ADOPT_RECORD_NAME);
  const record: AdoptRecord = current
    ? parseRecord(current.data[ADOPT_RECORD_KEY], `ConfigMap ${namespace}/${ADOPT_RECORD_NAME}`)
    : { kind: 'higress-plugin-server-adopt-record', version: 1, serviceUrl, entries: [] };
  const known = new Set(record.entries.map(recordKey));
  let added = 0;
  for (const o of plan.objects)
    for (const e of o.record)
      if (!known.has(recordKey(e))) {
        record.entries.push(e);
        known.add(recordKey(e));
        added++;
      }
  if (current && added === 0) return 0;
  await kube.writeConfigMap(
    namespace,
    ADOPT_RECORD_NAME,
    { [ADOPT_RECORD_KEY]: `${JSON.stringify(record, null, 2)}\n` },
    RECORD_LABELS,
    current?.resourceVersion,
  );
  return added;
}

/** Writes the plan: the record first, then each object conditional on the resourceVersion the plan read. */
export async function applyPlan(
  kube: Kube,
  plan: Plan,
  recordNamespace: string,
  serviceUrl: string,
  onApplied: (o: PlannedObject) => void,
): Promise<void> {
  if (!plan.objects.length) return;
  await writeRecord(kube, recordNamespace, plan, serviceUrl);
  // ADOPT_CONCURRENCY patches at once, each still conditional on the resourceVersion the plan read.
  // After a failure no new patch starts; those in flight finish, and the error names every object
  // written (in plan order), all of them in the record for --revert. Progress is reported in plan order.
  const applied = new Array<boolean>(plan.objects.length).fill(false);
  let reported = 0;
  let failure: Error | undefined;
  await mapLimit(plan.objects, ADOPT_CONCURRENCY, async (o, i) => {
    if (failure !== undefined) return;
    try {
      if (o.kind === 'WasmPlugin') await kube.patchWasmPlugin(o.namespace, o.name, o.resourceVersion, o.ops);
      else await kube.patchDeployment(o.namespace, o.name, o.resourceVersion, o.ops);
    } catch (err) {
      failure ??= err instanceof Error ? err : new Error(String(err));
      return;
    }
    applied[i] = true;
    while (failure === undefined && reported < applied.length && applied[reported]) onApplied(plan.objects[reported++]);
  });
  if (failure !== undefined) {
    const done = plan.objects.filter((_, i) => applied[i]).map((o) => o.object);
    if (failure instanceof PluginServerError && done.length)
      failure.message += ` (already adopted: ${done.join(', ')}; \`adopt --revert\` restores them)`;
    throw failure;
  }
}

export interface RevertStep {
  object: string;
  changes: FieldChange[];
  /** Why nothing was restored (object gone). */
  skipped?: string;
}

/** Restores every recorded field from the record, then removes the record. */
export async function revert(
  kube: Kube,
  recordNamespace: string,
  dryRun: boolean,
  onStep: (s: RevertStep) => void,
): Promise<number> {
  const where = `ConfigMap ${recordNamespace}/${ADOPT_RECORD_NAME}`;
  const cm = await kube.readConfigMap(recordNamespace, ADOPT_RECORD_NAME);
  if (!cm)
    throw new InputError({
      code: 'E_ADOPT_RECORD',
      message: `there is no adopt record (${where})`,
      hint: 'nothing was adopted with this record namespace; pass the --record-namespace adopt used',
    });
  const record = parseRecord(cm.data[ADOPT_RECORD_KEY], where);
  const groups = new Map<string, RecordEntry[]>();
  for (const e of record.entries) {
    const key = `${e.kind} ${e.namespace}/${e.name}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  let restored = 0;
  for (const [object, entries] of groups) {
    const first = entries[0];
    if (first.kind === 'WasmPlugin') {
      const w = await kube.getWasmPlugin(first.namespace, first.name);
      if (!w) {
        onStep({ object, changes: [], skipped: 'the WasmPlugin no longer exists' });
        continue;
      }
      const ops: PatchOp[] = [];
      const changes: FieldChange[] = [];
      for (const e of entries) {
        if (e.kind !== 'WasmPlugin') continue;
        const now = w.spec?.[e.field];
        if (e.original === null) {
          if (now !== undefined) ops.push({ op: 'remove', path: `/spec/${e.field}` });
        } else ops.push({ op: 'add', path: `/spec/${e.field}`, value: e.original });
        changes.push({ field: `spec.${e.field}`, from: now, to: e.original ?? undefined });
      }
      if (!dryRun && ops.length)
        await kube.patchWasmPlugin(first.namespace, first.name, w.metadata.resourceVersion, ops);
      restored += changes.length;
      onStep({ object, changes });
      continue;
    }
    const d = await kube.readDeployment(first.namespace, first.name);
    if (!d) {
      onStep({ object, changes: [], skipped: 'the Deployment no longer exists' });
      continue;
    }
    const ops: PatchOp[] = [];
    const changes: FieldChange[] = [];
    // Work on a copy of each container's env, so several entries of one container restore in order.
    const envs = d.containers.map((c) => (c.env === undefined ? undefined : [...c.env]));
    for (const e of entries) {
      if (e.kind !== 'Deployment') continue;
      const ci = d.containers.findIndex((c) => c.name === e.container);
      if (ci < 0) continue;
      const env = envs[ci] ?? [];
      const at = env.findIndex((v) => v.name === e.env);
      const now = at >= 0 ? env[at].value : undefined;
      if (e.original === null) {
        if (at >= 0) env.splice(at, 1);
      } else if (at >= 0) env[at] = e.original;
      else env.splice(Math.min(Math.max(e.index, 0), env.length), 0, e.original);
      envs[ci] = e.envWasAbsent && env.length === 0 ? undefined : env;
      changes.push({ field: `env ${e.container}/${e.env}`, from: now, to: e.original?.value });
    }
    d.containers.forEach((c, ci) => {
      const path = `/spec/template/spec/containers/${ci}`;
      if (JSON.stringify(c.env) === JSON.stringify(envs[ci])) return;
      ops.push({ op: 'test', path: `${path}/name`, value: c.name });
      if (envs[ci] === undefined) ops.push({ op: 'remove', path: `${path}/env` });
      else ops.push({ op: c.env === undefined ? 'add' : 'replace', path: `${path}/env`, value: envs[ci] });
    });
    if (!dryRun && ops.length) await kube.patchDeployment(d.namespace, d.name, d.resourceVersion, ops);
    restored += changes.length;
    onStep({ object, changes });
  }
  if (!dryRun) await kube.deleteConfigMap(recordNamespace, ADOPT_RECORD_NAME, cm.resourceVersion);
  return restored;
}
