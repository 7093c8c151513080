import { calibrate, logSoftmax } from '../prompt/calibration';
import { Readout, readoutScore, wordLogProbs } from '../prompt/discriminant';
/**
 * The math of verbalizer scoring, as small pure functions over label-word logits.
 * Logits come in row-major [rows × words], where words are all label words of all labels.
 */

/**
 * RLPrompt's piecewise reward coefficients (Deng et al. 2022, `fsc_helpers.py`): the gap is
 * scaled by 200 when the prediction is right and by 180 when it is wrong.
 */
export const REWARD_CORRECT = 200;
export const REWARD_WRONG = 180;

/** Which label each label-word column belongs to. */
export function wordLabels(ids: readonly (readonly unknown[])[]): number[] {
  return ids.flatMap((ws, label) => ws.map(() => label));
}

export interface ExampleScore {
  gold: number;
  predicted: number;
  correct: boolean;
  /** Per-label log-probability the decision used (calibrated when offsets were given). */
  labelScores: number[];
  /** P(gold) − max P(other), probabilities = softmax over the label scores. */
  gap: number;
  /** log P(gold) under the same probabilities (the cross-entropy objective's term). */
  logLikelihood: number;
}

/**
 * How a label's words make its score: `logsumexp` (the probability of any of its words; the
 * default, for label words a user gives and their neighbours), `mean` (the mean of the words'
 * log-probabilities, each word one vote: the reading of label words taken from the data, chosen
 * because their mean log-probability separates the classes; runner/readoutMembers.ts) or
 * `discriminant` (a weighted sum of the words' log-probabilities, normalised over the label's
 * words, plus a bias: a readout fitted on labelled examples, prompt/discriminant.ts; every label
 * lists the same words, each with its own weights).
 */
export const LABEL_SCORE_RULES = ['logsumexp', 'mean', 'discriminant'] as const;
export type LabelScoreRule = (typeof LABEL_SCORE_RULES)[number];

/**
 * Per-label score of one row of label-word logits: log-sum-exp (or the mean) of the label's word
 * logits. A row's logits share one softmax normaliser, so either differs from the same reading of
 * the words' log-probabilities by a constant per row, which the label log-softmax removes.
 */
export function labelScoresOfRow(
  logits: ArrayLike<number>,
  offset: number,
  labelOfWord: number[],
  numLabels: number,
  score: LabelScoreRule = 'logsumexp',
  readout?: Readout,
): number[] {
  if (score === 'discriminant') {
    if (!readout) throw new Error('labelScoresOfRow: the discriminant reading needs its readout');
    // A label's words are a run of columns (labelOfWord is label-ordered); each run normalised on its own.
    let start = 0;
    return readout.weights.map((w, l) => {
      const x = wordLogProbs(logits, offset + start, w.length);
      start += w.length;
      return readoutScore(x, w, readout.bias[l]);
    });
  }
  if (score === 'mean') {
    const sums = new Array<number>(numLabels).fill(0);
    const counts = new Array<number>(numLabels).fill(0);
    for (let w = 0; w < labelOfWord.length; w++) {
      sums[labelOfWord[w]] += logits[offset + w];
      counts[labelOfWord[w]]++;
    }
    return sums.map((s, l) => s / counts[l]);
  }
  // log-sum-exp per label, stable: accumulate max first, then the sum.
  const maxes = new Array<number>(numLabels).fill(-Infinity);
  for (let w = 0; w < labelOfWord.length; w++)
    maxes[labelOfWord[w]] = Math.max(maxes[labelOfWord[w]], logits[offset + w]);
  const sums = new Array<number>(numLabels).fill(0);
  for (let w = 0; w < labelOfWord.length; w++)
    sums[labelOfWord[w]] += Math.exp(logits[offset + w] - maxes[labelOfWord[w]]);
  return maxes.map((m, l) => m + Math.log(sums[l]));
}

