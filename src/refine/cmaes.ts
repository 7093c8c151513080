/**
 * CMA-ES, (μ/μ_w, λ) with the default parameters of Hansen, "The CMA Evolution Strategy: A
 * Tutorial" (arXiv:1604.00772, Table 1, positive recombination weights only), for the
 * derivative-free soft-prompt refinement of BBT (Sun et al. 2022). Minimises; ask/tell interface:
 *
 *   const es = new CMAES({ dim, x0, sigma0: 1, seed: 42 });
 *   while (es.generation < G) { const xs = es.ask(); es.tell(xs, await Promise.all(xs.map(f))); }
 *   es.best.x
 *
 * Two covariance models:
 *   - full (default for dim ≤ 100): C is dense; sampled through its eigendecomposition
 *     C = B D² Bᵀ (small Jacobi solver in ./linalg), recomputed lazily every
 *     ⌈1 / (10 n (c₁ + c_μ))⌉ generations as in Hansen's reference code — the rank-one and rank-μ
 *     updates change C little per generation.
 *   - diagonal, sep-CMA-ES (Ros & Hansen 2008; default for dim > 100): C = diag(c), learning rates
 *     c₁, c_μ multiplied by (n + 2) / 3. Why by default above 100: full covariance costs O(n²)
 *     per sample and an O(n³) eigendecomposition (n = 500: ~2 s per Jacobi decomposition here, needed
 *     every few generations), and its learning rate c_μ ≈ 2μ_eff/n² means it needs ~n² / μ_eff
 *     generations to learn C at all — far beyond a BBT budget of a few thousand evaluations at
 *     n = 500. The diagonal model adapts (n + 2) / 3 times faster, costs O(n) per sample, and is
 *     what BBT-style searches over a random projection (nearly isotropic problems) need. Pass
 *     `diagonal` explicitly to override.
 *
 * Deterministic: the same options (seed included) and the same losses give the same trajectory.
 * Normals are Box–Muller from `seedrandom(String(seed))`.
 */
import seedrandom from 'seedrandom';
import { jacobiEigen, matTVec, matVec, norm } from './linalg';

export interface CMAESOptions {
  dim: number;
  /** Initial mean. */
  x0: Float64Array | number[];
  /** Initial step size (≈ a quarter of the search range per coordinate is a good start). */
  sigma0: number;
  /** λ, samples per generation; default 4 + ⌊3 ln n⌋. */
  popSize?: number;
  seed: number | string;
  /** sep-CMA-ES (diagonal covariance); default dim > 100 (see the file comment). */
  diagonal?: boolean;
  /** Generations between eigendecompositions (full covariance); default from the learning rates. */
  eigenEvery?: number;
}

export interface CMAESBest {
  x: Float64Array;
  loss: number;
  /** Generation (0-based) that produced it; -1 before the first tell. */
  generation: number;
}

/** Default λ of the tutorial. */
export function defaultPopSize(dim: number): number {
  return 4 + Math.floor(3 * Math.log(dim));
}

export class CMAES {
  readonly dim: number;
  readonly lambda: number;
  readonly mu: number;
  readonly diagonal: boolean;
  /** Recombination weights w₁ ≥ … ≥ w_μ > 0, Σ = 1. */
  readonly weights: Float64Array;
  readonly muEff: number;
  readonly cSigma: number;
  readonly dSigma: number;
  readonly cC: number;
  readonly c1: number;
  readonly cMu: number;
  readonly eigenEvery: number;

  private readonly rng: seedrandom.PRNG;
  private spareNormal: number | null = null;
  private readonly chiN: number;

  private m: Float64Array;
  private sig: number;
  private readonly pSigma: Float64Array;
  private readonly pC: Float64Array;
  /** Full: C (n×n), B (eigenvectors as columns), D (sqrt of eigenvalues). Diagonal: C = diagC, D = sqrt. */
  private readonly C: Float64Array;
  private readonly B: Float64Array;
  private readonly D: Float64Array;
  private gen = 0;
  private lastEigen = 0;
  private evals = 0;
  private bestSoFar: CMAESBest;
  /** Mean and σ the pending ask() sampled with (tell works from the solutions themselves). */
  private asked: { mean: Float64Array; sigma: number } | null = null;

