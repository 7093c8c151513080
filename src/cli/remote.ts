import * as path from 'path';
import { FailedJob, SubmitProgress, queuedRunName, submitLeaderboard, submitSearch } from '../distributed/submit';
import { QUEUE_NAME, checkQueueName, parseRedisUrl, redactUrl } from '../distributed/queue';
import { SearchConfig } from '../runner/config';
import { Suite } from '../runner/leaderboard';
import { formatSeconds } from '../runner/progress';
import { withGracefulStop } from './common';

/** Progress on stderr: one rewritten line on a terminal, a line per change otherwise. */
function progressPrinter(what: string) {
  const tty = !!process.stderr.isTTY;
  return (p: SubmitProgress) => {
    const line = `${what}: ${p.done}/${p.total} done, ${p.running} running, ${p.waiting} waiting, ${p.failed} failed, ETA ${formatSeconds(p.etaSeconds)}`;
    process.stderr.write(tty ? `\r${line} ` : `${line}\n`);
  };
}

const log = (l: string) => process.stderr.write(l + '\n');
const stopMessage = 'detaching; the jobs stay queued and workers keep going: rerun the same command to re-attach';

function reportFailed(failed: FailedJob[]): void {
  for (const f of failed) process.stderr.write(`promptsearch: job ${f.id} (${f.label}) failed: ${f.error}\n`);
}

/** 2 when every failure is a user error (as a local run exits), else 1. */
function failedExitCode(failed: FailedJob[]): number {
  return failed.every((f) => f.userError) ? 2 : 1;
}

/** `promptsearch leaderboard SUITE --redis URL`. */
export async function queuedLeaderboard(
  suite: Suite,
  outDir: string,
  redisUrl: string,
  queue = QUEUE_NAME,
): Promise<void> {
  parseRedisUrl(redisUrl);
  checkQueueName(queue);
  log(`promptsearch: queueing suite '${suite.name}' on ${redactUrl(redisUrl)} → ${outDir}`);
  const r = await withGracefulStop(stopMessage, (stopRequested) =>
    submitLeaderboard(suite, outDir, { redisUrl, queue, stopRequested, log, onProgress: progressPrinter('cells') }),
  );
  if (process.stderr.isTTY) process.stderr.write('\n');
  reportFailed(r.failed);
  process.stdout.write(
    `${r.complete ? 'complete' : r.failed.length ? `${r.failed.length} entries failed; rerun to retry them` : 'detached; rerun to re-attach'}: ${path.join(outDir, 'leaderboard.md')}\n`,
  );
  if (!r.complete) process.exitCode = r.failed.length ? failedExitCode(r.failed) : 130;
}

/** `promptsearch search CONFIG --redis URL`; returns the run directory and result when it finished. */
export async function queuedSearch(
  config: SearchConfig,
  out: string | undefined,
  redisUrl: string,
  queue = QUEUE_NAME,
) {
  parseRedisUrl(redisUrl);
  checkQueueName(queue);
  const runDir = out ?? path.join('results', queuedRunName(config));
  log(
    `promptsearch: queueing ${config.strategy} search '${config.name}' (seed ${config.seed}) on ${redactUrl(redisUrl)} → ${runDir}`,
  );
  const r = await withGracefulStop(stopMessage, (stopRequested) =>
    submitSearch(config, runDir, { redisUrl, queue, stopRequested, log, onProgress: progressPrinter('search') }),
  );
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (!r) {
    process.stdout.write(`detached; rerun the same command to re-attach\n`);
    process.exitCode = 130;
    return undefined;
  }
  if ('failed' in r) {
    reportFailed([r.failed]);
    process.exitCode = failedExitCode([r.failed]);
    return undefined;
  }
  return { runDir, ...r };
}
