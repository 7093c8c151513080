import seedrandom from 'seedrandom';
import { MAX_PADDING_RATIO, planBatches } from '../src/scoring/batching';

const padded = (lengths: number[], b: number[]) => b.length * Math.max(...b.map((i) => lengths[i]));
const real = (lengths: number[], b: number[]) => b.reduce((a, i) => a + lengths[i], 0);

describe('planBatches', () => {
  test('every row once; token, row and padding caps hold; the plan depends only on the lengths', () => {
    const rng = seedrandom('batching');
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(rng() * 300);
      const lengths = Array.from({ length: n }, () => 3 + Math.floor(rng() * 120));
      const maxTokens = 64 + Math.floor(rng() * 4000);
      const maxRows = 1 + Math.floor(rng() * 64);
      const plan = planBatches(lengths, maxTokens, maxRows);
      expect(plan.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
      for (const b of plan) {
        expect(b.length).toBeLessThanOrEqual(maxRows);
        if (b.length > 1) {
          expect(padded(lengths, b)).toBeLessThanOrEqual(maxTokens);
          expect(padded(lengths, b)).toBeLessThanOrEqual(MAX_PADDING_RATIO * real(lengths, b) + 1e-9);
        }
      }
      expect(planBatches([...lengths], maxTokens, maxRows)).toEqual(plan);
    }
  });

  test("a search task (one candidate's 32 SST-2 train rows) is cut by length instead of padded to its longest row", () => {
    // Seed 13's train rows under {x} <A:2> [MASK] . (11 to 60 tokens): one batch would pad 959 real tokens to 1,920.
    const lengths = [
      11, 12, 12, 14, 15, 15, 16, 17, 20, 23, 23, 25, 26, 26, 28, 28, 29, 29, 30, 32, 33, 34, 34, 36, 38, 38, 41, 48,
      54, 55, 57, 60,
    ];
    const plan = planBatches(lengths, 2048, 64);
    expect(plan.length).toBeGreaterThan(1);
    const total = plan.reduce((a, b) => a + padded(lengths, b), 0);
    expect(total).toBeLessThan(1.2 * 959);
    // Uniform rows fill a batch up to the caps.
    expect(planBatches(Array(256).fill(30), 2048, 64).map((b) => b.length)).toEqual([64, 64, 64, 64]);
  });
});
