/**
 * A small pool of worker threads, one per core (`os.availableParallelism()`), for the CPU work of a
 * pull. Node's own async zlib would also leave the event loop free, but it runs on libuv's 4-thread
 * pool, which the file writes of concurrent downloads need too; dedicated threads keep them apart.
 *
 * Workers are started lazily, `unref()`ed while idle (a finished CLI run exits without an explicit
 * shutdown) and stopped after `idleMs` without work, so a long-lived process (a test runner, a
 * server) does not keep threads around between pulls. Compiled code (the CLI, the package, build/)
 * runs the compiled cpu-worker.js (found by src/contract/package-layout.ts) and never starts a
 * TypeScript loader; see startWorker for the one case that does, the sources under jest.
 */
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { compiledModule, packageFile } from '../contract/package-layout';
import { IntegrityError } from '../errors';
import type { CpuReply, CpuResult, CpuTask, FramedHashes, FramedHashTask, WasmFacts } from './cpu-worker';
import type { WasmWhere } from './wasm';

interface Job {
  id: number;
  task: CpuTask;
  resolve: (v: CpuResult) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  /** Jobs sent to this worker, in order: it answers them in that order. */
  jobs: Job[];
  idleTimer?: NodeJS.Timeout;
}

/**
 * Jobs sent ahead to each worker: the next one is already in the worker's own queue when it answers
 * one, so it never waits for the main thread to hand it on (the main thread may be busy with its own
 * share of the work, e.g. `verify` comparing the OCI view's files while the workers hash).
 */
const JOBS_IN_FLIGHT = 2;

/**
 * A worker's young generation (V8's default: up to 48 MB per thread): its tasks' objects live for one
 * task, so a few MB serve as well and keep every command's peak memory down (the 20,000-version verify).
 */
const WORKER_OPTIONS = { resourceLimits: { maxYoungGenerationSizeMb: 8 } };

/**
 * This module runs as TypeScript only when jest (ts-jest) loads the sources. jest's transform does
 * not reach worker threads, so the worker then registers sucrase's require hook (a dev dependency,
 * as `npm run synth` uses it) and loads cpu-worker.ts itself: the tests run the worker of the sources
 * they test, and the unit tier needs no `tsc` build of build/ first (a build/ left by an earlier run,
 * possibly stale, is never used by in-process tests). The hook is resolved from the package root
 * inside the worker's own code, so no bundler (scripts/package-cli.js) sees it.
 */
function startWorker(): Worker {
  if (path.extname(__filename) !== '.ts') return new Worker(compiledModule('content', 'cpu-worker'), WORKER_OPTIONS);
  const load = (request: string) =>
    `require('module').createRequire(${JSON.stringify(packageFile('package.json'))})(${JSON.stringify(request)});`;
  return new Worker(load('sucrase/register/ts') + load(path.join(__dirname, 'cpu-worker.ts')), {
    ...WORKER_OPTIONS,
    eval: true,
  });
}

export class CpuPool {
  readonly size: number;
  private slots: Slot[] = [];
  private queue: Job[] = [];
  private nextId = 1;

  constructor(
    size = Math.max(1, os.availableParallelism()),
    private readonly idleMs = 2000,
  ) {
    this.size = size;
  }