  constructor(opts: CMAESOptions) {
    const n = opts.dim;
    if (!Number.isInteger(n) || n < 1) throw new Error(`CMAES: dim must be a positive integer, got ${n}`);
    if (opts.x0.length !== n) throw new Error(`CMAES: x0 has ${opts.x0.length} entries for dim ${n}`);
    if (!(opts.sigma0 > 0) || !Number.isFinite(opts.sigma0))
      throw new Error(`CMAES: sigma0 must be a positive number, got ${opts.sigma0}`);
    const lambda = opts.popSize ?? defaultPopSize(n);
    if (!Number.isInteger(lambda) || lambda < 2)
      throw new Error(`CMAES: popSize must be an integer ≥ 2, got ${lambda}`);
    this.dim = n;
    this.lambda = lambda;
    this.mu = Math.floor(lambda / 2);
    this.diagonal = opts.diagonal ?? n > 100;

    // Weights w'_i = ln((λ+1)/2) − ln i, i ≤ μ, normalised to sum 1.
    const w = Float64Array.from({ length: this.mu }, (_, i) => Math.log((lambda + 1) / 2) - Math.log(i + 1));
    const sw = w.reduce((a, b) => a + b, 0);
    for (let i = 0; i < w.length; i++) w[i] /= sw;
    this.weights = w;
    this.muEff = 1 / w.reduce((a, b) => a + b * b, 0);

    const mueff = this.muEff;
    this.cSigma = (mueff + 2) / (n + mueff + 5);
    this.dSigma = 1 + 2 * Math.max(0, Math.sqrt((mueff - 1) / (n + 1)) - 1) + this.cSigma;
    this.cC = (4 + mueff / n) / (n + 4 + (2 * mueff) / n);
    const alphaCov = 2;
    let c1 = alphaCov / ((n + 1.3) ** 2 + mueff);
    let cMu = Math.min(1 - c1, (alphaCov * (mueff - 2 + 1 / mueff)) / ((n + 2) ** 2 + (alphaCov * mueff) / 2));
    if (this.diagonal) {
      // sep-CMA-ES: a diagonal C has n parameters instead of n²/2, learn it (n + 2) / 3 times faster.
      const f = (n + 2) / 3;
      c1 = Math.min(1, c1 * f);
      cMu = Math.min(1 - c1, cMu * f);
    }
    this.c1 = c1;
    this.cMu = cMu;
    this.eigenEvery = opts.eigenEvery ?? Math.max(1, Math.ceil(1 / (10 * n * (c1 + cMu))));
    this.chiN = Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));

    this.rng = seedrandom(String(opts.seed));
    this.m = Float64Array.from(opts.x0);
    if (!this.m.every(Number.isFinite)) throw new Error('CMAES: x0 has non-finite entries');
    this.sig = opts.sigma0;
    this.pSigma = new Float64Array(n);
    this.pC = new Float64Array(n);
    this.D = new Float64Array(n).fill(1);
    if (this.diagonal) {
      this.C = new Float64Array(n).fill(1);
      this.B = new Float64Array(0);
    } else {
      this.C = new Float64Array(n * n);
      this.B = new Float64Array(n * n);
      for (let i = 0; i < n; i++) this.C[i * n + i] = this.B[i * n + i] = 1;
    }
    this.bestSoFar = { x: Float64Array.from(this.m), loss: Infinity, generation: -1 };
  }

  /** Generations completed (tells so far). */
  get generation(): number {
    return this.gen;
  }
  get sigma(): number {
    return this.sig;
  }
  /** Current mean (a copy). */
  get mean(): Float64Array {
    return Float64Array.from(this.m);
  }
  /** Losses told so far. */
  get evaluations(): number {
    return this.evals;
  }
  /** Best solution told so far (copies); loss Infinity and x = x0 before the first tell. */
  get best(): CMAESBest {
    return { ...this.bestSoFar, x: Float64Array.from(this.bestSoFar.x) };
  }
  /** Ratio of the largest to the smallest axis of the sampling ellipsoid, squared (cond(C)). */
  get conditionNumber(): number {
    let lo = Infinity;
    let hi = 0;
    for (const d of this.D) {
      lo = Math.min(lo, d);
      hi = Math.max(hi, d);
    }
    return (hi / lo) ** 2;
  }
  /** Diagonal of C (σ² · this is the per-coordinate sampling variance). */
  get covarianceDiagonal(): Float64Array {
    const n = this.dim;
    return this.diagonal ? Float64Array.from(this.C) : Float64Array.from({ length: n }, (_, i) => this.C[i * n + i]);
  }

  /** Standard normal, Box–Muller (both values of a pair are used). */
  private normal(): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return z;
    }
    const u1 = 1 - this.rng(); // (0, 1]: log is finite
    const u2 = this.rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** λ new candidates x = m + σ B D z, z ~ N(0, I). Call tell() with them (or repaired versions) next. */
  ask(): Float64Array[] {
    const n = this.dim;
    const out: Float64Array[] = [];
    const z = new Float64Array(n);
    const dz = new Float64Array(n);
    const y = new Float64Array(n);
    for (let k = 0; k < this.lambda; k++) {
      for (let i = 0; i < n; i++) z[i] = this.normal();
      if (this.diagonal) {
        for (let i = 0; i < n; i++) y[i] = this.D[i] * z[i];
      } else {
        for (let i = 0; i < n; i++) dz[i] = this.D[i] * z[i];
        matVec(this.B, dz, n, y);
      }
      const x = new Float64Array(n);
      for (let i = 0; i < n; i++) x[i] = this.m[i] + this.sig * y[i];
      out.push(x);
    }
    this.asked = { mean: Float64Array.from(this.m), sigma: this.sig };
    return out;
  }

  /**
   * Updates the distribution from the losses of the solutions of the last ask() (lower is
   * better; NaN counts as +Infinity). The solutions may have been repaired (clipped) by the
   * caller: steps are recomputed from them.
   */
  tell(solutions: Float64Array[], losses: number[]): void {
    const n = this.dim;
    if (!this.asked) throw new Error('CMAES: tell() without a pending ask()');
    if (solutions.length !== this.lambda || losses.length !== this.lambda) {
      throw new Error(
        `CMAES: tell() needs ${this.lambda} solutions and losses, got ${solutions.length} and ${losses.length}`,
      );
    }
    const { mean: mOld, sigma } = this.asked;
    this.asked = null;
    solutions.forEach((x, k) => {
      if (x.length !== n) throw new Error(`CMAES: solution ${k} has ${x.length} entries for dim ${n}`);
    });
    const key = (l: number) => (Number.isNaN(l) ? Infinity : l);
    const order = Array.from({ length: this.lambda }, (_, k) => k).sort(
      (a, b) => key(losses[a]) - key(losses[b]) || a - b,
    );
    this.evals += this.lambda;
    const b0 = order[0];
    if (key(losses[b0]) < this.bestSoFar.loss || this.bestSoFar.generation < 0) {
      this.bestSoFar = { x: Float64Array.from(solutions[b0]), loss: key(losses[b0]), generation: this.gen };
    }

    // Selected steps y_i = (x_i:λ − m) / σ and their weighted mean y_w.
    const ys: Float64Array[] = [];
    const yw = new Float64Array(n);
    for (let i = 0; i < this.mu; i++) {
      const x = solutions[order[i]];
      const y = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        y[j] = (x[j] - mOld[j]) / sigma;
        yw[j] += this.weights[i] * y[j];
      }
      ys.push(y);
    }
    // m ← m + c_m σ y_w (c_m = 1)
    for (let j = 0; j < n; j++) this.m[j] = mOld[j] + sigma * yw[j];

    // p_σ ← (1 − c_σ) p_σ + √(c_σ(2 − c_σ)μ_eff) C^(−1/2) y_w
    const invSqrtCyw = this.invSqrtC(yw);
    const cs = this.cSigma;
    const csn = Math.sqrt(cs * (2 - cs) * this.muEff);
    for (let j = 0; j < n; j++) this.pSigma[j] = (1 - cs) * this.pSigma[j] + csn * invSqrtCyw[j];
    const psNorm = norm(this.pSigma);

    // h_σ stalls p_c when ‖p_σ‖ is large (fast σ increase), avoiding a too fast increase of C's axes.
    const hSigma = psNorm / Math.sqrt(1 - (1 - cs) ** (2 * (this.gen + 1))) < (1.4 + 2 / (n + 1)) * this.chiN ? 1 : 0;
    const cc = this.cC;
    const ccn = hSigma * Math.sqrt(cc * (2 - cc) * this.muEff);
    for (let j = 0; j < n; j++) this.pC[j] = (1 - cc) * this.pC[j] + ccn * yw[j];

    // C ← (1 + c₁δ(h_σ) − c₁ − c_μ Σw) C + c₁ p_c p_cᵀ + c_μ Σ w_i y_i y_iᵀ
    const deltaH = (1 - hSigma) * cc * (2 - cc);
    const decay = 1 + this.c1 * deltaH - this.c1 - this.cMu; // Σw = 1
    if (this.diagonal) {
      for (let j = 0; j < n; j++) {
        let rankMu = 0;
        for (let i = 0; i < this.mu; i++) rankMu += this.weights[i] * ys[i][j] * ys[i][j];
        this.C[j] = decay * this.C[j] + this.c1 * this.pC[j] * this.pC[j] + this.cMu * rankMu;
      }
    } else {
      for (let r = 0; r < n; r++) {
        for (let c = r; c < n; c++) {
          let rankMu = 0;
          for (let i = 0; i < this.mu; i++) rankMu += this.weights[i] * ys[i][r] * ys[i][c];
          const v = decay * this.C[r * n + c] + this.c1 * this.pC[r] * this.pC[c] + this.cMu * rankMu;
          this.C[r * n + c] = v;
          this.C[c * n + r] = v;
        }
      }
    }

    // σ ← σ exp((c_σ / d_σ)(‖p_σ‖ / E‖N(0, I)‖ − 1))
    this.sig = sigma * Math.exp((cs / this.dSigma) * (psNorm / this.chiN - 1));
    this.gen += 1;

    if (this.diagonal) {
      for (let j = 0; j < n; j++) this.D[j] = Math.sqrt(Math.max(this.C[j], 0));
      this.guardAxes();
    } else if (this.gen - this.lastEigen >= this.eigenEvery) {
      this.updateEigen();
    }
  }

  /** C^(−1/2) v = B D⁻¹ Bᵀ v, with the decomposition of the last update (as in the tutorial). */
  private invSqrtC(v: Float64Array): Float64Array {
    const n = this.dim;
    if (this.diagonal) return Float64Array.from(v, (x, j) => x / this.D[j]);
    const t = matTVec(this.B, v, n);
    for (let j = 0; j < n; j++) t[j] /= this.D[j];
    return matVec(this.B, t, n);
  }

  private updateEigen(): void {
    const n = this.dim;
    const { values, vectors } = jacobiEigen(this.C, n);
    this.B.set(vectors);
    for (let j = 0; j < n; j++) this.D[j] = Math.sqrt(Math.max(values[j], 0));
    this.lastEigen = this.gen;
    this.guardAxes();
  }

  /** Keeps every axis positive (a vanishing eigenvalue would make C^(−1/2) infinite). */
  private guardAxes(): void {
    let hi = 0;
    for (const d of this.D) hi = Math.max(hi, d);
    const floor = Math.max(hi, Number.MIN_VALUE) * 1e-10;
    for (let j = 0; j < this.dim; j++) {
      if (this.D[j] >= floor) continue;
      this.D[j] = floor;
      if (this.diagonal) this.C[j] = floor * floor;
    }
  }
}
