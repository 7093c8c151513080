/**
 * The math of verbalizer scoring, as small pure functions over label-word logits.
 * Logits come in row-major [rows × words], where words are all label words of all labels.
 */

/** RLPrompt's piecewise reward coefficients (Deng et al. 2022): gap × 180 when right, × 200 when wrong. */
export const REWARD_CORRECT = 180;
export const REWARD_WRONG = 200;

/** Which label each label-word column belongs to. */
export function wordLabels(ids: number[][]): number[] {
  return ids.flatMap((ws, label) => ws.map(() => label));
}

export interface ExampleScore {
  gold: number;
  predicted: number;
  correct: boolean;
  /** Per-label score: log-sum-exp of the label's word logits. */
  labelScores: number[];
  /** P(gold) − max P(other), probabilities = softmax over the label scores. */
  gap: number;
}

/** Scores one row: label scores, prediction (ties → lowest label), RLPrompt gap. */
export function scoreRow(logits: ArrayLike<number>, offset: number, labelOfWord: number[], numLabels: number, gold: number): ExampleScore {
  const labelScores = new Array<number>(numLabels).fill(-Infinity);
  // log-sum-exp per label, stable: accumulate max first, then the sum.
  const maxes = new Array<number>(numLabels).fill(-Infinity);
  for (let w = 0; w < labelOfWord.length; w++) maxes[labelOfWord[w]] = Math.max(maxes[labelOfWord[w]], logits[offset + w]);
  const sums = new Array<number>(numLabels).fill(0);
  for (let w = 0; w < labelOfWord.length; w++) sums[labelOfWord[w]] += Math.exp(logits[offset + w] - maxes[labelOfWord[w]]);
  for (let l = 0; l < numLabels; l++) labelScores[l] = maxes[l] + Math.log(sums[l]);
  let predicted = 0;
  for (let l = 1; l < numLabels; l++) if (labelScores[l] > labelScores[predicted]) predicted = l;
  const probs = softmax(labelScores);
  let bestOther = -Infinity;
  for (let l = 0; l < numLabels; l++) if (l !== gold && probs[l] > bestOther) bestOther = probs[l];
  return { gold, predicted, correct: predicted === gold, labelScores, gap: probs[gold] - bestOther };
}

export function softmax(xs: number[]): number[] {
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
}

export function summarize(scores: ExampleScore[], numLabels: number): Summary {
  const n = scores.length;
  const right = new Array<number>(numLabels).fill(0);
  const total = new Array<number>(numLabels).fill(0);
  let correct = 0;
  let gap = 0;
  let reward = 0;
  for (const s of scores) {
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
  };
}

export type ObjectiveName = 'accuracy' | 'margin';
export const OBJECTIVES: ObjectiveName[] = ['accuracy', 'margin'];

/**
 * The scalar the search maximises. `accuracy` breaks ties with the margin: the margin lies in
 * [-1, 1], so a weight of 1e-4 can never outweigh one more correct example among < 5,000.
 */
export function objectiveValue(s: Pick<Summary, 'accuracy' | 'margin'>, objective: ObjectiveName): number {
  return objective === 'margin' ? s.margin : s.accuracy + 1e-4 * s.margin;
}
