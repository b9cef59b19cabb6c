/**
 * Real Wasm payloads for tests: a small proxy-wasm filter compiled from examples/add-header with
 * AssemblyScript 0.17.14 + @solo-io/proxy-runtime 0.1.8, and a large Go-compiled module shipped by
 * the esbuild-wasm npm package. Never random bytes: the pipeline validates what it publishes.
 */
import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { REPO_ROOT } from './tools';

const SOURCE = path.join(REPO_ROOT, 'examples', 'add-header', 'add-header.ts');
const CACHE_DIR = path.join(REPO_ROOT, 'build', 'test-fixtures');
const ASC = path.join(REPO_ROOT, 'node_modules', 'assemblyscript', 'bin', 'asc');

let pending: Promise<string> | undefined;

/**
 * The small filter as shipped, examples/add-header/plugin.wasm, read without compiling: for unit
 * tests, so `npm run test:unit` on a fresh clone (CI's unit job) does not spend ~6 s of CPU per jest
 * worker on the AssemblyScript compiler. test/docs.test.ts keeps the shipped file equal to smallWasm().
 * Tests only read it (publishing copies it): it is a tracked file.
 */
export function shippedSmallWasm(): string {
  return path.join(REPO_ROOT, 'examples', 'add-header', 'plugin.wasm');
}

/** Path of the compiled small filter (~17 KB). Built once per source text, cached across runs and workers. */
export function smallWasm(): Promise<string> {
  pending ??= buildSmall();
  return pending;
}

async function buildSmall(): Promise<string> {
  const source = fs.readFileSync(SOURCE);
  // The cache key covers the source and the compiler version, so an edit or upgrade rebuilds.
  const ascVersion = (
    JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'node_modules', 'assemblyscript', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const key = crypto.createHash('sha256').update(source).update(ascVersion).digest('hex').slice(0, 16);
  const out = path.join(CACHE_DIR, `add-header-${key}.wasm`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  // Two jest workers may build at once: each writes its own temp file, the rename is atomic.
  const tmp = `${out}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  await promisify(execFile)(
    process.execPath,
    [ASC, SOURCE, '-b', tmp, '--use', 'abort=abort_proc_exit', '--optimize'],
    {
      cwd: REPO_ROOT,
    },
  );
  fs.renameSync(tmp, out);
  return out;
}

/** Path of a large real module (~12 MB, compiled by Go): esbuild's wasm build. */
export function largeWasm(): string {
  return require.resolve('esbuild-wasm/esbuild.wasm');
}
