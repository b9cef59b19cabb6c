/**
 * What a PromQL expression reads: the metric names of its selectors and the label names it matches
 * on or groups by. A narrow reader for the dashboard's own queries (no `@`/`offset` modifiers, no
 * subqueries), strict where it matters: an identifier it cannot place is reported as a metric, so a
 * query it does not understand fails the contract test instead of passing it.
 */

/** PromQL keywords and aggregation modifiers, never metric names. */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
]);
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;

export interface QueryNames {
  metrics: string[];
  labels: string[];
}

export function namesOf(query: string): QueryNames {
  const metrics: string[] = [];
  const labels: string[] = [];
  // Grafana variables ($namespace, $__rate_interval, ${datasource}) stand for values, not names.
  let q = query.replace(/\$\{?\w+\}?/g, '0');
  // Strings first: a matcher value may hold anything, braces included.
  q = q.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  q = q.replace(/\{([^}]*)\}/g, (_m, body: string) => {
    for (const m of body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)/g)) labels.push(m[1]);
    return ' ';
  });
  q = q.replace(/\[[^\]]*\]/g, ' ');
  q = q.replace(GROUPING, (_m, _kw: string, list: string) => {
    for (const l of list
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      labels.push(l);
    return ' ';
  });
  for (const m of q.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const next = q.slice(m.index + word.length).trimStart();
    if (KEYWORDS.has(word) || next.startsWith('(')) continue; // a keyword or a function call
    if (/^[0-9]/.test(word)) continue;
    metrics.push(word);
  }
  return { metrics, labels };
}

/** Grafana's `label_values(<metric>, <label>)` variable query. */
export function labelValuesNames(query: string): QueryNames {
  const m = /^label_values\(\s*([^,]+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(query);
  if (!m) throw new Error(`not a label_values() query: ${query}`);
  const inner = namesOf(m[1]);
  return { metrics: inner.metrics, labels: [...inner.labels, m[2]] };
}
