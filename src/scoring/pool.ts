import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Piscina } from 'piscina';
import { StoppedError, UserError } from '../errors';
import { PACKAGE_ROOT } from '../paths';
import { ScoreReply, ScoreResult, ScoreTask, WorkerInit, rebuildError } from './workerProtocol';

/** Workers run compiled JS, also when the caller runs from TypeScript sources (tests). */
const WORKER_FILE = path.join(PACKAGE_ROOT, 'dist', 'scoring', 'worker.js');

export interface PoolOptions {
  /** Worker threads, each with its own onnxruntime session. Default: one per core. */
  workers?: number;
  /** onnxruntime intra-op threads per worker. Default: cores / workers (at least 1). */
  threadsPerWorker?: number;
  /**
   * Polled while the pool lives (Ctrl-C): while the workers start, true ends them and start()
   * rejects with a StoppedError; later, tasks not yet begun reject with a StoppedError (the ones
   * under way finish), so a stop does not wait for a whole batch.
   */
  stopRequested?: () => boolean;
}

const cores = () => os.availableParallelism?.() ?? os.cpus().length;

export function resolvePoolSize(opts: PoolOptions): { workers: number; threadsPerWorker: number } {
  const workers = Math.max(1, Math.floor(opts.workers ?? cores()));
  const threadsPerWorker = Math.max(1, Math.floor(opts.threadsPerWorker ?? cores() / workers));
  return { workers, threadsPerWorker };
}

/**
 * Scoring workers per core at most: a worker scores on the cores, so more than a few per core only
 * wait for them, each holding its own model session (memory) and start-up time.
 */
export const WORKERS_PER_CORE = 4;
/** A worker's memory, as a multiple of its ONNX file: the weights, the prepared graph, onnxruntime's arenas. */
export const SESSION_MEMORY_FACTOR = 3;

/**
 * The most scoring workers this machine can run: WORKERS_PER_CORE per core, and no more model
 * sessions (each about SESSION_MEMORY_FACTOR × the ONNX file) than fit in the free memory.
 * `why` says both in words.
 */
export function workerLimit(onnxFile?: string): { limit: number; why: string } {
  const n = cores();
  const byCores = n * WORKERS_PER_CORE;
  let size = 0;
  try {
    if (onnxFile) size = fs.statSync(onnxFile).size;
  } catch {
    // no file: the model's own check reports it
  }
  const perWorker = size * SESSION_MEMORY_FACTOR;
  const free = os.freemem();
  const byMemory = perWorker > 0 ? Math.max(1, Math.floor(free / perWorker)) : Infinity;
  const mb = (b: number) => `~${Math.max(1, Math.round(b / 2 ** 20))} MB`;
  const gb = (b: number) => `${(b / 2 ** 30).toFixed(b < 10 * 2 ** 30 ? 1 : 0)} GB`;
  const why = `${n} core${n === 1 ? '' : 's'} × ${WORKERS_PER_CORE}${perWorker > 0 ? `; each worker holds a ${mb(perWorker)} model session, ${gb(free)} free` : ''}`;
  return { limit: Math.min(byCores, byMemory), why };
}

/** Refuses more workers than workerLimit allows, before any model is loaded: `--workers 1000: at most 8 on this machine (...)`. */
export function checkWorkers(workers: number | undefined, onnxFile: string | undefined, what: string): void {
  if (workers === undefined) return;
  const { limit, why } = workerLimit(onnxFile);
  if (workers > limit) throw new UserError(`${what} ${workers}: at most ${limit} on this machine (${why})`);
}

/** A piscina pool of scoring workers. Call `close()` when done. */
export class ScoringPool {
  /** Tasks sent and not yet settled: close() waits for them (see WorkerInit.stop). */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Sets WorkerInit.stop once stopRequested() is true. */
  private stopTimer?: NodeJS.Timeout;

  private constructor(
    private readonly pool: Piscina,
    readonly workers: number,
  ) {}

  /**
   * Starts the workers and warms each (model load, tokenization). A worker's error (a UserError
   * keeps its class) rejects once every worker has settled and the pool is destroyed, so no
   * thread is left running; a stop request destroys the pool at once.
   */
  static async start(init: Omit<WorkerInit, 'threads'>, opts: PoolOptions = {}): Promise<ScoringPool> {
    const { workers, threadsPerWorker } = resolvePoolSize(opts);
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const pool = new Piscina({
      filename: WORKER_FILE,
      workerData: { ...init, threads: threadsPerWorker, stop } satisfies WorkerInit,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: 60_000,
      // One task at a time per worker: a worker is busy on its own session anyway.
      concurrentTasksPerWorker: 1,
    });
    const p = new ScoringPool(pool, workers);
    // Warm every worker now (model load, tokenization) rather than inside the first search step.
    const first = Object.keys(init.splits)[0] as ScoreTask['split'];
    const warm = Promise.allSettled(
      Array.from({ length: workers }, () => p.score({ split: first, slots: {}, labelIds: [], start: 0, end: 0 })),
    );
    const stopped = new Promise<'stopped'>((resolve) => {
      if (!opts.stopRequested) return;
      p.stopTimer = setInterval(() => {
        if (!opts.stopRequested!()) return;
        Atomics.store(stop, 0, 1);
        clearInterval(p.stopTimer);
        resolve('stopped');
      }, 100);
      p.stopTimer.unref();
    });
    stopped.catch(() => {});
    try {
      if ((await Promise.race([warm, stopped])) === 'stopped')
        throw new StoppedError('stopped while the scoring workers started');
      const failed = (await warm).find((s) => s.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    } catch (e) {
      await p.close();
      throw e;
    }
    return p;
  }

  async score(task: ScoreTask): Promise<ScoreResult> {
    const run = this.pool.run(task) as Promise<ScoreReply>;
    this.inFlight.add(run);
    try {
      const reply = await run;
      if ('failure' in reply) throw rebuildError(reply.failure);
      return reply;
    } finally {
      this.inFlight.delete(run);
    }
  }

  /**
   * Waits for the tasks in flight, then ends the workers: terminating a thread while onnxruntime
   * works for it aborts the whole process (`terminate called after throwing 'Napi::Error'`).
   */
  async close(): Promise<void> {
    clearInterval(this.stopTimer);
    await Promise.allSettled([...this.inFlight]);
    await this.pool.destroy();
  }
}
