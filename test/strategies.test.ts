import seedrandom from 'seedrandom';
import { Candidate, candidateKey, ScoredCandidate, SearchContext, SearchSpace, Strategy } from '../src/search/types';
import { createStrategy, STRATEGY_DEFAULTS, StrategyName } from '../src/search/strategies';
import { crossover, GeneticSearch, GeneticSearchOptions, mutateGroup } from '../src/search/strategies/genetic';
import { Policy } from '../src/search/strategies/reinforce';
import {
  entropy,
  entropyGradient,
  pickK,
  sampleCategorical,
  shuffle,
  softmax,
  zScores,
} from '../src/search/strategies/sampling';
import { FixtureContext } from './fixtureContext';

// ---------------------------------------------------------------------------------------------
// Fixture: 2 groups (3 + 2 positions), 30-token pools drawn from ids 0..199 (so the groups'
// pools overlap), and a hidden target prompt. The smooth objective is the fraction of positions
// matching the target plus a small bonus for token ids near the target id; the rugged one adds
// deterministic per-candidate noise, so neighbouring prompts disagree.
// ---------------------------------------------------------------------------------------------

const ID_RANGE = 200;
const POOL_SIZE = 30;

interface Fixture {
  space: SearchSpace;
  target: number[][];
  smooth: (c: Candidate) => number;
  rugged: (c: Candidate) => number;
}

function makeFixture(withConstraint: boolean): Fixture {
  const rng = seedrandom('strategies-fixture');
  const ids = Array.from({ length: ID_RANGE }, (_, i) => i);
  const pool = () => shuffle(ids, rng).slice(0, POOL_SIZE);
  const groups = [
    { name: 'A', minLength: 1, maxLength: 3, pools: [pool(), pool(), pool()] },
    { name: 'label:0', minLength: 1, maxLength: 2, pools: [pool(), pool()] },
  ];
  // Target tokens avoid pool[0] (the beam's filler) and, for the constrained space, are disjoint.
  const used = new Set<number>();
  const target = groups.map((g) =>
    g.pools.map((p) => {
      const choices = p.slice(1).filter((t) => !used.has(t));
      const t = choices[Math.floor(rng() * choices.length)];
      used.add(t);
      return t;
    }),
  );
  const positions = groups.reduce((n, g) => n + g.maxLength, 0);
  const smooth = (c: Candidate): number => {
    let match = 0;
    let near = 0;
    target.forEach((tg, g) =>
      tg.forEach((t, i) => {
        const tok = c.tokens[g][i];
        if (tok === undefined) return;
        if (tok === t) match++;
        near += Math.max(0, 1 - Math.abs(tok - t) / 25);
      }),
    );
    return match / positions + (0.2 * near) / positions;
  };
  const rugged = (c: Candidate): number => smooth(c) + 0.15 * hashNoise(candidateKey(c));
  const space: SearchSpace = { groups };
  if (withConstraint) space.isValid = noSharedToken;
  return { space, target, smooth, rugged };
}

/** Deterministic [0, 1) noise per candidate (FNV-1a). */
function hashNoise(key: string): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return (h >>> 0) / 2 ** 32;
}

/** The constraint of test (4): no token id may appear in both groups. */
function noSharedToken(c: Candidate): boolean {
  const first = new Set(c.tokens[0]);
  return c.tokens[1].every((t) => !first.has(t));
}

const NAMES: StrategyName[] = ['random', 'beam', 'genetic', 'reinforce'];
const STRUCTURED: StrategyName[] = ['beam', 'genetic', 'reinforce'];

async function runOnce(
  name: StrategyName,
  opts: { seed: number; budget: number; cost?: number; rugged?: boolean; constrained?: boolean },
  params: Record<string, unknown> = {},
): Promise<FixtureContext> {
  const fx = makeFixture(opts.constrained ?? false);
  const ctx = new FixtureContext({
    space: fx.space,
    budget: opts.budget,
    costPerCandidate: opts.cost ?? 1,
    seed: opts.seed,
    objective: opts.rugged ? fx.rugged : fx.smooth,
  });
  const strategy: Strategy = createStrategy(name, params);
  await strategy.run(ctx);
  return ctx;
}

