import { PROBE_C_GRID, probeLogits, probePredict, trainProbe } from '../src/scoring/probe';
import { softmax } from '../src/scoring/metrics';

/** A seeded toy set: two Gaussian blobs in 50 dimensions, separable along the first axis. */
function toy(n: number, seed: number): { x: number[][]; y: number[] } {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    x.push(Array.from({ length: 50 }, (_, j) => (j === 0 ? (label ? 2 : -2) : 0) + (rand() - 0.5)));
    y.push(label);
  }
  return { x, y };
}

describe('linear probe (logistic regression)', () => {
  test('separates a separable toy set, train and held out', () => {
    const train = toy(40, 1);
    const test = toy(200, 7);
    const m = trainProbe(train.x, train.y, 2, 1);
    expect(train.x.every((r, i) => probePredict(m, r) === train.y[i])).toBe(true);
    expect(test.x.filter((r, i) => probePredict(m, r) === test.y[i]).length).toBe(200);
  });

  test('reaches the optimum: the gradient of C·ΣCE + ½‖W‖² vanishes', () => {
    const { x, y } = toy(30, 3);
    const C = 0.1;
    const m = trainProbe(x, y, 2, C, 5000);
    const d = x[0].length;
    const grad = m.weights.map((w) => Float64Array.from(w));
    const gBias = [0, 0];
    x.forEach((r, i) => {
      const p = softmax(probeLogits(m, r));
      for (let l = 0; l < 2; l++) {
        const g = C * (p[l] - (y[i] === l ? 1 : 0));
        gBias[l] += g;
        for (let j = 0; j < d; j++) grad[l][j] += (g * (r[j] - m.mean[j])) / m.scale;
      }
    });
    const norm = Math.sqrt(grad.reduce((s, g) => s + g.reduce((a, v) => a + v * v, 0), 0));
    expect(norm).toBeLessThan(1e-4);
    expect(Math.abs(gBias[0])).toBeLessThan(1e-4);
  });

  test('stronger regularisation shrinks the weights', () => {
    const { x, y } = toy(30, 5);
    const size = (C: number) => trainProbe(x, y, 2, C).weights[0].reduce((a, v) => a + v * v, 0);
    expect(size(PROBE_C_GRID[0])).toBeLessThan(size(1));
  });
});
