/**
 * Genetic search: a population of prompts evolved by tournament selection, per-group one-point
 * crossover (cut strictly inside the group, so a child mixes its parents) and token mutations
 * (substitute / insert / delete, keeping every group within [minLength, maxLength] and every
 * token in its position's pool), with the best `eliteCount` distinct prompts carried over
 * unchanged. Template slots are fixed-length (`<A:2>` is exactly two tokens: minLength ===
 * maxLength), so inserts and deletes only happen in groups whose length may vary.
 */
import { Candidate, candidateKey, ScoredCandidate, SearchContext, SearchSpace, SlotGroup, Strategy } from '../types';
import {
  byObjectiveDesc,
  cloneCandidate,
  isValidCandidate,
  MAX_VALID_ATTEMPTS,
  randomFullCandidate,
  RunTracker,
} from './candidates';
import { pickOne, randomInt, Rng } from './sampling';

export interface GeneticSearchOptions {
  /** Prompts per generation (the initial batch, then elites + children). */
  population: number;
  /** Best prompts copied unchanged into the next generation. */
  eliteCount: number;
  /** Per-token probability of a mutation (substitute, insert or delete). */
  mutationRate: number;
  /** Probability that a child is a crossover of two parents rather than a copy of one. */
  crossoverRate: number;
  /** Prompts drawn (with replacement) per tournament; the best one becomes a parent. */
  tournamentSize: number;
}

export class GeneticSearch implements Strategy {
  readonly name = 'genetic';

  constructor(private readonly options: GeneticSearchOptions) {}

  async run(ctx: SearchContext): Promise<void> {
    const tracker = new RunTracker(ctx);
    const size = Math.max(1, this.options.population);
    const initial = this.breed(ctx, tracker, size, () => randomFullCandidate(ctx.space, ctx.random));
    let population = await tracker.evaluate(initial.children);
    if (population.length === 0 || (population.length < initial.children.length && ctx.exhausted())) return;
    while (!ctx.exhausted()) {
      const elites = this.selectElites(population, this.eliteCount(size));
      const parents = population;
      const next = this.breed(ctx, tracker, size - elites.length, () => this.child(ctx, parents));
      const scored = await tracker.evaluate(next.children);
      if (scored.length < next.children.length && ctx.exhausted()) return; // the budget ran out mid-generation
      if (next.fresh === 0) return; // converged: no child differs from what was already scored
      population = [...elites, ...scored];
    }
  }

  /**
   * The best `count` distinct prompts of the population. Duplicates get in when a generation
   * re-breeds a prompt (accepted as a last resort, see `breed`); two copies of one prompt in the
   * elite slots would waste one and halve the elitism.
   */
  protected selectElites(population: readonly ScoredCandidate[], count: number): ScoredCandidate[] {
    const elites: ScoredCandidate[] = [];
    const keys = new Set<string>();
    for (const s of [...population].sort(byObjectiveDesc)) {
      if (elites.length >= count) break;
      const key = candidateKey(s.candidate);
      if (keys.has(key)) continue;
      keys.add(key);
      elites.push(s);
    }
    return elites;
  }

  /** Clamped so that every generation breeds at least one child. */
  private eliteCount(size: number): number {
    return Math.min(Math.max(0, this.options.eliteCount), size - 1);
  }

  /**
   * `count` valid children from `make`, preferring ones never scored before. A duplicate is
   * accepted only after repeated tries (it is free, and keeps the population size stable).
   */
  private breed(
    ctx: SearchContext,
    tracker: RunTracker,
    count: number,
    make: () => Candidate,
  ): { children: Candidate[]; fresh: number } {
    const children: Candidate[] = [];
    let fresh = 0;
    for (let i = 0; i < count; i++) {
      let fallback: Candidate | undefined;
      for (let attempt = 0; attempt < MAX_VALID_ATTEMPTS; attempt++) {
        const c = make();
        if (!isValidCandidate(ctx.space, c)) continue;
        if (tracker.markSeen(c)) {
          children.push(c);
          fresh++;
          fallback = undefined;
          break;
        }
        fallback ??= c;
      }
      if (fallback) children.push(fallback);
    }
    return { children, fresh };
  }

