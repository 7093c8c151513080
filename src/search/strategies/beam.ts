/**
 * Beam search over positions.
 *
 * Every candidate always has all groups at maxLength. A position that has not been filled yet
 * holds its "default filler": the first token of its pool. Pools are ordered by model
 * preference, so the filler is the model's own best guess, and a partial prompt stays a real,
 * valid-length prompt that can be scored. (If the all-filler prompt is rejected by `isValid`,
 * the search starts from a random valid prompt instead.)
 *
 * One pass visits every position in order (all groups). At each position, each beam member is
 * extended with `candidatesPerPosition` tokens sampled without replacement from that position's
 * pool (skipping prompts already scored); the best `width` of members and extensions form the
 * next beam. Keeping the members themselves stands for "keep the filler", so the beam never gets
 * worse. The first pass fills the prompt; later passes revisit every position of the current
 * beam (coordinate refinement). With sampled neighbourhoods a pass without improvement proves
 * nothing, so a pass only ends the climb when no untried single-token change of any beam member
 * is left (a true local optimum of the beam). Then, with `restarts` (default on), the beam starts
 * again from a random unseen prompt, so the whole budget is used (iterated local search: on 16
 * training examples a local optimum of train accuracy is reached long before 50k evaluations).
 */
import { Candidate, candidateKey, ScoredCandidate, SearchContext, Strategy } from '../types';
import {
  byObjectiveDesc,
  drawValid,
  flatPositions,
  isValidCandidate,
  poolAt,
  PositionRef,
  randomFullCandidate,
  RunTracker,
  withToken,
} from './candidates';
import { pickK } from './sampling';

export interface BeamSearchOptions {
  /** Partial prompts kept after each position. */
  width: number;
  /** Tokens tried per position per beam member. */
  candidatesPerPosition: number;
  /** Restart from a random unseen prompt at a local optimum while budget remains. */
  restarts?: boolean;
}

export class BeamSearch implements Strategy {
  readonly name = 'beam';

  constructor(private readonly options: BeamSearchOptions) {}

  async run(ctx: SearchContext): Promise<void> {
    const tracker = new RunTracker(ctx);
    const start = initialCandidate(ctx);
    if (!start) return;
    tracker.markSeen(start);
    let beam = await tracker.evaluate([start]);
    if (beam.length === 0) return;
    const positions = flatPositions(ctx.space);
    for (;;) {
      let triedAny = false;
      for (const ref of positions) {
        if (ctx.exhausted()) return;
        const batch = this.extensions(ctx, tracker, beam, ref);
        if (batch.length === 0) continue;
        triedAny = true;
        const scored = await tracker.evaluate(batch);
        beam = this.select(beam, scored);
        if (scored.length < batch.length && ctx.exhausted()) return; // the budget ran out mid-batch
      }
      if (triedAny) continue;
      // Every single-token change of the beam was tried: a local optimum.
      if (this.options.restarts === false) return;
      const restart = drawValid(
        ctx.space,
        () => randomFullCandidate(ctx.space, ctx.random),
        (c) => !tracker.hasSeen(c),
      );
      if (!restart) return; // nothing new to start from
      tracker.markSeen(restart);
      beam = await tracker.evaluate([restart]);
      if (beam.length === 0) return;
    }
  }

  /** Valid, not-yet-scored single-token changes of each beam member at `ref`. */
  private extensions(
    ctx: SearchContext,
    tracker: RunTracker,
    beam: readonly ScoredCandidate[],
    ref: PositionRef,
  ): Candidate[] {
    const batch: Candidate[] = [];
    for (const member of beam) {
      const fresh = poolAt(ctx.space, ref)
        .map((token) => withToken(member.candidate, ref, token))
        .filter((c) => !tracker.hasSeen(c) && isValidCandidate(ctx.space, c));
      for (const c of pickK(fresh, this.options.candidatesPerPosition, ctx.random)) {
        if (tracker.markSeen(c)) batch.push(c);
      }
    }
    return batch;
  }

  /** The best `width` distinct prompts among the beam and its scored extensions. */
  private select(beam: readonly ScoredCandidate[], scored: readonly ScoredCandidate[]): ScoredCandidate[] {
    const pool = [...beam, ...scored].sort(byObjectiveDesc);
    const keys = new Set<string>();
    const next: ScoredCandidate[] = [];
    for (const s of pool) {
      const key = candidateKey(s.candidate);
      if (keys.has(key)) continue;
      keys.add(key);
      next.push(s);
      if (next.length >= Math.max(1, this.options.width)) break;
    }
    return next;
  }
}

/** All positions at their default filler (pool[0]); a random valid prompt if that is invalid. */
function initialCandidate(ctx: SearchContext): Candidate | undefined {
  const filler: Candidate = {
    tokens: ctx.space.groups.map((g) => g.pools.map((pool) => pool[0])),
  };
  if (isValidCandidate(ctx.space, filler)) return filler;
  return drawValid(ctx.space, () => randomFullCandidate(ctx.space, ctx.random));
}
