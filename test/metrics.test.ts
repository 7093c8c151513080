import { judgeAll, labelLogProbsOfRow, objectiveValue, scoreRow, softmax, summarize } from '../src/scoring/metrics';
import seedrandom from 'seedrandom';
import {
  applyFit,
  calibrate,
  contentFreeExamples,
  ensembleLogProbs,
  fitMember,
  FIT_L2,
  logSoftmax,
  meanOffsets,
  mergeOffsets,
} from '../src/prompt/calibration';

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

  test("labelScore mean: a label's score is the mean of its words' logits (each word one vote)", () => {
    // label 0: one very likely word and one unlikely (logits 4 and -2); label 1: two middling words (1.5, 1.5).
    const logits = [0.3, 4, -2, 1.5, 1.5];
    const labelOfWord = [0, 0, 1, 1];
    const lse = labelLogProbsOfRow(logits, 1, labelOfWord, 2);
    const mean = labelLogProbsOfRow(logits, 1, labelOfWord, 2, 'mean');
    // log-sum-exp: label 0 wins (4 + ln(1 + e^-6) against 1.5 + ln 2); mean: label 1 (1 against 1.5).
    expect(lse[0] - lse[1]).toBeCloseTo(4 + Math.log(1 + Math.exp(-6)) - 1.5 - Math.log(2), 10);
    expect(mean[0] - mean[1]).toBeCloseTo(1 - 1.5, 12);
    expect(Math.exp(mean[0]) + Math.exp(mean[1])).toBeCloseTo(1, 12);
    // One word per label: both readings agree.
    expect(labelLogProbsOfRow([2, 0.5], 0, [0, 1], 2, 'mean')).toEqual(labelLogProbsOfRow([2, 0.5], 0, [0, 1], 2));
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
    expect(objectiveValue({ accuracy: 0.5, margin: 1, logLikelihood: 0 }, 'accuracy')).toBeLessThan(
      objectiveValue({ accuracy: 0.5 + 1 / 4999, margin: -1, logLikelihood: 0 }, 'accuracy'),
    );
    expect(objectiveValue({ accuracy: 0.5, margin: 0.2, logLikelihood: 0 }, 'accuracy')).toBeGreaterThan(
      objectiveValue({ accuracy: 0.5, margin: 0.1, logLikelihood: 0 }, 'accuracy'),
    );
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
    e.forEach((row, i) =>
      row.forEach((v, l) => expect(v).toBeCloseTo((calibrate(lp[i], offA)[l] + other[i][l]) / 2, 12)),
    );
    // one member: exactly its calibrated log-probabilities
    expect(ensembleLogProbs([{ logProbs: lp, offsets: offA }])).toEqual(lp.map((r) => calibrate(r, offA)));
  });

  describe('member fit (fitMembers)', () => {
    // Three labels; the member's calibrated scores still favour label 0 (a prior the unlabelled
    // offsets missed) and are flat (too little confidence): a bias and a scale fix both.
    const rng = seedrandom('fit');
    const golds: number[] = [];
    const rows: number[][] = [];
    for (let i = 0; i < 300; i++) {
      const y = i % 3;
      golds.push(y);
      rows.push(logSoftmax([0, 1, 2].map((l) => (l === y ? 0.3 : 0) + (l === 0 ? 0.25 : 0) + 0.5 * (rng() - 0.5))));
    }
    const meanLoss = (rs: number[][], fit?: Parameters<typeof applyFit>[1]) =>
      -rs.reduce((s, r, i) => s + applyFit(r, fit)[golds[i]], 0) / rs.length;
    const accuracy = (rs: number[][], fit?: Parameters<typeof applyFit>[1]) =>
      rs.filter((r, i) => {
        const a = applyFit(r, fit);
        return a.indexOf(Math.max(...a)) === golds[i];
      }).length / rs.length;
    /** No step of ±d in one of the fit's numbers lowers its penalised cross-entropy on `rs`. */
    const expectLocalMinimum = (rs: number[][], fit: { scale: number; bias: number[] }, d: number) => {
      const objective = (f: { scale: number; bias: number[] }) =>
        meanLoss(rs, f) + FIT_L2 * ((f.scale - 1) ** 2 + f.bias.reduce((s, b) => s + b * b, 0));
      const at = objective(fit);
      for (let k = 0; k <= fit.bias.length; k++)
        for (const step of [d, -d]) {
          const moved = {
            scale: fit.scale + (k === 0 ? step : 0),
            bias: fit.bias.map((b, l) => b + (k === l + 1 ? step : 0)),
          };
          expect(objective(moved)).toBeGreaterThan(at);
        }
    };

    test('minimises the penalised cross-entropy: no small step away from it lowers the objective', () => {
      const fit = fitMember(rows, golds, 3);
      expectLocalMinimum(rows, fit, 1e-3);
      // It helps here: lower cross-entropy and higher accuracy than the member unfitted,
      // a sharper scale, and labels 1 and 2 raised against label 0.
      expect(meanLoss(rows, fit)).toBeLessThan(meanLoss(rows) - 0.05);
      expect(accuracy(rows, fit)).toBeGreaterThan(accuracy(rows));
      expect(fit.scale).toBeGreaterThan(2);
      expect(fit.bias[1]).toBeGreaterThan(fit.bias[0]);
      expect(fit.bias[2]).toBeGreaterThan(fit.bias[0]);
    });

    test('with a negligible L2 pull, scores ten times flatter get a ten times larger scale and the same biases', () => {
      const a = fitMember(rows, golds, 3, 1e-12);
      const b = fitMember(
        rows.map((r) => logSoftmax(r.map((x) => x / 10))),
        golds,
        3,
        1e-12,
      );
      expect(b.scale / a.scale).toBeCloseTo(10, 4);
      // Biases are defined up to a constant shared by the labels.
      b.bias.forEach((x, l) => expect(x - b.bias[0]).toBeCloseTo(a.bias[l] - a.bias[0], 3));
    });

    test('a member that is always wrong gets scale 0: only the label biases are left', () => {
      const wrong = golds.map((y) => logSoftmax([0, 1, 2].map((l) => (l === (y + 1) % 3 ? 2 : 0))));
      const fit = fitMember(wrong, golds, 3);
      expect(fit.scale).toBe(0);
      expect(Math.max(...fit.bias) - Math.min(...fit.bias)).toBeLessThan(1e-6); // balanced labels: no preference
    });

    test.each([
      [320, 0],
      [10, 10],
    ])('scores %p times sharper (label 0 raised by %p) keep a positive scale at the minimum, not 0', (k, shift) => {
      // The same informative member, far too sharp (and biased): its best scale is small but
      // positive. A full Newton step from scale 1 lands below 0; clamping there and holding the
      // scale at 0 (as fitMember once did, on 3 of the default's 60 discriminant readout members) drops the
      // member from the ensemble. The step now stops at 0 and the fit goes on.
      const sharp = rows.map((r) => logSoftmax(r.map((x, l) => k * x + (l === 0 ? shift : 0))));
      const fit = fitMember(sharp, golds, 3);
      expect(fit.scale).toBeGreaterThan(0.04);
      expectLocalMinimum(sharp, fit, 1e-4);
      expect(accuracy(sharp, fit)).toBeGreaterThan(accuracy(sharp, { scale: 0, bias: fit.bias }));
    });

    test("the ensemble is the mean of the members' fitted calibrated log-probabilities", () => {
      const fit = { scale: 1.7, bias: [0.2, -0.1, 0.4] };
      const offsets = meanOffsets(rows, 3);
      const e = ensembleLogProbs([{ logProbs: rows, offsets, fit }, { logProbs: rows }]);
      e.forEach((row, i) => {
        const fitted = logSoftmax(calibrate(rows[i], offsets).map((x, l) => 1.7 * x + fit.bias[l]));
        row.forEach((v, l) => expect(v).toBeCloseTo((fitted[l] + rows[i][l]) / 2, 12));
      });
    });
  });

  test('content-free examples fill every input column; null stands for the mask token', () => {
    const ex = contentFreeExamples(['sentence', 'title'], '[MASK]');
    expect(ex.map((e) => e.fields.sentence)).toEqual(['N/A', '', '[MASK]']);
    expect(ex.every((e) => e.fields.title === e.fields.sentence)).toBe(true);
  });
});
