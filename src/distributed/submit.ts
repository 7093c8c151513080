import * as fs from 'fs';
import * as path from 'path';
import { Queue } from 'bullmq';
import { splitPath } from '../data/tasks';
import { UserError } from '../errors';
import { DEFAULT_DTYPE, DEFAULT_MODEL, Dtype, resolveModel, sha256File } from '../model/modelFolder';
import type { Cell } from '../reports/leaderboardTable';
import { SearchConfig } from '../runner/config';
import {
  Suite,
  baselineSetting,
  cellConfig,
  cellRunDir,
  cellToStore,
  finishedCell,
  searchCellFrom,
  writeReports,
} from '../runner/leaderboard';
import { BestResult } from '../runner/run';
import { RUN_FILES, RunDir } from '../runner/runDir';
import type { RefineResult } from '../refine/refine';
import { packageVersions } from '../runner/versions';
import {
  DataRef,
  JOB_ATTEMPTS,
  JobPayload,
  JobResult,
  ModelRef,
  QUEUE_NAME,
  SearchJob,
  connectionOptions,
  jobId,
  redactUrl,
  sha256Text,
  USER_ERROR_MARK,
} from './queue';

export interface SubmitProgress {
  total: number;
  /** Finished, including cells found finished on disk or in the queue. */
  done: number;
  running: number;
  waiting: number;
  failed: number;
  /** Rough: from the pace of the jobs finished while this submitter watched; NaN before the first. */
  etaSeconds: number;
}

export interface FailedJob {
  id: string;
  label: string;
  error: string;
  /** The job failed on a user error (config, data, budget): tried once, and the CLI exits 2. */
  userError?: boolean;
}

export interface SubmitOptions {
  redisUrl: string;
  /** Queue name (default QUEUE_NAME). */
  queue?: string;
  stopRequested?: () => boolean;
  onProgress?: (p: SubmitProgress) => void;
  log?: (line: string) => void;
  pollMs?: number;
  /** Give up when Redis cannot be reached at the start for this long. Default 10 s. */
  connectTimeoutMs?: number;
}

interface Item {
  id: string;
  label: string;
  payload: JobPayload;
  collect(result: JobResult): void;
}

/** sha256 of the bundled model files the job names (the submitter must have the same model). */
export function modelRef(name: string, dtype: Dtype): ModelRef {
  const folder = resolveModel(name, dtype);
  return {
    name,
    dtype,
    sha256: sha256File(folder.onnxPath),
    tokenizerSha256: sha256File(path.join(folder.dir, 'tokenizer.json')),
  };
}

function taskRef(task: string, split: 'train' | 'dev' | 'test', seed: number): DataRef {
  return { sha256: sha256File(splitPath(task, split, seed)), task: { name: task, seed } };
}

function fileRef(file: string): DataRef {
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UserError(`${path.resolve(file)}: cannot read the data file`);
  }
  return { sha256: sha256Text(content), file: { name: path.basename(file).replace(/[^A-Za-z0-9._-]/g, '_'), content } };
}

/** The job for one search: the resolved config, its data (bundled: by sha256; files: their content) and the model's sha256. */
export function searchPayload(config: SearchConfig, runName: string): SearchJob {
  const d = config.data;
  const data = d
    ? { train: fileRef(d.train), dev: fileRef(d.dev), ...(d.test ? { test: fileRef(d.test) } : {}) }
    : {
        train: taskRef(config.task!, 'train', config.seed),
        dev: taskRef(config.task!, 'dev', config.seed),
        test: taskRef(config.task!, 'test', config.seed),
      };
  return {
    v: 1,
    kind: 'search',
    runName,
    config: JSON.parse(JSON.stringify(config)),
    model: modelRef(config.model, config.dtype),
    data,
    version: packageVersions().promptsearch,
  };
}

/** The default run directory of a queued search: named by its job, so rerunning the command re-attaches. */
export function queuedRunName(config: SearchConfig): string {
  const id = jobId(searchPayload(config, 'x'));
  return `${config.name}-s${config.seed}-q${id.slice(id.indexOf('-') + 1, id.indexOf('-') + 9)}`.replace(
    /[^A-Za-z0-9._-]/g,
    '_',
  );
}

/**
 * Queues one search and waits for it; the finished run directory is written to runDir. Rerunning
 * with the same config and runDir re-attaches (a finished run is not computed again).
 */
