import * as os from 'os';
import * as path from 'path';
import { Piscina } from 'piscina';
import { PACKAGE_ROOT } from '../paths';
import { ScoreResult, ScoreTask, WorkerInit } from './workerProtocol';

/** Workers run compiled JS, also when the caller runs from TypeScript sources (tests). */
const WORKER_FILE = path.join(PACKAGE_ROOT, 'dist', 'scoring', 'worker.js');

export interface PoolOptions {
  /** Worker threads, each with its own onnxruntime session. Default: one per core. */
  workers?: number;
  /** onnxruntime intra-op threads per worker. Default: cores / workers (at least 1). */
  threadsPerWorker?: number;
}

export function resolvePoolSize(opts: PoolOptions): { workers: number; threadsPerWorker: number } {
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const workers = Math.max(1, Math.floor(opts.workers ?? cores));
  const threadsPerWorker = Math.max(1, Math.floor(opts.threadsPerWorker ?? cores / workers));
  return { workers, threadsPerWorker };
}

/** A piscina pool of scoring workers. Call `close()` when done. */
export class ScoringPool {
  private constructor(
    private readonly pool: Piscina,
    readonly workers: number,
  ) {}

  static async start(init: Omit<WorkerInit, 'threads'>, opts: PoolOptions = {}): Promise<ScoringPool> {
    const { workers, threadsPerWorker } = resolvePoolSize(opts);
    const pool = new Piscina({
      filename: WORKER_FILE,
      workerData: { ...init, threads: threadsPerWorker } satisfies WorkerInit,
      minThreads: workers,
      maxThreads: workers,
      idleTimeout: 60_000,
      // One task at a time per worker: a worker is busy on its own session anyway.
      concurrentTasksPerWorker: 1,
    });
    const p = new ScoringPool(pool, workers);
    // Warm every worker now (model load, tokenization) rather than inside the first search step.
    const first = Object.keys(init.splits)[0] as ScoreTask['split'];
    await Promise.all(Array.from({ length: workers }, () => p.score({ split: first, slots: {}, labelIds: [], start: 0, end: 0 })));
    return p;
  }

  score(task: ScoreTask): Promise<ScoreResult> {
    return this.pool.run(task);
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
