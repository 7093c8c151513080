import { objectiveValue, scoreRow, softmax, summarize } from '../src/scoring/metrics';

describe('verbalizer metrics', () => {
  test('several words per label combine by log-sum-exp (summed probability)', () => {
    // label 0 words: logits 1 and 1 → lse = 1 + ln 2; label 1 word: 1.5
    const s = scoreRow([1, 1, 1.5], 0, [0, 0, 1], 2, 0);
    expect(s.labelScores[0]).toBeCloseTo(1 + Math.log(2), 10);
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
    expect(sum.reward).toBeCloseTo((a.gap * 180 + b.gap * 200) / 2, 10);
  });

  test('objective: accuracy dominates, margin breaks ties', () => {
    expect(objectiveValue({ accuracy: 0.5, margin: 1 }, 'accuracy')).toBeLessThan(objectiveValue({ accuracy: 0.5 + 1 / 4999, margin: -1 }, 'accuracy'));
    expect(objectiveValue({ accuracy: 0.5, margin: 0.2 }, 'accuracy')).toBeGreaterThan(objectiveValue({ accuracy: 0.5, margin: 0.1 }, 'accuracy'));
    expect(objectiveValue({ accuracy: 0.9, margin: 0.1 }, 'margin')).toBe(0.1);
  });
});
