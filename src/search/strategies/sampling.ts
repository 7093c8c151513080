/**
 * Small pure numeric helpers shared by the strategies. Every random draw goes through an
 * explicit `random` argument (the context's seeded generator) so runs are reproducible.
 */

/** A uniform [0, 1) generator, normally `ctx.random`. */
export type Rng = () => number;

/** Uniform integer in [0, n). The clamp guards against a generator that returns exactly 1. */
export function randomInt(n: number, random: Rng): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

/** Uniform element of a non-empty array. */
export function pickOne<T>(items: readonly T[], random: Rng): T {
  return items[randomInt(items.length, random)];
}

/** Numerically stable softmax (subtracts the max so large logits cannot overflow). */
export function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((z) => Math.exp(z - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/**
 * Index drawn from `probs` by inverse CDF at `u` in [0, 1). Falls back to the last index with
 * positive mass so rounding (probabilities summing to 0.9999…) can never return a zero-mass index.
 */
export function sampleCategorical(probs: readonly number[], u: number): number {
  let cumulative = 0;
  let lastPositive = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] <= 0) continue;
    lastPositive = i;
    cumulative += probs[i];
    if (u < cumulative) return i;
  }
  return lastPositive;
}

/** Batch z-scores (population std). All zeros when the values do not vary: no signal, no update. */
export function zScores(values: readonly number[]): number[] {
  if (values.length === 0) return [];
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  const std = Math.sqrt(variance);
  if (!(std > 1e-12)) return values.map(() => 0);
  return values.map((v) => (v - mean) / std);
}

/** Shannon entropy (nats) of a distribution; 0·log 0 is taken as 0. */
export function entropy(probs: readonly number[]): number {
  return -probs.reduce((a, p) => a + (p > 0 ? p * Math.log(p) : 0), 0);
}

/**
 * Gradient of the entropy of softmax(z) with respect to the logits z:
 *   ∂H/∂z_k = −Σ_j p_j(δ_jk − p_k)(log p_j + 1) = −p_k (log p_k + H).
 * It is zero at the uniform distribution and pushes mass from likely to unlikely tokens.
 */
export function entropyGradient(probs: readonly number[]): number[] {
  const h = entropy(probs);
  return probs.map((p) => (p > 0 ? -p * (Math.log(p) + h) : 0));
}

/** A shuffled copy (Fisher–Yates). */
export function shuffle<T>(items: readonly T[], random: Rng): T[] {
  return pickK(items, items.length, random);
}

/** Up to k distinct elements drawn without replacement (partial Fisher–Yates on a copy). */
export function pickK<T>(items: readonly T[], k: number, random: Rng): T[] {
  const copy = items.slice();
  const n = Math.min(k, copy.length);
  for (let i = 0; i < n; i++) {
    const j = i + randomInt(copy.length - i, random);
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, n);
}
