import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Job, Worker } from 'bullmq';
import { QUEUE_NAME, connectionOptions, jobPayload, redactUrl } from './queue';
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
  /** While Redis cannot be reached, say so again this often (ms). Default UNREACHABLE_REPEAT_MS. */
  unreachableRepeatMs?: number;
}

export interface RunningWorker {
  /**
   * Stop taking jobs; handBack=false finishes the current jobs first, true stops them and puts
   * them back in the queue. Resolves false when Redis could not be reached to close cleanly (no
   * job was running): the caller then ends the process, whose connections would retry forever.
   */
  stop(handBack: boolean): Promise<boolean>;
  /** Resolves once connected to Redis (it may never be: stop() works before it). */
  readonly ready: Promise<void>;
  readonly name: string;
}

/** While Redis cannot be reached, the worker says so again this often (ms). */
export const UNREACHABLE_REPEAT_MS = 30_000;

/** The sandboxed processor, compiled next to this file (dist/distributed/processor.js). */
const PROCESSOR = path.join(__dirname, 'processor.js');

/**
 * A long-running queue worker: takes search and manual-prompt jobs and runs each in a worker
 * thread (BullMQ sandboxed processor) with the local engine; results go back through Redis.
 */
export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const log = opts.log ?? (() => {});
  const name = `${os.hostname()}:${process.pid}`;
  if (!fs.existsSync(PROCESSOR))
    throw new Error(`${PROCESSOR} is missing: run the worker from the built package (npm run build)`);
  const scratchDir = fs.mkdtempSync(path.join(opts.scratchDir ?? os.tmpdir(), 'promptsearch-worker-'));
  const runOptions: JobRunOptions = {
    workers: opts.workers,
    threadsPerWorker: opts.threadsPerWorker,
    scratchDir,
    worker: name,
  };
  const lockMs = opts.lockMs ?? 30_000;
  let lastError = '';
  let lastSaid = 0;
  const repeatMs = opts.unreachableRepeatMs ?? UNREACHABLE_REPEAT_MS;
  /** When the last connection error came (BullMQ retries at least every 2 s while Redis is away). */
  let lastErrorAt = 0;
  let handingBack = false;
  let stopping = false;
  let running = 0;

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
    running++;
    const p = jobPayload.safeParse(job.data);
    log(`job ${job.id}: ${p.success ? describeJob(p.data) : 'invalid payload'} (attempt ${job.attemptsMade + 1})`);
  });
  worker.on('completed', (job: Job) => {
    running = Math.max(0, running - 1);
    log(`job ${job.id}: done`);
  });
  worker.on('failed', (job: Job | undefined, err: Error) => {
    if (job) running = Math.max(0, running - 1);
    log(`job ${job?.id ?? '?'}: failed: ${err.message}`);
  });
  worker.on('error', (err: Error) => {
    // Redis away (restart, network, a wrong URL): BullMQ reconnects by itself; say so at once,
    // then again every UNREACHABLE_REPEAT_MS while it lasts (or when the error changes).
    lastErrorAt = Date.now();
    if (handingBack || stopping) return;
    const now = Date.now();
    if (err.message === lastError && now - lastSaid < repeatMs) return;
    lastError = err.message;
    lastSaid = now;
    log(
      `queue: cannot reach Redis at ${redactUrl(opts.redisUrl)}: ${err.message} (retrying; said again every ${repeatMs / 1000} s while it lasts)`,
    );
  });
  const ready = worker.waitUntilReady();
  ready.catch(() => {});
  return {
    name,
    ready,
    async stop(handBack: boolean) {
      stopping = true;
      if (handBack) {
        handingBack = true;
        // The processor sees its signal abort, stops the search and moves the job back to wait.
        worker.cancelAllJobs('handed back (worker stopping)');
      }
      // close() waits for Redis, which may never come back: with no job running, give up on it.
      const closed = worker.close().then(
        () => true,
        () => true,
      );
      let timer: NodeJS.Timeout | undefined;
      const givenUp = new Promise<false>((resolve) => {
        timer = setInterval(() => Date.now() - lastErrorAt < 5000 && running === 0 && resolve(false), 250);
      });
      const clean = await Promise.race([closed, givenUp]);
      clearInterval(timer);
      // Given up: the connections go on retrying (BullMQ's close() holds them); the caller ends the process.
      fs.rmSync(scratchDir, { recursive: true, force: true });
      return clean;
    },
  };
}
