import { BudgetedEvaluator, EvaluatorOptions, canReach, scoreLogProbs, stratifiedOrder } from '../src/runner/evaluator';
import { meanOffsets } from '../src/prompt/calibration';
import { ScoreResult, ScoreTask } from '../src/scoring/workerProtocol';
import { Candidate, SearchSpace } from '../src/search/types';

const N = 40;
const space: SearchSpace = {
  groups: [{ name: 'A', minLength: 1, maxLength: 1, pools: [Array.from({ length: 200 }, (_, i) => i)] }],
};
/** Gold labels: 0 for the first half, 1 for the second (like the bundled train files). */
const LABELS = Array.from({ length: N }, (_, i) => (i < N / 2 ? 0 : 1));
/**
 * Candidate t gets example i right with a token-dependent rate: a deterministic fake scorer
 * returning label log-probabilities that favour the gold label (right) or the other one.
 */
const fakeScore = async (t: ScoreTask): Promise<ScoreResult> => {
  const tok = t.slots.A[0];
  const logProbs: number[][] = [];
  for (let i = t.start; i < t.end; i++) {
    const right = (tok * 7919 + i * 104729) % 100 < tok % 100;
    const p = right === (LABELS[i] === 0) ? 0.6 : 0.4;
    logProbs.push([Math.log(p), Math.log(1 - p)]);
  }
  return { logProbs };
};
const make = (
  budget: number,
  racing?: { fraction: number; topK: number; z?: number },
  more: Partial<EvaluatorOptions> = {},
) =>
  new BudgetedEvaluator({
    space,
    decode: (c) => ({ slots: { A: c.tokens[0] }, labelIds: [[0], [1]] }),
    score: fakeScore,
    trainSize: N,
    trainLabels: LABELS,
    numLabels: 2,
    calibration: 'none',
    budget,
    objective: 'accuracy',
    seed: 1,
    racing,
    ...more,
  });
const all = Array.from({ length: 200 }, (_, i): Candidate => ({ tokens: [[i]] }));

describe('budgeted evaluator', () => {
  test('charges each new candidate once, never past the budget, cached ones free', async () => {
    const ev = make(N * 5 + 7);
    const r = await ev.evaluate(all.slice(0, 10));
    expect(r).toHaveLength(5);
    expect(ev.spent).toBe(5 * N);
    expect(ev.exhausted()).toBe(true);
    expect(await ev.evaluate([all[0], all[3]])).toHaveLength(2); // cached: free, still answered
    expect(ev.spent).toBe(5 * N);
  });

  test('canReach: exact rule and the z-optimistic rule', () => {
    expect(canReach(2, 10, 40, 0.8)).toBe(true); // (2 + 30) / 40 = 0.8
    expect(canReach(1, 10, 40, 0.8)).toBe(false);
    expect(canReach(5, 10, 40, 0.8, 1)).toBe(false); // 0.5 + 1 SE ≈ 0.66 < 0.8
    expect(canReach(8, 10, 40, 0.8, 1)).toBe(true);
  });

  test.each([0, 1])(
    'racing (z=%d) spends less, stays exact about the budget, keeps rejected out of the top-k',
    async (z) => {
      const plain = make(1e9);
      await plain.evaluate(all);
      const raced = make(1e9, { fraction: 0.25, topK: 5, z });
      for (let i = 0; i < all.length; i += 20) await raced.evaluate(all.slice(i, i + 20));
      const full = raced.all().filter((c) => c.score.partialExamples === undefined);
      const partial = raced.all().filter((c) => c.score.partialExamples !== undefined);
      expect(partial.length).toBeGreaterThan(0);
      expect(raced.spent).toBe(full.length * N + partial.length * 10);
      expect(raced.spent).toBeLessThan(plain.spent);
      const topAcc = (cs: typeof full) =>
        cs
          .map((c) => c.score.accuracy)
          .sort((a, b) => b - a)
          .slice(0, 5);
      if (z === 0) expect(topAcc(full)).toEqual(topAcc(plain.all())); // provably nothing lost
      for (const p of partial) expect(p.score.accuracy).toBeLessThan(topAcc(full)[4]);
    },
  );

  test('stratifiedOrder: a permutation whose every prefix is (nearly) balanced, seeded', () => {
    const labels = [...Array(16).fill(0), ...Array(16).fill(1)];
    const order = stratifiedOrder(labels, 13);
    expect([...order].sort((a, b) => a - b)).toEqual(labels.map((_, i) => i));
    for (let m = 2; m <= 32; m += 2) {
      const ones = order.slice(0, m).filter((i) => labels[i] === 1).length;
      expect(Math.abs(ones - m / 2)).toBeLessThanOrEqual(1);
    }
    expect(stratifiedOrder(labels, 13)).toEqual(order);
    expect(stratifiedOrder(labels, 21)).not.toEqual(order);
    // Unequal classes: a prefix keeps the proportions (3 : 1)
    const skew = [...Array(24).fill(0), ...Array(8).fill(1)];
    const o2 = stratifiedOrder(skew, 1).slice(0, 8);
    expect(o2.filter((i) => skew[i] === 1).length).toBe(2);
  });

  test('calibration: each candidate gets its own offsets from the inputs it was scored on', async () => {
    const ev = make(1e9, undefined, { calibration: 'inputs', objective: 'ce' });
    const [r] = await ev.evaluate([all[37]]);
    const { logProbs } = await fakeScore({
      split: 'train',
      slots: { A: [37] },
      labelIds: [[0], [1]],
      start: 0,
      end: N,
    });
    const expected = scoreLogProbs(logProbs, LABELS, 2, 'ce', meanOffsets(logProbs, 2));
    expect(r.score.offsets).toEqual(meanOffsets(logProbs, 2));
    expect(r.score.objective).toBeCloseTo(expected.logLikelihood, 12);
    expect(r.score.accuracy).toBe(expected.accuracy);
  });

  test('content-free calibration scores the calib rows per candidate and charges them', async () => {
    const seen: string[] = [];
    const score = async (t: ScoreTask) => (
      seen.push(t.split),
      t.split === 'calib'
        ? {
            logProbs: [
              [Math.log(0.2), Math.log(0.8)],
              [Math.log(0.4), Math.log(0.6)],
              [Math.log(0.3), Math.log(0.7)],
            ],
          }
        : fakeScore(t)
    );
    const ev = make(1e9, undefined, { score, calibration: 'content-free', calibRows: 3, objective: 'ce' });
    const [r] = await ev.evaluate([all[5]]);
    expect(seen).toEqual(['calib', 'train']);
    expect(ev.spent).toBe(N + 3);
    expect(r.score.offsets![0]).toBeCloseTo((Math.log(0.2) + Math.log(0.4) + Math.log(0.3)) / 3, 12);
  });
});
