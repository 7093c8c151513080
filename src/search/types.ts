/**
 * The contract between search strategies and the rest of the engine.
 *
 * A strategy only sees token ids and scores: it never touches the model, the data or the
 * worker pool. That keeps every strategy a small, deterministic, testable module.
 */

/** One searchable group of token positions: a template slot (`<A:3>`) or a label word. */
export interface SlotGroup {
  /** Slot name as written in the template (`A`), or `label:<id>` for a searched label word. */
  name: string;
  /** Fewest tokens the group may hold (the genetic strategy inserts/deletes within [min, max]). */
  minLength: number;
  /** Most tokens the group may hold; beam and reinforce always fill exactly this many. */
  maxLength: number;
  /** Candidate token ids per position, `pools[p]` for position p (length === maxLength). */
  pools: number[][];
}

export interface SearchSpace {
  groups: SlotGroup[];
  /**
   * Optional constraint (e.g. two labels may not share a label word). Strategies never send an
   * invalid candidate to `evaluate`; they resample or skip it.
   */
  isValid?(candidate: Candidate): boolean;
}

/** A filling of every group: `tokens[g]` holds the token ids of group g. */
export interface Candidate {
  tokens: number[][];
}

/** What one candidate scored on the train split (the search signal). */
export interface Score {
  /** Fraction of train examples classified correctly (after calibration, when on). */
  accuracy: number;
  /** Mean RLPrompt gap: P(gold) − max P(other), probabilities over the labels (calibrated when on). */
  margin: number;
  /** Mean log P(gold) (minus the cross-entropy), under the same probabilities. */
  logLikelihood: number;
  /** Mean RLPrompt piecewise reward (gap scaled by λ_correct or λ_wrong), for REINFORCE. */
  reward: number;
  /** The scalar the search maximises (the config's `objective`: ce, accuracy or margin). */
  objective: number;
  /**
   * Calibration offsets the decision used (per label; absent without calibration): the mean
   * label log-probability over the inputs scored (`inputs`) or the content-free inputs.
   */
  offsets?: number[];
  /**
   * Set when early rejection stopped scoring after this many train examples: the scores are
   * estimates on that slice, and the candidate provably (or, with a confidence margin, very
   * likely) could not reach the top-k. Absent when scored on the whole train split.
   */
  partialExamples?: number;
}

export interface ScoredCandidate {
  candidate: Candidate;
  score: Score;
}

/**
 * What a strategy is given. `evaluate` scores candidates on the train split and charges the
 * budget; it returns fewer results than asked (a prefix) once the budget runs out, and an empty
 * array when nothing is left. Candidates already scored in this run are free and return their
 * cached score. A short prefix does not always end the run: early rejection (early rejection) charges a
 * candidate in full up front and refunds what it did not score, so `exhausted()` can be false
 * again afterwards; strategies stop on a short prefix only when `exhausted()` says so.
 */
export interface SearchContext {
  space: SearchSpace;
  evaluate(candidates: Candidate[]): Promise<ScoredCandidate[]>;
  /** True once no further (uncached) candidate can be afforded. */
  exhausted(): boolean;
  /** Seeded uniform [0, 1) generator: the only source of randomness a strategy may use. */
  random(): number;
  /** Optional progress hook: strategies call it once per step (generation, beam position, batch). */
  onStep?(info: { step: number; best: ScoredCandidate | undefined }): void;
}

export interface Strategy {
  readonly name: string;
  /** Runs until the budget is exhausted (or the strategy converges) and returns nothing: the
   * context keeps every scored candidate, and the runner picks the top-k from it. */
  run(ctx: SearchContext): Promise<void>;
}

/** Stable key for caching and de-duplication. */
export function candidateKey(c: Candidate): string {
  return c.tokens.map((g) => g.join(',')).join('|');
}
