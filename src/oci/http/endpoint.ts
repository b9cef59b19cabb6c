/**
 * Which scheme a registry host is reached over. HTTPS always, except loopback registries (local
 * mirrors, tests) and hosts the operator explicitly marks insecure. Pure.
 */
import type { OciReference } from '../types';

/** `host`, `host:port`, `[::1]:port` → bare host name without brackets or port. */
export function hostName(registry: string): string {
  const bracketed = registry.match(/^\[([^\]]+)\](?::\d+)?$/);
  if (bracketed) return bracketed[1].toLowerCase();
  const colon = registry.lastIndexOf(':');
  // Only strip a trailing `:port`; a bare IPv6 address has several colons.
  if (colon > 0 && registry.indexOf(':') === colon && /^\d+$/.test(registry.slice(colon + 1)))
    return registry.slice(0, colon).toLowerCase();
  return registry.toLowerCase();
}

export function isLoopback(registry: string): boolean {
  const host = hostName(registry);
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Plain HTTP is allowed for loopback and for hosts listed (as `host` or `host:port`) in `insecureHosts`. */
export function allowsPlainHttp(registry: string, insecureHosts: readonly string[] = []): boolean {
  if (isLoopback(registry)) return true;
  const lower = registry.toLowerCase();
  return insecureHosts.some((h) => {
    const want = h
      .toLowerCase()
      .replace(/^[a-z]+:\/\//, '')
      .replace(/\/.*$/, '');
    return want === lower || want === hostName(registry);
  });
}

export function baseUrl(registry: string, insecureHosts: readonly string[] = []): string {
  return `${allowsPlainHttp(registry, insecureHosts) ? 'http' : 'https'}://${registry}`;
}

export function manifestUrl(ref: OciReference, insecureHosts?: readonly string[]): string {
  const reference = ref.digest ?? ref.tag ?? 'latest';
  return `${baseUrl(ref.registry, insecureHosts)}/v2/${ref.repository}/manifests/${reference}`;
}

export function blobUrl(ref: OciReference, digest: string, insecureHosts?: readonly string[]): string {
  return `${baseUrl(ref.registry, insecureHosts)}/v2/${ref.repository}/blobs/${digest}`;
}

/** Token scope for pulling one repository. */
export function pullScope(ref: OciReference): string {
  return `repository:${ref.repository}:pull`;
}
