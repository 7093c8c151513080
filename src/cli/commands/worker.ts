import type { Argv } from 'yargs';
import { UserError } from '../../errors';
import { QUEUE_NAME, checkQueueName, parseRedisUrl, redactUrl } from '../../distributed/queue';
import { startWorker } from '../../distributed/worker';
import { checkWorkers } from '../../scoring/pool';

export const command = 'worker';
export const describe =
  'Take search and leaderboard jobs from a Redis queue and run them (see "Running on several machines")';

export function builder(y: Argv) {
  return y
    .option('redis', {
      type: 'string',
      demandOption: true,
      describe: 'queue URL: redis://[user:password@]host[:port][/db], or rediss://... for TLS',
    })
    .option('queue', {
      type: 'string',
      default: QUEUE_NAME,
      describe: 'queue name (several teams can share one Redis)',
    })
    .option('concurrency', { type: 'number', default: 1, describe: 'jobs run at once by this worker' })
    .option('workers', {
      type: 'number',
      describe: "scoring worker threads per job (default: the job's config, else one per core)",
    })
    .option('threads-per-worker', { type: 'number', describe: 'onnxruntime threads in each scoring worker' })
    .option('lock-seconds', {
      type: 'number',
      default: 30,
      describe: "a killed worker's job goes to another worker after about this long",
    })
    .example('$0 worker --redis redis://:secret@10.0.0.5:6379', 'serve the queue on this machine until Ctrl-C');
}

type Args = Awaited<ReturnType<typeof builder>['argv']>;

export async function handler(argv: Args): Promise<void> {
  parseRedisUrl(argv.redis);
  checkQueueName(argv.queue);
  for (const k of ['concurrency', 'workers', 'threads-per-worker', 'lock-seconds'] as const) {
    const v = argv[k];
    if (v !== undefined && (!Number.isFinite(v) || v <= 0 || (k !== 'lock-seconds' && !Number.isInteger(v))))
      throw new UserError(`--${k}: expected a positive ${k === 'lock-seconds' ? 'number' : 'integer'}`);
  }
  // The cores bound now; each job's model is checked against the free memory when it starts.
  checkWorkers(argv.workers, undefined, '--workers');
  const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  const w = await startWorker({
    redisUrl: argv.redis,
    queue: argv.queue,
    concurrency: argv.concurrency,
    workers: argv.workers,
    threadsPerWorker: argv['threads-per-worker'],
    lockMs: argv['lock-seconds'] * 1000,
    log,
  });
  // The signals are handled from the start: Redis may be unreachable, now or later.
  const clean = await new Promise<boolean>((resolve) => {
    let signals = 0;
    const onSignal = () => {
      signals++;
      if (signals === 1) {
        log('finishing the current job, then exiting (Ctrl-C again: hand it back to the queue now)');
        w.stop(false).then(resolve, () => resolve(true));
      } else if (signals === 2) {
        log('handing the current job back to the queue');
        w.stop(true).then(resolve, () => resolve(true));
      } else process.exit(130);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    w.ready.then(
      () =>
        log(
          `worker ${w.name} waiting for jobs on ${redactUrl(argv.redis)} queue '${argv.queue}' (Ctrl-C: finish the current job and exit; twice: hand it back now)`,
        ),
      () => {},
    );
  });
  if (clean) log('worker stopped');
  else {
    // No job runs (no model session is live): the Redis connections would retry forever.
    log('worker stopped (Redis unreachable: it was not told)');
    process.exit(0);
  }
}
