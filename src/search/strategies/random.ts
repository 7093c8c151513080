/**
 * Random search: the baseline every structured strategy must beat. Each candidate fills every
 * group to maxLength with tokens drawn uniformly from each position's pool.
 */
import { Candidate, SearchContext, Strategy } from '../types';
import { drawValid, MAX_VALID_ATTEMPTS, randomFullCandidate, RunTracker } from './candidates';

export interface RandomSearchOptions {
  /** Candidates per `evaluate` call. */
  batchSize: number;
}

export class RandomSearch implements Strategy {
  readonly name = 'random';

  constructor(private readonly options: RandomSearchOptions) {}

  async run(ctx: SearchContext): Promise<void> {
    const tracker = new RunTracker(ctx);
    while (!ctx.exhausted()) {
      const batch = this.drawBatch(ctx, tracker);
      // No fresh valid candidate could be found: the space is (practically) used up.
      if (batch.length === 0) return;
      const scored = await tracker.evaluate(batch);
      if (scored.length < batch.length && ctx.exhausted()) return; // the budget ran out mid-batch
    }
  }

  /** Up to batchSize valid candidates not sent before; bounded so a tiny space cannot hang us. */
  private drawBatch(ctx: SearchContext, tracker: RunTracker): Candidate[] {
    const batch: Candidate[] = [];
    const size = Math.max(1, this.options.batchSize);
    for (let tries = 0; batch.length < size && tries < size * MAX_VALID_ATTEMPTS; tries++) {
      const c = drawValid(ctx.space, () => randomFullCandidate(ctx.space, ctx.random));
      if (c && tracker.markSeen(c)) batch.push(c);
    }
    return batch;
  }
}