const keys = (ctx: FixtureContext): string[] => ctx.all().map((s) => candidateKey(s.candidate));

// ---------------------------------------------------------------------------------------------

describe('sampling helpers', () => {
  it('softmax is stable and normalised', () => {
    const p = softmax([1000, 1000, 0]);
    expect(p[0]).toBeCloseTo(0.5);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1);
  });

  it('sampleCategorical inverts the CDF and never returns a zero-mass index', () => {
    expect(sampleCategorical([0.2, 0.3, 0.5], 0)).toBe(0);
    expect(sampleCategorical([0.2, 0.3, 0.5], 0.25)).toBe(1);
    expect(sampleCategorical([0.2, 0.3, 0.5], 0.99)).toBe(2);
    expect(sampleCategorical([0.5, 0.49, 0], 0.999)).toBe(1);
  });

  it('zScores is zero when there is no spread', () => {
    expect(zScores([2, 2, 2])).toEqual([0, 0, 0]);
    const z = zScores([1, 2, 3]);
    expect(z.reduce((a, b) => a + b, 0)).toBeCloseTo(0);
    expect(z[2]).toBeCloseTo(Math.sqrt(1.5));
  });

  it('entropyGradient matches finite differences of H(softmax(z))', () => {
    const z = [0.3, -1.2, 2.0, 0.0];
    const analytic = entropyGradient(softmax(z));
    const eps = 1e-6;
    z.forEach((_, k) => {
      const plus = z.map((v, i) => (i === k ? v + eps : v));
      const minus = z.map((v, i) => (i === k ? v - eps : v));
      const numeric = (entropy(softmax(plus)) - entropy(softmax(minus))) / (2 * eps);
      expect(analytic[k]).toBeCloseTo(numeric, 6);
    });
  });

  it('pickK draws distinct items', () => {
    const rng = seedrandom('k');
    const picked = pickK([1, 2, 3, 4, 5, 6], 4, rng);
    expect(new Set(picked).size).toBe(4);
    expect(pickK([1, 2], 5, rng)).toHaveLength(2);
  });
});

describe('budget accounting', () => {
  const cases: { budget: number; cost: number }[] = [
    { budget: 1, cost: 1 },
    { budget: 7, cost: 1 },
    { budget: 45, cost: 1 },
    { budget: 133, cost: 1 },
    { budget: 100, cost: 3 },
    { budget: 2, cost: 3 },
  ];
  for (const name of NAMES) {
    for (const { budget, cost } of cases) {
      for (const seed of [1, 2]) {
        it(`${name} uses budget ${budget} (cost ${cost}, seed ${seed}) and stops when it runs out`, async () => {
          const ctx = await runOnce(name, { seed, budget, cost });
          // Every strategy runs until it cannot afford another prompt on this large space.
          expect(ctx.exhausted()).toBe(true);
          // What the strategy controls: once `evaluate` returned a short prefix, it sends nothing
          // more (the context itself never over-charges, so `spent <= budget` proves nothing).
          expect(ctx.refusals).toBeLessThanOrEqual(1);
          expect(ctx.callsAfterRefusal).toBe(0);
        });
      }
    }
  }

  it('FixtureContext returns the affordable prefix and serves cached candidates free', async () => {
    const fx = makeFixture(false);
    const ctx = new FixtureContext({ space: fx.space, budget: 5, costPerCandidate: 2, seed: 1, objective: fx.smooth });
    const c = (i: number): Candidate => ({ tokens: fx.space.groups.map((g) => g.pools.map((p) => p[i])) });
    expect(await ctx.evaluate([c(1), c(2), c(3)])).toHaveLength(2);
    expect(ctx.spent).toBe(4);
    expect(ctx.exhausted()).toBe(true);
    expect(await ctx.evaluate([c(2), c(1)])).toHaveLength(2);
    expect(await ctx.evaluate([c(3)])).toEqual([]);
    expect(ctx.all()).toHaveLength(2);
  });

  it('the budget checks catch a strategy that ignores the short prefix', async () => {
    // A strategy that keeps drawing after `evaluate` says the budget ran out.
    const rogue: Strategy = {
      name: 'rogue',
      async run(ctx: SearchContext): Promise<void> {
        for (let i = 0; i < 5; i++) {
          await ctx.evaluate(
            Array.from({ length: 10 }, () => ({
              tokens: ctx.space.groups.map((g) => g.pools.map((p) => p[Math.floor(ctx.random() * p.length)])),
            })),
          );
        }
      },
    };
    const fx = makeFixture(false);
    const ctx = new FixtureContext({ space: fx.space, budget: 15, costPerCandidate: 1, seed: 1, objective: fx.smooth });
    await rogue.run(ctx);
    expect(ctx.refusals).toBeGreaterThan(1);
    expect(ctx.callsAfterRefusal).toBeGreaterThan(0);
  });
});

