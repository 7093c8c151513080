import { EncodedRow } from '../prompt/encode';

/**
 * The one seam between scoring and inference: rows in, label-word logits at the mask out.
 * Implementations own native resources: call `dispose()` when done.
 */
export interface MaskedLmBackend {
  /** Longest row (in tokens, specials included) the model accepts. */
  readonly maxLength: number;
  /** A short description for reports (`full-logits`, `mask-head`). */
  readonly kind: string;
  /**
   * Runs one batch. Returns row-major [rows × labelIds.length]: logit of each label id at each
   * row's mask position.
   */
  labelLogits(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array>;
  /**
   * Causal models (multi-token label words): like `labelLogits`, but log-probabilities, the
   * logits minus the log-sum-exp over the whole vocabulary at each row's read position.
   */
  labelLogProbs?(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** Pads rows to one length: int64 ids, attention mask and zero token types. */
export function padBatch(
  rows: EncodedRow[],
  padId: number,
): { ids: BigInt64Array; mask: BigInt64Array; types: BigInt64Array; length: number } {
  const length = rows.reduce((m, r) => Math.max(m, r.ids.length), 0);
  const n = rows.length * length;
  const ids = new BigInt64Array(n).fill(BigInt(padId));
  const mask = new BigInt64Array(n);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r].ids;
    for (let j = 0; j < row.length; j++) {
      ids[r * length + j] = BigInt(row[j]);
      mask[r * length + j] = 1n;
    }
  }
  return { ids, mask, types: new BigInt64Array(n), length };
}
