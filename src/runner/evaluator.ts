import seedrandom from 'seedrandom';
import { CalibrationMode, meanOffsets } from '../prompt/calibration';
import { ObjectiveName, judgeAll, objectiveValue, summarize } from '../scoring/metrics';
import { ScoreResult, ScoreTask } from '../scoring/workerProtocol';
import { Candidate, ScoredCandidate, SearchContext, SearchSpace, Score, candidateKey } from '../search/types';
import { WordIds } from '../prompt/verbalizer';

/** Turns a candidate into what the scorer needs: slot tokens and label-word ids. */
export type CandidateDecoder = (c: Candidate) => { slots: Record<string, number[]>; labelIds: WordIds[][] };

/**
 * Early rejection: score a candidate on the first `fraction` of train; when even an optimistic
 * completion could not reach the current k-th best train accuracy, stop there and charge only
 * the slice. `z` = 0 is the exact rule (all remaining examples assumed correct, so nothing that
 * could enter the top-k is ever dropped); z > 0 assumes the remainder scores at most the
 * slice's accuracy plus z standard errors, which rejects more, with a small risk.
 */
export interface EarlyRejectionOptions {
  fraction: number;
  topK: number;
  z?: number;
}

export interface EvaluatorOptions {
  space: SearchSpace;
  decode: CandidateDecoder;
  score: (task: ScoreTask) => Promise<ScoreResult>;
  trainSize: number;
  /** Gold labels of the train split, in the order the workers hold it. */
  trainLabels: number[];
  numLabels: number;
  /** How each candidate's label priors are removed (prompt/calibration.ts). */
  calibration: CalibrationMode;
  /** Rows of the `calib` split (content-free inputs), scored and charged per candidate with `content-free`. */
  calibRows?: number;
  /** Example evaluations the search may spend on train (the total budget minus the dev reserve). */
  budget: number;
  objective: ObjectiveName;
  seed: number;
  racing?: EarlyRejectionOptions;
  /** Scores (and what they cost) recorded by an interrupted run, by candidate key: replayed on resume. */
  replay?: Map<string, { score: Score; cost: number }>;
  /** Called after each scored batch, in candidate order (for the run log). */
  onScored?(scored: { candidate: Candidate; score: Score; cost: number; replayed: boolean }[]): void;
  /** When true, evaluate() returns nothing more (Ctrl-C). */
  stopRequested?(): boolean;
}

/**
 * Pure: a candidate's score from its label log-probabilities on train examples. `offsets` are
 * the calibration offsets to apply (undefined: raw); they are kept in the score so that dev,
 * test and the prompt file can reuse them.
 */
export function scoreLogProbs(
  logProbs: number[][],
  golds: number[],
  numLabels: number,
  objective: ObjectiveName,
  offsets: number[] | undefined,
): Score {
  const summary = summarize(judgeAll(logProbs, golds, offsets), numLabels);
  const s = {
    accuracy: summary.accuracy,
    margin: summary.margin,
    reward: summary.reward,
    logLikelihood: summary.logLikelihood,
  };
  return { ...s, objective: objectiveValue(s, objective), ...(offsets ? { offsets } : {}) };
}

/**
 * Pure early rejection rule: can a candidate with `correct` of `m` slice examples right still reach
 * `threshold` accuracy over all `n`? Optimistic remainder accuracy: 1 when z = 0, else the slice
 * accuracy plus z standard errors (capped at 1).
 */
export function canReach(correct: number, m: number, n: number, threshold: number, z = 0): boolean {
  const p = correct / m;
  const optimistic = z === 0 ? 1 : Math.min(1, p + z * Math.sqrt(Math.max(p * (1 - p), 1 / (4 * m)) / m));
  return (correct + optimistic * (n - m)) / n >= threshold;
}

