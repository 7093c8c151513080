/** Typed messages between the main thread and the scoring workers (piscina). */
import { Example } from '../data/tsv';
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
