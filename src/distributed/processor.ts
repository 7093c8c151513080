import { workerData } from 'worker_threads';
import { SandboxedJob, WaitingError } from 'bullmq';
import { JobResult, parsePayload } from './queue';
import { JobRunOptions, runJob } from './runJob';

/**
 * The BullMQ sandboxed processor (a worker thread of `promptsearch worker`): the search runs here,
 * so the worker's main thread stays free to renew job locks however busy the CPU is. A cancelled
 * job (Ctrl-C twice on the worker) stops at its next batch and goes back to the queue.
 */
export default async function processJob(job: SandboxedJob, token?: string, signal?: AbortSignal): Promise<JobResult> {
  const payload = parsePayload(job.data, `job ${job.id}`);
  let result: JobResult | undefined;
  let error: unknown;
  try {
    result = await runJob(payload, (workerData ?? {}) as JobRunOptions, () => !!signal?.aborted);
  } catch (e) {
    error = e;
  }
  // Stopped early (or failed because it was stopped): not an attempt; back to the queue.
  if (signal?.aborted) {
    await job.moveToWait(token);
    throw new WaitingError();
  }
  if (error !== undefined) throw error;
  return result!;
}