// A small space: two fixed-length groups (as template slots are) of two positions with four
// tokens each, disjoint per position: 4^4 = 256 prompts.
function smallSpace(): SearchSpace {
  const pool = (base: number) => [base, base + 1, base + 2, base + 3];
  return {
    groups: [
      { name: 'A', minLength: 2, maxLength: 2, pools: [pool(10), pool(20)] },
      { name: 'B', minLength: 2, maxLength: 2, pools: [pool(30), pool(40)] },
    ],
  };
}

function smallRun(
  name: StrategyName,
  seed: number,
  budget: number,
  params: Record<string, unknown> = {},
): Promise<FixtureContext> {
  const ctx = new FixtureContext({
    space: smallSpace(),
    budget,
    costPerCandidate: 1,
    seed,
    objective: (c) => hashNoise(candidateKey(c)),
  });
  return createStrategy(name, params)
    .run(ctx)
    .then(() => ctx);
}

describe('spending the budget while unseen prompts remain', () => {
  for (const name of NAMES) {
    it(`${name} spends all of 200 evaluations on a 256-prompt space`, async () => {
      for (const seed of [1, 2, 3, 4, 5]) expect((await smallRun(name, seed, 200)).spent).toBe(200);
    });
  }

  it('reinforce restarts a collapsed policy; without restarts it stops early', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const without = await smallRun('reinforce', seed, 200, { restarts: false });
      const withRestarts = await smallRun('reinforce', seed, 200);
      expect(without.spent).toBeLessThan(200);
      // The same run up to the stall, then new prompts instead of an early return.
      expect(keys(withRestarts).slice(0, without.spent)).toEqual(keys(without));
    }
  });

  it('reinforce ends on a used-up space (restarts cannot loop forever)', async () => {
    const ctx = await smallRun('reinforce', 1, 10_000);
    expect(ctx.spent).toBeGreaterThan(240);
    expect(ctx.spent).toBeLessThanOrEqual(256);
  });
});

describe('determinism', () => {
  for (const name of NAMES) {
    it(`${name}: same seed gives the same evaluations and best; another seed differs`, async () => {
      const opts = { budget: 150, rugged: true };
      const a = await runOnce(name, { ...opts, seed: 7 });
      const b = await runOnce(name, { ...opts, seed: 7 });
      const c = await runOnce(name, { ...opts, seed: 8 });
      expect(keys(a)).toEqual(keys(b));
      expect(a.best()).toEqual(b.best());
      expect(keys(c)).not.toEqual(keys(a));
    });
  }
});

