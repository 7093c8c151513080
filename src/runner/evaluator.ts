import seedrandom from 'seedrandom';
import { ObjectiveName, REWARD_CORRECT, REWARD_WRONG, objectiveValue } from '../scoring/metrics';
import { ScoreResult, ScoreTask } from '../scoring/workerProtocol';
import { Candidate, ScoredCandidate, SearchContext, SearchSpace, Score, candidateKey } from '../search/types';

/** Turns a candidate into what the scorer needs: slot tokens and label-word ids. */
export type CandidateDecoder = (c: Candidate) => { slots: Record<string, number[]>; labelIds: number[][] };

export interface EvaluatorOptions {
  space: SearchSpace;
  decode: CandidateDecoder;
  score: (task: ScoreTask) => Promise<ScoreResult>;
  trainSize: number;
  /** Example evaluations the search may spend on train (the total budget minus the dev reserve). */
  budget: number;
  objective: ObjectiveName;
  seed: number;
  /** Scores recorded by an interrupted run, by candidate key: replayed for free on resume. */
  replay?: Map<string, Score>;
  /** Called after each scored batch, in candidate order (for the run log). */
  onScored?(scored: { candidate: Candidate; score: Score; cost: number; replayed: boolean }[]): void;
  /** When true, evaluate() returns nothing more (Ctrl-C). */
  stopRequested?(): boolean;
}

/** Pure: summary score from per-example results. */
export function scoreFromResult(r: ScoreResult, objective: ObjectiveName): Score {
  const n = r.correct.length;
  let correct = 0;
  let gap = 0;
  let reward = 0;
  for (let i = 0; i < n; i++) {
    if (r.correct[i]) correct++;
    gap += r.gaps[i];
    reward += r.gaps[i] * (r.correct[i] ? REWARD_CORRECT : REWARD_WRONG);
  }
  const s = { accuracy: correct / n, margin: gap / n, reward: reward / n };
  return { ...s, objective: objectiveValue(s, objective) };
}

/**
 * The SearchContext the runner gives a strategy: scores on the train split through the pool,
 * charges the budget exactly (one example evaluation per candidate × example), and never
 * scores or charges a candidate twice.
 */
export class BudgetedEvaluator implements SearchContext {
  readonly space: SearchSpace;
  readonly random: () => number;
  spent = 0;
  private readonly cache = new Map<string, ScoredCandidate>();
  private readonly order: ScoredCandidate[] = [];

  constructor(private readonly opts: EvaluatorOptions) {
    this.space = opts.space;
    const rng = seedrandom(`promptsearch:${opts.seed}`);
    this.random = () => rng();
  }

  /** Every scored candidate, in the order first scored. */
  all(): ScoredCandidate[] {
    return this.order;
  }

  exhausted(): boolean {
    return this.spent + this.opts.trainSize > this.opts.budget || (this.opts.stopRequested?.() ?? false);
  }

  async evaluate(candidates: Candidate[]): Promise<ScoredCandidate[]> {
    const out: (ScoredCandidate | Promise<ScoredCandidate>)[] = [];
    const fresh: { candidate: Candidate; score: Score; cost: number; replayed: boolean }[] = [];
    const pending = new Map<string, Promise<ScoredCandidate>>();
    for (const candidate of candidates) {
      const key = candidateKey(candidate);
      const known = this.cache.get(key) ?? pending.get(key);
      if (known) {
        out.push(known);
        continue;
      }
      if (this.exhausted()) break;
      this.spent += this.opts.trainSize;
      const replayed = this.opts.replay?.get(key);
      const p = replayed
        ? Promise.resolve({ candidate, score: replayed })
        : this.scoreOnTrain(candidate).then((score) => ({ candidate, score }));
      pending.set(key, p);
      out.push(p);
      fresh.push({ candidate, score: undefined as unknown as Score, cost: this.opts.trainSize, replayed: !!replayed });
    }
    const results = await Promise.all(out);
    // Record in candidate order, so the log and `all()` do not depend on worker timing.
    let f = 0;
    for (const r of results) {
      const key = candidateKey(r.candidate);
      if (this.cache.has(key)) continue;
      this.cache.set(key, r);
      this.order.push(r);
      fresh[f++].score = r.score;
    }
    if (fresh.length > 0) this.opts.onScored?.(fresh);
    return results;
  }

  private async scoreOnTrain(candidate: Candidate): Promise<Score> {
    const { slots, labelIds } = this.opts.decode(candidate);
    const r = await this.opts.score({ split: 'train', slots, labelIds, start: 0, end: this.opts.trainSize });
    return scoreFromResult(r, this.opts.objective);
  }
}
