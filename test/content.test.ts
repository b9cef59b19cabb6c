/**
 * src/content/: the byte work of a pull. Durable and atomic writes (fsutil.ts), bounded concurrency
 * (pool.ts), the Wasm checks (wasm.ts), the bounded .gz check (gzip-check.ts), the CPU pool
 * (cpu-pool.ts) with real worker threads, and the worker's tasks run in-process (cpu-worker.ts), since
 * coverage is not collected inside worker threads. The pooled gzip itself: test/content-gzip.test.ts.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { IntegrityError } from '../src/errors';
import { CpuPool } from '../src/content/cpu-pool';
import { CpuTask, FileId, FolderFacts, FramedHashes, runCpuTask, WasmFacts } from '../src/content/cpu-worker';
import { imageFrames } from '../src/content/tar-frame';
import {
  RUN_ID,
  runIdOf,
  runTempName,
  sha256Hex,
  sha256OfFile,
  syncDir,
  writeChunksDurable,
  writeFileAtomic,
  writeFileDurable,
} from '../src/content/fsutil';
import { holdsTextSync } from '../src/content/fs-fast';
import { checkGzipOf, inspectGzipOf } from '../src/content/gzip-check';
import { gzipChunkedSync, planChunks } from '../src/content/gzip-format';
import { forEachLimit, limiter, mapLimit } from '../src/content/pool';
import { analyzeWasm, gzipFile } from '../src/content/prepare';
import { checkWasm, checkWasmSize } from '../src/content/wasm';
import { MAX_WASM_BYTES } from '../src/contract/tree-format';
import { wasmVariant } from './support/tree-state';

const WASM = fs.readFileSync(path.join(__dirname, '..', 'examples', 'add-header', 'plugin.wasm'));
const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');
let dir: string;
const file = (name: string, data: string | Uint8Array) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'content-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('fsutil', () => {
  test('temp names carry this run id, which runIdOf reads back; other names have none', () => {
    const name = runTempName('tmp', 'pull');
    expect(name).toMatch(new RegExp(`^\\.tmp-${RUN_ID}-pull-[0-9a-f]{12}$`));
    expect(runTempName('old', '')).toMatch(new RegExp(`^\\.old-${RUN_ID}-[0-9a-f]{12}$`));
    expect(runIdOf(name)).toBe(RUN_ID);
    expect(runIdOf('.tmp-oci-abc')).toBeUndefined();
    expect(runIdOf('plugin.wasm')).toBeUndefined();
  });

  test('a durable write sets the mtime asked for; an atomic one replaces the file and leaves no temp file', async () => {
    const target = path.join(dir, 'atomic', 'index.json');
    fs.mkdirSync(path.dirname(target));
    const when = new Date('2024-05-01T12:00:00Z');
    await writeFileDurable(target, 'one', when);
    expect(fs.statSync(target).mtime.toISOString()).toBe(when.toISOString());
    const ino = fs.statSync(target).ino;
    await writeFileAtomic(target, Buffer.from('two'), new Date(0));
    expect(fs.readFileSync(target, 'utf8')).toBe('two');
    expect(fs.statSync(target).mtimeMs).toBe(0);
    expect(fs.statSync(target).ino).not.toBe(ino);
    expect(fs.readdirSync(path.dirname(target))).toEqual(['index.json']);
  });

  test('an atomic write that cannot rename removes its temp file and throws', async () => {
    const parent = path.join(dir, 'rename-fails');
    fs.mkdirSync(path.join(parent, 'taken'), { recursive: true });
    fs.writeFileSync(path.join(parent, 'taken', 'x'), 'a folder with content cannot be renamed over');
    await expect(writeFileAtomic(path.join(parent, 'taken'), 'data', new Date(0))).rejects.toMatchObject({
      code: expect.stringMatching(/EISDIR|ENOTEMPTY|EEXIST/),
    });
    expect(fs.readdirSync(parent)).toEqual(['taken']);
  });

  test('hashes of a file and of bytes agree; syncDir tolerates what cannot be synced', async () => {
    const p = file('hash.bin', WASM);
    expect(await sha256OfFile(p)).toBe(sha(WASM));
    expect(sha256Hex(WASM)).toBe(sha(WASM));
    await expect(syncDir(path.join(dir, 'no-such-folder'))).resolves.toBeUndefined();
  });
});

describe('pool', () => {
  test('mapLimit keeps the input order and never runs more than the limit at once', async () => {
    let active = 0;
    let peak = 0;
    const out = await mapLimit([50, 10, 30, 0, 20], 2, async (ms, i) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, ms));
      active--;
      return `${i}:${ms}`;
    });
    expect(out).toEqual(['0:50', '1:10', '2:30', '3:0', '4:20']);
    expect(peak).toBe(2);
    expect(await mapLimit([], 4, () => Promise.resolve(1))).toEqual([]);
  });

  test('forEachLimit takes items from a generator only as slots free, and stops it on a failure', async () => {
    const taken: number[] = [];
    let active = 0;
    let peak = 0;
    let closed = false;
    function* items(): Generator<number> {
      try {
        for (let i = 0; i < 6; i++) {
          taken.push(i);
          yield i;
        }
      } finally {
        closed = true;
      }
    }
    const seenWhenStarted: number[] = [];
    await forEachLimit(items(), 2, async () => {
      seenWhenStarted.push(taken.length);
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
    });
    expect(peak).toBe(2);
    // Never more than the items in flight plus the one just taken: the generator is not drained ahead.
    expect(Math.max(...seenWhenStarted.map((n, i) => n - i))).toBe(1);
    expect(closed).toBe(true);
    closed = false;
    taken.length = 0;
    await expect(
      forEachLimit(items(), 2, async (i) => {
        await new Promise((r) => setTimeout(r, 5));
        if (i === 1) throw new Error('item 1');
      }),
    ).rejects.toThrow('item 1');
    expect(closed).toBe(true);
    expect(taken.length).toBeLessThan(6);
  });

  test('writeChunksDurable writes the pieces of a text in order, across batches', async () => {
    const file = path.join(dir, 'chunks.txt');
    const pieces = Array.from({ length: 3000 }, (_, i) => `${i}:${'x'.repeat(i % 300)}\n`);
    await writeChunksDurable(file, pieces, new Date('2024-01-02T03:04:05Z'));
    expect(fs.readFileSync(file, 'utf8')).toBe(pieces.join(''));
    expect(fs.statSync(file).mtime.toISOString()).toBe('2024-01-02T03:04:05.000Z');
    await writeChunksDurable(file, []);
    expect(fs.readFileSync(file, 'utf8')).toBe('');
  });

  test('writeFileDurable writes parts as they are, in order: more than one writev holds, empty parts, none', async () => {
    const file = path.join(dir, 'parts.bin');
    const parts = Array.from({ length: 2500 }, (_, i) => crypto.randomBytes(i % 7 === 0 ? 0 : (i * 37) % 900));
    await writeFileDurable(file, parts, new Date('2024-01-02T03:04:05Z'));
    expect(fs.readFileSync(file).equals(Buffer.concat(parts))).toBe(true);
    expect(fs.statSync(file).mtime.toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(sha256Hex(...parts)).toBe(sha(Buffer.concat(parts)));
    await writeFileDurable(file, []);
    expect(fs.statSync(file).size).toBe(0);
  });

  test('holdsTextSync compares a file with pieces of text in place: same, differs, shorter, longer, UTF-8 across reads', () => {
    const file = path.join(dir, 'holds.txt');
    // Over two 256 KiB reads, with a 3-byte character across the first boundary.
    const text = 'a'.repeat(256 * 1024 - 1) + '€' + 'b'.repeat(300 * 1024) + '\n';
    fs.writeFileSync(file, text);
    const cut = (t: string, sizes: number[]) => {
      const out: string[] = [];
      for (let at = 0, i = 0; at < t.length; at += sizes[i++ % sizes.length])
        out.push(t.slice(at, at + sizes[i % sizes.length]));
      return out;
    };
    expect(holdsTextSync(file, [text])).toBe(true);
    expect(holdsTextSync(file, cut(text, [1, 7000, 100_003]))).toBe(true);
    expect(holdsTextSync(file, [text.slice(0, -1) + 'x'])).toBe(false);
    expect(holdsTextSync(file, [text.replace('€', 'e')])).toBe(false);
    expect(holdsTextSync(file, [text.slice(0, -1)])).toBe(false); // the file holds more
    expect(holdsTextSync(file, [text, 'more'])).toBe(false); // the file holds less
    fs.writeFileSync(file, '');
    expect(holdsTextSync(file, [])).toBe(true);
    expect(holdsTextSync(file, [''])).toBe(true);
    expect(holdsTextSync(file, ['a'])).toBe(false);
    const link = path.join(dir, 'holds-link.txt');
    fs.symlinkSync(file, link);
    expect(holdsTextSync(link, [''])).toBeUndefined();
    expect(holdsTextSync(path.join(dir, 'holds-missing.txt'), [''])).toBeUndefined();
    expect(holdsTextSync(dir, [''])).toBeUndefined();
  });

  test('a limiter shared by callers admits at most `limit`, in order, and frees its slot on failure', async () => {
    const gate = limiter(1);
    const order: string[] = [];
    const job = (name: string, fail = false) =>
      gate(async () => {
        order.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, 5));
        order.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([job('a'), job('b', true), job('c')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });
});

describe('wasm checks', () => {
  test('a real module passes; each kind of bad payload gets its own code', () => {
    expect(() => checkWasm(WASM)).not.toThrow();
    const code = (bytes: Uint8Array) => {
      try {
        checkWasm(bytes, { plugin: 'p', version: '1' });
        return 'ok';
      } catch (e) {
        expect(e).toBeInstanceOf(IntegrityError);
        expect((e as IntegrityError).context).toMatchObject({ plugin: 'p', version: '1' });
        return (e as IntegrityError).code;
      }
    };
    expect(code(Buffer.from('text, not a module'))).toBe('E_NOT_WASM');
    expect(code(WASM.subarray(0, 4))).toBe('E_NOT_WASM');
    expect(code(Buffer.concat([WASM.subarray(0, 4), Buffer.from([2, 0, 0, 0]), WASM.subarray(8)]))).toBe(
      'E_WASM_VERSION',
    );
    expect(code(WASM.subarray(0, WASM.length - 7))).toBe('E_WASM_INVALID');
    expect(() => checkWasmSize(MAX_WASM_BYTES)).not.toThrow();
    expect(() => checkWasmSize(MAX_WASM_BYTES + 1, { plugin: 'big' })).toThrow(
      expect.objectContaining({ code: 'E_WASM_TOO_LARGE', context: expect.objectContaining({ plugin: 'big' }) }),
    );
  });
});

describe('gzip check', () => {
  const want = { sha256: sha(WASM), size: WASM.length };

  test('ok, mismatch, corrupt and oversize, with the sha256 of the file read once', async () => {
    const gz = gzipChunkedSync(WASM, 6);
    const good = file('good.gz', gz);
    expect(await inspectGzipOf(good, want)).toEqual({ result: 'ok', fileSha256: sha(gz) });
    expect(await checkGzipOf(file('other.gz', zlib.gzipSync(wasmVariant(WASM, 'x'))), want)).toBe('oversize');
    expect(await checkGzipOf(file('short.gz', zlib.gzipSync(WASM.subarray(1))), want)).toBe('mismatch');
    expect(await checkGzipOf(file('broken.gz', gz.subarray(0, gz.length / 2)), want)).toBe('corrupt');
    expect(await checkGzipOf(file('plain.gz', WASM), want)).toBe('corrupt');
    // A gzip bomb stops at the expected size: 64 MiB of zeros is never decoded in full.
    const bomb = file('bomb.gz', zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024)));
    expect(await checkGzipOf(bomb, { sha256: sha(Buffer.alloc(10)), size: 10 })).toBe('oversize');
  });

  test('a symlink is not followed', async () => {
    const link = path.join(dir, 'link.gz');
    fs.symlinkSync(file('target.gz', gzipChunkedSync(WASM, 6)), link);
    await expect(checkGzipOf(link, want)).rejects.toMatchObject({ code: 'ELOOP' });
  });
});

describe('CPU worker tasks, run in-process', () => {
  test('analyze: size, md5, sha256 and CRC-32 of the file; a bad payload is refused', async () => {
    const p = file('task.wasm', WASM);
    const facts = (await runCpuTask({ kind: 'analyze', file: p, fsync: true })) as WasmFacts;
    expect(facts).toEqual({
      size: WASM.length,
      md5: crypto.createHash('md5').update(WASM).digest('hex'),
      sha256: sha(WASM),
      crc32: zlib.crc32(WASM),
    });
    await expect(runCpuTask({ kind: 'analyze', file: file('task.txt', 'text'), fsync: false })).rejects.toThrow(
      expect.objectContaining({ code: 'E_NOT_WASM' }),
    );
  });

  test('deflate: the chunks, framed, are the one-call gzip', async () => {
    const big = Buffer.concat(Array.from({ length: 80 }, (_, i) => wasmVariant(WASM, String(i))));
    const p = file('big.bin', big);
    const plans = planChunks(big.length);
    expect(plans.length).toBeGreaterThan(1);
    const chunks: Uint8Array[] = [];
    for (const plan of plans)
      chunks.push((await runCpuTask({ kind: 'deflate', file: p, plan, level: 6 })) as Uint8Array);
    const whole = gzipChunkedSync(big, 6);
    expect(Buffer.concat(chunks).equals(whole.subarray(10, whole.length - 8))).toBe(true);
    // A file shorter than its plan (changed while being read) is an error, not a short chunk.
    const short = file('short.bin', big.subarray(0, 100));
    await expect(runCpuTask({ kind: 'deflate', file: short, plan: plans[0], level: 6 })).rejects.toThrow(
      /shorter than expected/,
    );
  });

  test('framed-hash: hashes of both framed files and of each alone; the second one written once', async () => {
    const a = file('a.bin', 'AAAA');
    const b = file('b.bin', 'BBBB');
    const out = path.join(dir, 'framed');
    fs.mkdirSync(out);
    const task: CpuTask = {
      kind: 'framed-hash',
      a,
      aHead: Buffer.from('<'),
      aTail: Buffer.from('>'),
      b,
      bHead: Buffer.from('['),
      bTail: Buffer.from(']'),
      writeB: { dir: out, mtimeMs: Date.parse('2024-05-01T12:00:00Z') },
    };
    const h = (await runCpuTask(task)) as FramedHashes;
    expect(h).toEqual({
      aFramed: sha(Buffer.from('<AAAA>')),
      aFile: sha(Buffer.from('AAAA')),
      bFramed: sha(Buffer.from('[BBBB]')),
      bFile: sha(Buffer.from('BBBB')),
      bFramedSize: 6,
    });
    const written = path.join(out, h.bFramed);
    expect(fs.readFileSync(written, 'utf8')).toBe('[BBBB]');
    expect(fs.statSync(written).mtime.toISOString()).toBe('2024-05-01T12:00:00.000Z');
    // Content-addressed: an existing file of that name is left as it is.
    fs.utimesSync(written, new Date(0), new Date(0));
    expect(await runCpuTask(task)).toEqual(h);
    expect(fs.statSync(written).mtimeMs).toBe(0);
  });

  test('framed-hash: files of several 1 MiB pieces are hashed and copied whole', async () => {
    const big = (name: string, size: number) => {
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 12)) & 0xff;
      fs.writeFileSync(path.join(dir, name), bytes);
      return bytes;
    };
    const A = big('a-big.bin', 2.5 * 1024 * 1024 + 7);
    const B = big('b-big.bin', 3 * 1024 * 1024);
    const out = path.join(dir, 'framed-big');
    fs.mkdirSync(out);
    const head = Buffer.from('head');
    const tail = Buffer.alloc(1000);
    const h = (await runCpuTask({
      kind: 'framed-hash',
      a: path.join(dir, 'a-big.bin'),
      aHead: head,
      aTail: tail,
      b: path.join(dir, 'b-big.bin'),
      bHead: head,
      bTail: tail,
      writeB: { dir: out, mtimeMs: 0 },
    })) as FramedHashes;
    expect(h).toEqual({
      aFramed: sha(Buffer.concat([head, A, tail])),
      aFile: sha(A),
      bFramed: sha(Buffer.concat([head, B, tail])),
      bFile: sha(B),
      bFramedSize: head.length + B.length + tail.length,
    });
    expect(fs.readFileSync(path.join(out, h.bFramed)).equals(Buffer.concat([head, B, tail]))).toBe(true);
    expect(fs.readdirSync(out)).toEqual([h.bFramed]);
  });

  /** A version folder as publish writes it, with `gz` as its plugin.wasm.gz. */
  const folder = (name: string, wasm: Buffer, gz: Buffer, created = '2024-05-01T12:00:00Z') => {
    const d = path.join(dir, 'folders', name);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'plugin.wasm'), wasm);
    fs.writeFileSync(path.join(d, 'plugin.wasm.gz'), gz);
    fs.writeFileSync(path.join(d, 'metadata.json'), JSON.stringify({ size: wasm.length, created }));
    fs.writeFileSync(path.join(d, 'metadata.txt'), `txt of ${name}`);
    return d;
  };

  test('folder-facts: every hash of both files from one read, framed as the OCI image frames them', async () => {
    const gz = gzipChunkedSync(WASM, 6);
    const d = folder('ok', WASM, gz);
    const [f] = (await runCpuTask({ kind: 'folder-facts', dirs: [d] })) as FolderFacts[];
    const frames = imageFrames(WASM.length, '2024-05-01T12:00:00Z');
    expect(f).toMatchObject({
      metadataJsonIsLink: false,
      metadataTxt: { text: 'txt of ok' },
      wasm: {
        size: WASM.length,
        file: true,
        sha256: sha(WASM),
        md5: crypto.createHash('md5').update(WASM).digest('hex'),
        framedSha256: sha(Buffer.concat([frames.aHead, WASM, frames.aTail])),
      },
      gz: {
        size: gz.length,
        sha256: sha(gz),
        framedSha256: sha(Buffer.concat([frames.bHead, gz, frames.bTail])),
        framedSize: frames.bHead.length + gz.length + frames.bTail.length,
        decoded: { size: WASM.length, sha256: sha(WASM) },
      },
    });
    expect(JSON.parse(f.metadataJson as string)).toEqual({ size: WASM.length, created: '2024-05-01T12:00:00Z' });
  });

  test('folder-facts: a gzip bomb stops at the recorded size, a corrupt .gz and symlinks are named, nothing followed', async () => {
    const bomb = folder('bomb', WASM, zlib.gzipSync(Buffer.alloc(50 * WASM.length)));
    const corrupt = folder('corrupt', WASM, Buffer.from('not gzip'));
    const linked = folder('linked', WASM, gzipChunkedSync(WASM, 6));
    for (const f of ['plugin.wasm', 'plugin.wasm.gz', 'metadata.txt']) {
      fs.rmSync(path.join(linked, f));
      fs.symlinkSync(path.join(bomb, f), path.join(linked, f));
    }
    const invalid = folder('invalid', WASM, gzipChunkedSync(WASM, 6));
    fs.writeFileSync(path.join(invalid, 'metadata.json'), '{');
    const [b, c, l, i] = (await runCpuTask({
      kind: 'folder-facts',
      dirs: [bomb, corrupt, linked, invalid],
    })) as FolderFacts[];
    expect(b.gz).toMatchObject({ decoded: 'oversize' });
    expect(c.gz).toMatchObject({ decoded: 'corrupt', sha256: sha(Buffer.from('not gzip')) });
    expect(l).toMatchObject({ wasm: 'symlink', gz: 'symlink', metadataTxt: 'symlink' });
    // An unreadable metadata.json: nothing else of the folder is read.
    expect(i).toMatchObject({ metadataJson: '{', wasm: 'missing', gz: 'missing', metadataTxt: 'missing' });
  });

  test('folder-facts: folders sharing an inode in one task get the same facts (the inode is read once)', async () => {
    const a = folder('shared-a', WASM, gzipChunkedSync(WASM, 6));
    const b = path.join(dir, 'folders', 'shared-b');
    fs.mkdirSync(b);
    for (const f of ['plugin.wasm', 'plugin.wasm.gz', 'metadata.json', 'metadata.txt'])
      fs.linkSync(path.join(a, f), path.join(b, f));
    const [fa, fb] = (await runCpuTask({ kind: 'folder-facts', dirs: [a, b] })) as FolderFacts[];
    expect(fb.wasm).toBe(fa.wasm);
    expect(fb.gz).toBe(fa.gz);
  });

  test('folder-facts: a large .gz is decoded as a stream with the same answers (equal, different, bomb, corrupt, truncated)', async () => {
    // Over 64 KiB decoded: the streamed path (cpu-worker.ts decodeGz), in several 64 KiB pieces.
    const big = crypto.randomBytes(300 * 1024);
    const other = Buffer.from(big);
    other[200 * 1024] ^= 1; // differs after a few equal pieces: hashed from the first difference
    const gzBig = zlib.gzipSync(big);
    const equal = folder('stream-equal', big, gzBig);
    const differs = folder('stream-differs', big, zlib.gzipSync(other));
    const shorter = folder('stream-shorter', big, zlib.gzipSync(big.subarray(0, 100 * 1024)));
    const bomb = folder('stream-bomb', big, zlib.gzipSync(Buffer.alloc(4 * big.length)));
    const corrupt = folder('stream-corrupt', big, Buffer.concat([gzBig.subarray(0, 2000), Buffer.alloc(2000, 7)]));
    const truncated = folder('stream-truncated', big, gzBig.subarray(0, gzBig.length - 4));
    const [e, d, s, b, c, t] = (await runCpuTask({
      kind: 'folder-facts',
      dirs: [equal, differs, shorter, bomb, corrupt, truncated],
    })) as FolderFacts[];
    expect(e.gz).toMatchObject({ decoded: { size: big.length, sha256: sha(big) } });
    expect(d.gz).toMatchObject({ decoded: { size: big.length, sha256: sha(other) } });
    expect(s.gz).toMatchObject({ decoded: { size: 100 * 1024, sha256: sha(big.subarray(0, 100 * 1024)) } });
    expect(b.gz).toMatchObject({ decoded: 'oversize' });
    expect(c.gz).toMatchObject({ decoded: 'corrupt' });
    expect(t.gz).toMatchObject({ decoded: 'corrupt' });
  });

  test('file-digests and lstat: size, sha256 and small texts; null or empty for what cannot be read', async () => {
    const small = file('digest-small.txt', 'hello');
    const big = file('digest-big.bin', Buffer.alloc(100, 1));
    const missing = path.join(dir, 'digest-missing');
    expect(await runCpuTask({ kind: 'file-digests', files: [small, big, missing], textUpTo: 10 })).toEqual([
      { size: 5, sha256: sha(Buffer.from('hello')), text: 'hello' },
      { size: 100, sha256: sha(Buffer.alloc(100, 1)) },
      {},
    ]);
    const link = path.join(dir, 'digest-link');
    fs.symlinkSync(small, link);
    const [s, l, m] = (await runCpuTask({ kind: 'lstat', files: [small, link, missing] })) as Array<FileId | null>;
    expect(s).toMatchObject({ size: 5, file: true, symlink: false, nlink: 1 });
    expect(l).toMatchObject({ file: false, symlink: true });
    expect(m).toBeNull();
  });
});