describe('structured strategies beat random at equal budget', () => {
  const SEEDS = [1, 2, 3, 4, 5, 6];
  const BUDGET = 400;
  const meanBest = async (name: StrategyName, rugged: boolean): Promise<number> => {
    let total = 0;
    for (const seed of SEEDS) {
      const ctx = await runOnce(name, { seed, budget: BUDGET, rugged });
      total += ctx.best()?.score.objective ?? 0;
    }
    return total / SEEDS.length;
  };

  for (const rugged of [false, true]) {
    const label = rugged ? 'rugged' : 'smooth';
    it(`${label} fixture`, async () => {
      const random = await meanBest('random', rugged);
      const means: Record<string, number> = { random };
      for (const name of STRUCTURED) means[name] = await meanBest(name, rugged);
      console.log(`${label} mean best objective (budget ${BUDGET}, ${SEEDS.length} seeds):`, means);
      for (const name of STRUCTURED) {
        expect(means[name]).toBeGreaterThan(random);
        expect(means[name]).toBeGreaterThan(random + 0.1); // a genuine margin, not a fluke
      }
    });
  }
});

describe('constraints', () => {
  for (const name of NAMES) {
    it(`${name} never evaluates an invalid candidate`, async () => {
      for (const seed of [1, 2, 3]) {
        // FixtureContext throws on an invalid candidate, so completing the run is the check.
        const ctx = await runOnce(name, { seed, budget: 300, constrained: true });
        expect(ctx.all().length).toBeGreaterThan(0);
        for (const s of ctx.all()) expect(noSharedToken(s.candidate)).toBe(true);
      }
    });
  }

  it('beam starts from a random valid prompt when the all-filler prompt is invalid', async () => {
    const fx = makeFixture(false);
    fx.space.groups[1].pools[0][0] = fx.space.groups[0].pools[0][0]; // fillers now collide
    const ctx = new FixtureContext({
      space: { ...fx.space, isValid: noSharedToken },
      budget: 100,
      costPerCandidate: 1,
      seed: 3,
      objective: fx.smooth,
    });
    await createStrategy('beam', {}).run(ctx);
    expect(ctx.all().length).toBe(100);
  });

  it('genetic keeps every group length within [minLength, maxLength] and varies lengths', async () => {
    const lengths = new Set<string>();
    for (const seed of [1, 2, 3]) {
      const ctx = await runOnce('genetic', { seed, budget: 300, rugged: true }, { mutationRate: 0.5 });
      const space = makeFixture(false).space;
      for (const s of ctx.all()) {
        s.candidate.tokens.forEach((t, g) => {
          expect(t.length).toBeGreaterThanOrEqual(space.groups[g].minLength);
          expect(t.length).toBeLessThanOrEqual(space.groups[g].maxLength);
        });
        lengths.add(s.candidate.tokens.map((t) => t.length).join('x'));
      }
    }
    expect(lengths.size).toBeGreaterThan(1); // inserts and deletes actually happen
  });

  it('mutation and crossover respect bounds on their own', () => {
    const rng = seedrandom('ops');
    const group = makeFixture(false).space.groups[0];
    for (let i = 0; i < 500; i++) {
      const len = 1 + Math.floor(rng() * 3);
      const out = mutateGroup(
        group,
        group.pools.slice(0, len).map((p) => p[0]),
        1,
        rng,
      );
      expect(out.length).toBeGreaterThanOrEqual(group.minLength);
      expect(out.length).toBeLessThanOrEqual(group.maxLength);
    }
    const a: Candidate = { tokens: [[1, 2, 3], [4]] };
    const b: Candidate = { tokens: [[5], [6, 7]] };
    for (let i = 0; i < 50; i++) {
      const child = crossover(a, b, rng);
      expect([1, 3]).toContain(child.tokens[0].length);
      expect([1, 2]).toContain(child.tokens[1].length);
    }
  });
});