/**
 * The SearchContext the runner gives a strategy: scores on the train split through the pool,
 * charges the budget exactly (one example evaluation per candidate × example actually scored),
 * and never scores or charges a candidate twice.
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

  /** Every scored candidate, in the order first scored (rejected ones carry `partialExamples`). */
  all(): ScoredCandidate[] {
    return this.order;
  }

  exhausted(): boolean {
    // A candidate is only started when its full cost fits, so the cap holds whatever early rejection decides.
    return this.spent + this.fullCost() > this.opts.budget || (this.opts.stopRequested?.() ?? false);
  }

  /** What scoring one candidate in full costs: every train example, plus the content-free rows. */
  private fullCost(): number {
    return this.opts.trainSize + (this.opts.calibration === 'content-free' ? (this.opts.calibRows ?? 0) : 0);
  }

  /** The k-th best full train accuracy so far (−∞ until k candidates are fully scored). */
  private rejectionThreshold(): number {
    const r = this.opts.racing;
    if (!r || r.fraction <= 0) return -Infinity;
    const full = this.order.filter((c) => c.score.partialExamples === undefined).map((c) => c.score.accuracy);
    if (full.length < r.topK) return -Infinity;
    full.sort((a, b) => b - a);
    return full[r.topK - 1];
  }

  async evaluate(candidates: Candidate[]): Promise<ScoredCandidate[]> {
    const n = this.fullCost();
    const threshold = this.rejectionThreshold(); // fixed for the batch: independent of worker timing
    const sliceSize =
      threshold === -Infinity
        ? this.opts.trainSize
        : Math.max(1, Math.ceil(this.opts.racing!.fraction * this.opts.trainSize));
    const out: (ScoredCandidate | Promise<ScoredCandidate>)[] = [];
    const fresh: { key: string; candidate: Candidate; cost: number; replayed: boolean }[] = [];
    const pending = new Map<string, Promise<ScoredCandidate>>();
    for (const candidate of candidates) {
      const key = candidateKey(candidate);
      const known = this.cache.get(key) ?? pending.get(key);
      if (known) {
        out.push(known);
        continue;
      }
      if (this.exhausted()) break;
      const replayed = this.opts.replay?.get(key);
      const entry = { key, candidate, cost: n, replayed: !!replayed };
      this.spent += n; // provisional; early rejection refunds what it did not score
      const p: Promise<ScoredCandidate> = replayed
        ? Promise.resolve({ candidate, score: replayed.score }).then((r) => ((entry.cost = replayed.cost), r))
        : this.scoreRacing(candidate, sliceSize, threshold).then(
            ({ score, cost }) => ((entry.cost = cost), { candidate, score }),
          );
      pending.set(key, p);
      out.push(p);
      fresh.push(entry);
    }
    let results: ScoredCandidate[];
    try {
      results = await Promise.all(out);
    } catch (e) {
      // Nothing of this batch is recorded (a stop: its tasks not yet begun were refused).
      this.spent -= n * fresh.length;
      throw e;
    }
    for (const f of fresh) this.spent -= n - f.cost;
    // Record in candidate order, so the log and `all()` do not depend on worker timing.
    const recorded: { candidate: Candidate; score: Score; cost: number; replayed: boolean }[] = [];
    const byKey = new Map(results.map((r) => [candidateKey(r.candidate), r]));
    for (const f of fresh) {
      const r = byKey.get(f.key)!;
      this.cache.set(f.key, r);
      this.order.push(r);
      recorded.push({ candidate: f.candidate, score: r.score, cost: f.cost, replayed: f.replayed });
    }
    if (recorded.length > 0) this.opts.onScored?.(recorded);
    return results;
  }

  /**
   * Slice first; the rest only if the candidate can still reach the threshold. The runner hands
   * the workers train in a seeded, label-stratified order, so a slice holds every class.
   */
  private async scoreRacing(
    candidate: Candidate,
    sliceSize: number,
    threshold: number,
  ): Promise<{ score: Score; cost: number }> {
    const { trainSize: n, trainLabels, numLabels, objective, calibration } = this.opts;
    const { slots, labelIds } = this.opts.decode(candidate);
    const contentFree =
      calibration === 'content-free'
        ? await this.opts.score({ split: 'calib', slots, labelIds, start: 0, end: this.opts.calibRows ?? 0 })
        : undefined;
    const extra = contentFree ? contentFree.logProbs.length : 0;
    // inputs: the candidate's own offsets from the train inputs it was scored on (labels unused).
    const offsetsFor = (lp: number[][]) =>
      calibration === 'none' ? undefined : meanOffsets(contentFree ? contentFree.logProbs : lp, numLabels);
    const head = (await this.opts.score({ split: 'train', slots, labelIds, start: 0, end: sliceSize })).logProbs;
    if (sliceSize < n) {
      const correct = judgeAll(head, trainLabels, offsetsFor(head)).filter((e) => e.correct).length;
      if (!canReach(correct, sliceSize, n, threshold, this.opts.racing?.z ?? 0)) {
        return {
          score: {
            ...scoreLogProbs(head, trainLabels, numLabels, objective, offsetsFor(head)),
            partialExamples: sliceSize,
          },
          cost: sliceSize + extra,
        };
      }
      head.push(...(await this.opts.score({ split: 'train', slots, labelIds, start: sliceSize, end: n })).logProbs);
    }
    return { score: scoreLogProbs(head, trainLabels, numLabels, objective, offsetsFor(head)), cost: n + extra };
  }
}

/**
 * Pure: a seeded, label-stratified order of example indices. Every prefix holds the classes in
 * (nearly) their overall proportions, so a early rejection slice of the first m examples is never one
 * class, whatever order the data file lists them in.
 */
export function stratifiedOrder(labels: readonly number[], seed: number): number[] {
  const rng = seedrandom(`promptsearch:stratify:${seed}`);
  const byLabel = new Map<number, number[]>();
  labels.forEach((l, i) => byLabel.set(l, [...(byLabel.get(l) ?? []), i]));
  const keyed: { i: number; key: number; tie: number }[] = [];
  for (const members of byLabel.values()) {
    // Fisher–Yates within the class, then spread the class evenly over [0, 1).
    for (let k = members.length - 1; k > 0; k--) {
      const j = Math.floor(rng() * (k + 1));
      [members[k], members[j]] = [members[j], members[k]];
    }
    const tie = rng();
    members.forEach((i, rank) => keyed.push({ i, key: (rank + 0.5) / members.length, tie }));
  }
  keyed.sort((a, b) => a.key - b.key || a.tie - b.tie);
  return keyed.map((k) => k.i);
}
