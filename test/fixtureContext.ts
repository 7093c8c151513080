/**
 * A deterministic in-memory `SearchContext` for the strategy tests: no model,
 * just an objective function over candidates, a seeded RNG, a cache and exact budget accounting.
 * It also enforces the contract: an invalid candidate, a group length outside
 * [minLength, maxLength], or a token at a position whose pool does not hold it makes `evaluate`
 * throw.
 */
import seedrandom from 'seedrandom';
import { Candidate, candidateKey, ScoredCandidate, SearchContext, SearchSpace } from '../src/search/types';

export interface FixtureContextOptions {
  space: SearchSpace;
  /** Total cost that may be spent. */
  budget: number;
  /** Cost of scoring one uncached candidate. */
  costPerCandidate: number;
  /** Seed for `random()` (through `seedrandom(String(seed))`). */
  seed: number | string;
  objective: (c: Candidate) => number;
}

export class FixtureContext implements SearchContext {
  readonly space: SearchSpace;
  readonly random: () => number;
  /** Cost charged so far. */
  spent = 0;
  /** Number of `onStep` calls received. */
  steps = 0;
  /** `evaluate` calls that returned a short prefix because the budget ran out. */
  refusals = 0;
  /** `evaluate` calls made after the first refusal (a strategy should have stopped by then). */
  callsAfterRefusal = 0;
  private readonly budget: number;
  private readonly cost: number;
  private readonly objective: (c: Candidate) => number;
  private readonly cache = new Map<string, ScoredCandidate>();
  private readonly scored: ScoredCandidate[] = [];

  constructor(options: FixtureContextOptions) {
    this.space = options.space;
    this.budget = options.budget;
    this.cost = options.costPerCandidate;
    this.objective = options.objective;
    this.random = seedrandom(String(options.seed));
  }

  /** Scores candidates in order; stops (returning the prefix) at the first one it cannot afford. */
  async evaluate(candidates: Candidate[]): Promise<ScoredCandidate[]> {
    if (this.refusals > 0) this.callsAfterRefusal++;
    const out: ScoredCandidate[] = [];
    for (const candidate of candidates) {
      this.checkContract(candidate);
      const key = candidateKey(candidate);
      const cached = this.cache.get(key);
      if (cached) {
        out.push(cached);
        continue;
      }
      if (this.spent + this.cost > this.budget) {
        this.refusals++;
        break;
      }
      this.spent += this.cost;
      const scored = this.score(candidate);
      this.cache.set(key, scored);
      this.scored.push(scored);
      out.push(scored);
    }
    return out;
  }

  exhausted(): boolean {
    return this.spent + this.cost > this.budget;
  }

  onStep(): void {
    this.steps++;
  }

  /** Every distinct scored candidate, in the order it was first scored. */
  all(): ScoredCandidate[] {
    return this.scored.slice();
  }

  /** The highest objective so far; the earliest wins a tie. */
  best(): ScoredCandidate | undefined {
    let best: ScoredCandidate | undefined;
    for (const s of this.scored) if (!best || s.score.objective > best.score.objective) best = s;
    return best;
  }

  private score(candidate: Candidate): ScoredCandidate {
    const value = this.objective(candidate);
    const copy: Candidate = { tokens: candidate.tokens.map((g) => g.slice()) };
    return {
      candidate: copy,
      score: { objective: value, accuracy: value, margin: value, reward: value, logLikelihood: value },
    };
  }

  private checkContract(c: Candidate): void {
    if (this.space.isValid && !this.space.isValid(c)) {
      throw new Error(`invalid candidate sent to evaluate: ${candidateKey(c)}`);
    }
    if (c.tokens.length !== this.space.groups.length) {
      throw new Error(`candidate has ${c.tokens.length} groups, expected ${this.space.groups.length}`);
    }
    c.tokens.forEach((tokens, g) => {
      const { minLength, maxLength, name } = this.space.groups[g];
      if (tokens.length < minLength || tokens.length > maxLength) {
        throw new Error(`group ${name} has ${tokens.length} tokens, allowed [${minLength}, ${maxLength}]`);
      }
      tokens.forEach((t, i) => {
        if (!this.space.groups[g].pools[i].includes(t)) {
          throw new Error(`group ${name} position ${i} holds token ${t}, which its pool does not hold`);
        }
      });
    });
  }
}
