import { workerData } from 'worker_threads';
import { SandboxedJob, UnrecoverableError, WaitingError } from 'bullmq';
import { isUserError } from '../errors';
import { JobResult, USER_ERROR_MARK, parsePayload } from './queue';
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
  // A user error fails the same way on every attempt and every machine: no retry.
  if (isUserError(error)) throw new UnrecoverableError(USER_ERROR_MARK + (error as Error).message);
  if (error !== undefined) throw error;
  return result!;
}
