/**
 * Label-word expansion: more words per label from the words the user gave, for any task.
 *
 * A label read through one word is noisy (the word's own frequency and senses leak into the
 * decision); several words that mean the same thing average that out. The expansion uses only
 * what the user gave and the model itself: each label's centroid is the mean of its words'
 * unit-length input embeddings, and the label gets the `k` whole-word tokens nearest to that
 * centroid (cosine) among the words nearer to it than to any other label's centroid, so no word
 * serves two labels. The words join the label's own; its score stays the log-sum-exp of its
 * words' logits (prompt/verbalizer.ts), so prompt files, `predict` and `loadPrompt` need nothing new.
 */

/** Row-major [vocab × hidden] embedding table (model/graph/embedsInput.ts `WordEmbeddings`). */
export interface EmbeddingTable {
  matrix: Float32Array;
  vocab: number;
  hidden: number;
}

/** Unit-length mean of the unit-length rows `ids` (a zero row counts as zero). */
export function centroid(emb: EmbeddingTable, ids: readonly number[]): Float64Array {
  const c = new Float64Array(emb.hidden);
  for (const id of ids) {
    const row = emb.matrix.subarray(id * emb.hidden, (id + 1) * emb.hidden);
    let n = 0;
    for (let j = 0; j < emb.hidden; j++) n += row[j] * row[j];
    n = Math.sqrt(n) || 1;
    for (let j = 0; j < emb.hidden; j++) c[j] += row[j] / n;
  }
  let n = 0;
  for (let j = 0; j < emb.hidden; j++) n += c[j] * c[j];
  n = Math.sqrt(n) || 1;
  for (let j = 0; j < emb.hidden; j++) c[j] /= n;
  return c;
}

/** Cosine of row `id` with a unit vector (0 for a zero row). */
function cosine(emb: EmbeddingTable, id: number, unit: Float64Array): number {
  let dot = 0;
  let n = 0;
  const base = id * emb.hidden;
  for (let j = 0; j < emb.hidden; j++) {
    const v = emb.matrix[base + j];
    dot += v * unit[j];
    n += v * v;
  }
  return n > 0 ? dot / Math.sqrt(n) : 0;
}

/** Only words at least this close (cosine to the label's centroid) are added by default (fixed on train + dev by tuning/labelExpansion.ts). */
export const DEFAULT_MIN_COSINE = 0.4;

/**
 * Each label's given word ids followed by its `k` nearest new words with cosine >= `minCosine`.
 * `eligible` are the ids that may be added (whole words); a word goes only to the label whose
 * centroid is nearest (ties: the lower label), never to two labels, and given words are never
 * added again. Within a label: nearest first, ties by lower id. Pure.
 *
 * The threshold keeps loose neighbours out: with five sentiment labels the nearest words of "bad"
 * and "good" are mostly unrelated ("long", "high", "funny", "real"; cosine < 0.5), while the
 * neighbours of "terrible" and "great" are synonyms (horrible, awful / wonderful, excellent: 0.5-0.7).
 */
export function expandLabelWordIds(
  emb: EmbeddingTable,
  given: readonly (readonly number[])[],
  eligible: readonly number[],
  k: number,
  minCosine = -Infinity,
): number[][] {
  const out = given.map((ids) => [...ids]);
  if (k <= 0) return out;
  const taken = new Set(given.flat());
  const centroids = given.map((ids) => centroid(emb, ids));
  const near: { id: number; sim: number }[][] = given.map(() => []);
  for (const id of eligible) {
    if (taken.has(id)) continue;
    let best = 0;
    let bestSim = -Infinity;
    centroids.forEach((c, l) => {
      const s = cosine(emb, id, c);
      if (s > bestSim) [best, bestSim] = [l, s];
    });
    if (bestSim >= minCosine) near[best].push({ id, sim: bestSim });
  }
  near.forEach((cands, l) => {
    cands.sort((a, b) => b.sim - a.sim || a.id - b.id);
    out[l].push(...cands.slice(0, k).map((c) => c.id));
  });
  return out;
}
