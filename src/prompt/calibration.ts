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
  return CONTENT_FREE_INPUTS.map((t) => ({
    fields: Object.fromEntries(columns.map((c) => [c, t ?? maskText])),
    label: 0,
  }));
}

/** The content-free inputs in the columns of a split's examples (its first example's fields). */
export function contentFreeLike(examples: readonly Example[], maskText: string): Example[] {
  return contentFreeExamples(Object.keys(examples[0]?.fields ?? {}), maskText);
}

/**
 * A member's fit (config `fitMembers`): its calibrated label log-probabilities c are read as
 * log_softmax(scale · c + bias). `scale` weighs the member against the others (a member whose
 * calibrated scores are too flat or too sharp for what it knows); `bias` (one per label) moves the
 * decision boundaries where the labelled examples put them, which the unlabelled offsets cannot.
 */
export interface MemberFit {
  scale: number;
  bias: number[];
}

/** The L2 pull of a fit towards the identity (scale 1, bias 0): keeps it finite on separable data. */
export const FIT_L2 = 1e-3;

/** A member's calibrated log-probabilities after its fit (none: unchanged). */
export function applyFit(calibrated: readonly number[], fit: MemberFit | undefined): number[] {
  return fit ? logSoftmax(calibrated.map((x, l) => fit.scale * x + fit.bias[l])) : [...calibrated];
}

/**
 * The fit of one member on labelled examples: the scale ≥ 0 and biases minimising the mean
 * cross-entropy of log_softmax(scale · c + bias) against the gold labels, plus
 * FIT_L2 · ((scale − 1)² + |bias|²). Convex (the logits are linear in the parameters), so Newton's
 * method with step halving finds the minimum; deterministic, a few iterations for NL + 1 numbers.
 * The scale stays ≥ 0: a step that would cross 0 stops there, and where the minimum lies at 0
 * (the member errs systematically) the scale is held at 0.
 */
export function fitMember(
  calibrated: readonly (readonly number[])[],
  golds: readonly number[],
  numLabels: number,
  l2 = FIT_L2,
): MemberFit {
  const n = calibrated.length;
  if (n === 0) return { scale: 1, bias: new Array<number>(numLabels).fill(0) };
  const P = numLabels + 1; // θ = (scale, bias_0 .. bias_{NL-1})
  const loss = (t: number[]) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum -= logSoftmax(calibrated[i].map((x, l) => t[0] * x + t[l + 1]))[golds[i]];
    return sum / n + l2 * ((t[0] - 1) ** 2 + t.slice(1).reduce((s, b) => s + b * b, 0));
  };
  let theta = [1, ...new Array<number>(numLabels).fill(0)];
  let scaleFree = true;
  let current = loss(theta);
  for (let iter = 0; iter < 100; iter++) {
    const g = new Array<number>(P).fill(0);
    const H = Array.from({ length: P }, () => new Array<number>(P).fill(0));
    for (let i = 0; i < n; i++) {
      const c = calibrated[i];
      const p = logSoftmax(c.map((x, l) => theta[0] * x + theta[l + 1])).map(Math.exp);
      // Features of label l: (c_l, e_l). Gradient Σ_l (p_l − y_l) φ_l; Hessian Σ p φφᵀ − (Σ p φ)(Σ p φ)ᵀ.
      const meanC = c.reduce((s, x, l) => s + p[l] * x, 0);
      g[0] += meanC - c[golds[i]];
      H[0][0] += c.reduce((s, x, l) => s + p[l] * x * x, 0) - meanC * meanC;
      for (let l = 0; l < numLabels; l++) {
        g[l + 1] += p[l] - (l === golds[i] ? 1 : 0);
        H[0][l + 1] += p[l] * c[l] - p[l] * meanC;
        for (let m = 0; m < numLabels; m++) H[l + 1][m + 1] += (l === m ? p[l] : 0) - p[l] * p[m];
      }
    }
    for (let a = 0; a < P; a++) {
      g[a] = g[a] / n + 2 * l2 * (a === 0 ? theta[0] - 1 : theta[a]);
      for (let b = a; b < P; b++) H[a][b] = H[a][b] / n + (a === b ? 2 * l2 : 0);
      for (let b = 0; b < a; b++) H[a][b] = H[b][a];
    }
    if (!scaleFree) {
      g[0] = 0;
      for (let a = 0; a < P; a++) H[0][a] = H[a][0] = a === 0 ? 1 : 0;
    }
    const step = solveSymmetric(H, g);
    // A step that would take the scale below 0 stops at 0; at 0, a step that still pushes below
    // means the constrained minimum has scale 0: hold it there and fit the biases alone.
    let t = scaleFree && step[0] > theta[0] ? theta[0] / step[0] : 1;
    if (t <= 0) {
      scaleFree = false;
      continue;
    }
    let next = theta.map((x, a) => x - t * step[a]);
    let nextLoss = loss(next);
    while (!(nextLoss <= current) && t > 1e-6) {
      t /= 2;
      next = theta.map((x, a) => x - t * step[a]);
      nextLoss = loss(next);
    }
    if (!(nextLoss <= current)) break;
    if (next[0] < 0) next[0] = 0; // rounding only: t stopped the step at 0
    const moved = Math.max(...next.map((x, a) => Math.abs(x - theta[a])));
    theta = next;
    current = nextLoss;
    if (moved < 1e-10) break;
  }
  return { scale: theta[0], bias: theta.slice(1) };
}

/** Solves H x = g for a small symmetric positive definite H (Gaussian elimination, partial pivoting). */
function solveSymmetric(H: number[][], g: number[]): number[] {
  const n = g.length;
  const a = H.map((row, i) => [...row, g[i]]);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[piv][col])) piv = r;
    [a[col], a[piv]] = [a[piv], a[col]];
    for (let r = col + 1; r < n; r++) {
      const f = a[r][col] / a[col][col];
      for (let k = col; k <= n; k++) a[r][k] -= f * a[col][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = a[r][n];
    for (let k = r + 1; k < n; k++) s -= a[r][k] * x[k];
    x[r] = s / a[r][r];
  }
  return x;
}

/**
 * A prompt ensemble's label log-probabilities, per example: the mean of its members' calibrated
 * ones (each member with its own offsets, and its fit if it has one). One member without a fit:
 * its calibrated log-probabilities.
 */
export function ensembleLogProbs(members: { logProbs: number[][]; offsets?: number[]; fit?: MemberFit }[]): number[][] {
  const n = members[0].logProbs.length;
  return Array.from({ length: n }, (_, i) => {
    const rows = members.map((m) => applyFit(calibrate(m.logProbs[i], m.offsets), m.fit));
    return rows[0].map((_, l) => rows.reduce((s, r) => s + r[l], 0) / rows.length);
  });
}
