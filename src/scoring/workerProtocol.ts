/** Typed messages between the main thread and the scoring workers (piscina). */
import { Example } from '../data/tsv';
import { StoppedError, UserError, isStoppedError, isUserError } from '../errors';
import { Dtype } from '../model/modelFolder';
import type { ActivationQuant } from '../model/graph/preparedCache';
import { BatchOptions, Reading } from './scorer';
import { WordIds } from '../prompt/verbalizer';

/** `calib`: the content-free inputs of contextual calibration (see prompt/calibration.ts). */
export type SplitName = 'train' | 'dev' | 'test' | 'calib';

/** Sent once as workerData: each worker loads the model and tokenizes every split once per template. */
export interface WorkerInit {
  model: string;
  dtype: Dtype;
  scorer: 'mask-head' | 'full';
  /** Causal models: reuse prefix keys/values (default true). */
  prefixReuse?: boolean;
  /** onnxruntime intra-op threads in each worker. */
  threads: number;
  /**
   * Set (index 0 to 1) by the pool once a stop is requested (Ctrl-C): a worker still starting
   * gives up before its next step, and a task not yet begun answers a StoppedError. A thread
   * cannot be terminated while onnxruntime works for it (the process aborts), so the pool lets
   * each worker give up instead.
   */
  stop?: Int32Array;
  /** int8 activations (model/load.ts); absent: per row, the default. The bench compares per tensor. */
  activations?: ActivationQuant;
  template: string;
  textColumn: string;
  splits: Partial<Record<SplitName, Example[]>>;
  batch: BatchOptions;
}

/** Score one filled prompt on examples [start, end) of a split. */
export interface ScoreTask {
  /**
   * The prompt's template, when one pool serves several (the templates of a multi-template run
   * share one, runner/templates.ts); absent: WorkerInit's. Each is compiled and its splits
   * tokenized once per worker, when first asked for.
   */
  template?: string;
  split: SplitName;
  slots: Record<string, number[]>;
  /** Per label, its words' token ids (see prompt/verbalizer.ts WordIds). */
  labelIds: WordIds[][];
  start: number;
  end: number;
  /** More readings of the same rows (other label words), scored in the same pass: an ensemble's readout members (runner/readoutMembers.ts). */
  readings?: Reading[];
}

/**
 * Per example, in order: the label log-probabilities (log-softmax over the labels' scores, not
 * calibrated). Decisions, calibration and objectives are computed by the caller, which knows the
 * labels and the reference inputs.
 */
export interface ScoreResult {
  logProbs: number[][];
  /** The task's `readings`, each like `logProbs`. */
  readings?: number[][][];
}

/**
 * A reported error thrown inside a worker, sent back as a value: a thrown error crosses the thread
 * boundary by structured clone, which keeps neither its class nor its name, and the CLI would
 * then report a user's mistake as an internal error with a stack trace.
 */
export interface WorkerFailure {
  failure: { name: 'UserError' | 'StoppedError'; message: string };
}

/** What a worker answers a ScoreTask with. */
export type ScoreReply = ScoreResult | WorkerFailure;

/** The reply for an error thrown in a worker, when it is a reported one (UserError, StoppedError); other errors are rethrown with their stack. */
export function failureOf(e: unknown): WorkerFailure | undefined {
  if (isUserError(e)) return { failure: { name: 'UserError', message: e.message } };
  if (isStoppedError(e)) return { failure: { name: 'StoppedError', message: e.message } };
  return undefined;
}

/** The error of a WorkerFailure, with its class again. */
export function rebuildError(f: WorkerFailure['failure']): Error {
  return f.name === 'UserError' ? new UserError(f.message) : new StoppedError(f.message);
}
