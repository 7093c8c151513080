/**
 * A linear discriminant over word log-probabilities (pure math): the reading of a discriminant
 * readout member (runner/ensemble.ts).
 *
 * Each labelled example is a vector x of log-probabilities of the same P words at the mask
 * (log-softmax over those P words' logits). Each class is a Gaussian with its own mean µ_l and one
 * shared covariance Σ; a label's score is the class's log-density up to terms every label shares:
 *
 *   score_l(x) = w_l · x + b_l,   w_l = Σ⁻¹ µ_l,   b_l = −½ w_l · µ_l
 *
 * 80 examples cannot estimate a 200 × 200 covariance, so Σ is shrunk towards its diagonal: with S
 * the pooled within-class covariance, D its diagonal and R = D^-½ S D^-½ its correlations,
 *
 *   Σ = D^½ ((1 − s) R + s I) D^½ + ε I,   s the shrinkage, ε = DISCRIMINANT_RIDGE.
 *
 * s = 1 is diagonal LDA (each word its own evidence); s = 0 the plain pooled covariance, which
 * overfits the few examples. A run chooses s (and P) by cross-validation on its train + dev
 * examples (prompt/crossValidation.ts).
 */

/** Added to the covariance's diagonal: keeps it invertible when a word barely varies. */
export const DISCRIMINANT_RIDGE = 1e-3;

/** A label's score is `weights[l] · x + bias[l]`, x the label's words' log-probabilities in order. */
export interface Readout {
  weights: number[][];
  bias: number[];
}

/** Log-probabilities of a row's words: its logits minus their log-sum-exp. */
export function wordLogProbs(logits: ArrayLike<number>, offset: number, n: number): Float64Array {
  let m = -Infinity;
  for (let k = 0; k < n; k++) m = Math.max(m, logits[offset + k]);
  let s = 0;
  for (let k = 0; k < n; k++) s += Math.exp(logits[offset + k] - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = logits[offset + k] - lse;
  return out;
}

/**
 * Fits the discriminant (see the file comment) on rows of features [n × P] with gold labels.
 * Every label needs at least one example.
 */
export function fitDiscriminant(
  x: readonly ArrayLike<number>[],
  golds: readonly number[],
  numLabels: number,
  shrinkage: number,
  ridge = DISCRIMINANT_RIDGE,
): Readout {
  const n = x.length;
  if (n === 0 || golds.length !== n) throw new Error('fitDiscriminant: needs one gold label per row, at least one row');
  const p = x[0].length;
  const mu = Array.from({ length: numLabels }, () => new Float64Array(p));
  const count = new Array<number>(numLabels).fill(0);
  x.forEach((row, i) => {
    count[golds[i]]++;
    for (let k = 0; k < p; k++) mu[golds[i]][k] += row[k];
  });
  count.forEach((c, l) => {
    if (c === 0) throw new Error(`fitDiscriminant: label ${l} has no example`);
    for (let k = 0; k < p; k++) mu[l][k] /= c;
  });
  // Pooled within-class covariance S (divided by n), then the shrunk Σ.
  const sigma = new Float64Array(p * p);
  const z = new Float64Array(p);
  x.forEach((row, i) => {
    for (let k = 0; k < p; k++) z[k] = row[k] - mu[golds[i]][k];
    for (let a = 0; a < p; a++) {
      const za = z[a];
      if (za === 0) continue;
      for (let b = 0; b <= a; b++) sigma[a * p + b] += za * z[b];
    }
  });
  for (let a = 0; a < p; a++) for (let b = 0; b <= a; b++) sigma[a * p + b] /= n;
  // (1 − s) S off the diagonal, S on it, is D^½ ((1 − s) R + s I) D^½; the lower triangle holds it.
  for (let a = 0; a < p; a++) {
    for (let b = 0; b < a; b++) sigma[a * p + b] *= 1 - shrinkage;
    sigma[a * p + a] += ridge;
  }
  const chol = cholesky(sigma, p);
  const weights = mu.map((m) => Array.from(choleskySolve(chol, p, m)));
  const bias = weights.map((w, l) => {
    let d = 0;
    for (let k = 0; k < p; k++) d += w[k] * mu[l][k];
    return -0.5 * d;
  });
  return { weights, bias };
}

/** One label's score: `weights · x + bias`. */
export function readoutScore(x: ArrayLike<number>, weights: readonly number[], bias: number): number {
  let s = bias;
  for (let k = 0; k < weights.length; k++) s += weights[k] * x[k];
  return s;
}

/** Lower-triangular L with L Lᵀ = A (A symmetric positive definite, lower triangle read), row-major. */
function cholesky(a: Float64Array, p: number): Float64Array {
  const l = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * p + j];
      for (let k = 0; k < j; k++) s -= l[i * p + k] * l[j * p + k];
      if (i === j) {
        if (!(s > 0)) throw new Error('fitDiscriminant: the covariance is not positive definite');
        l[i * p + i] = Math.sqrt(s);
      } else l[i * p + j] = s / l[j * p + j];
    }
  }
  return l;
}

/** Solves L Lᵀ y = b. */
function choleskySolve(l: Float64Array, p: number, b: ArrayLike<number>): Float64Array {
  const y = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * p + k] * y[k];
    y[i] = s / l[i * p + i];
  }
  for (let i = p - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < p; k++) s -= l[k * p + i] * y[k];
    y[i] = s / l[i * p + i];
  }
  return y;
}
