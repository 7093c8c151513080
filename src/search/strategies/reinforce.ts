/**
 * REINFORCE over a factorised categorical policy (RLPrompt-style, without the policy network).
 *
 * One categorical distribution per position (all groups at maxLength, flattened in template
 * order) over that position's pool, logits initialised to 0 (uniform). With
 * `conditionOnPrevious`, every position after the first holds a table of logits, one row per
 * token index of the previous position (across group boundaries too), so it can learn pairs.
 *
 * Each step samples a batch, scores it, and ascends
 *   (1/B) Σ_i [ A_i ∇ log π(a_i) + β ∇H(π) ]
 * with A_i the batch z-score of `score.reward`. For a softmax, ∇_z log π(a) = onehot(a) − p and
 * ∇_z H = −p ⊙ (log p + H). The context keeps every scored prompt, so the best sample is kept
 * without any extra bookkeeping here.
 *
 * Repeats are free, so once the policy has collapsed onto prompts it has already scored it
 * learns nothing and spends nothing. After STALL_LIMIT such batches, with `restarts` (default on)
 * the policy starts again from uniform logits, like beam's restarts: the run keeps what it
 * scored (and never re-sends it), so the budget goes to new prompts. A policy that stalls right
 * after a restart, before sampling anything new, means uniform draws no longer find unseen
 * prompts: the space is (practically) used up and the run ends.
 */
import { Candidate, SearchContext, SearchSpace, Strategy } from '../types';
import { flatPositions, isValidCandidate, MAX_VALID_ATTEMPTS, poolAt, RunTracker } from './candidates';
import { entropyGradient, sampleCategorical, softmax, zScores } from './sampling';

export interface ReinforceSearchOptions {
  /** Prompts sampled per policy update. */
  batchSize: number;
  /** Step size of the logit update. */
  learningRate: number;
  /** β: weight of the entropy bonus that keeps the policy exploring. */
  entropyWeight: number;
  /** Condition each position's distribution on the previous position's token. */
  conditionOnPrevious: boolean;
  /** Restart from a uniform policy when it stalls (STALL_LIMIT batches with nothing new). */
  restarts?: boolean;
}

/** Consecutive batches with nothing new before the policy counts as converged. */
const STALL_LIMIT = 5;

/** A sampled prompt plus, per flat position, the table row used and the pool index drawn. */
interface Sample {
  candidate: Candidate;
  rows: number[];
  actions: number[];
}

export class ReinforceSearch implements Strategy {
  readonly name = 'reinforce';

  constructor(private readonly options: ReinforceSearchOptions) {}

  async run(ctx: SearchContext): Promise<void> {
    const tracker = new RunTracker(ctx);
    let policy = new Policy(ctx.space, this.options.conditionOnPrevious);
    let stalled = 0;
    let freshSinceRestart = true; // the initial policy counts as a restart that has paid off
    while (!ctx.exhausted()) {
      if (stalled >= STALL_LIMIT) {
        // Repeats are free, so a collapsed policy would loop forever without this guard.
        if (this.options.restarts === false || !freshSinceRestart) return;
        policy = new Policy(ctx.space, this.options.conditionOnPrevious);
        stalled = 0;
        freshSinceRestart = false;
      }
      const samples = this.sampleBatch(ctx, policy);
      if (samples.length === 0) return; // the policy only proposes invalid prompts
      const fresh = samples.filter((s) => tracker.markSeen(s.candidate)).length;
      const scored = await tracker.evaluate(samples.map((s) => s.candidate));
      if (scored.length === 0) return;
      const advantages = zScores(scored.map((s) => s.score.reward));
      policy.update(samples.slice(0, scored.length), advantages, this.options);
      if (scored.length < samples.length && ctx.exhausted()) return; // the budget ran out mid-batch
      stalled = fresh === 0 ? stalled + 1 : 0;
      if (fresh > 0) freshSinceRestart = true;
    }
  }

  /** batchSize valid samples; invalid ones are redrawn a bounded number of times, then dropped. */
  private sampleBatch(ctx: SearchContext, policy: Policy): Sample[] {
    const samples: Sample[] = [];
    for (let i = 0; i < Math.max(1, this.options.batchSize); i++) {
      for (let attempt = 0; attempt < MAX_VALID_ATTEMPTS; attempt++) {
        const s = policy.sample(ctx.random);
        if (isValidCandidate(ctx.space, s.candidate)) {
          samples.push(s);
          break;
        }
      }
    }
    return samples;
  }
}

/** The logit tables: `logits[position][row][token index]`. */
export class Policy {
  readonly logits: number[][][];
  private readonly pools: number[][];

  constructor(
    private readonly space: SearchSpace,
    private readonly conditioned: boolean,
  ) {
    this.pools = flatPositions(space).map((ref) => poolAt(space, ref));
    this.logits = this.pools.map((pool, i) => {
      const rows = conditioned && i > 0 ? this.pools[i - 1].length : 1;
      return Array.from({ length: rows }, () => new Array<number>(pool.length).fill(0));
    });
  }

  /** Which row of position i's table applies, given the previous position's action. */
  private row(i: number, previousAction: number): number {
    return this.conditioned && i > 0 ? previousAction : 0;
  }

  /** The probabilities position i uses after `previousAction` was drawn at i − 1. */
  probs(i: number, previousAction: number): number[] {
    return softmax(this.logits[i][this.row(i, previousAction)]);
  }

  sample(random: () => number): Sample {
    const rows: number[] = [];
    const actions: number[] = [];
    this.pools.forEach((_, i) => {
      const row = this.row(i, actions[i - 1] ?? 0);
      rows.push(row);
      actions.push(sampleCategorical(softmax(this.logits[i][row]), random()));
    });
    return { candidate: this.toCandidate(actions), rows, actions };
  }

  /** Pool indices (flat) back to token ids per group. */
  private toCandidate(actions: number[]): Candidate {
    let flat = 0;
    return {
      tokens: this.space.groups.map((g) => g.pools.map((pool) => pool[actions[flat++]])),
    };
  }

  /**
   * One gradient-ascent step. Gradients are accumulated against the pre-update logits and
   * applied afterwards, so the order of samples in the batch does not matter.
   */
  update(
    samples: readonly Sample[],
    advantages: readonly number[],
    opts: { learningRate: number; entropyWeight: number },
  ): void {
    const grads = this.logits.map((table) => table.map((row) => row.map(() => 0)));
    const scale = 1 / samples.length;
    samples.forEach((s, b) => {
      s.actions.forEach((action, i) => {
        const p = softmax(this.logits[i][s.rows[i]]);
        const dH = entropyGradient(p);
        const g = grads[i][s.rows[i]];
        for (let k = 0; k < p.length; k++) {
          const dLogPi = (k === action ? 1 : 0) - p[k];
          g[k] += scale * (advantages[b] * dLogPi + opts.entropyWeight * dH[k]);
        }
      });
    });
    this.logits.forEach((table, i) =>
      table.forEach((row, r) => row.forEach((_, k) => (row[k] += opts.learningRate * grads[i][r][k]))),
    );
  }
}
