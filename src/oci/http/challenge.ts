/** Parses `WWW-Authenticate` challenges (RFC 7235 subset registries use). Pure. */
export interface Challenge {
  /** Lower case. Only `bearer` and `basic` are answered; any other scheme is named in the error. */
  scheme: string;
  /** The scheme as the server wrote it, for messages. */
  name: string;
  params: Record<string, string>;
}

export const SUPPORTED_SCHEMES = ['bearer', 'basic'];

/**
 * The first challenge we can answer (Bearer or Basic) in the header; otherwise the first challenge,
 * whatever its scheme (Negotiate, NTLM, Digest...), so the caller can refuse it by name. Undefined
 * when there is no header.
 */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const challenges = splitChallenges(header);
  return challenges.find((c) => SUPPORTED_SCHEMES.includes(c.scheme)) ?? challenges[0];
}

function splitChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  // A scheme token starts a challenge: at the start, or after a comma when followed by a space and not by "=".
  const re = /(?:^|,)\s*([A-Za-z][\w!#$%&'*+.^`|~-]*)(?=\s+[^=\s,]|\s*$|\s*,)/g;
  const starts: Array<{ scheme: string; name: string; at: number; end: number }> = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(header)) !== null)
    starts.push({ scheme: m[1].toLowerCase(), name: m[1], at: m.index, end: m.index + m[0].length });
  starts.forEach((s, i) => {
    const body = header.slice(s.end, i + 1 < starts.length ? starts[i + 1].at : header.length);
    out.push({ scheme: s.scheme, name: s.name, params: parseParams(body) });
  });
  return out;
}

function parseParams(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(text)) !== null)
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  return params;
}
