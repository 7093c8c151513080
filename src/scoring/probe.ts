/**
 * The linear probe baseline: L2-regularised multinomial logistic regression on the frozen model's
 * log-probabilities over the whole vocabulary at the mask position. What a user would try
 * instead of prompting; every leaderboard shows it.
 *
 * Fit in the span of the training rows (representer theorem): with n ≪ d rows, W = Xᵀ·B, so
 * training touches only the n × n Gram matrix, and gradient steps on W are steps on B. The
 * objective is scikit-learn's: C · Σ cross-entropy + ½‖W‖², intercept not penalised.
 */
import { logSoftmax } from '../prompt/calibration';
import { softmax } from './metrics';
import type { FullLogitsBackend } from '../model/onnxBackend';
import type { EncodedRow } from '../prompt/encode';

export interface ProbeModel {
  /** [labels][features], in the centred feature space. */
  weights: Float64Array[];
  bias: number[];
  /** Feature means of the training rows (subtracted before the dot product). */
  mean: Float64Array;
  /** Centred features are divided by this: the training rows' root-mean-square norm, so C is scale-free. */
  scale: number;
  C: number;
}

/** The grid C is chosen from on dev (ties: the smaller C, i.e. the stronger regularisation). */
export const PROBE_C_GRID = [1e-2, 1e-1, 1, 10, 100, 1000];

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Trains the probe on rows `x` (equal-length feature vectors) with labels `y` in 0..numLabels-1. */
export function trainProbe(
  x: ArrayLike<number>[],
  y: number[],
  numLabels: number,
  C: number,
  iterations = 3000,
): ProbeModel {
  const n = x.length;
  const d = x[0].length;
  const mean = new Float64Array(d);
  for (const r of x) for (let j = 0; j < d; j++) mean[j] += r[j] / n;
  const centred = x.map((r) => Float64Array.from(r, (v, j) => v - mean[j]));
  const scale = Math.sqrt(centred.reduce((a, r) => a + dot(r, r), 0) / n) || 1;
  const xc = centred.map((r) => r.map((v) => v / scale));
  const K = xc.map((a) => xc.map((b) => dot(a, b)));
  // Largest eigenvalue of K (power iteration) bounds the loss curvature (softmax Hessian ≤ ½; the
  // intercept adds at most n): step = 1 / Lipschitz.
  let v = new Array<number>(n).fill(1 / Math.sqrt(n));
  let lambda = 0;
  for (let it = 0; it < 100; it++) {
    const w = K.map((row) => dot(row, v));
    lambda = Math.sqrt(dot(w, w));
    if (lambda === 0) break;
    v = w.map((t) => t / lambda);
  }
  const step = 1 / (C * (lambda + n) * 0.5 + 1);
  // Nesterov-accelerated gradient descent on (B, b); the W-space gradient is Xᵀ(C(P − Y) + B).
  let B = Array.from({ length: n }, () => new Array<number>(numLabels).fill(0));
  let bias = new Array<number>(numLabels).fill(0);
  let prevB = B.map((r) => [...r]);
  let prevBias = [...bias];
  for (let it = 1; it <= iterations; it++) {
    const mom = (it - 1) / (it + 2);
    const yB = B.map((r, i) => r.map((t, l) => t + mom * (t - prevB[i][l])));
    const yBias = bias.map((t, l) => t + mom * (t - prevBias[l]));
    const gB = yB.map((r) => r.map(() => 0));
    const gBias = new Array<number>(numLabels).fill(0);
    const z = new Array<number>(numLabels);
    for (let i = 0; i < n; i++) {
      const Ki = K[i];
      for (let l = 0; l < numLabels; l++) {
        let t = yBias[l];
        for (let j = 0; j < n; j++) t += Ki[j] * yB[j][l];
        z[l] = t;
      }
      const p = softmax(z);
      for (let l = 0; l < numLabels; l++) {
        const r = C * (p[l] - (y[i] === l ? 1 : 0));
        gB[i][l] += r + yB[i][l];
        gBias[l] += r;
      }
    }
    prevB = B;
    prevBias = bias;
    B = yB.map((r, i) => r.map((t, l) => t - step * gB[i][l]));
    bias = yBias.map((t, l) => t - step * gBias[l]);
  }
  const weights = Array.from({ length: numLabels }, (_, l) => {
    const w = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) w[j] += xc[i][j] * B[i][l];
    return w;
  });
  return { weights, bias, mean, scale, C };
}

/** Class scores (logits) of one feature vector. */
export function probeLogits(m: ProbeModel, features: ArrayLike<number>): number[] {
  return m.weights.map((w, l) => {
    let s = m.bias[l];
    for (let j = 0; j < w.length; j++) s += (w[j] * (features[j] - m.mean[j])) / m.scale;
    return s;
  });
}

export function probePredict(m: ProbeModel, features: ArrayLike<number>): number {
  const z = probeLogits(m, features);
  let best = 0;
  for (let l = 1; l < z.length; l++) if (z[l] > z[best]) best = l;
  return best;
}

/** Mask-position log-probabilities over the vocabulary: the probe's features. */
export function vocabLogProbs(logits: ArrayLike<number>): Float32Array {
  return Float32Array.from(logSoftmax(logits));
}

/** Calls `each` with the vocabulary log-probabilities at the mask of every row, in order, batch by batch. */
export async function forEachMaskFeatures(
  backend: Pick<FullLogitsBackend, 'logitsAt'>,
  rows: EncodedRow[],
  each: (features: Float32Array, i: number) => void,
  batch = 32,
): Promise<void> {
  for (let start = 0; start < rows.length; start += batch) {
    const chunk = rows.slice(start, start + batch);
    const logits = await backend.logitsAt(
      chunk,
      chunk.map((r) => [r.maskPos]),
    );
    logits.forEach((l, k) => each(vocabLogProbs(l[0]), start + k));
  }
}

export interface ProbeOutcome {
  C: number;
  devAccuracy: number;
  testAccuracy: number;
}

/**
 * The baseline protocol: C chosen on dev (probe trained on train), then the probe is trained
 * again on train + dev with that C and scored on test. Test rows stream through: they are never
 * all held in memory.
 */
export async function runProbe(
  backend: Pick<FullLogitsBackend, 'logitsAt'>,
  rows: { train: EncodedRow[]; dev: EncodedRow[]; test: EncodedRow[] },
  labels: { train: number[]; dev: number[]; test: number[] },
  numLabels: number,
): Promise<ProbeOutcome> {
  const collect = async (rs: EncodedRow[]) => {
    const out: Float32Array[] = [];
    await forEachMaskFeatures(backend, rs, (f) => out.push(f));
    return out;
  };
  const train = await collect(rows.train);
  const dev = await collect(rows.dev);
  let best = { C: PROBE_C_GRID[0], dev: -1 };
  for (const C of PROBE_C_GRID) {
    const m = trainProbe(train, labels.train, numLabels, C);
    const acc = dev.filter((f, i) => probePredict(m, f) === labels.dev[i]).length / dev.length;
    if (acc > best.dev) best = { C, dev: acc };
  }
  const final = trainProbe([...train, ...dev], [...labels.train, ...labels.dev], numLabels, best.C);
  let right = 0;
  await forEachMaskFeatures(backend, rows.test, (f, i) => (right += probePredict(final, f) === labels.test[i] ? 1 : 0));
  return { C: best.C, devAccuracy: best.dev, testAccuracy: right / rows.test.length };
}