describe('genetic operators', () => {
  /** Disjoint pools per position, so a token that moved to another position is caught. */
  const disjointGroup = {
    name: 'A',
    minLength: 1,
    maxLength: 3,
    pools: [
      [1, 2, 3, 4],
      [11, 12, 13, 14],
      [21, 22, 23, 24],
    ],
  };

  it("insert and delete keep every token in its position's pool", () => {
    const rng = seedrandom('pools');
    let lengthChanges = 0;
    for (let i = 0; i < 2000; i++) {
      const len = 1 + Math.floor(rng() * 3);
      const before = disjointGroup.pools.slice(0, len).map((p) => p[Math.floor(rng() * 4)]);
      const out = mutateGroup(disjointGroup, before, 0.7, rng);
      if (out.length !== before.length) lengthChanges++;
      out.forEach((t, j) => expect(disjointGroup.pools[j]).toContain(t));
    }
    expect(lengthChanges).toBeGreaterThan(500); // inserts and deletes were exercised
  });

  it('a fixed-length group never changes length', () => {
    const rng = seedrandom('fixed');
    const group = { ...disjointGroup, minLength: 3 };
    for (let i = 0; i < 500; i++) expect(mutateGroup(group, [1, 11, 21], 1, rng)).toHaveLength(3);
  });

  it('crossover mixes a 2- or 3-token group of two different parents every time', () => {
    const rng = seedrandom('mix');
    const a: Candidate = { tokens: [[1, 2], [1, 2, 3], [9]] };
    const b: Candidate = { tokens: [[5, 6], [5, 6, 7], [8]] };
    const singles = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const child = crossover(a, b, rng);
      for (const g of [0, 1]) {
        expect(child.tokens[g]).not.toEqual(a.tokens[g]);
        expect(child.tokens[g]).not.toEqual(b.tokens[g]);
        // Every token keeps its position: it comes from one of the parents at that position.
        child.tokens[g].forEach((t, j) => expect([a.tokens[g][j], b.tokens[g][j]]).toContain(t));
      }
      singles.add(child.tokens[2][0]);
    }
    expect(singles).toEqual(new Set([8, 9])); // a one-token group comes whole from either parent
  });

  it('the elite slots hold distinct prompts', async () => {
    // Records the elites of every generation of real runs with small pools, where children
    // often repeat a prompt already in the population.
    const elitesPerGeneration: ScoredCandidate[][] = [];
    class Recording extends GeneticSearch {
      protected selectElites(population: readonly ScoredCandidate[], count: number): ScoredCandidate[] {
        const elites = super.selectElites(population, count);
        elitesPerGeneration.push(elites);
        return elites;
      }
    }
    const options: GeneticSearchOptions = { ...STRATEGY_DEFAULTS.genetic, population: 8, eliteCount: 3 };
    for (const seed of [1, 2, 3]) {
      const ctx = new FixtureContext({
        space: smallSpace(),
        budget: 200,
        costPerCandidate: 1,
        seed,
        objective: (c) => hashNoise(candidateKey(c)),
      });
      await new Recording(options).run(ctx);
    }
    expect(elitesPerGeneration.length).toBeGreaterThan(20);
    for (const elites of elitesPerGeneration) {
      expect(elites).toHaveLength(3);
      expect(new Set(elites.map((e) => candidateKey(e.candidate))).size).toBe(3);
    }
  });
});

