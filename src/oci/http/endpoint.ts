/**
 * Which scheme a registry host is reached over. HTTPS always, except loopback registries (local
 * mirrors, tests) and hosts the operator explicitly marks insecure. Pure.
 */
import { RegistryError } from '../../errors';
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

/**
 * The origin (`scheme://host[:port]`) the credentials of `registry` are configured for: the scheme
 * this client speaks to it (baseUrl) and its exact host and port. Credentials go to this origin only.
 */
export function registryOrigin(registry: string, insecureHosts: readonly string[] = []): string {
  return new URL(baseUrl(registry, insecureHosts)).origin;
}

/** Whether `url` is on `registry`'s own origin (scheme, host and port all the same). */
export function onRegistryOrigin(url: string, registry: string, insecureHosts: readonly string[] = []): boolean {
  try {
    return new URL(url).origin === registryOrigin(registry, insecureHosts);
  } catch {
    return false;
  }
}

/**
 * Where a redirect or an upload `Location` sends the next request, resolved against the URL that
 * named it. Refused: a scheme other than http(s), and plain HTTP after HTTPS (a downgrade would send
 * the request, and whatever it carries, in clear text).
 */
export function nextHop(from: string, location: string): URL {
  const base = new URL(from);
  let next: URL;
  try {
    next = new URL(location, base);
  } catch {
    throw new RegistryError({
      code: 'E_REGISTRY_STATUS',
      message: `${from} sent an invalid location "${location.slice(0, 200)}"`,
      context: { url: from },
      hint: 'check the registry',
    });
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:')
    throw new RegistryError({
      code: 'E_REGISTRY_STATUS',
      message: `${from} sent the client to ${next.protocol} (${next.origin}), which is not HTTP`,
      context: { url: from },
      hint: 'check the registry',
    });
  if (base.protocol === 'https:' && next.protocol === 'http:')
    throw new RegistryError({
      code: 'E_REGISTRY_INSECURE',
      message: `${from} sent the client on to plain HTTP (${next.origin}): refused, an HTTPS exchange is never downgraded`,
      context: { url: from },
      hint: 'fix the registry or its proxy so that its redirects and upload locations stay on HTTPS',
    });
  return next;
}

export function manifestUrl(ref: OciReference, insecureHosts?: readonly string[]): string {
  const reference = ref.digest ?? ref.tag ?? 'latest';
  return `${baseUrl(ref.registry, insecureHosts)}/v2/${ref.repository}/manifests/${reference}`;
}

export function blobUrl(ref: OciReference, digest: string, insecureHosts?: readonly string[]): string {
  return `${baseUrl(ref.registry, insecureHosts)}/v2/${ref.repository}/blobs/${digest}`;
}

/** The first page of a repository's tag list (`GET /v2/<name>/tags/list`); later pages follow its `Link` header. */
export function tagsUrl(ref: OciReference, insecureHosts?: readonly string[]): string {
  return `${baseUrl(ref.registry, insecureHosts)}/v2/${ref.repository}/tags/list`;
}

/** Token scope for pulling one repository. */
export function pullScope(ref: OciReference): string {
  return `repository:${ref.repository}:pull`;
}
