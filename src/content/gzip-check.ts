/**
 * Checks that a .gz decodes to exactly the bytes it claims, streaming and bounded: decoding stops as
 * soon as the output passes the expected size (a gzip bomb costs at most `size` + one chunk, never
 * its full expansion), and symlinks are not followed.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as zlib from 'zlib';

export type GzipCheck = 'ok' | 'corrupt' | 'oversize' | 'mismatch';

/** Decodes `file` and compares it with `want`; never decodes more than `want.size` + 64 KiB. */
export async function checkGzipOf(file: string, want: { sha256: string; size: number }): Promise<GzipCheck> {
  return (await inspectGzipOf(file, want)).result;
}

/**
 * As checkGzipOf, and also the sha256 of the compressed file itself, from the same single read
 * (complete only when the whole file was read, i.e. when the result is not 'oversize').
 */
export async function inspectGzipOf(
  file: string,
  want: { sha256: string; size: number },
): Promise<{ result: GzipCheck; fileSha256: string }> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const input = fh.createReadStream({ autoClose: false });
  const gunzip = zlib.createGunzip({ chunkSize: 64 * 1024 });
  const hash = crypto.createHash('sha256');
  const fileHash = crypto.createHash('sha256');
  let seen = 0;
  try {
    const result = await new Promise<GzipCheck>((resolve) => {
      input.on('data', (chunk) => fileHash.update(chunk as Buffer));
      gunzip.on('data', (chunk: Buffer) => {
        seen += chunk.byteLength;
        if (seen > want.size) {
          resolve('oversize');
          input.destroy();
          gunzip.destroy();
          return;
        }
        hash.update(chunk);
      });
      gunzip.on('end', () => resolve(seen === want.size && hash.digest('hex') === want.sha256 ? 'ok' : 'mismatch'));
      gunzip.on('error', () => resolve('corrupt'));
      input.on('error', () => resolve('corrupt'));
      input.pipe(gunzip);
    });
    return { result, fileSha256: fileHash.digest('hex') };
  } finally {
    input.destroy();
    await fh.close().catch(() => undefined);
  }
}
