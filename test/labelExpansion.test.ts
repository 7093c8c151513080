/** Label-word expansion (prompt/labelExpansion.ts) on a hand-made embedding table. */
import { centroid, EmbeddingTable, expandLabelWordIds } from '../src/prompt/labelExpansion';

// 8 tokens in 2-D. Label 0's word is id 0 (pointing right), label 1's is id 1 (pointing up).
const rows = [
  [1, 0], // 0: label 0's given word
  [0, 1], // 1: label 1's given word
  [2, 0.2], // 2: near 0 (cos 0.995), long vector: length must not matter
  [0.1, 1], // 3: near 1 (cos 0.995)
  [1, 0.5], // 4: nearer 0 (cos 0.894) than 1 (0.447)
  [0.5, 1], // 5: nearer 1
  [1, 1], // 6: equally near both: goes to the lower label
  [0, 0], // 7: a zero row (cos 0 with everything)
];
const emb: EmbeddingTable = { matrix: Float32Array.from(rows.flat()), vocab: rows.length, hidden: 2 };
const all = rows.map((_, i) => i);

describe('label-word expansion', () => {
  test('centroid: the unit-length mean of the unit-length rows', () => {
    const c = centroid(emb, [0, 1]);
    expect(c[0]).toBeCloseTo(Math.SQRT1_2, 12);
    expect(c[1]).toBeCloseTo(Math.SQRT1_2, 12);
    // Row 2 is long; normalised first, so it does not dominate the mean.
    // (0, 1) + (2, 0.2) / |(2, 0.2)| = (0.995037, 1.099504), then unit length.
    const d = centroid(emb, [1, 2]);
    const n = Math.hypot(0.995037, 1.099504);
    expect(d[0]).toBeCloseTo(0.995037 / n, 5);
    expect(d[1]).toBeCloseTo(1.099504 / n, 5);
  });

  test('each label gets its k nearest words, nearest first, after its own', () => {
    expect(expandLabelWordIds(emb, [[0], [1]], all, 1)).toEqual([
      [0, 2],
      [1, 3],
    ]);
    expect(expandLabelWordIds(emb, [[0], [1]], all, 2)).toEqual([
      [0, 2, 4],
      [1, 3, 5],
    ]);
  });

  test('no word serves two labels: a tie goes to the lower label, and words nearer another label stay there', () => {
    const out = expandLabelWordIds(emb, [[0], [1]], all, 10);
    // id 6 is equally near both: label 0 only. id 7 (zero row) ties at cosine 0: label 0, last.
    expect(out[0]).toEqual([0, 2, 4, 6, 7]);
    expect(out[1]).toEqual([1, 3, 5]);
    expect(new Set(out.flat()).size).toBe(out.flat().length);
  });

  test('only eligible ids are added; given words are kept and never added twice; k = 0 adds nothing', () => {
    expect(expandLabelWordIds(emb, [[0], [1]], [4, 5, 0, 1], 3)).toEqual([
      [0, 4],
      [1, 5],
    ]);
    expect(expandLabelWordIds(emb, [[0, 2], [1]], all, 1)).toEqual([
      [0, 2, 4],
      [1, 3],
    ]);
    expect(expandLabelWordIds(emb, [[0], [1]], all, 0)).toEqual([[0], [1]]);
  });

  test('minCosine keeps loose neighbours out, even when fewer than k are left', () => {
    // cos(4, label 0) = 0.894, cos(6, label 0) = 0.707, cos(7, ·) = 0; id 2 and 3: 0.995.
    expect(expandLabelWordIds(emb, [[0], [1]], all, 10, 0.8)).toEqual([
      [0, 2, 4],
      [1, 3, 5],
    ]);
    expect(expandLabelWordIds(emb, [[0], [1]], all, 10, 0.99)).toEqual([
      [0, 2],
      [1, 3],
    ]);
    expect(expandLabelWordIds(emb, [[0], [1]], all, 10, 0.999)).toEqual([[0], [1]]);
  });
});