export async function submitSearch(
  config: SearchConfig,
  runDir: string,
  opts: SubmitOptions,
): Promise<{ best: BestResult; refined?: RefineResult } | { failed: FailedJob } | undefined> {
  const best = new RunDir(runDir).readBest();
  if (best?.status === 'done') return { best };
  const payload = searchPayload(config, path.basename(runDir));
  let got: { best: BestResult; refined?: RefineResult } | undefined;
  const item: Item = {
    id: jobId(payload),
    label: `${config.name} seed ${config.seed}`,
    payload,
    collect: (r) => {
      materialize(runDir, r.files ?? {}, {});
      got = { best: r.best!, refined: r.refined };
    },
  };
  const { failed } = await runJobs([item], 1, opts);
  if (failed.length) return { failed: failed[0] };
  return got;
}

/** Queues every cell of a suite not finished yet, collects results into outDir as a local run would, writes the leaderboard files. */
export async function submitLeaderboard(
  suite: Suite,
  outDir: string,
  opts: SubmitOptions,
): Promise<{ cells: Cell[]; complete: boolean; failed: FailedJob[] }> {
  const slots: (Cell | undefined)[] = [];
  const items: Item[] = [];
  const version = packageVersions().promptsearch;
  const report = () =>
    writeReports(
      suite,
      slots.filter((c): c is Cell => !!c),
      outDir,
    );
  for (const m of suite.methods) {
    for (const task of suite.tasks) {
      for (const seed of suite.seeds) {
        const k = slots.length;
        slots.push(undefined);
        const runDir = path.join(outDir, cellRunDir(m, task, seed));
        const done = finishedCell(suite, m, task, seed, runDir);
        if (done) {
          slots[k] = done;
          continue;
        }
        const label = `${m.name} on ${task}, seed ${seed}`;
        if (m.manual || m.probe) {
          // Baselines: the manual prompt (raw or calibrated, on the seed's train + dev inputs) or the linear probe.
          // As JSON: a manual row's `template: undefined` (the task's own prompt) is left out.
          const setting = baselineSetting(suite, m, task, seed);
          const base = JSON.parse(JSON.stringify(setting)) as Record<string, unknown>;
          const needsTrain = m.probe || (m.calibration !== undefined && m.calibration !== 'none');
          // A user task's files travel with the job (the worker writes them and points `base.data` at them).
          const d = setting.data;
          const ref = (split: 'train' | 'dev' | 'test') => (d ? fileRef(d[split]) : taskRef(task, split, seed));
          const payload: JobPayload = {
            v: 1,
            kind: 'manual',
            method: m.name,
            task,
            seed,
            base,
            ...(m.probe
              ? { probe: true }
              : m.calibration && m.calibration !== 'none'
                ? { calibration: m.calibration }
                : {}),
            model: modelRef((base.model as string) ?? DEFAULT_MODEL, (base.dtype as Dtype) ?? DEFAULT_DTYPE),
            data: { ...(needsTrain || d ? { train: ref('train') } : {}), dev: ref('dev'), test: ref('test') },
            version,
          };
          items.push({
            id: jobId(payload),
            label,
            payload,
            collect: (r) => {
              new RunDir(runDir).writeCell(cellToStore(suite, m, task, seed, r.cell!));
              slots[k] = r.cell;
              report();
            },
          });
        } else {
          const config = cellConfig(suite, m, task, seed, `${suite.name}/${m.name}`);
          const payload = searchPayload(config, `${task}-s${seed}`);
          items.push({
            id: jobId(payload),
            label,
            payload,
            collect: (r) => {
              // No cell (e.g. a config without a test split): the run is kept, the cell stays missing, as locally.
              const cell = searchCellFrom(m, task, seed, config, r.best!, r.refined, path.relative(outDir, runDir));
              materialize(
                runDir,
                r.files ?? {},
                cell ? { [RUN_FILES.cell]: cellToStore(suite, m, task, seed, cell) } : {},
              );
              slots[k] = cell;
              report();
            },
          });
        }
      }
    }
  }
  const { failed, stopped } = await runJobs(items, slots.length, opts);
  report();
  const cells = slots.filter((c): c is Cell => !!c);
  return { cells, complete: !stopped && failed.length === 0 && cells.length === slots.length, failed };
}

