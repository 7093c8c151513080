import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Job, Worker } from 'bullmq';
import { QUEUE_NAME, connectionOptions, jobPayload } from './queue';
import { JobRunOptions, describeJob } from './runJob';

export interface WorkerOptions {
  redisUrl: string;
  /** Queue name (default QUEUE_NAME). */
  queue?: string;
  /** Jobs run at once by this worker (each in its own thread, with its own scoring pool). Default 1. */
  concurrency?: number;
  /** Scoring worker threads per job (overrides the job's config: a property of this machine, not of the result). */
  workers?: number;
  /** onnxruntime threads per scoring worker (overrides the job's config). */
  threadsPerWorker?: number;
  /** A job whose worker died is handed to another after about this long (BullMQ lock duration). Default 30 s. */
  lockMs?: number;
  /** Where jobs' run directories are built before they are sent back. Default: the OS temp dir. */
  scratchDir?: string;
  log?: (line: string) => void;
}

export interface RunningWorker {
  /** Stop taking jobs; handBack=false finishes the current jobs first, true stops them and puts them back in the queue. */
  stop(handBack: boolean): Promise<void>;
  readonly name: string;
}

/** The sandboxed processor, compiled next to this file (dist/distributed/processor.js). */
const PROCESSOR = path.join(__dirname, 'processor.js');

/**
 * A long-running queue worker: takes search and manual-prompt jobs and runs each in a worker
 * thread (BullMQ sandboxed processor) with the local engine; results go back through Redis.
 */
export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const log = opts.log ?? (() => {});
  const name = `${os.hostname()}:${process.pid}`;
  if (!fs.existsSync(PROCESSOR)) throw new Error(`${PROCESSOR} is missing: run the worker from the built package (npm run build)`);
  const scratchDir = fs.mkdtempSync(path.join(opts.scratchDir ?? os.tmpdir(), 'promptsearch-worker-'));
  const runOptions: JobRunOptions = { workers: opts.workers, threadsPerWorker: opts.threadsPerWorker, scratchDir, worker: name };
  const lockMs = opts.lockMs ?? 30_000;
  let lastError = '';
  let handingBack = false;

  const worker = new Worker(opts.queue ?? QUEUE_NAME, PROCESSOR, {
    connection: connectionOptions(opts.redisUrl),
    concurrency: opts.concurrency ?? 1,
    useWorkerThreads: true,
    workerThreadsOptions: { workerData: runOptions },
    lockDuration: lockMs,
    stalledInterval: Math.max(500, Math.round(lockMs / 2)),
    maxStalledCount: 2,
    name,
  });
  worker.on('active', (job: Job) => {
    const p = jobPayload.safeParse(job.data);
    log(`job ${job.id}: ${p.success ? describeJob(p.data) : 'invalid payload'} (attempt ${job.attemptsMade + 1})`);
  });
  worker.on('completed', (job: Job) => log(`job ${job.id}: done`));
  worker.on('failed', (job: Job | undefined, err: Error) => log(`job ${job?.id ?? '?'}: failed: ${err.message}`));
  worker.on('error', (err: Error) => {
    // Redis away (restart, network): BullMQ reconnects by itself; say so once per distinct error.
    if (handingBack || err.message === lastError) return;
    lastError = err.message;
    log(`queue: ${err.message} (retrying)`);
  });
  await worker.waitUntilReady();
  return {
    name,
    async stop(handBack: boolean) {
      if (handBack) {
        handingBack = true;
        // The processor sees its signal abort, stops the search and moves the job back to wait.
        worker.cancelAllJobs('handed back (worker stopping)');
      }
      await worker.close();
      fs.rmSync(scratchDir, { recursive: true, force: true });
    },
  };
}
