import seedrandom from 'seedrandom';
import { Candidate, candidateKey, SearchSpace, Strategy } from '../src/search/types';
import { createStrategy, STRATEGY_DEFAULTS, StrategyName } from '../src/search/strategies';
import { crossover, mutateGroup } from '../src/search/strategies/genetic';
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
import { FixtureContext } from '../src/search/testing/fixtureContext';

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
        it(`${name} never exceeds budget ${budget} (cost ${cost}, seed ${seed}) and uses it`, async () => {
          const ctx = await runOnce(name, { seed, budget, cost });
          expect(ctx.spent).toBeLessThanOrEqual(budget);
          expect(ctx.spent).toBe(ctx.all().length * cost);
          // Every strategy runs until it cannot afford another prompt on this large space.
          expect(ctx.exhausted()).toBe(true);
        });
      }
    }
  }

  it('FixtureContext returns the affordable prefix and serves cached candidates free', async () => {
    const fx = makeFixture(false);
    const ctx = new FixtureContext({ space: fx.space, budget: 5, costPerCandidate: 2, seed: 1, objective: fx.smooth });
    const c = (t: number): Candidate => ({ tokens: [[t, t, t], [t, t]] });
    expect(await ctx.evaluate([c(1), c(2), c(3)])).toHaveLength(2);
    expect(ctx.spent).toBe(4);
    expect(ctx.exhausted()).toBe(true);
    expect(await ctx.evaluate([c(2), c(1)])).toHaveLength(2);
    expect(await ctx.evaluate([c(3)])).toEqual([]);
    expect(ctx.all()).toHaveLength(2);
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
      // eslint-disable-next-line no-console
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
      const out = mutateGroup(group, group.pools.slice(0, len).map((p) => p[0]), 1, rng);
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

  it('conditionOnPrevious runs within budget', async () => {
    const ctx = await runOnce('reinforce', { seed: 1, budget: 200 }, { conditionOnPrevious: true });
    expect(ctx.spent).toBeLessThanOrEqual(200);
    expect(ctx.exhausted()).toBe(true);
  });
});

describe('beam restarts', () => {
  it('restarts at a local optimum and spends the whole budget; without restarts it stops there', async () => {
    const budget = 3000; // far more than one climb on the rugged fixture needs
    const withRestarts = await runOnce('beam', { seed: 3, budget, rugged: true });
    const without = await runOnce('beam', { seed: 3, budget, rugged: true }, { restarts: false });
    expect(without.spent).toBeLessThan(budget);
    expect(withRestarts.spent).toBeGreaterThan(without.spent);
    expect(withRestarts.best()!.score.objective).toBeGreaterThanOrEqual(without.best()!.score.objective);
  });
});

describe('createStrategy', () => {
  it('builds every strategy with the defaults', () => {
    for (const name of NAMES) expect(createStrategy(name, {}).name).toBe(name);
    expect(STRATEGY_DEFAULTS.beam).toEqual({ width: 4, candidatesPerPosition: 8, restarts: true });
  });

  it('rejects an unknown strategy', () => {
    expect(() => createStrategy('annealing', {})).toThrow(/Unknown strategy "annealing".*random, beam, genetic, reinforce/);
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