describe('reinforce policy', () => {
  it('conditioned policy holds one row per previous-token index', () => {
    const space = makeFixture(false).space;
    const policy = new Policy(space, true);
    expect(policy.logits[0]).toHaveLength(1);
    expect(policy.logits[1]).toHaveLength(POOL_SIZE);
    expect(policy.logits[1][0]).toHaveLength(POOL_SIZE);
  });

  it('an update raises the probability of a positively advantaged action', () => {
    const space = makeFixture(false).space;
    const policy = new Policy(space, false);
    const s = policy.sample(seedrandom('p'));
    const before = policy.probs(0, 0)[s.actions[0]];
    policy.update([s, policy.sample(seedrandom('q'))], [1, -1], { learningRate: 1, entropyWeight: 0.01 });
    expect(policy.probs(0, 0)[s.actions[0]]).toBeGreaterThan(before);
  });

  it('conditionOnPrevious learns which token goes with the previous one', () => {
    // Reward 1 when the second token has the first token's pool index: every pair is as good as
    // any other, so only a policy conditioned on the previous token can learn all of them.
    const n = 5;
    const space: SearchSpace = {
      groups: [
        { name: 'A', minLength: 1, maxLength: 1, pools: [Array.from({ length: n }, (_, i) => i)] },
        { name: 'B', minLength: 1, maxLength: 1, pools: [Array.from({ length: n }, (_, i) => 100 + i)] },
      ],
    };
    const train = (conditioned: boolean): Policy => {
      const rng = seedrandom('pairs');
      const policy = new Policy(space, conditioned);
      for (let step = 0; step < 100; step++) {
        const batch = Array.from({ length: 16 }, () => policy.sample(rng));
        const rewards = batch.map((s) => (s.actions[1] === s.actions[0] ? 1 : 0));
        policy.update(batch, zScores(rewards), { learningRate: 1, entropyWeight: 0.01 });
      }
      return policy;
    };
    const matchProbs = (policy: Policy) => Array.from({ length: n }, (_, a) => policy.probs(1, a)[a]);
    const conditioned = matchProbs(train(true));
    for (const p of conditioned) expect(p).toBeGreaterThan(0.6);
    // The unconditioned policy can only favour one second token, whatever came first.
    expect(matchProbs(train(false)).filter((p) => p > 0.6).length).toBeLessThanOrEqual(1);
  });

  it('conditionOnPrevious searches within budget and differs from the unconditioned search', async () => {
    const cond = await runOnce('reinforce', { seed: 1, budget: 200 }, { conditionOnPrevious: true });
    const plain = await runOnce('reinforce', { seed: 1, budget: 200 });
    expect(cond.exhausted()).toBe(true);
    expect(cond.callsAfterRefusal).toBe(0);
    expect(keys(cond)).not.toEqual(keys(plain));
  });
});

describe('beam restarts', () => {
  it('restarts at a local optimum and the restarts find better prompts than the first climb', async () => {
    // Pure noise over 8^5 prompts: many local optima, and the first climb ends in one of them.
    const pool = (base: number) => Array.from({ length: 8 }, (_, i) => base + i);
    const space: SearchSpace = {
      groups: [
        { name: 'A', minLength: 3, maxLength: 3, pools: [pool(0), pool(100), pool(200)] },
        { name: 'B', minLength: 2, maxLength: 2, pools: [pool(300), pool(400)] },
      ],
    };
    const budget = 3000; // far more than one climb needs
    const run = async (seed: number, params: Record<string, unknown>) => {
      const ctx = new FixtureContext({
        space,
        budget,
        costPerCandidate: 1,
        seed,
        objective: (c) => hashNoise(candidateKey(c)),
      });
      await createStrategy('beam', params).run(ctx);
      return ctx;
    };
    let improved = 0;
    const seeds = [1, 2, 3, 4, 5, 6];
    for (const seed of seeds) {
      const withRestarts = await run(seed, {});
      const without = await run(seed, { restarts: false });
      // Without restarts the climb stops at its local optimum, well before the budget.
      expect(without.spent).toBeLessThan(budget / 2);
      expect(withRestarts.spent).toBe(budget);
      // Same climb up to there (the runs share a seed), then only restarts.
      expect(keys(withRestarts).slice(0, without.spent)).toEqual(keys(without));
      const firstClimb = without.best()!.score.objective;
      const afterwards = withRestarts.all().slice(without.spent);
      // A restart starts from a random prompt, not from a neighbour of the old beam.
      const firstRestart = afterwards[0].candidate;
      const differing = (c: Candidate) => c.tokens.flat().filter((t, i) => t !== firstRestart.tokens.flat()[i]).length;
      expect(Math.min(...without.all().map((s) => differing(s.candidate)))).toBeGreaterThan(1);
      if (Math.max(...afterwards.map((s) => s.score.objective)) > firstClimb) improved++;
    }
    expect(improved).toBeGreaterThanOrEqual(seeds.length / 2);
  });
});

