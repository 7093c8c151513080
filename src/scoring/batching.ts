/**
 * Groups rows into batches of similar length so padding wastes little: rows are sorted by
 * length (stable, so the plan depends only on the rows) and cut when a batch would exceed
 * `maxTokens` padded tokens or `maxRows` rows. Returns row indices per batch.
 */
export function planBatches(lengths: number[], maxTokens: number, maxRows: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const batches: number[][] = [];
  let cur: number[] = [];
  for (const i of order) {
    const width = lengths[i]; // sorted ascending: the newest row is the longest
    if (cur.length > 0 && ((cur.length + 1) * width > maxTokens || cur.length >= maxRows)) {
      batches.push(cur);
      cur = [];
    }
    cur.push(i);
  }
  if (cur.length > 0) batches.push(cur);
  return batches;
}
