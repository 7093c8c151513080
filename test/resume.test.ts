import { BudgetedEvaluator, EvaluatorOptions } from '../src/runner/evaluator';
import { ScoreResult, ScoreTask } from '../src/scoring/workerProtocol';
import { createStrategy, StrategyName } from '../src/search/strategies';
import { candidateKey, Score, SearchSpace } from '../src/search/types';

// Resume for every strategy, cheaply. A resumed run replays the recorded scores through the
// evaluator and runs the strategy again from its seed; it reaches the uninterrupted result only
// if the strategy is a deterministic function of the seed and the scores it is given. The file
// plumbing (space.json, candidates.jsonl, a torn last line) is strategy-independent and is tested
// end to end with the real model in search.test.ts; here a fake scorer makes each run take
// milliseconds, so all four strategies (with early rejection, whose partial scores are replayed too) fit.

const N = 16;
const pool = (base: number) => Array.from({ length: 12 }, (_, i) => base + i);
const space: SearchSpace = {
  groups: [
    { name: 'A', minLength: 2, maxLength: 2, pools: [pool(0), pool(100)] },
    { name: 'B', minLength: 1, maxLength: 1, pools: [pool(200)] },
  ],
};

/** Gold labels of the N train examples (grouped by label, like the bundled files). */
const LABELS = Array.from({ length: N }, (_, i) => (i < N / 2 ? 0 : 1));

/**
 * Example i leans to its gold label with a rate that depends on the tokens: a deterministic fake
 * scorer returning label log-probabilities (calibrated per candidate, as in a real search).
 */
async function fakeScore(t: ScoreTask): Promise<ScoreResult> {
  const [a0, a1] = t.slots.A;
  const b = t.slots.B[0];
  const rate = ((a0 * 31 + a1 * 17 + b * 7) % 97) / 97;
  const logProbs: number[][] = [];
  for (let i = t.start; i < t.end; i++) {
    const right = ((a0 * 7919 + a1 * 131 + b * 17 + i * 104729) % 1000) / 1000 < rate;
    const p0 = right === (LABELS[i] === 0) ? 0.5 + rate / 2 : 0.5 - rate / 2.5;
    logProbs.push([Math.log(p0), Math.log(1 - p0)]);
  }
  return { logProbs };
}

interface Line {
  key: string;
  score: Score;
  cost: number;
}

/** An evaluator over the fake scorer that logs new lines, stops after `stopAfterPolls` polls and replays `replay`. */
function evaluatorFor(opts: {
  budget: number;
  racing?: EvaluatorOptions['racing'];
  stopAfterPolls?: number;
  replay?: Line[];
}) {
  let polls = 0;
  const lines: Line[] = [];
  const evaluator = new BudgetedEvaluator({
    space,
    decode: (c) => ({ slots: { A: c.tokens[0], B: c.tokens[1] }, labelIds: [[0], [1]] }),
    score: fakeScore,
    trainSize: N,
    trainLabels: LABELS,
    numLabels: 2,
    calibration: 'inputs',
    budget: opts.budget,
    objective: 'accuracy',
    seed: 5,
    racing: opts.racing,
    replay: opts.replay && new Map(opts.replay.map((l) => [l.key, { score: l.score, cost: l.cost }])),
    stopRequested: opts.stopAfterPolls === undefined ? undefined : () => ++polls > opts.stopAfterPolls!,
    onScored: (batch) => {
      for (const b of batch)
        if (!b.replayed) lines.push({ key: candidateKey(b.candidate), score: b.score, cost: b.cost });
    },
  });
  return { evaluator, lines };
}

async function search(name: StrategyName, opts: { stopAfterPolls?: number; replay?: Line[] }) {
  const run = evaluatorFor({ ...opts, budget: 150 * N, racing: { fraction: 0.25, topK: 3 } });
  await createStrategy(name, {}).run(run.evaluator);
  return run;
}

describe('a stopped search resumes to the result it would have reached uninterrupted', () => {
  test.each(['random', 'beam', 'genetic', 'reinforce'] as StrategyName[])('%s', async (name) => {
    const whole = await search(name, {});
    // Early rejection refunds what it did not score after the batch is cut short; the strategy must go on
    // and spend that too (it used to stop at the short batch: 2,060-2,296 of 2,400 spent here).
    expect(whole.evaluator.exhausted()).toBe(true);
    const stopped = await search(name, { stopAfterPolls: 60 });
    expect(stopped.lines.length).toBeGreaterThan(0);
    expect(stopped.lines.length).toBeLessThan(whole.lines.length / 2);
    const resumed = await search(name, { replay: stopped.lines });
    // The log of the stopped run followed by the resumed run's new lines is the uninterrupted log.
    expect([...stopped.lines, ...resumed.lines]).toEqual(whole.lines);
    expect(resumed.evaluator.spent).toBe(whole.evaluator.spent);
    expect(resumed.evaluator.all().map((s) => candidateKey(s.candidate))).toEqual(
      whole.evaluator.all().map((s) => candidateKey(s.candidate)),
    );
  });

  test('the check can fail: a strategy that draws from Math.random does not resume', async () => {
    // The same comparison with a nondeterministic first prompt diverges.
    const rogue = {
      name: 'rogue',
      run: async (ctx: BudgetedEvaluator) => {
        const pick = (p: number[]) => p[Math.floor(Math.random() * p.length)];
        while (!ctx.exhausted()) await ctx.evaluate([{ tokens: space.groups.map((g) => g.pools.map(pick)) }]);
      },
    };
    const lines = async (stop?: number, replay?: Line[]) => {
      const run = evaluatorFor({ budget: 40 * N, stopAfterPolls: stop, replay });
      await rogue.run(run.evaluator);
      return run.lines;
    };
    const whole = await lines();
    const stopped = await lines(20);
    expect([...stopped, ...(await lines(undefined, stopped))]).not.toEqual(whole);
  });
});
