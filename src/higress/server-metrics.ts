/**
 * Reads what a running plugin server's own `/metrics` (image/nginx.conf, docs/metrics.md) says about
 * the paths it answered 404: the report `check` prints, so an operator sees which plugin versions the
 * Console or a gateway asked for and the tree does not hold, without reading gateway logs.
 *
 * The parser is narrow on purpose: the Prometheus text format's sample lines (`name{labels} value`,
 * label values escaped with \\, \" and \n), comments skipped. The one npm parser made for the format
 * (parse-prometheus-text-format) has not been released since 2019 and has no types.
 */
import { METRICS, METRICS_PATH } from '../contract/metrics';
import { BodyTooLarge, readBodyLimited } from './bounded-body';
import { fetchFailure } from './fetch-error';

/** The exposition is bounded by the server (docs/metrics.md: about 2,100 samples): 4 MiB is generous. */
export const MAX_METRICS_BYTES = 4 * 1024 * 1024;
export const MISSING_PATH_METRIC = METRICS.missingPaths.name;

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$/;
const LABEL = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text);
    if (!m) return undefined;
    labels[m[1]] = unescapeLabel(m[2]);
    if (m[3] === '') break;
  }
  return labels;
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const n = Number(text);
  return text !== '' && !Number.isNaN(n) ? n : undefined;
}

/** Every sample of a text exposition; a line that is not one (nor a comment) is skipped. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels = m[2] === undefined ? {} : parseLabels(m[2]);
    const value = parseValue(m[3]);
    if (labels === undefined || value === undefined) continue;
    out.push({ name: m[1], labels, value });
  }
  return out;
}

export interface MissingPath {
  path: string;
  requests: number;
}

/** The server's missing-path record, most asked first (then by path). */
export function missingPaths(samples: Sample[]): MissingPath[] {
  return samples
    .filter((s) => s.name === MISSING_PATH_METRIC && typeof s.labels.path === 'string' && s.value > 0)
    .map((s) => ({ path: s.labels.path, requests: s.value }))
    .sort((a, b) => b.requests - a.requests || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export type MissingReport = { ok: true; paths: MissingPath[] } | { ok: false; why: string };

/** GET <server>/metrics and its missing paths; never throws (the report is advice, not a check). */
export async function readMissingPaths(baseUrl: string, timeoutMs = 10000): Promise<MissingReport> {
  const url = `${baseUrl.replace(/\/+$/, '')}${METRICS_PATH}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) {
      await res.body?.cancel();
      return { ok: false, why: `${url} answered ${res.status} (a server older than its /metrics)` };
    }
    const body = await readBodyLimited(res, MAX_METRICS_BYTES);
    return { ok: true, paths: missingPaths(parseExposition(body.toString('utf8'))) };
  } catch (err) {
    return { ok: false, why: `cannot read ${url}: ${err instanceof BodyTooLarge ? err.message : fetchFailure(err)}` };
  }
}