  run(task: CpuTask): Promise<CpuResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, task, resolve, reject });
      this.pump();
    });
  }

  /** Validates and hashes a wasm file; a failed check names `where` (the plugin) when given. */
  analyze(file: string, fsync: boolean, where?: WasmWhere): Promise<WasmFacts> {
    return this.run({ kind: 'analyze', file, fsync, where }) as Promise<WasmFacts>;
  }

  framedHash(task: Omit<FramedHashTask, 'kind'>): Promise<FramedHashes> {
    return this.run({ kind: 'framed-hash', ...task }) as Promise<FramedHashes>;
  }

  /**
   * Starts every worker now, so their start (loading the worker's code) overlaps what the caller does
   * before its first job; idle, they stop after `idleMs` as usual.
   */
  warm(): void {
    while (this.slots.length < this.size) {
      const slot = this.spawn();
      slot.worker.unref();
      this.retireWhenIdle(slot);
    }
  }

  /**
   * Stops the workers that have no job now instead of after `idleMs`; the pool starts new ones when
   * used again. A worker keeps the buffers it read whole modules into (cpu-worker.ts, ReadBuffer): a
   * caller done with such reads (a pull once its tree is committed) lets that memory go.
   */
  retireIdle(): void {
    for (const slot of this.slots.filter((s) => s.jobs.length === 0)) {
      clearTimeout(slot.idleTimer);
      this.slots = this.slots.filter((s) => s !== slot);
      void slot.worker.terminate();
    }
  }

  /** Stops every worker; queued and running jobs are rejected. The pool restarts lazily if used again. */
  async close(): Promise<void> {
    const slots = this.slots;
    this.slots = [];
    for (const j of this.queue.splice(0)) j.reject(new Error('cpu pool closed'));
    await Promise.all(
      slots.map(async (s) => {
        clearTimeout(s.idleTimer);
        for (const j of s.jobs.splice(0)) j.reject(new Error('cpu pool closed'));
        await s.worker.terminate();
      }),
    );
  }

  private pump(): void {
    while (this.queue.length) {
      // The least busy worker, a new one while the pool is not full, then a second job for each.
      const least = this.slots.reduce<Slot | undefined>(
        (a, s) => (!a || s.jobs.length < a.jobs.length ? s : a),
        undefined,
      );
      let slot = least && least.jobs.length === 0 ? least : undefined;
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot && least && least.jobs.length < JOBS_IN_FLIGHT) slot = least;
      if (!slot) return;
      const job = this.queue.shift() as Job;
      slot.jobs.push(job);
      clearTimeout(slot.idleTimer);
      slot.worker.ref();
      slot.worker.postMessage({ id: job.id, task: job.task });
    }
  }

  private retireWhenIdle(slot: Slot): void {
    clearTimeout(slot.idleTimer);
    slot.idleTimer = setTimeout(() => {
      if (slot.jobs.length || !this.slots.includes(slot)) return;
      this.slots = this.slots.filter((s) => s !== slot);
      void slot.worker.terminate();
    }, this.idleMs);
    slot.idleTimer.unref();
  }

  private spawn(): Slot {
    const slot: Slot = { worker: startWorker(), jobs: [] };
    slot.worker.on('message', (reply: CpuReply) => {
      const job = slot.jobs[0]?.id === reply.id ? slot.jobs.shift() : undefined;
      if (!slot.jobs.length) {
        slot.worker.unref();
        this.retireWhenIdle(slot);
      }
      if (job) {
        if (reply.ok) job.resolve(reply.value);
        // An error cannot cross threads: the worker sends its fields and it is built again here, once.
        // Its context is what the task named (`where`); checks shared by several plugins name none,
        // and the pipeline records which plugins failed (PluginFailure in src/pipeline/pull.ts).
        else
          job.reject(
            reply.error.code
              ? new IntegrityError({
                  code: reply.error.code,
                  message: reply.error.message,
                  context: reply.error.context,
                  hint: reply.error.hint,
                })
              : new Error(reply.error.message),
          );
      }
      this.pump();
    });
    const drop = (err: unknown) => {
      clearTimeout(slot.idleTimer);
      this.slots = this.slots.filter((s) => s !== slot);
      for (const j of slot.jobs.splice(0))
        j.reject(err instanceof Error ? err : new Error(`cpu worker stopped: ${String(err)}`));
      this.pump();
    };
    slot.worker.on('error', drop);
    slot.worker.on('exit', (code) => {
      if (this.slots.includes(slot)) drop(new Error(`cpu worker exited with code ${code}`));
    });
    this.slots.push(slot);
    return slot;
  }
}

let shared: CpuPool | undefined;

/** The process-wide pool (one per process so concurrent pulls do not oversubscribe the cores). */
export function cpuPool(): CpuPool {
  return (shared ??= new CpuPool());
}

export async function closeCpuPool(): Promise<void> {
  const p = shared;
  shared = undefined;
  await p?.close();
}
