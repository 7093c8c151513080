import { judgeAll, objectiveValue, scoreRow, softmax, summarize } from '../src/scoring/metrics';
import { calibrate, contentFreeExamples, ensembleLogProbs, logSoftmax, meanOffsets, mergeOffsets } from '../src/prompt/calibration';

describe('verbalizer metrics', () => {
  test('several words per label combine by log-sum-exp (summed probability)', () => {
    // label 0 words: logits 1 and 1 → lse = 1 + ln 2; label 1 word: 1.5
    const s = scoreRow([1, 1, 1.5], 0, [0, 0, 1], 2, 0);
    // label scores are log-probabilities over the labels: log_softmax([1 + ln 2, 1.5])
    expect(s.labelScores[0] - s.labelScores[1]).toBeCloseTo(1 + Math.log(2) - 1.5, 10);
    expect(Math.exp(s.labelScores[0]) + Math.exp(s.labelScores[1])).toBeCloseTo(1, 12);
    expect(s.predicted).toBe(0);
    const p = softmax([1 + Math.log(2), 1.5]);
    expect(s.gap).toBeCloseTo(p[0] - p[1], 10);
  });

  test('gap is negative when wrong; ties go to the lowest label', () => {
    const s = scoreRow([0, 2], 0, [0, 1], 2, 0);
    expect(s.correct).toBe(false);
    expect(s.gap).toBeLessThan(0);
    expect(scoreRow([3, 3], 0, [0, 1], 2, 1).predicted).toBe(0);
  });

  test('summary: accuracy, per-class, RLPrompt reward', () => {
    const a = scoreRow([2, 0], 0, [0, 1], 2, 0); // right
    const b = scoreRow([2, 0], 0, [0, 1], 2, 1); // wrong
    const sum = summarize([a, b], 3);
    expect(sum.accuracy).toBe(0.5);
    expect(sum.perClassAccuracy.slice(0, 2)).toEqual([1, 0]);
    expect(Number.isNaN(sum.perClassAccuracy[2])).toBe(true);
    // RLPrompt (fsc_helpers.py): ×200 when correct, ×180 when wrong.
    expect(sum.reward).toBeCloseTo((a.gap * 200 + b.gap * 180) / 2, 10);
    expect(sum.logLikelihood).toBeCloseTo((a.logLikelihood + b.logLikelihood) / 2, 12);
    expect(a.logLikelihood).toBeCloseTo(-Math.log(1 + Math.exp(-2)), 12);
  });

  test('objective: accuracy dominates, margin breaks ties', () => {
    expect(objectiveValue({ accuracy: 0.5, margin: 1, logLikelihood: 0 }, 'accuracy')).toBeLessThan(objectiveValue({ accuracy: 0.5 + 1 / 4999, margin: -1, logLikelihood: 0 }, 'accuracy'));
    expect(objectiveValue({ accuracy: 0.5, margin: 0.2, logLikelihood: 0 }, 'accuracy')).toBeGreaterThan(objectiveValue({ accuracy: 0.5, margin: 0.1, logLikelihood: 0 }, 'accuracy'));
    expect(objectiveValue({ accuracy: 0.9, margin: 0.1, logLikelihood: -0.3 }, 'margin')).toBe(0.1);
    expect(objectiveValue({ accuracy: 0.9, margin: 0.1, logLikelihood: -0.3 }, 'ce')).toBe(-0.3);
  });
});

describe('calibration', () => {
  // Hand-made label log-probabilities: the model prefers label 1 everywhere by about ln 4.
  const lp = [
    [Math.log(0.3), Math.log(0.7)], // gold 0
    [Math.log(0.1), Math.log(0.9)], // gold 1
    [Math.log(0.25), Math.log(0.75)], // gold 0
    [Math.log(0.05), Math.log(0.95)], // gold 1
  ];
  const gold = [0, 1, 0, 1];

  test('offsets are per-label means; merging two sets equals the mean over both', () => {
    const off = meanOffsets(lp, 2);
    expect(off[0]).toBeCloseTo((Math.log(0.3) + Math.log(0.1) + Math.log(0.25) + Math.log(0.05)) / 4, 12);
    const merged = mergeOffsets(meanOffsets(lp.slice(0, 1), 2), 1, meanOffsets(lp.slice(1), 2), 3);
    merged.forEach((x, l) => expect(x).toBeCloseTo(off[l], 12));
  });

  test('raw: the prior wins everywhere; calibrated: the bias is removed and every example is right', () => {
    expect(summarize(judgeAll(lp, gold, undefined), 2).accuracy).toBe(0.5);
    const cal = judgeAll(lp, gold, meanOffsets(lp, 2));
    expect(cal.map((e) => e.predicted)).toEqual(gold);
    // calibrated = log_softmax(lp − offsets): a proper distribution
    const c = calibrate(lp[0], meanOffsets(lp, 2));
    expect(Math.exp(c[0]) + Math.exp(c[1])).toBeCloseTo(1, 12);
    const off = meanOffsets(lp, 2);
    expect(c[0] - c[1]).toBeCloseTo(lp[0][0] - off[0] - (lp[0][1] - off[1]), 12);
  });

  test('logSoftmax is stable for large inputs', () => {
    const r = logSoftmax([1000, 1000]);
    expect(r[0]).toBeCloseTo(-Math.log(2), 12);
  });

  test("an ensemble is the mean of its members' calibrated log-probabilities", () => {
    const other = lp.map(([a, b]) => [b, a]);
    const offA = meanOffsets(lp, 2);
    const e = ensembleLogProbs([{ logProbs: lp, offsets: offA }, { logProbs: other }]);
    e.forEach((row, i) => row.forEach((v, l) => expect(v).toBeCloseTo((calibrate(lp[i], offA)[l] + other[i][l]) / 2, 12)));
    // one member: exactly its calibrated log-probabilities
    expect(ensembleLogProbs([{ logProbs: lp, offsets: offA }])).toEqual(lp.map((r) => calibrate(r, offA)));
  });

  test('content-free examples fill every input column; null stands for the mask token', () => {
    const ex = contentFreeExamples(['sentence', 'title'], '[MASK]');
    expect(ex.map((e) => e.fields.sentence)).toEqual(['N/A', '', '[MASK]']);
    expect(ex.every((e) => e.fields.title === e.fields.sentence)).toBe(true);
  });
});
