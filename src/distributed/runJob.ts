import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { splitPath } from '../data/tasks';
import { UserError } from '../errors';
import { resolveModel, sha256File } from '../model/modelFolder';
import { validateConfig } from '../runner/config';
import { BaselineSetting, manualCell, probeCell } from '../runner/baselines';
import { runSearchAndRefine } from '../runner/run';
import { packageVersions } from '../runner/versions';
import { DataRef, JobPayload, JobResult, ManualJob, ModelRef, SearchJob, sha256Text } from './queue';

/** What the worker machine decides for every job it runs (resources, not results). */
export interface JobRunOptions {
  /** Scoring worker threads per job (overrides the job's config). */
  workers?: number;
  /** onnxruntime threads per scoring worker (overrides the job's config). */
  threadsPerWorker?: number;
  /** Where the job's run directory is built before it is sent back. Default: the OS temp dir. */
  scratchDir?: string;
  worker?: string;
}

/**
 * Runs one validated job with the local engine after checking its model and data by sha256;
 * returns the run directory's files. `stopRequested` stops a search early (the caller hands the job back).
 */
export async function runJob(p: JobPayload, opts: JobRunOptions, stopRequested: () => boolean): Promise<JobResult> {
  checkVersion(p);
  checkModel(p.model);
  const worker = opts.worker ?? `${os.hostname()}:${process.pid}`;
  if (p.kind === 'manual') return runManual(p, worker);
  const dir = fs.mkdtempSync(path.join(opts.scratchDir ?? os.tmpdir(), 'promptsearch-job-'));
  try {
    return await runSearchJob(p, dir, opts, stopRequested, worker);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function describeJob(p: JobPayload): string {
  if (p.kind === 'manual') return `manual prompt, ${p.task} seed ${p.seed}`;
  return `${String(p.config.strategy)} search '${String(p.config.name)}' (${p.runName})`;
}

function checkVersion(p: JobPayload): void {
  const ours = packageVersions().promptsearch;
  if (p.version !== ours)
    throw new UserError(
      `this worker runs promptsearch ${ours}, the job was submitted by ${p.version}; run the same version everywhere`,
    );
}

/** Refuses a job whose model files differ from this machine's (by sha256). */
export function checkModel(m: ModelRef): void {
  let onnx: string;
  let tokenizer: string;
  try {
    const folder = resolveModel(m.name, m.dtype);
    onnx = folder.onnxPath;
    tokenizer = path.join(folder.dir, 'tokenizer.json');
  } catch (e) {
    throw new UserError(`model '${m.name}' (${m.dtype}) is not on this worker: ${(e as Error).message}`);
  }
  const have = sha256File(onnx);
  if (have !== m.sha256)
    throw new UserError(
      `model '${m.name}' (${m.dtype}) differs on this worker: ${onnx} has sha256 ${have.slice(0, 12)}…, the job needs ${m.sha256.slice(0, 12)}…`,
    );
  const tok = sha256File(tokenizer);
  if (tok !== m.tokenizerSha256)
    throw new UserError(
      `model '${m.name}': ${tokenizer} has sha256 ${tok.slice(0, 12)}…, the job needs ${m.tokenizerSha256.slice(0, 12)}…`,
    );
}

/** The local path of a data split after checking its sha256: the bundled file, or the job's content written to `dir`. */
export function resolveData(ref: DataRef, split: 'train' | 'dev' | 'test', dir: string): string | undefined {
  if (ref.task) {
    const file = splitPath(ref.task.name, split, ref.task.seed);
    const have = sha256File(file);
    if (have !== ref.sha256)
      throw new UserError(
        `data ${ref.task.name} ${split} (seed ${ref.task.seed}) differs on this worker: ${file} has sha256 ${have.slice(0, 12)}…, the job needs ${ref.sha256.slice(0, 12)}…`,
      );
    return undefined;
  }
  const content = ref.file!.content;
  const have = sha256Text(content);
  if (have !== ref.sha256)
    throw new UserError(
      `data ${split} (${ref.file!.name}): the job's content has sha256 ${have.slice(0, 12)}…, expected ${ref.sha256.slice(0, 12)}… (corrupted in transit)`,
    );
  const file = path.join(dir, `${split}-${ref.file!.name}`);
  fs.writeFileSync(file, content);
  return file;
}

async function runSearchJob(
  p: SearchJob,
  dir: string,
  opts: JobRunOptions,
  stopRequested: () => boolean,
  worker: string,
): Promise<JobResult> {
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  const files = {
    train: resolveData(p.data.train, 'train', dataDir),
    dev: resolveData(p.data.dev, 'dev', dataDir),
    test: p.data.test ? resolveData(p.data.test, 'test', dataDir) : undefined,
  };
  const raw: Record<string, unknown> = { ...p.config };
  if (raw.data)
    raw.data = {
      ...(raw.data as object),
      train: files.train,
      dev: files.dev,
      ...(files.test ? { test: files.test } : {}),
    };
  if (opts.workers !== undefined) raw.workers = opts.workers;
  if (opts.threadsPerWorker !== undefined) raw.threadsPerWorker = opts.threadsPerWorker;
  const config = validateConfig(raw, `job config '${String(p.config.name)}'`);
  if (config.model !== p.model.name || config.dtype !== p.model.dtype)
    throw new UserError(
      `job config names model '${config.model}' (${config.dtype}) but carries the sha256 of '${p.model.name}' (${p.model.dtype})`,
    );
  const runDir = path.join(dir, p.runName);
  const { best, refined } = await runSearchAndRefine(config, { runDir, stopRequested });
  return { kind: 'search', files: readTree(runDir), best, refined, worker };
}

async function runManual(p: ManualJob, worker: string): Promise<JobResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptsearch-job-'));
  try {
    const train = p.data.train ? resolveData(p.data.train, 'train', dir) : undefined;
    const dev = resolveData(p.data.dev, 'dev', dir);
    const test = resolveData(p.data.test, 'test', dir);
    const setting = p.base as BaselineSetting;
    // A user task's files: the job's copies, written here.
    if (setting.data && train && dev && test) setting.data = { ...setting.data, train, dev, test };
    const cell = p.probe
      ? await probeCell(p.method, p.task, p.seed, setting)
      : await manualCell(p.method, p.task, p.seed, setting, p.calibration ?? 'none');
    return { kind: 'manual', cell, worker };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Every file under dir, relative path → base64 content. */
function readTree(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? path.join(prefix, e.name) : e.name;
    if (e.isDirectory()) Object.assign(out, readTree(dir, rel));
    else if (e.isFile()) out[rel] = fs.readFileSync(path.join(dir, rel)).toString('base64');
  }
  return out;
}
