import type { Example } from '../data/tsv';
/**
 * Calibration: remove each label's prior before deciding (pure math).
 *
 * A frozen model prefers some label words whatever the input ("great" over "terrible"), so raw
 * verbalizer accuracy mostly measures that bias. Calibration works on label log-probabilities
 * (log-softmax over the labels' scores) and subtracts a per-label offset, the label's mean
 * log-probability over reference inputs, before the argmax:
 *
 *   calibrated(x) = log_softmax(logp(x) − offsets),   offsets[l] = mean over reference inputs of logp(·)[l]
 *
 * Modes (search config `calibration`, `eval --calibration`):
 * - `inputs` (default): the reference inputs are the task's own unlabeled inputs (train + dev in
 *   a search; labels are never read). Each candidate prompt gets its own offsets.
 * - `content-free`: contextual calibration (Zhao et al. 2021): the reference inputs are
 *   content-free strings ("N/A", "", the mask token) put in place of `{x}`.
 * - `none`: raw scores (offsets 0).
 */
export const CALIBRATIONS = ['inputs', 'content-free', 'none'] as const;
export type CalibrationMode = (typeof CALIBRATIONS)[number];
export const DEFAULT_CALIBRATION: CalibrationMode = 'inputs';

/** A decision rule as files record it (best.json, prompt files, soft.json): null offsets for `none`. */
export interface Calibration {
  mode: CalibrationMode;
  offsets: number[] | null;
}

/** The content-free inputs of contextual calibration; `null` stands for the model's mask token. */
export const CONTENT_FREE_INPUTS: (string | null)[] = ['N/A', '', null];

/** log_softmax(xs), stable. */
export function logSoftmax(xs: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, xs[i]);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.exp(xs[i] - m);
  const lse = m + Math.log(s);
  return Array.from(xs, (x) => x - lse);
}

/** Per-label mean of label log-probabilities over reference rows (the calibration offsets). */
export function meanOffsets(rows: readonly (readonly number[])[], numLabels: number): number[] {
  const out = new Array<number>(numLabels).fill(0);
  if (rows.length === 0) return out;
  for (const r of rows) for (let l = 0; l < numLabels; l++) out[l] += r[l];
  return out.map((x) => x / rows.length);
}

/**
 * Offsets over the union of two reference sets whose offsets are known: the count-weighted mean,
 * equal to meanOffsets over all rows at once.
 */
export function mergeOffsets(a: readonly number[], na: number, b: readonly number[], nb: number): number[] {
  return a.map((x, l) => (x * na + b[l] * nb) / (na + nb));
}

/** Calibrated label log-probabilities: log_softmax(logProbs − offsets). */
export function calibrate(logProbs: readonly number[], offsets: readonly number[] | undefined): number[] {
  return offsets ? logSoftmax(logProbs.map((x, l) => x - offsets[l])) : [...logProbs];
}

/**
 * The content-free inputs as examples: every input column holds the same content-free text
 * (`maskText` stands in for the mask token). Labels are never read.
 */
export function contentFreeExamples(columns: string[], maskText: string): Example[] {
  return CONTENT_FREE_INPUTS.map((t) => ({ fields: Object.fromEntries(columns.map((c) => [c, t ?? maskText])), label: 0 }));
}

/**
 * A prompt ensemble's label log-probabilities, per example: the mean of its members' calibrated
 * ones (each member with its own offsets). One member: its calibrated log-probabilities.
 */
export function ensembleLogProbs(members: { logProbs: number[][]; offsets?: number[] }[]): number[][] {
  const n = members[0].logProbs.length;
  return Array.from({ length: n }, (_, i) => {
    const rows = members.map((m) => calibrate(m.logProbs[i], m.offsets));
    return rows[0].map((_, l) => rows.reduce((s, r) => s + r[l], 0) / rows.length);
  });
}
