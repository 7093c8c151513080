/**
 * K-fold cross-validation of an ensemble's fitted parts over the labelled train + dev examples
 * (pure math). What is fitted on labelled or scored examples is fitted again on k − 1 folds and
 * judged on the fold left out: each member's calibration offsets (mode `inputs`), each
 * discriminant readout member's readout, and each member's fit. The held-out predictions of every
 * fold together give the estimate; the same code with every example held in gives the final fit.
 *
 * What is not refitted: the prompts themselves (searched on train, selected on dev) and the words a
 * discriminant reads (the likeliest at the mask over the classes' means). The estimate is
 * therefore still optimistic about the prompt choice; docs/results.md measures how far it is from
 * test accuracy.
 */
import seedrandom from 'seedrandom';
import { applyFit, calibrate, fitMember, logSoftmax, meanOffsets, MemberFit } from './calibration';
import { fitDiscriminant, Readout, readoutScore, wordLogProbs } from './discriminant';

/** How a member's offsets are found: from the held-in inputs, fixed (content-free), or none. */
export type OffsetRule = { refit: true } | { fixed: number[] | undefined };

/** A member whose label log-probabilities are known per example (its reading has nothing to fit). */
export interface ScoredMember {
  logProbs: readonly (readonly number[])[];
  offsets: OffsetRule;
}

/**
 * A discriminant readout member: per example, the raw logits of the words it may read, likeliest
 * first. `contentFree`: the same on the content-free inputs (calibration `content-free`).
 */
export interface ReadoutMemberData {
  logits: readonly ArrayLike<number>[];
  offsets: { refit: true } | { contentFree: readonly ArrayLike<number>[] } | { fixed: undefined };
}

/** The discriminant's settings: how many of the likeliest words it reads, and its shrinkage. */
export interface ReadoutSettings {
  topWords: number;
  shrinkage: number;
}

export interface EnsembleData {
  golds: readonly number[];
  numLabels: number;
  members: readonly ScoredMember[];
  readouts: readonly ReadoutMemberData[];
  fitMembers: boolean;
}

/** What one fit on a set of examples gives: every member's offsets and fit, every readout. */
export interface FittedEnsemble {
  offsets: (number[] | undefined)[];
  readouts: Readout[];
  fits: (MemberFit | undefined)[];
}

/** A readout's label log-probabilities of one row of raw logits (its first `topWords` words). */
export function readoutLogProbs(logits: ArrayLike<number>, readout: Readout): number[] {
  const x = wordLogProbs(logits, 0, readout.weights[0].length);
  return logSoftmax(readout.weights.map((w, l) => readoutScore(x, w, readout.bias[l])));
}

function features(logits: ArrayLike<number>, topWords: number): Float64Array {
  return wordLogProbs(logits, 0, topWords);
}

/** Every member's raw label log-probabilities (scored members first, then the readouts). */
function rawLogProbs(data: EnsembleData, readouts: readonly Readout[]): number[][][] {
  return [
    ...data.members.map((m) => m.logProbs.map((r) => [...r])),
    ...data.readouts.map((r, k) => r.logits.map((row) => readoutLogProbs(row, readouts[k]))),
  ];
}

/** Fits offsets, readouts and member fits on the examples `heldIn` (indices into `data.golds`). */
export function fitEnsemble(data: EnsembleData, settings: ReadoutSettings, heldIn: readonly number[]): FittedEnsemble {
  const golds = heldIn.map((i) => data.golds[i]);
  const readouts = data.readouts.map((r) =>
    fitDiscriminant(
      heldIn.map((i) => features(r.logits[i], settings.topWords)),
      golds,
      data.numLabels,
      settings.shrinkage,
    ),
  );
  const raw = rawLogProbs(data, readouts);
  const rules: (OffsetRule | ReadoutMemberData['offsets'])[] = [
    ...data.members.map((m) => m.offsets),
    ...data.readouts.map((r) => r.offsets),
  ];
  const offsets = rules.map((rule, j) => {
    if ('refit' in rule)
      return meanOffsets(
        heldIn.map((i) => raw[j][i]),
        data.numLabels,
      );
    if ('contentFree' in rule) {
      const readout = readouts[j - data.members.length];
      return meanOffsets(
        rule.contentFree.map((row) => readoutLogProbs(row, readout)),
        data.numLabels,
      );
    }
    return rule.fixed;
  });
  const fits = raw.map((lp, j) =>
    data.fitMembers
      ? fitMember(
          heldIn.map((i) => calibrate(lp[i], offsets[j])),
          golds,
          data.numLabels,
        )
      : undefined,
  );
  return { offsets, readouts, fits };
}

/** The ensemble's label log-probabilities of example i under a fit (the mean over its members). */
function ensembleRow(raw: number[][][], fitted: FittedEnsemble, i: number): number[] {
  const rows = raw.map((lp, j) => applyFit(calibrate(lp[i], fitted.offsets[j]), fitted.fits[j]));
  return rows[0].map((_, l) => rows.reduce((s, r) => s + r[l], 0) / rows.length);
}

/**
 * Stratified folds of `golds`: each class's examples shuffled (seeded) and dealt round-robin, so
 * every fold holds each class's share. Deterministic for a seed.
 */
export function stratifiedFolds(golds: readonly number[], k: number, seed: number): number[][] {
  const rng = seedrandom(`promptsearch:folds:${seed}`);
  const folds: number[][] = Array.from({ length: k }, () => []);
  const byClass = new Map<number, number[]>();
  golds.forEach((g, i) => byClass.set(g, [...(byClass.get(g) ?? []), i]));
  let next = 0;
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = byClass.get(label)!;
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    for (const i of idx) folds[next++ % k].push(i);
  }
  return folds.map((f) => f.sort((a, b) => a - b));
}