/** Label log-probabilities of one row: log-softmax over the labels' scores. */
export function labelLogProbsOfRow(
  logits: ArrayLike<number>,
  offset: number,
  labelOfWord: number[],
  numLabels: number,
  score: LabelScoreRule = 'logsumexp',
  readout?: Readout,
): number[] {
  return logSoftmax(labelScoresOfRow(logits, offset, labelOfWord, numLabels, score, readout));
}

/**
 * Judges one example from its label log-probabilities (already calibrated, or raw): prediction
 * (ties → lowest label), RLPrompt gap and log-likelihood of the gold label.
 */
export function judge(logProbs: number[], gold: number): ExampleScore {
  let predicted = 0;
  for (let l = 1; l < logProbs.length; l++) if (logProbs[l] > logProbs[predicted]) predicted = l;
  const probs = softmax(logProbs);
  let bestOther = -Infinity;
  for (let l = 0; l < logProbs.length; l++) if (l !== gold && probs[l] > bestOther) bestOther = probs[l];
  const lp = logSoftmax(logProbs);
  return {
    gold,
    predicted,
    correct: predicted === gold,
    labelScores: logProbs,
    gap: probs[gold] - bestOther,
    logLikelihood: lp[gold],
  };
}

/** Scores one row of label-word logits without calibration. */
export function scoreRow(
  logits: ArrayLike<number>,
  offset: number,
  labelOfWord: number[],
  numLabels: number,
  gold: number,
): ExampleScore {
  return judge(labelLogProbsOfRow(logits, offset, labelOfWord, numLabels), gold);
}

/** Judges every example with calibration offsets applied (offsets undefined: raw). */
export function judgeAll(
  logProbs: readonly number[][],
  golds: readonly number[],
  offsets: readonly number[] | undefined,
): ExampleScore[] {
  return logProbs.map((lp, i) => judge(calibrate(lp, offsets), golds[i]));
}

export function softmax(xs: readonly number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

export interface Summary {
  n: number;
  accuracy: number;
  /** Accuracy per gold label (NaN for a label with no example). */
  perClassAccuracy: number[];
  /** Mean RLPrompt gap. */
  margin: number;
  /** Mean RLPrompt piecewise reward. */
  reward: number;
  /** Mean log P(gold): minus the cross-entropy. */
  logLikelihood: number;
}

export function summarize(scores: ExampleScore[], numLabels: number): Summary {
  const n = scores.length;
  const right = new Array<number>(numLabels).fill(0);
  const total = new Array<number>(numLabels).fill(0);
  let correct = 0;
  let gap = 0;
  let reward = 0;
  let ll = 0;
  for (const s of scores) {
    ll += s.logLikelihood;
    total[s.gold]++;
    if (s.correct) {
      correct++;
      right[s.gold]++;
    }
    gap += s.gap;
    reward += s.gap * (s.correct ? REWARD_CORRECT : REWARD_WRONG);
  }
  return {
    n,
    accuracy: n ? correct / n : 0,
    perClassAccuracy: total.map((t, l) => (t ? right[l] / t : NaN)),
    margin: n ? gap / n : 0,
    reward: n ? reward / n : 0,
    logLikelihood: n ? ll / n : 0,
  };
}

export const OBJECTIVES = ['ce', 'accuracy', 'margin'] as const;
export type ObjectiveName = (typeof OBJECTIVES)[number];
export const DEFAULT_OBJECTIVE: ObjectiveName = 'ce';

/**
 * The scalar the search maximises. `ce`: mean log-probability of the gold label (minus the
 * cross-entropy), smooth, so 32 examples still tell close candidates apart. `accuracy` breaks
 * ties with the margin: the margin lies in [-1, 1], so a weight of 1e-4 can never outweigh one
 * more correct example among < 5,000. `margin`: the mean RLPrompt gap.
 */
export function objectiveValue(
  s: Pick<Summary, 'accuracy' | 'margin' | 'logLikelihood'>,
  objective: ObjectiveName,
): number {
  if (objective === 'ce') return s.logLikelihood;
  return objective === 'margin' ? s.margin : s.accuracy + 1e-4 * s.margin;
}
