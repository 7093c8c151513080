/**
 * Candidate-level helpers shared by the strategies: building, validating and comparing
 * candidates, and the bookkeeping every strategy loop needs (best so far, progress hook).
 */
import { Candidate, candidateKey, ScoredCandidate, SearchContext, SearchSpace } from '../types';
import { pickOne, Rng } from './sampling';

/** How many times a strategy redraws a candidate that `isValid` rejects before giving up on it. */
export const MAX_VALID_ATTEMPTS = 20;

/** A (group, position) pair; strategies walk positions in this flat, group-major order. */
export interface PositionRef {
  group: number;
  position: number;
}

/** Every position of every group at full length, in template order. */
export function flatPositions(space: SearchSpace): PositionRef[] {
  const refs: PositionRef[] = [];
  space.groups.forEach((g, group) => {
    for (let position = 0; position < g.maxLength; position++) refs.push({ group, position });
  });
  return refs;
}

/** The candidate pool of one position. */
export function poolAt(space: SearchSpace, ref: PositionRef): number[] {
  return space.groups[ref.group].pools[ref.position];
}

export function cloneCandidate(c: Candidate): Candidate {
  return { tokens: c.tokens.map((g) => g.slice()) };
}

/** A copy of `c` with one position replaced. */
export function withToken(c: Candidate, ref: PositionRef, token: number): Candidate {
  const next = cloneCandidate(c);
  next.tokens[ref.group][ref.position] = token;
  return next;
}

/** Every group at maxLength, each position drawn uniformly from its pool. */
export function randomFullCandidate(space: SearchSpace, random: Rng): Candidate {
  return { tokens: space.groups.map((g) => g.pools.map((pool) => pickOne(pool, random))) };
}

export function isValidCandidate(space: SearchSpace, c: Candidate): boolean {
  return space.isValid ? space.isValid(c) : true;
}

/** Calls `make` until it yields a valid candidate (passing `accept`, if given), at most MAX_VALID_ATTEMPTS times. */
export function drawValid(
  space: SearchSpace,
  make: () => Candidate,
  accept?: (c: Candidate) => boolean,
): Candidate | undefined {
  for (let attempt = 0; attempt < MAX_VALID_ATTEMPTS; attempt++) {
    const c = make();
    if (isValidCandidate(space, c) && (!accept || accept(c))) return c;
  }
  return undefined;
}

/** Higher objective first; `Array.prototype.sort` is stable, so ties keep their earlier order. */
export function byObjectiveDesc(a: ScoredCandidate, b: ScoredCandidate): number {
  return b.score.objective - a.score.objective;
}

/** The better of the incumbent and a batch; the earliest wins a tie so results are reproducible. */
export function bestOf(
  incumbent: ScoredCandidate | undefined,
  batch: readonly ScoredCandidate[],
): ScoredCandidate | undefined {
  let best = incumbent;
  for (const s of batch) if (!best || s.score.objective > best.score.objective) best = s;
  return best;
}

/**
 * Per-run bookkeeping: which candidates this strategy has already sent (duplicates are free but
 * teach nothing, and a loop of only-cached batches would never exhaust the budget), the best
 * score seen, and the step counter for `onStep`.
 */
export class RunTracker {
  private readonly seen = new Set<string>();
  private step = 0;
  best: ScoredCandidate | undefined;

  constructor(private readonly ctx: SearchContext) {}

  hasSeen(c: Candidate): boolean {
    return this.seen.has(candidateKey(c));
  }

  /** Marks `c` as sent; true when it had not been sent before. */
  markSeen(c: Candidate): boolean {
    const key = candidateKey(c);
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }

  /** Evaluates a batch, updates the best, and reports one step. */
  async evaluate(batch: Candidate[]): Promise<ScoredCandidate[]> {
    const scored = batch.length > 0 ? await this.ctx.evaluate(batch) : [];
    this.best = bestOf(this.best, scored);
    this.ctx.onStep?.({ step: this.step++, best: this.best });
    return scored;
  }
}