describe('CPU pool (real worker threads, loading the worker from the sources)', () => {
  test('runs more jobs than workers, in order of submission, with the same results as in-process', async () => {
    const pool = new CpuPool(1, 50);
    try {
      const files = ['p0', 'p1', 'p2'].map((n, i) => file(`${n}.wasm`, wasmVariant(WASM, n + i)));
      const facts = await Promise.all(files.map((f) => pool.analyze(f, false)));
      expect(facts).toEqual(
        await Promise.all(files.map((f) => runCpuTask({ kind: 'analyze', file: f, fsync: false }))),
      );
      expect(await analyzeWasm(files[0], { pool })).toEqual(facts[0]);
      const gz = await gzipFile(files[0], facts[0], 9, pool);
      expect(gz.equals(gzipChunkedSync(fs.readFileSync(files[0]), 9))).toBe(true);
    } finally {
      await pool.close();
    }
  });

  test('errors come back typed when the worker knows the code, plain otherwise; the pool keeps working', async () => {
    const pool = new CpuPool(2);
    try {
      const typed = pool.analyze(file('bad.wasm', 'not a module'), false);
      await expect(typed).rejects.toBeInstanceOf(IntegrityError);
      await expect(typed).rejects.toMatchObject({ code: 'E_NOT_WASM', hint: expect.any(String) });
      // The plugin the task names crosses the thread with the error.
      await expect(
        pool.analyze(file('bad2.wasm', 'not a module'), false, { plugin: 'p', version: '1' }),
      ).rejects.toMatchObject({ code: 'E_NOT_WASM', context: { plugin: 'p', version: '1' } });
      await expect(pool.analyze(path.join(dir, 'missing.wasm'), false)).rejects.toThrow(/ENOENT/);
      expect(await pool.analyze(file('fine.wasm', WASM), false)).toMatchObject({ sha256: sha(WASM) });
    } finally {
      await pool.close();
    }
  });

  test('close rejects queued work and stops the workers; the pool starts again when used', async () => {
    const pool = new CpuPool(1);
    const p = file('close.wasm', WASM);
    const jobs = Promise.allSettled([pool.analyze(p, false), pool.analyze(p, false)]); // running, queued
    await pool.close();
    expect((await jobs).map((r) => (r.status === 'rejected' ? (r.reason as Error).message : r.status))).toEqual([
      'cpu pool closed',
      'cpu pool closed',
    ]);
    expect(await pool.analyze(p, false)).toMatchObject({ size: WASM.length });
    await pool.close();
  });

  test('retireIdle stops the idle workers at once and leaves a busy one to finish its job', async () => {
    const pool = new CpuPool(2, 60_000);
    try {
      const p = file('retire.wasm', WASM);
      const slots = () => (pool as any).slots.length as number;
      await Promise.all([pool.analyze(p, false), pool.analyze(p, false)]);
      expect(slots()).toBe(2);
      const running = pool.analyze(p, false);
      pool.retireIdle();
      expect(slots()).toBe(1); // the busy one stays
      expect(await running).toMatchObject({ size: WASM.length });
      pool.retireIdle();
      expect(slots()).toBe(0);
      expect(await pool.analyze(p, false)).toMatchObject({ size: WASM.length });
    } finally {
      await pool.close();
    }
  });

  test('idle workers are stopped after idleMs, and started again for the next job', async () => {
    const pool = new CpuPool(1, 20);
    try {
      const p = file('idle.wasm', WASM);
      await pool.analyze(p, false);
      const slots = () => (pool as any).slots.length as number;
      expect(slots()).toBe(1);
      for (let i = 0; i < 100 && slots() > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(slots()).toBe(0);
      expect(await pool.analyze(p, false)).toMatchObject({ size: WASM.length });
    } finally {
      await pool.close();
    }
  });
});
