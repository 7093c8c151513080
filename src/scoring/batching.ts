/**
 * Padded tokens a batch may hold per real token: a batch is cut before the padding to its
 * longest row would exceed this. A search scores each candidate's 32 train rows as one task;
 * as one batch padded to the longest (11 to 60 tokens on SST-2) they cost 1.7 ms of CPU per row,
 * cut this way 1.0 (int8, one thread, 2-core AMD EPYC). Whole splits sort hundreds of rows, so
 * their batches are nearly uniform and stay at the token and row caps.
 */
export const MAX_PADDING_RATIO = 1.2;

/**
 * Groups rows into batches of similar length so padding wastes little: rows are sorted by
 * length (stable, so the plan depends only on the rows) and cut when a batch would exceed
 * `maxTokens` padded tokens, `maxRows` rows, or MAX_PADDING_RATIO padded tokens per real token.
 * Returns row indices per batch.
 */
export function planBatches(lengths: number[], maxTokens: number, maxRows: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const batches: number[][] = [];
  let cur: number[] = [];
  let real = 0;
  for (const i of order) {
    const width = lengths[i]; // sorted ascending: the newest row is the longest
    const padded = (cur.length + 1) * width;
    if (
      cur.length > 0 &&
      (padded > maxTokens || cur.length >= maxRows || padded > MAX_PADDING_RATIO * (real + width))
    ) {
      batches.push(cur);
      cur = [];
      real = 0;
    }
    cur.push(i);
    real += width;
  }
  if (cur.length > 0) batches.push(cur);
  return batches;
}
