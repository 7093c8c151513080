import seedrandom from 'seedrandom';
import { CMAES, CMAESOptions, defaultPopSize } from '../src/refine/cmaes';
import { jacobiEigen, matVec } from '../src/refine/linalg';

type Fn = (x: Float64Array) => number;
const sphere: Fn = (x) => x.reduce((a, v) => a + v * v, 0);
const rosenbrock: Fn = (x) => {
  let s = 0;
  for (let i = 0; i < x.length - 1; i++) s += 100 * (x[i + 1] - x[i] * x[i]) ** 2 + (1 - x[i]) ** 2;
  return s;
};

/** Runs ask/tell until best < target or the budget is spent. */
function minimise(f: Fn, opts: CMAESOptions, target: number, maxEvals: number): CMAES {
  const es = new CMAES(opts);
  while (es.evaluations < maxEvals && es.best.loss >= target) {
    const xs = es.ask();
    es.tell(xs, xs.map(f));
  }
  return es;
}

describe('CMAES', () => {
  test('default parameters follow the tutorial (n = 10)', () => {
    const es = new CMAES({ dim: 10, x0: new Float64Array(10), sigma0: 1, seed: 0 });
    expect([es.lambda, es.mu, es.diagonal]).toEqual([10, 5, false]);
    expect(es.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(Array.from(es.weights).every((w, i) => i === 0 || w < es.weights[i - 1])).toBe(true);
    expect(es.muEff).toBeCloseTo(3.1672, 3);
    expect(es.cSigma).toBeCloseTo(0.28445, 4);
    expect(es.dSigma).toBeCloseTo(1.28445, 4);
    expect(es.cC).toBeCloseTo(0.29503, 4);
    expect(es.c1).toBeCloseTo(0.015284, 5); // 2 / (11.3² + μ_eff)
    expect(es.cMu).toBeCloseTo(0.020152, 5);
    expect(defaultPopSize(500)).toBe(22);
    // Diagonal (sep-CMA-ES) by default above 100 dimensions, with (n + 2) / 3 faster learning rates.
    const sep = new CMAES({ dim: 200, x0: new Float64Array(200), sigma0: 1, seed: 0 });
    expect(sep.diagonal).toBe(true);
    const full = new CMAES({ dim: 200, x0: new Float64Array(200), sigma0: 1, seed: 0, diagonal: false });
    expect(sep.c1 / full.c1).toBeCloseTo(202 / 3, 6);
  });

  test('sphere, d = 10: f < 1e-8 within 2000 evaluations', () => {
    const es = minimise(sphere, { dim: 10, x0: new Float64Array(10).fill(1), sigma0: 0.5, seed: 1 }, 1e-8, 2000);
    expect(es.best.loss).toBeLessThan(1e-8);
    expect(es.evaluations).toBeLessThanOrEqual(2000);
    expect(sphere(es.best.x)).toBe(es.best.loss);
  });

  test('Rosenbrock, d = 5, full covariance: f < 1e-6 within 20000 evaluations', () => {
    const es = minimise(rosenbrock, { dim: 5, x0: new Float64Array(5), sigma0: 0.5, seed: 7 }, 1e-6, 20000);
    expect(es.diagonal).toBe(false);
    expect(es.best.loss).toBeLessThan(1e-6);
    Array.from(es.best.x).forEach((v) => expect(v).toBeCloseTo(1, 2));
    // It learned the curved valley: the sampling ellipsoid is far from round.
    expect(es.conditionNumber).toBeGreaterThan(10);
  });

  test('sep-CMA-ES, sphere d = 200: f drops by 1e4 within 20000 evaluations', () => {
    const x0 = new Float64Array(200).fill(1);
    const f0 = sphere(x0);
    const es = minimise(sphere, { dim: 200, x0, sigma0: 0.5, seed: 3 }, f0 / 1e4, 20000);
    expect(es.diagonal).toBe(true);
    expect(es.best.loss).toBeLessThan(f0 / 1e4);
  });

  test('the same seed gives identical trajectories; another seed does not', () => {
    const trajectory = (seed: number, diagonal: boolean) => {
      const es = new CMAES({ dim: 6, x0: new Float64Array(6).fill(0.3), sigma0: 0.4, seed, diagonal });
      const seen: number[] = [];
      for (let g = 0; g < 40; g++) {
        const xs = es.ask();
        xs.forEach((x) => seen.push(...x));
        es.tell(xs, xs.map(rosenbrock));
        seen.push(es.sigma);
      }
      return { seen, best: es.best, generation: es.generation };
    };
    for (const diagonal of [false, true]) {
      const a = trajectory(11, diagonal);
      const b = trajectory(11, diagonal);
      expect(b.seen).toEqual(a.seen);
      expect(b.best).toEqual(a.best);
      expect(a.generation).toBe(40);
      expect(trajectory(12, diagonal).seen).not.toEqual(a.seen);
    }
  });

  test('tell: NaN counts as the worst loss; best is the best told; misuse is reported', () => {
    const es = new CMAES({ dim: 3, x0: [0, 0, 0], sigma0: 1, seed: 5, popSize: 6 });
    expect(es.best.loss).toBe(Infinity);
    expect(() => es.tell([], [])).toThrow(/without a pending ask/);
    const xs = es.ask();
    expect(xs).toHaveLength(6);
    expect(() => es.tell(xs.slice(1), [1, 2, 3, 4, 5])).toThrow(/needs 6 solutions/);
    const losses = xs.map((x, k) => (k === 0 ? NaN : sphere(x)));
    es.tell(xs, losses);
    const k = losses.indexOf(Math.min(...losses.slice(1)));
    expect(es.best).toEqual({ x: xs[k], loss: losses[k], generation: 0 });
    expect(Number.isFinite(es.sigma)).toBe(true);
    expect(() => new CMAES({ dim: 3, x0: [0, 0], sigma0: 1, seed: 0 })).toThrow(/x0 has 2 entries/);
  });
});

describe('jacobiEigen', () => {
  test('reconstructs a random SPD matrix with orthonormal eigenvectors', () => {
    const rng = seedrandom('jacobi');
    for (const n of [1, 2, 12, 40]) {
      // A = M Mᵀ + 0.1 I
      const m = Float64Array.from({ length: n * n }, () => rng() * 2 - 1);
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let s = i === j ? 0.1 : 0;
          for (let k = 0; k < n; k++) s += m[i * n + k] * m[j * n + k];
          a[i * n + j] = s;
        }
      }
      const { values, vectors } = jacobiEigen(a, n);
      const scale = Math.max(...Array.from(a, Math.abs));
      expect(Array.from(values).every((v, i) => v > 0 && (i === 0 || v >= values[i - 1]))).toBe(true);
      let recon = 0;
      let ortho = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let r = 0;
          let o = 0;
          for (let k = 0; k < n; k++) {
            r += vectors[i * n + k] * values[k] * vectors[j * n + k];
            o += vectors[k * n + i] * vectors[k * n + j];
          }
          recon = Math.max(recon, Math.abs(r - a[i * n + j]));
          ortho = Math.max(ortho, Math.abs(o - (i === j ? 1 : 0)));
        }
      }
      expect(recon).toBeLessThan(1e-12 * scale * n);
      expect(ortho).toBeLessThan(1e-12 * n);
      // A v = λ v for each column.
      const v0 = Float64Array.from({ length: n }, (_, i) => vectors[i * n + n - 1]);
      const av = matVec(a, v0, n);
      av.forEach((x, i) => expect(Math.abs(x - values[n - 1] * v0[i])).toBeLessThan(1e-10 * scale * n));
    }
  });

  test('diagonal input and input checks', () => {
    const { values, vectors } = jacobiEigen(Float64Array.from([3, 0, 0, 1]), 2);
    expect(Array.from(values)).toEqual([1, 3]);
    expect(Array.from(vectors).map(Math.abs)).toEqual([0, 1, 1, 0]);
    expect(() => jacobiEigen(new Float64Array(3), 2)).toThrow(/3 entries/);
    expect(() => jacobiEigen(Float64Array.from([1, NaN, NaN, 1]), 2)).toThrow(/NaN/);
  });
});
