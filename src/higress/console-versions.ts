/**
 * The Higress Console builds a plugin URL from `${name}` and the `info.version` of the plugin's
 * spec.yaml, not from the OCI tag. For these built-in plugins the 2.0.0 artifacts carry a spec.yaml
 * that says 1.0.0, so the Console asks for `/plugins/<name>/1.0.0/plugin.wasm`. A server that stores only
 * the tag's folder answers 404; `check --console-list` uses this table (when the server does not serve
 * the plugin's spec.yaml) to ask exactly what the Console will ask.
 */
export const CONSOLE_SPEC_VERSIONS: Readonly<Record<string, { tag: string; specVersion: string }>> = {
  'basic-auth': { tag: '2.0.0', specVersion: '1.0.0' },
  'bot-detect': { tag: '2.0.0', specVersion: '1.0.0' },
  'custom-response': { tag: '2.0.0', specVersion: '1.0.0' },
  'hmac-auth': { tag: '2.0.0', specVersion: '1.0.0' },
  'jwt-auth': { tag: '2.0.0', specVersion: '1.0.0' },
  'key-auth': { tag: '2.0.0', specVersion: '1.0.0' },
  'key-rate-limit': { tag: '2.0.0', specVersion: '1.0.0' },
  oauth: { tag: '2.0.0', specVersion: '1.0.0' },
  'request-block': { tag: '2.0.0', specVersion: '1.0.0' },
};

/** `${name}` and `${version}` are the only placeholders the Console substitutes. */
export function expandConsolePattern(pattern: string, name: string, version: string): string {
  return pattern.split('${name}').join(name).split('${version}').join(version);
}
