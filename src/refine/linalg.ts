/**
 * The little dense linear algebra CMA-ES needs: a symmetric eigen-solver (cyclic Jacobi) and
 * matrix-vector helpers. Matrices are row-major Float64Array of n×n. No dependency.
 */

export interface SymmetricEigen {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /** Row-major n×n; column j (`vectors[i * n + j]` over i) is the unit eigenvector of `values[j]`. */
  vectors: Float64Array;
  /** Jacobi sweeps used. */
  sweeps: number;
}

/**
 * Eigendecomposition A = V diag(values) Vᵀ of a symmetric matrix by cyclic Jacobi rotations
 * (Golub & Van Loan §8.5; Numerical Recipes `jacobi`). Each sweep zeroes every off-diagonal entry
 * once, O(n³); convergence is quadratic, typically 6–10 sweeps. Accurate to a few ulps of ‖A‖ and
 * robust for the well-separated and the clustered spectra of covariance matrices. Fine up to
 * n ≈ 100–200 (measured: n = 100 ~15 ms, 200 ~120 ms, 500 ~2 s); beyond, sep-CMA-ES avoids it.
 *
 * Only the upper triangle of `a` is read (the matrix is symmetrised from it); `a` is not modified.
 */
export function jacobiEigen(a: Float64Array, n: number, maxSweeps = 60): SymmetricEigen {
  if (a.length !== n * n) throw new Error(`jacobiEigen: ${a.length} entries for a ${n}×${n} matrix`);
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = a[i * n + j];
      if (!Number.isFinite(v)) throw new Error(`jacobiEigen: entry (${i}, ${j}) is ${v}`);
      m[i * n + j] = v;
      m[j * n + i] = v;
    }
  }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;

  let frob2 = 0;
  for (let i = 0; i < n * n; i++) frob2 += m[i] * m[i];
  let sweeps = 0;
  for (; sweeps < maxSweeps; sweeps++) {
    let off2 = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off2 += m[p * n + q] * m[p * n + q];
    // Off-diagonal mass below (machine epsilon · ‖A‖)²: the diagonal is the spectrum to working precision.
    if (off2 <= 1e-32 * frob2 || off2 === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p];
        const aqq = m[q * n + q];
        // Rotation angle zeroing (p, q): t = tan θ, the smaller root of t² + 2θt − 1 = 0.
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ A J: columns p, q, then rows p, q.
        for (let k = 0; k < n; k++) {
          const akp = m[k * n + p];
          const akq = m[k * n + q];
          m[k * n + p] = c * akp - s * akq;
          m[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = m[p * n + k];
          const aqk = m[q * n + k];
          m[p * n + k] = c * apk - s * aqk;
          m[q * n + k] = s * apk + c * aqk;
        }
        m[p * n + q] = 0;
        m[q * n + p] = 0;
        // V ← V J
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  if (sweeps === maxSweeps) throw new Error(`jacobiEigen: no convergence in ${maxSweeps} sweeps (n = ${n})`);

  // Ascending order (stable on ties, so the result is deterministic).
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => m[x * n + x] - m[y * n + y] || x - y);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, j) => {
    values[j] = m[src * n + src];
    for (let i = 0; i < n; i++) vectors[i * n + j] = v[i * n + src];
  });
  return { values, vectors, sweeps };
}

/** out = A x for a row-major n×n A. */
export function matVec(a: Float64Array, x: Float64Array, n: number, out = new Float64Array(n)): Float64Array {
  for (let i = 0; i < n; i++) {
    let s = 0;
    const row = i * n;
    for (let j = 0; j < n; j++) s += a[row + j] * x[j];
    out[i] = s;
  }
  return out;
}

/** out = Aᵀ x for a row-major n×n A. */
export function matTVec(a: Float64Array, x: Float64Array, n: number, out = new Float64Array(n)): Float64Array {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const xi = x[i];
    if (xi === 0) continue;
    const row = i * n;
    for (let j = 0; j < n; j++) out[j] += a[row + j] * xi;
  }
  return out;
}

export function dot(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

export function norm(x: ArrayLike<number>): number {
  return Math.sqrt(dot(x, x));
}