describe('search invariants on random spaces (property test)', () => {
  // 40 random spaces: 1-3 groups of 1-3 positions, some of variable length, pools of 2-7 tokens
  // from a shared id range (so a token moved to the wrong position is usually outside its pool),
  // sometimes a constraint, random budget and cost. FixtureContext throws on an invalid
  // candidate, a length outside [minLength, maxLength] or a token outside its position's pool.
  const cases = Array.from({ length: 40 }, (_, i) => {
    const rng = seedrandom(`space-${i}`);
    const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
    const groups = Array.from({ length: int(1, 3) }, (_, g) => {
      const maxLength = int(1, 3);
      const minLength = rng() < 0.5 ? maxLength : int(1, maxLength);
      const pools = Array.from({ length: maxLength }, () =>
        shuffle(
          Array.from({ length: 30 }, (_, t) => t),
          rng,
        ).slice(0, int(2, 7)),
      );
      return { name: `G${g}`, minLength, maxLength, pools };
    });
    const space: SearchSpace = { groups };
    if (rng() < 0.3) space.isValid = (c) => new Set(c.tokens.flat()).size === c.tokens.flat().length;
    const fullSize = groups.reduce((n, g) => n * g.pools.reduce((m, p) => m * p.length, 1), 1);
    return { i, space, budget: int(1, 120), cost: int(1, 3), fullSize };
  });

  for (const name of NAMES) {
    it(`${name}: respects lengths, pools and validity, and stops at the first short prefix`, async () => {
      let spentAll = 0;
      for (const { i, space, budget, cost, fullSize } of cases) {
        const ctx = new FixtureContext({
          space,
          budget,
          costPerCandidate: cost,
          seed: i,
          objective: (c) => hashNoise(candidateKey(c)),
        });
        await createStrategy(name, {}).run(ctx);
        expect(ctx.refusals).toBeLessThanOrEqual(1);
        expect(ctx.callsAfterRefusal).toBe(0);
        // Far more full-length prompts than the budget affords (and no constraint): all spent.
        if (!space.isValid && fullSize >= 4 * Math.floor(budget / cost)) {
          if (!ctx.exhausted())
            throw new Error(`${name} left budget on space ${i}: spent ${ctx.spent} of ${budget} (${fullSize} prompts)`);
          spentAll++;
        }
      }
      expect(spentAll).toBeGreaterThan(10); // the budget clause was exercised
    });
  }
});

describe('createStrategy', () => {
  it('builds every strategy with the defaults', () => {
    for (const name of NAMES) expect(createStrategy(name, {}).name).toBe(name);
    expect(STRATEGY_DEFAULTS.beam).toEqual({ width: 4, candidatesPerPosition: 8, restarts: true });
  });

  it('rejects an unknown strategy', () => {
    expect(() => createStrategy('annealing', {})).toThrow(
      /Unknown strategy "annealing".*random, beam, genetic, reinforce/,
    );
  });

  it('rejects an unknown parameter and names the allowed ones', () => {
    expect(() => createStrategy('beam', { depth: 3 })).toThrow(
      /Unknown parameter "depth".*allowed: width, candidatesPerPosition/,
    );
  });

  it.each([
    ['beam', { width: 0 }, /"width".*integer >= 1/],
    ['beam', { width: 2.5 }, /"width".*integer >= 1/],
    ['random', { batchSize: '8' }, /"batchSize".*integer >= 1.*got "8"/],
    ['genetic', { mutationRate: 1.5 }, /"mutationRate".*\[0, 1\]/],
    ['genetic', { eliteCount: -1 }, /"eliteCount".*integer >= 0/],
    ['genetic', { population: 4, eliteCount: 4 }, /"eliteCount".*< population/],
    ['reinforce', { learningRate: 0 }, /"learningRate".*> 0/],
    ['reinforce', { entropyWeight: Number.NaN }, /"entropyWeight".*>= 0/],
    ['reinforce', { conditionOnPrevious: 'yes' }, /"conditionOnPrevious".*boolean.*allowed parameters: batchSize/],
  ])('%s rejects %j', (name, params, message) => {
    expect(() => createStrategy(name, params as Record<string, unknown>)).toThrow(message);
  });
});