/** A cross-validated estimate: held-out accuracy over all folds, its spread, and held-out log-loss. */
export interface CvEstimate {
  /** Held-out accuracy over every example (each judged by the fit that did not see it). */
  accuracy: number;
  /** Sample standard deviation of the folds' accuracies. */
  std: number;
  folds: number;
  /** Mean held-out cross-entropy of the gold label (nats). */
  logLoss: number;
}

/** Why no estimate: a class with fewer examples than two folds need. */
function classCounts(golds: readonly number[], numLabels: number): number[] {
  const counts = new Array<number>(numLabels).fill(0);
  for (const g of golds) counts[g]++;
  return counts;
}

export function cvUnavailable(golds: readonly number[], numLabels: number): string | undefined {
  const counts = classCounts(golds, numLabels);
  const fewest = Math.min(...counts);
  return fewest < 2
    ? `class ${counts.indexOf(fewest)} has ${fewest} labelled example(s); cross-validation needs 2`
    : undefined;
}

/** The number of folds: `k`, or fewer where the smallest class has fewer examples (at least 2). */
export function foldCount(golds: readonly number[], numLabels: number, k: number): number {
  return Math.max(2, Math.min(k, ...classCounts(golds, numLabels)));
}

/**
 * K-fold cross-validation of the ensemble (see the file comment). `settings`: the readout setting,
 * or how to choose it from the held-in examples alone (nested cross-validation).
 */
export function crossValidate(
  data: EnsembleData,
  settings: ReadoutSettings | ((heldIn: EnsembleData) => ReadoutSettings),
  folds: readonly (readonly number[])[],
): CvEstimate {
  const n = data.golds.length;
  const foldAcc: number[] = [];
  let correct = 0;
  let loss = 0;
  for (const heldOut of folds) {
    const out = new Set(heldOut);
    const heldIn = Array.from({ length: n }, (_, i) => i).filter((i) => !out.has(i));
    const chosen = typeof settings === 'function' ? settings(subset(data, heldIn)) : settings;
    const fitted = fitEnsemble(data, chosen, heldIn);
    const raw = rawLogProbs(data, fitted.readouts);
    let right = 0;
    for (const i of heldOut) {
      const row = ensembleRow(raw, fitted, i);
      if (row.indexOf(Math.max(...row)) === data.golds[i]) right++;
      loss -= logSoftmax(row)[data.golds[i]];
    }
    correct += right;
    foldAcc.push(right / heldOut.length);
  }
  const mean = foldAcc.reduce((s, a) => s + a, 0) / foldAcc.length;
  const std = Math.sqrt(foldAcc.reduce((s, a) => s + (a - mean) ** 2, 0) / Math.max(1, foldAcc.length - 1));
  return { accuracy: correct / n, std, folds: folds.length, logLoss: loss / n };
}

/** The examples `idx` of an ensemble's data, renumbered 0.. in that order. */
function subset(data: EnsembleData, idx: readonly number[]): EnsembleData {
  const pick = <T>(rows: readonly T[]) => idx.map((i) => rows[i]);
  return {
    ...data,
    golds: pick(data.golds),
    members: data.members.map((m) => ({ ...m, logProbs: pick(m.logProbs) })),
    readouts: data.readouts.map((r) => ({ ...r, logits: pick(r.logits) })),
  };
}

/** The folds a run uses: stratified, `k` or fewer where a class is smaller. */
export function runFolds(data: Pick<EnsembleData, 'golds' | 'numLabels'>, k: number, seed: number): number[][] {
  return stratifiedFolds(data.golds, foldCount(data.golds, data.numLabels, k), seed);
}

/** The settings tried when a run chooses its readout by cross-validation, most regularised first. */
export const READOUT_GRID: ReadoutSettings[] = [200, 100, 50].flatMap((topWords) =>
  [0.99, 0.95, 0.9, 0.8, 0.5].map((shrinkage) => ({ topWords, shrinkage })),
);

/**
 * The readout setting with the lowest cross-validated log-loss (ties: higher accuracy, then the
 * earlier, more regularised setting), with every setting's estimate. Log-loss, not accuracy: on
 * 32–200 examples accuracy moves in steps of one example and ties often; the log-loss of every
 * held-out example separates settings that accuracy cannot.
 */
export function chooseReadout(
  data: EnsembleData,
  grid: readonly ReadoutSettings[],
  k: number,
  seed: number,
): { settings: ReadoutSettings; estimate: CvEstimate; tried: { settings: ReadoutSettings; estimate: CvEstimate }[] } {
  const folds = runFolds(data, k, seed);
  const tried = grid.map((settings) => ({ settings, estimate: crossValidate(data, settings, folds) }));
  let best = tried[0];
  for (const t of tried.slice(1)) {
    const d = best.estimate.logLoss - t.estimate.logLoss;
    if (d > 1e-12 || (Math.abs(d) <= 1e-12 && t.estimate.accuracy > best.estimate.accuracy + 1e-12)) best = t;
  }
  return { ...best, tried };
}

/**
 * The estimate of a result whose readout setting is chosen from `grid` by cross-validation:
 * nested, each outer fold's setting chosen on its held-in examples alone, so the choice itself is
 * judged on examples it did not see. One setting: plain k-fold.
 */
export function estimateOf(data: EnsembleData, grid: readonly ReadoutSettings[], k: number, seed: number): CvEstimate {
  const folds = runFolds(data, k, seed);
  if (grid.length === 1 || data.readouts.length === 0) return crossValidate(data, grid[0], folds);
  return crossValidate(data, (heldIn) => chooseReadout(heldIn, grid, k, seed).settings, folds);
}