/** Writes a finished run directory whole: built next to it, then renamed into place (a partial local attempt is replaced). */
function materialize(runDir: string, files: Record<string, string>, extra: Record<string, unknown>): void {
  const tmp = `${runDir}.part-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const [rel, b64] of Object.entries(files)) {
    if (rel.split(/[\\/]/).includes('..') || path.isAbsolute(rel))
      throw new Error(`job result has an unsafe file name '${rel}'`);
    const f = path.join(tmp, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, Buffer.from(b64, 'base64'));
  }
  fs.mkdirSync(tmp, { recursive: true });
  for (const [name, value] of Object.entries(extra))
    fs.writeFileSync(path.join(tmp, name), JSON.stringify(value, null, 2) + '\n');
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(runDir), { recursive: true });
  fs.renameSync(tmp, runDir);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Adds the jobs not in the queue yet (ids are deterministic: a job already queued, running or
 * finished is reused, a failed one is retried) and watches them until each has finished or failed
 * for good. A job Redis lost (restart without persistence) is queued again.
 */
async function runJobs(
  items: Item[],
  total: number,
  opts: SubmitOptions,
): Promise<{ failed: FailedJob[]; stopped: boolean }> {
  const log = opts.log ?? (() => {});
  const queue = new Queue(opts.queue ?? QUEUE_NAME, { connection: connectionOptions(opts.redisUrl) });
  let lastError = '';
  let connected = false;
  queue.on('error', (e: Error) => {
    // Before the first contact an unreachable Redis is one error below, not a stream of retries.
    if (connected && e.message !== lastError) log(`redis: ${e.message} (retrying)`);
    lastError = e.message;
  });
  try {
    const timeout = opts.connectTimeoutMs ?? 10_000;
    const reachable = await Promise.race([queue.getJobCounts().then(() => true), sleep(timeout).then(() => false)]);
    if (!reachable)
      throw new UserError(
        `--redis: cannot reach ${redactUrl(opts.redisUrl)} within ${timeout / 1000} s${lastError ? ` (${lastError})` : ''}`,
      );
    connected = true;
    const add = (it: Item) =>
      queue.add(it.payload.kind, it.payload, {
        jobId: it.id,
        attempts: JOB_ATTEMPTS,
        backoff: { type: 'fixed', delay: 1000 },
        removeOnComplete: { age: 7 * 86400 },
        removeOnFail: { age: 7 * 86400 },
      });
    for (const it of items) {
      const state = await queue.getJobState(it.id);
      if (state === 'unknown') await add(it);
      else if (state === 'failed') {
        log(`retrying ${it.label} (failed before)`);
        await (await queue.getJob(it.id))!.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      }
    }
    const pending = new Map(items.map((it) => [it.id, it]));
    const failed: FailedJob[] = [];
    const t0 = Date.now();
    let finishedHere = 0;
    let shown = '';
    while (pending.size > 0) {
      if (opts.stopRequested?.()) return { failed, stopped: true };
      let running = 0;
      let waiting = 0;
      for (const it of [...pending.values()]) {
        const state = await queue.getJobState(it.id);
        if (state === 'completed') {
          const job = await queue.getJob(it.id);
          if (!job) continue;
          it.collect(job.returnvalue as JobResult);
          pending.delete(it.id);
          finishedHere++;
        } else if (state === 'failed') {
          const job = await queue.getJob(it.id);
          const reason = job?.failedReason ?? 'unknown error';
          const userError = reason.startsWith(USER_ERROR_MARK);
          failed.push({
            id: it.id,
            label: it.label,
            error: userError ? reason.slice(USER_ERROR_MARK.length) : reason,
            ...(userError ? { userError } : {}),
          });
          if (!userError) log(`failed after ${JOB_ATTEMPTS} attempts: ${it.label}: ${reason}`);
          pending.delete(it.id);
        } else if (state === 'unknown') {
          log(`re-queued ${it.label} (Redis lost the job)`);
          await add(it);
          waiting++;
        } else if (state === 'active') running++;
        else waiting++;
      }
      const done = total - pending.size - failed.length;
      const elapsed = (Date.now() - t0) / 1000;
      const p: SubmitProgress = {
        total,
        done,
        running,
        waiting,
        failed: failed.length,
        etaSeconds: finishedHere > 0 ? (elapsed / finishedHere) * pending.size : NaN,
      };
      const key = `${p.done}/${p.running}/${p.waiting}/${p.failed}`;
      if (key !== shown || pending.size === 0) opts.onProgress?.(p);
      shown = key;
      if (pending.size > 0) await sleep(opts.pollMs ?? 1000);
    }
    return { failed, stopped: false };
  } finally {
    await queue.close();
  }
}
