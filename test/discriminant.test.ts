/** The discriminant readout's math (prompt/discriminant.ts) on hand-made numbers. */
import { fitDiscriminant, readoutScore, wordLogProbs } from '../src/prompt/discriminant';
import { labelScoresOfRow } from '../src/scoring/metrics';

// Two classes in two dimensions: class means (1, 0) and (−1, 1); within-class deviations ±(1, 1) and ±(1, −1)/2.
const x = [
  [2, 1],
  [0, -1],
  [1.5, -0.5],
  [0.5, 0.5],
  [0, 2],
  [-2, 0],
  [-0.5, 0.5],
  [-1.5, 1.5],
];
const golds = [0, 0, 0, 0, 1, 1, 1, 1];

describe('fitDiscriminant', () => {
  // Pooled within-class covariance (divided by n = 8): each class contributes (1,1)(1,1)ᵀ·2 + (.5,−.5)(.5,−.5)ᵀ·2.
  const S = [
    [(2 * 2 + 2 * 0.5) / 8, (2 * 2 - 2 * 0.5) / 8],
    [(2 * 2 - 2 * 0.5) / 8, (2 * 2 + 2 * 0.5) / 8],
  ];
  const mus = [
    [1, 0],
    [-1, 1],
  ];
  const solve2 = (a: number[][], b: number[]) => {
    const det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    return [(a[1][1] * b[0] - a[0][1] * b[1]) / det, (a[0][0] * b[1] - a[1][0] * b[0]) / det];
  };

  test.each([0, 0.5, 1])(
    'shrinkage %p: w_l = Σ⁻¹ µ_l and b_l = −½ w_l · µ_l with Σ = S off the diagonal × (1 − s), + ridge',
    (s) => {
      const ridge = 0.01;
      const sigma = [
        [S[0][0] + ridge, S[0][1] * (1 - s)],
        [S[1][0] * (1 - s), S[1][1] + ridge],
      ];
      const r = fitDiscriminant(x, golds, 2, s, ridge);
      mus.forEach((mu, l) => {
        const w = solve2(sigma, mu);
        expect(r.weights[l][0]).toBeCloseTo(w[0], 10);
        expect(r.weights[l][1]).toBeCloseTo(w[1], 10);
        expect(r.bias[l]).toBeCloseTo(-0.5 * (w[0] * mu[0] + w[1] * mu[1]), 10);
      });
    },
  );

  test('separable classes: every training row is scored highest for its own label', () => {
    const r = fitDiscriminant(x, golds, 2, 0.9);
    x.forEach((row, i) => {
      const sc = r.weights.map((w, l) => readoutScore(row, w, r.bias[l]));
      expect(sc.indexOf(Math.max(...sc))).toBe(golds[i]);
    });
  });

  test('a label without examples, or no rows, is an error', () => {
    expect(() => fitDiscriminant(x, golds, 3, 0.9)).toThrow(/label 2 has no example/);
    expect(() => fitDiscriminant([], [], 2, 0.9)).toThrow(/at least one row/);
  });
});

describe('the discriminant reading of a row of logits', () => {
  const readout = {
    weights: [
      [1, -2, 0.5],
      [0, 3, -1],
    ],
    bias: [0.25, -0.5],
  };
  const logits = [2, -1, 0.5, 2, -1, 0.5];
  const labelOfWord = [0, 0, 0, 1, 1, 1];

  test("each label's score is its weights · the words' log-probabilities (normalised over its words) + its bias", () => {
    const lp = wordLogProbs(logits, 0, 3);
    const lse = Math.log(Math.exp(2) + Math.exp(-1) + Math.exp(0.5));
    expect(Array.from(lp)).toEqual([2 - lse, -1 - lse, 0.5 - lse]);
    const scores = labelScoresOfRow(logits, 0, labelOfWord, 2, 'discriminant', readout);
    expect(scores[0]).toBeCloseTo(lp[0] - 2 * lp[1] + 0.5 * lp[2] + 0.25, 12);
    expect(scores[1]).toBeCloseTo(3 * lp[1] - lp[2] - 0.5, 12);
  });

  test('a constant added to every logit of the row changes nothing (the words are normalised)', () => {
    const a = labelScoresOfRow(logits, 0, labelOfWord, 2, 'discriminant', readout);
    const b = labelScoresOfRow(
      logits.map((v) => v + 7),
      0,
      labelOfWord,
      2,
      'discriminant',
      readout,
    );
    a.forEach((v, l) => expect(b[l]).toBeCloseTo(v, 12));
  });

  test('without its readout the discriminant rule is an error', () => {
    expect(() => labelScoresOfRow(logits, 0, labelOfWord, 2, 'discriminant')).toThrow(/needs its readout/);
  });
});
