/**
 * Reads a fetch() response body into memory with a limit on the decoded bytes: fetch decodes
 * `Content-Encoding: gzip` itself, so a 600 KB compressed answer can expand to gigabytes; counting
 * what arrives after decoding stops it at the limit, whatever the Content-Length or encoding said.
 */
export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`answer is larger than ${limit} bytes (after decoding)`);
  }
}

export async function readBodyLimited(res: Response, limit: number): Promise<Buffer> {
  const length = Number(res.headers.get('content-length') ?? NaN);
  const encoded = res.headers.get('content-encoding');
  if (!encoded && Number.isFinite(length) && length > limit) {
    await res.body?.cancel();
    throw new BodyTooLarge(limit);
  }
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.byteLength;
      if (n > limit) throw new BodyTooLarge(limit);
      chunks.push(Buffer.from(value));
    }
  } finally {
    if (n > limit) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
  return Buffer.concat(chunks);
}
