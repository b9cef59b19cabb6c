/**
 * plugin.wasm.gz layout and the CPU pool: the chunk-parallel gzip is one standard gzip member that
 * decodes to the input, is the same bytes whatever the pool size, keeps the ratio of plain gzip, and
 * runs off the main thread; the worker's wasm checks give typed errors.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import fc from 'fast-check';
import { IntegrityError } from '../src/errors';
import { CpuPool } from '../src/content/cpu-pool';
import { GZIP_CHUNK, GZIP_DICT, gzipChunkedSync, planChunks } from '../src/content/gzip-format';
import { parseGzipLevel } from '../src/contract/gzip-level';
import { analyzeWasm, gzipFile } from '../src/content/prepare';
import { largeWasm, shippedSmallWasm } from './support/wasm';

let dir: string;
let large: Buffer;
const pools: CpuPool[] = [];
const pool = (n: number) => {
  const p = new CpuPool(n);
  pools.push(p);
  return p;
};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tree-gzip-'));
  large = fs.readFileSync(largeWasm());
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('chunks cover the input contiguously, each primed with up to one window of what precedes it', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 5 * GZIP_CHUNK + 7 }), (size) => {
      const plan = planChunks(size);
      expect(plan[0]?.start).toBe(0);
      expect(plan.at(-1)).toMatchObject({ end: size, last: true });
      plan.forEach((p, i) => {
        if (i > 0) expect(p.start).toBe(plan[i - 1].end);
        expect(p.start - p.dictStart).toBe(Math.min(GZIP_DICT, p.start));
        expect(p.last).toBe(i === plan.length - 1);
      });
    }),
  );
});

/** Compressible pseudo-random bytes (small alphabet, repeated runs) of any size, from a seed. */
function sample(size: number, seed: number, alphabet: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = i > 64 && x % 3 === 0 ? out[i - 1 - (x % 64)] : x % alphabet;
  }
  return out;
}

test('the .gz decodes to the input for any size and level, with a fixed header (no name, mtime 0, OS 255)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 3 * GZIP_CHUNK + 100 }),
      fc.integer(),
      fc.integer({ min: 1, max: 256 }),
      fc.integer({ min: 1, max: 9 }),
      (size, seed, alphabet, level) => {
        const input = sample(size, seed, alphabet);
        const gz = gzipChunkedSync(input, parseGzipLevel(level));
        expect(zlib.gunzipSync(gz).equals(input)).toBe(true);
        expect([...gz.subarray(0, 10)]).toEqual([
          0x1f,
          0x8b,
          8,
          0,
          0,
          0,
          0,
          0,
          level === 9 ? 2 : level === 1 ? 4 : 0,
          0xff,
        ]);
      },
    ),
    { numRuns: 15 },
  );
});

test('the pooled gzip of the large real module is byte-identical whatever the pool size, and as small as plain gzip -9', async () => {
  const file = largeWasm();
  const facts = await analyzeWasm(file, { pool: pool(1) });
  const one = await gzipFile(file, facts, 9, pool(1));
  const three = await gzipFile(file, facts, 9, pool(3));
  expect(three.equals(one)).toBe(true);
  expect(one.equals(gzipChunkedSync(large, 9))).toBe(true);
  expect(zlib.gunzipSync(one).equals(large)).toBe(true);
  const plain = zlib.gzipSync(large, { level: 9 }).length;
  expect(Math.abs(one.length - plain) / plain).toBeLessThan(0.005);
}, 60_000);

test('the worker reports the facts the metadata needs, computed from the file', async () => {
  const small = shippedSmallWasm();
  const bytes = fs.readFileSync(small);
  const facts = await analyzeWasm(small, { pool: pool(1) });
  expect(facts).toEqual({
    size: bytes.length,
    md5: crypto.createHash('md5').update(bytes).digest('hex'),
    sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    crc32: zlib.crc32(bytes),
  });
});

test('a payload that is not wasm, or a truncated module, is refused by the worker with a typed error', async () => {
  const p = pool(1);
  const text = path.join(dir, 'not.wasm');
  fs.writeFileSync(text, '<html>not found</html>');
  await expect(analyzeWasm(text, { pool: p })).rejects.toMatchObject({ code: 'E_NOT_WASM' });
  const cut = path.join(dir, 'cut.wasm');
  fs.writeFileSync(cut, large.subarray(0, 100_000));
  const err = await analyzeWasm(cut, { pool: p }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(IntegrityError);
  expect(err).toMatchObject({ code: 'E_WASM_INVALID' });
  expect((err as IntegrityError).context.plugin).toBeUndefined(); // shared content: the pipeline records who failed
  // Named by the caller when the bytes belong to one plugin: the worker's error carries it across.
  await expect(analyzeWasm(cut, { pool: p, where: { plugin: 'demo', version: '1.0.0' } })).rejects.toMatchObject({
    code: 'E_WASM_INVALID',
    context: { plugin: 'demo', version: '1.0.0' },
  });
  // The pool survives a failed task.
  expect((await analyzeWasm(largeWasm(), { pool: p })).size).toBe(large.length);
});

test('compression runs off the main thread: the event loop keeps turning meanwhile', async () => {
  const file = largeWasm();
  const p = pool(2);
  const facts = await analyzeWasm(file, { pool: p });
  let turns = 0;
  let done = false;
  const spin = () => {
    if (done) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  await gzipFile(file, facts, 9, p);
  done = true;
  // A synchronous gzip would let the loop turn at most once before it returns.
  expect(turns).toBeGreaterThan(10);
}, 60_000);
