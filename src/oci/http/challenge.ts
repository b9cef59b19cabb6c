/** Parses `WWW-Authenticate` challenges (RFC 7235 subset registries use). Pure. */
export interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

/** Returns the first Bearer or Basic challenge in the header, or undefined. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = header.trim().match(/^(\w+)\s*(.*)$/s);
  if (!m) return undefined;
  const scheme = m[1].toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2])) !== null) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  return { scheme, params };
}
