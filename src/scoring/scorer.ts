import { MaskedLmBackend } from '../model/backend';
import { CompiledTemplate, EncodedExample, EncodedRow, buildRow } from '../prompt/encode';
import { planBatches } from './batching';
import { ExampleScore, Summary, scoreRow, summarize, wordLabels } from './metrics';

export interface BatchOptions {
  /** Padded tokens per batch (rows × longest row). */
  maxBatchTokens?: number;
  maxBatchRows?: number;
}
export const DEFAULT_BATCH: Required<BatchOptions> = { maxBatchTokens: 2048, maxBatchRows: 64 };

/** Runs rows through the backend in length-sorted batches; returns logits in the rows' order. */
export async function labelLogitsForRows(backend: MaskedLmBackend, rows: EncodedRow[], labelIds: number[], opts: BatchOptions = {}): Promise<Float32Array> {
  const { maxBatchTokens, maxBatchRows } = { ...DEFAULT_BATCH, ...opts };
  const k = labelIds.length;
  const out = new Float32Array(rows.length * k);
  for (const batch of planBatches(rows.map((r) => r.ids.length), maxBatchTokens, maxBatchRows)) {
    const logits = await backend.labelLogits(batch.map((i) => rows[i]), labelIds);
    batch.forEach((rowIndex, j) => out.set(logits.subarray(j * k, (j + 1) * k), rowIndex * k));
  }
  return out;
}

/**
 * Scores one filled prompt on examples: the hot path of every search. Fixed text and inputs
 * are tokenized already (`CompiledTemplate`, `EncodedExample`); this only assembles rows.
 */
export async function scorePrompt(
  backend: MaskedLmBackend,
  ct: CompiledTemplate,
  examples: EncodedExample[],
  slots: Record<string, number[]>,
  labelIds: number[][],
  opts: BatchOptions = {},
): Promise<{ scores: ExampleScore[]; summary: Summary }> {
  const rows = examples.map((ex) => buildRow(ct, ex, slots));
  const flat = labelIds.flat();
  const logits = await labelLogitsForRows(backend, rows, flat, opts);
  const labelOfWord = wordLabels(labelIds);
  const scores = examples.map((ex, i) => scoreRow(logits, i * flat.length, labelOfWord, labelIds.length, ex.label));
  return { scores, summary: summarize(scores, labelIds.length) };
}
