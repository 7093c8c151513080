import seedrandom from 'seedrandom';

/**
 * BBT's fixed random projection: p = p0 + A z, A ∈ R^{D×d} with entries N(0, (σ_e/√d)²), so that
 * z ~ N(0, I) moves every prompt coordinate by about σ_e, the spread of the word embeddings.
 * Seeded, so a soft prompt is reproducible from (seed, d, z).
 */
export function randomProjection(outDim: number, dim: number, scale: number, seed: number): Float32Array {
  const rng = seedrandom(`projection:${seed}`);
  const a = new Float32Array(outDim * dim);
  const s = scale / Math.sqrt(dim);
  for (let i = 0; i < a.length; i += 2) {
    // Box–Muller: two normals per two uniforms.
    const u = 1 - rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    a[i] = s * r * Math.cos(2 * Math.PI * v);
    if (i + 1 < a.length) a[i + 1] = s * r * Math.sin(2 * Math.PI * v);
  }
  return a;
}

/** p0 + A z (A row-major [outDim × dim]). */
export function project(p0: Float32Array, a: Float32Array, z: ArrayLike<number>): Float32Array {
  const d = z.length;
  const out = Float32Array.from(p0);
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    const row = i * d;
    for (let j = 0; j < d; j++) s += a[row + j] * z[j];
    out[i] += s;
  }
  return out;
}

/** Standard deviation of all entries (the embedding table's spread). */
export function std(xs: Float32Array): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m += xs[i];
  m /= xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i] - m) ** 2;
  return Math.sqrt(v / xs.length);
}
