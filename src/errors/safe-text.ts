/**
 * Untrusted text (registry error bodies, media types, index fields, server answers) made safe for one
 * terminal line: control and bidi-override characters become visible escapes, so a server cannot move
 * the cursor, colour the output or start a forged second line (`\nok ...`), and anything over `max`
 * characters is cut with an ellipsis, so a huge answer cannot print a 159 KB line. Pure.
 */

/** Longest line the CLI prints for one problem or report line. */
export const MAX_LINE_CHARS = 2000;

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function escapeControl(text: string): string {
  return text.replace(UNSAFE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/**
 * One JSON document on one line for `--json`, every string in it escaped and cut like a human line:
 * a value from outside (a media type, a registry's message, a helper's stderr) can neither end the
 * line for a reader that splits on U+2028 or NEL, nor hand control characters to a script that prints
 * the field. The one escaping function for JSON output, as safeText is for human lines.
 */
export function safeJsonLine(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? safeText(v) : v));
}

/** Escaped and cut to at most `max` characters (code points). */
export function safeText(text: string, max = MAX_LINE_CHARS): string {
  // Cut before escaping too, so a multi-megabyte string is never copied whole.
  const head = text.length > max * 2 ? text.slice(0, max * 2) : text;
  const escaped = escapeControl(head);
  const chars = [...escaped];
  return chars.length > max || head !== text ? `${chars.slice(0, max - 1).join('')}…` : escaped;
}
