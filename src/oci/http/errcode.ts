/**
 * The registry's own words for a failure: the OCI Distribution error body
 * `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":...}]}`, read with a size
 * bound and rendered as one safe line for the user (control characters escaped, long text cut).
 * Registries are not trusted to send short or printable text. Pure, except readErrorBody.
 */
import type { Readable } from 'stream';
import { safeText as safeLine } from '../../errors';

/** A typical error body is ~200 bytes; oras-go reads at most 8 KiB of it, and so do we. */
export const MAX_ERROR_BODY_BYTES = 8 * 1024;
/** Longest registry text shown in an error line. */
export const MAX_ERROR_TEXT = 300;

export interface RegistryDiagnostic {
  code: string;
  message?: string;
  detail?: unknown;
}

/** Reads at most `limit` bytes of a body (the rest is left for the transport to drop); never throws. */
export async function readErrorBody(body: Readable, limit = MAX_ERROR_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of body) {
      const b = chunk as Buffer;
      chunks.push(b.subarray(0, limit - n));
      n += Math.min(b.length, limit - n);
      if (n >= limit) break;
    }
  } catch {
    // A broken error body is no reason to hide the status: show what arrived.
  }
  return Buffer.concat(chunks);
}

/** The `errors` array of a distribution error body, or [] when the body is not one (HTML, cut short, empty). */
export function parseErrorBody(body: Buffer): RegistryDiagnostic[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  const errors = doc && typeof doc === 'object' ? (doc as { errors?: unknown }).errors : undefined;
  if (!Array.isArray(errors)) return [];
  const out: RegistryDiagnostic[] = [];
  for (const e of errors) {
    if (!e || typeof e !== 'object') continue;
    const { code, message, detail } = e as Record<string, unknown>;
    if (typeof code !== 'string' && typeof message !== 'string') continue;
    out.push({
      code: typeof code === 'string' ? code : '',
      ...(typeof message === 'string' ? { message } : {}),
      ...(detail !== undefined && detail !== null && detail !== '' ? { detail } : {}),
    });
  }
  return out;
}

/** Untrusted text as one safe, short line (see src/errors/safe-text.ts). */
export function safeText(text: string, max = MAX_ERROR_TEXT): string {
  return safeLine(text, max);
}

function detailText(detail: unknown): string {
  if (typeof detail === 'string') return detail;
  try {
    return JSON.stringify(detail) ?? '';
  } catch {
    return '';
  }
}

/** `CODE: message, detail: {...}; CODE2: ...` as one safe line, or undefined when the registry said nothing usable. */
export function describeDiagnostics(errors: readonly RegistryDiagnostic[], max = MAX_ERROR_TEXT): string | undefined {
  if (!errors.length) return undefined;
  const parts = errors.map((e) => {
    const head = [e.code, e.message].filter((s) => s).join(': ');
    const detail = e.detail === undefined ? '' : detailText(e.detail);
    return detail ? `${head}, detail: ${detail}` : head;
  });
  return safeText(parts.join('; '), max);
}

/** Reads and renders a response's error body; undefined when it holds no distribution errors. */
export async function registrySays(body: Readable): Promise<string | undefined> {
  return describeDiagnostics(parseErrorBody(await readErrorBody(body)));
}
