import { MaskedLmBackend } from '../model/backend';
import { CompiledTemplate, EncodedExample, EncodedRow, buildRow } from '../prompt/encode';
import { planBatches } from './batching';
import { ExampleScore, Summary, judgeAll, labelLogProbsOfRow, summarize, wordLabels } from './metrics';

export interface BatchOptions {
  /** Padded tokens per batch (rows × longest row). */
  maxBatchTokens?: number;
  maxBatchRows?: number;
}
export const DEFAULT_BATCH: Required<BatchOptions> = { maxBatchTokens: 2048, maxBatchRows: 64 };

/**
 * Rows per pool task when a whole split is scored (dev, test). Only a unit of work: a row's scores
 * do not depend on the rows batched with it (fp32, and int8 with per-row activation quantization,
 * model/graph/rowQuant.ts), so any split into tasks or batches gives the same numbers.
 */
export const SPLIT_TASK_ROWS = 256;

/**
 * What scores this template: the backend's kind, except that prefix reuse (causal models) cannot
 * apply when a slot comes before the input, and those rows are scored whole.
 */
export function scorerLabel(backend: MaskedLmBackend, ct: CompiledTemplate): string {
  if (backend.kind === 'prefix-reuse' && !ct.reusablePrefix) return 'mask-head (not prefix-reuse: a slot comes before the input)';
  return backend.kind;
}

/** Runs rows through the backend in length-sorted batches; returns logits in the rows' order. */
export async function labelLogitsForRows(backend: MaskedLmBackend, rows: EncodedRow[], labelIds: number[], opts: BatchOptions = {}): Promise<Float32Array> {
  const { maxBatchTokens, maxBatchRows } = { ...DEFAULT_BATCH, ...opts };
  const k = labelIds.length;
  const out = new Float32Array(rows.length * k);
  for (const batch of planBatches(
    rows.map((r) => r.ids.length),
    maxBatchTokens,
    maxBatchRows,
  )) {
    const logits = await backend.labelLogits(
      batch.map((i) => rows[i]),
      labelIds,
    );
    batch.forEach((i, j) => out.set(logits.subarray(j * k, (j + 1) * k), i * k));
  }
  return out;
}

/**
 * Label log-probabilities (log-softmax over the labels' scores) of one filled prompt on examples:
 * the hot path of every search. Fixed text and inputs are tokenized already (`CompiledTemplate`,
 * `EncodedExample`); this only assembles rows.
 */
export async function promptLogProbs(
  backend: MaskedLmBackend,
  ct: CompiledTemplate,
  examples: EncodedExample[],
  slots: Record<string, number[]>,
  labelIds: number[][],
  opts: BatchOptions = {},
): Promise<number[][]> {
  const rows = examples.map((ex) => buildRow(ct, ex, slots));
  const flat = labelIds.flat();
  const logits = await labelLogitsForRows(backend, rows, flat, opts);
  const labelOfWord = wordLabels(labelIds);
  return examples.map((_, i) => labelLogProbsOfRow(logits, i * flat.length, labelOfWord, labelIds.length));
}

/**
 * Scores one filled prompt on examples: label log-probabilities, then the decision with the
 * calibration offsets (none: raw scores).
 */
export async function scorePrompt(
  backend: MaskedLmBackend,
  ct: CompiledTemplate,
  examples: EncodedExample[],
  slots: Record<string, number[]>,
  labelIds: number[][],
  opts: BatchOptions = {},
  offsets?: number[],
): Promise<{ logProbs: number[][]; scores: ExampleScore[]; summary: Summary }> {
  const logProbs = await promptLogProbs(backend, ct, examples, slots, labelIds, opts);
  const scores = judgeAll(
    logProbs,
    examples.map((ex) => ex.label),
    offsets,
  );
  return { logProbs, scores, summary: summarize(scores, labelIds.length) };
}