  /** Two tournaments, optional crossover, then mutation. */
  private child(ctx: SearchContext, parents: readonly ScoredCandidate[]): Candidate {
    const a = this.tournament(parents, ctx.random);
    const b = this.tournament(parents, ctx.random);
    const base = ctx.random() < this.options.crossoverRate ? crossover(a, b, ctx.random) : cloneCandidate(a);
    return mutate(ctx.space, base, this.options.mutationRate, ctx.random);
  }

  /** Best of `tournamentSize` uniform draws; the earliest wins a tie. */
  private tournament(parents: readonly ScoredCandidate[], random: Rng): Candidate {
    let best = pickOne(parents, random);
    for (let i = 1; i < this.options.tournamentSize; i++) {
      const rival = pickOne(parents, random);
      if (rival.score.objective > best.score.objective) best = rival;
    }
    return best.candidate;
  }
}

/**
 * Per group, one-point crossover: the head of one parent and the tail of the other (which parent
 * gives the head is a coin flip). The cut lies strictly inside the shorter of the two groups, so
 * a group of two or more tokens always mixes both parents; a one-token group (or one parent's
 * one-token group) is taken whole from one parent, which makes crossover uniform per group.
 * Every token keeps its position, so it stays in that position's pool, and the child's group
 * length is the tail parent's (hence within bounds).
 */
export function crossover(a: Candidate, b: Candidate, random: Rng): Candidate {
  return {
    tokens: a.tokens.map((ga, g) => {
      const [head, tail] = random() < 0.5 ? [ga, b.tokens[g]] : [b.tokens[g], ga];
      const shorter = Math.min(head.length, tail.length);
      if (shorter < 2) return tail.slice();
      const cut = 1 + randomInt(shorter - 1, random);
      return [...head.slice(0, cut), ...tail.slice(cut)];
    }),
  };
}

/** Mutates every group of a copy of `c`; see `mutateGroup`. */
export function mutate(space: SearchSpace, c: Candidate, rate: number, random: Rng): Candidate {
  return { tokens: c.tokens.map((g, i) => mutateGroup(space.groups[i], g, rate, random)) };
}

type Mutation = 'substitute' | 'insert' | 'delete';

/**
 * Each token mutates with probability `rate`: substituted from its position's pool, a new token
 * inserted just before or after it (drawn from the pool of the position where it lands), or
 * deleted. Inserts and deletes are only offered while they keep the length in bounds. They shift
 * the tokens behind them to other positions; a shifted token that its new position's pool does
 * not hold is redrawn from that pool, so a token only ever sits where its pool allows it.
 */
export function mutateGroup(group: SlotGroup, tokens: readonly number[], rate: number, random: Rng): number[] {
  const out = tokens.slice();
  for (let i = 0; i < out.length; i++) {
    if (random() >= rate) continue;
    const ops: Mutation[] = ['substitute'];
    if (out.length < group.maxLength) ops.push('insert');
    if (out.length > group.minLength) ops.push('delete');
    const op = pickOne(ops, random);
    if (op === 'substitute') {
      out[i] = pickOne(group.pools[i], random);
    } else if (op === 'insert') {
      const at = i + randomInt(2, random);
      out.splice(at, 0, pickOne(group.pools[at], random));
      refitShifted(group, out, at + 1, random);
      i++; // do not mutate the same original token twice
    } else {
      out.splice(i, 1);
      refitShifted(group, out, i, random);
      i--; // the next token slid into slot i
    }
  }
  return out;
}

/** Redraws every token from `from` on that its (new) position's pool does not hold. */
function refitShifted(group: SlotGroup, out: number[], from: number, random: Rng): void {
  for (let j = from; j < out.length; j++) {
    if (!group.pools[j].includes(out[j])) out[j] = pickOne(group.pools[j], random);
  }
}
