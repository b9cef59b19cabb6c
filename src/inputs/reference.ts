/**
 * Parses the value side of a plugin list line:
 *   oci://host[:port]/repo[/sub...]:tag[@sha256:<64 hex>]
 *   file:<path>@<version>       (path relative to the list file's folder)
 * Pure: no I/O. Returns either the parsed source (+ the version it names) or a problem message.
 */
import { DIGEST_HINT, isDigest } from '../contract/digest';
import type { ErrorCode } from '../errors';
import * as path from 'path';
import { OciReference } from '../oci/types';
import { SAFE_SEGMENT } from '../contract/plugin-identity';
import { Source } from './types';

export type ParsedSource =
  { ok: true; source: Source; version: string } | { ok: false; code: ErrorCode; message: string; hint: string };

const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/;
/** OCI distribution-spec repository name component grammar. */
const REPO_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

function bad(message: string, hint: string, code: ErrorCode = 'E_REFERENCE'): ParsedSource {
  return { ok: false, code, message, hint };
}

export function parseOciReference(
  text: string,
): { ok: true; ref: OciReference } | { ok: false; message: string; code?: ErrorCode } {
  // `user:pass@host/...`: the first "@" would otherwise be read as the digest separator, and the
  // password would end up in the error line. Refuse userinfo, and never repeat it.
  const hostPart = text.split('/')[0] ?? '';
  if (hostPart.includes('@')) {
    return {
      ok: false,
      code: 'E_REFERENCE_CREDENTIALS',
      message: `credentials in the reference (oci://***@${hostPart.slice(hostPart.lastIndexOf('@') + 1)}/...) are not supported and were not used`,
    };
  }
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) return { ok: false, message: `bad digest "${digest}" (${DIGEST_HINT})` };
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) return { ok: false, message: 'missing registry host or repository' };
  const registry = rest.slice(0, slash);
  if (!HOST.test(registry)) return { ok: false, message: `bad registry host "${registry}"` };
  const port = /:(\d+)$/.exec(registry);
  if (port && (Number(port[1]) < 1 || Number(port[1]) > 65535))
    return { ok: false, message: `port ${port[1]} of "${registry}" is not a TCP port (1-65535)` };
  let repoAndTag = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = repoAndTag.lastIndexOf(':');
  if (colon >= 0) {
    tag = repoAndTag.slice(colon + 1);
    repoAndTag = repoAndTag.slice(0, colon);
    if (!TAG.test(tag)) return { ok: false, message: `bad tag "${tag}"` };
  }
  if (!repoAndTag || !repoAndTag.split('/').every((c) => REPO_COMPONENT.test(c))) {
    return {
      ok: false,
      message: `bad repository path "${repoAndTag}" (lowercase letters, digits, ".", "_", "-", separated by "/")`,
    };
  }
  return { ok: true, ref: { registry, repository: repoAndTag, tag, digest } };
}

/** `listDir` is the folder of the list file, used to resolve relative `file:` paths. */
export function parseSource(value: string, listDir: string): ParsedSource {
  if (value.startsWith('oci://')) {
    const r = parseOciReference(value.slice('oci://'.length));
    if (!r.ok && r.code === 'E_REFERENCE_CREDENTIALS') {
      return bad(
        r.message,
        'remove user:password@ from the reference; put credentials in ~/.docker/config.json or HIGRESS_REGISTRY_USERNAME/HIGRESS_REGISTRY_PASSWORD',
        r.code,
      );
    }
    if (!r.ok)
      return bad(`bad reference "${value}": ${r.message}`, 'write oci://host[:port]/repository:tag[@sha256:<digest>]');
    if (!r.ref.tag)
      return bad(
        `reference "${value}" has no tag`,
        'add :<tag>; the tag names the version folder (pin bytes with @sha256:<digest> after it)',
      );
    if (!SAFE_SEGMENT.test(r.ref.tag))
      return bad(
        `tag "${r.ref.tag}" cannot be a version folder`,
        'use a tag of letters, digits, ".", "_", "-"',
        'E_UNSAFE_SEGMENT',
      );
    return { ok: true, source: { kind: 'oci', ref: r.ref }, version: r.ref.tag };
  }
  if (value.startsWith('file:')) {
    const body = value.slice('file:'.length);
    const at = body.lastIndexOf('@');
    if (at < 0) return bad(`file source "${value}" has no version`, 'write file:<path to .wasm>@<version>');
    const written = body.slice(0, at);
    const version = body.slice(at + 1);
    if (!written || written.includes('\0'))
      return bad(`file source "${value}" has no usable path`, 'write file:<path to .wasm>@<version>');
    if (!SAFE_SEGMENT.test(version))
      return bad(
        `unsafe version ${JSON.stringify(version)} in "${value}"`,
        'use letters, digits, ".", "_", "-" only, not starting with a dot',
        'E_UNSAFE_SEGMENT',
      );
    return { ok: true, source: { kind: 'file', written, path: path.resolve(listDir, written) }, version };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(value);
  if (scheme && !/^\d+$/.test(value.slice(scheme[0].length).split('/')[0] ?? '')) {
    return bad(
      `unsupported scheme "${scheme[1]}:" in "${value}"`,
      'use oci://host/repository:tag or file:<path>@<version>',
      'E_SCHEME',
    );
  }
  return bad(`bad reference "${value}"`, 'write oci://host[:port]/repository:tag (the oci:// prefix is required)');
}
