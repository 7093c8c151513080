import { BudgetedEvaluator, canReach } from '../src/runner/evaluator';
import { ScoreResult, ScoreTask } from '../src/scoring/workerProtocol';
import { Candidate, SearchSpace } from '../src/search/types';

const N = 40;
const space: SearchSpace = { groups: [{ name: 'A', minLength: 1, maxLength: 1, pools: [Array.from({ length: 200 }, (_, i) => i)] }] };
/** Candidate t gets example i right with a token-dependent rate: a deterministic fake scorer. */
const fakeScore = async (t: ScoreTask): Promise<ScoreResult> => {
  const tok = t.slots.A[0];
  const correct: boolean[] = [];
  const gaps: number[] = [];
  for (let i = t.start; i < t.end; i++) {
    const right = ((tok * 7919 + i * 104729) % 100) < (tok % 100);
    correct.push(right);
    gaps.push(right ? 0.1 : -0.1);
  }
  return { correct, gaps };
};
const make = (budget: number, racing?: { fraction: number; topK: number; z?: number }) =>
  new BudgetedEvaluator({ space, decode: (c) => ({ slots: { A: c.tokens[0] }, labelIds: [[0], [1]] }), score: fakeScore, trainSize: N, budget, objective: 'accuracy', seed: 1, racing });
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

  test.each([0, 1])('racing (z=%d) spends less, stays exact about the budget, keeps rejected out of the top-k', async (z) => {
    const plain = make(1e9);
    await plain.evaluate(all);
    const raced = make(1e9, { fraction: 0.25, topK: 5, z });
    for (let i = 0; i < all.length; i += 20) await raced.evaluate(all.slice(i, i + 20));
    const full = raced.all().filter((c) => c.score.partialExamples === undefined);
    const partial = raced.all().filter((c) => c.score.partialExamples !== undefined);
    expect(partial.length).toBeGreaterThan(0);
    expect(raced.spent).toBe(full.length * N + partial.length * 10);
    expect(raced.spent).toBeLessThan(plain.spent);
    const topAcc = (cs: typeof full) => cs.map((c) => c.score.accuracy).sort((a, b) => b - a).slice(0, 5);
    if (z === 0) expect(topAcc(full)).toEqual(topAcc(plain.all())); // provably nothing lost
    for (const p of partial) expect(p.score.accuracy).toBeLessThan(topAcc(full)[4]);
  });
});
