/**
 * Strategy factory: builds a strategy by name from loosely typed parameters (CLI flags, search
 * files) merged over documented defaults, rejecting anything unknown or ill-typed up front.
 */
import { Strategy } from '../types';
import { BeamSearch, BeamSearchOptions } from './beam';
import { GeneticSearch, GeneticSearchOptions } from './genetic';
import { RandomSearch, RandomSearchOptions } from './random';
import { ReinforceSearch, ReinforceSearchOptions } from './reinforce';

export { BeamSearch } from './beam';
export { GeneticSearch } from './genetic';
export { RandomSearch } from './random';
export { ReinforceSearch } from './reinforce';
export type { BeamSearchOptions, GeneticSearchOptions, RandomSearchOptions, ReinforceSearchOptions };

export const STRATEGY_NAMES = ['random', 'beam', 'genetic', 'reinforce'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** The options object each strategy's constructor takes. */
export interface StrategyOptions {
  random: RandomSearchOptions;
  beam: BeamSearchOptions;
  genetic: GeneticSearchOptions;
  reinforce: ReinforceSearchOptions;
}

/**
 * Defaults, chosen for budgets of a few hundred to a few thousand evaluations:
 * - random.batchSize 32: fills a worker pool; only the last batch's size depends on it.
 * - beam.width 4 × candidatesPerPosition 8: 32 prompts per position (one full batch), enough
 *   beam diversity to escape a bad early choice without spending the budget on one position;
 *   restarts on: a local optimum on a few training examples comes long before the budget ends.
 * - genetic.population 32, eliteCount 2: one batch per generation, and ~10+ generations on a
 *   few hundred evaluations; two elites keep the best prompts without freezing the population.
 * - genetic.mutationRate 0.2 (per token): about one change per short prompt, so children differ
 *   from their parents but stay close. crossoverRate 0.8 and tournamentSize 3 are the textbook
 *   values: mild selection pressure that keeps diversity.
 * - reinforce.batchSize 16: more updates per budget (the policy learns per batch); the z-scored
 *   advantage makes learningRate 1 a unit-scale step on the logits. entropyWeight 0.01 only
 *   resists premature collapse. conditionOnPrevious false: the conditioned tables have
 *   |pool| times more parameters and need budgets far beyond the default ones to pay off.
 *   restarts on, as for beam: a collapsed policy only resamples prompts it already scored.
 */
export const STRATEGY_DEFAULTS: { readonly [N in StrategyName]: Readonly<StrategyOptions[N]> } = {
  random: { batchSize: 32 },
  beam: { width: 4, candidatesPerPosition: 8, restarts: true },
  genetic: { population: 32, eliteCount: 2, mutationRate: 0.2, crossoverRate: 0.8, tournamentSize: 3 },
  reinforce: { batchSize: 16, learningRate: 1, entropyWeight: 0.01, conditionOnPrevious: false, restarts: true },
};

export type ParamKind = 'positiveInt' | 'nonNegativeInt' | 'probability' | 'nonNegative' | 'positive' | 'boolean';

/**
 * What each parameter must be; the keys are also the allowed parameter names. Typed against
 * StrategyOptions so a parameter added to a strategy cannot be forgotten here.
 */
export const PARAM_KINDS: { [N in StrategyName]: Record<keyof StrategyOptions[N], ParamKind> } = {
  random: { batchSize: 'positiveInt' },
  beam: { width: 'positiveInt', candidatesPerPosition: 'positiveInt', restarts: 'boolean' },
  genetic: {
    population: 'positiveInt',
    eliteCount: 'nonNegativeInt',
    mutationRate: 'probability',
    crossoverRate: 'probability',
    tournamentSize: 'positiveInt',
  },
  reinforce: {
    batchSize: 'positiveInt',
    learningRate: 'positive',
    entropyWeight: 'nonNegative',
    conditionOnPrevious: 'boolean',
    restarts: 'boolean',
  },
};

/** One line per parameter, for the configuration reference (docs/configuration.md); the default is each strategy's. */
export const PARAM_TEXT: Readonly<Record<string, string>> = {
  batchSize: 'Candidates drawn per round (random, reinforce).',
  width: 'Prompts kept after each slot position (beam).',
  candidatesPerPosition: 'Tokens tried at a position for each kept prompt (beam).',
  restarts: 'Start again from a fresh draw when every neighbour is scored (beam, reinforce).',
  population: 'Prompts in each generation (genetic).',
  eliteCount: 'Best prompts copied unchanged into the next generation (genetic).',
  mutationRate: 'Chance that a token is replaced by another from its pool (genetic).',
  crossoverRate: 'Chance that two parents swap tokens (genetic).',
  tournamentSize: 'Prompts compared to pick each parent (genetic).',
  learningRate: 'Step size of the policy update (reinforce).',
  entropyWeight: 'Weight of the entropy bonus that keeps the policy from collapsing early (reinforce).',
  conditionOnPrevious: "Condition each token's distribution on the previous token (reinforce).",
};

export const KIND_TEXT: Record<ParamKind, string> = {
  positiveInt: 'an integer >= 1',
  nonNegativeInt: 'an integer >= 0',
  probability: 'a number in [0, 1]',
  nonNegative: 'a finite number >= 0',
  positive: 'a finite number > 0',
  boolean: 'a boolean',
};

function matchesKind(value: unknown, kind: ParamKind): boolean {
  if (kind === 'boolean') return typeof value === 'boolean';
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  switch (kind) {
    case 'positiveInt':
      return Number.isInteger(value) && value >= 1;
    case 'nonNegativeInt':
      return Number.isInteger(value) && value >= 0;
    case 'probability':
      return value >= 0 && value <= 1;
    case 'nonNegative':
      return value >= 0;
    case 'positive':
      return value > 0;
  }
}

function isStrategyName(name: string): name is StrategyName {
  return Object.prototype.hasOwnProperty.call(PARAM_KINDS, name);
}

/** Defaults overlaid with `params`, every key checked against the strategy's parameter table. */
function resolveParams<N extends StrategyName>(name: N, params: Record<string, unknown>): StrategyOptions[N] {
  const kinds: Record<string, ParamKind> = PARAM_KINDS[name];
  const allowed = Object.keys(kinds).join(', ');
  for (const key of Object.keys(params)) {
    if (!Object.prototype.hasOwnProperty.call(kinds, key)) {
      throw new Error(`Unknown parameter "${key}" for strategy "${name}"; allowed: ${allowed}`);
    }
    if (!matchesKind(params[key], kinds[key])) {
      throw new Error(
        `Parameter "${key}" of strategy "${name}" must be ${KIND_TEXT[kinds[key]]}, ` +
          `got ${JSON.stringify(params[key])}; allowed parameters: ${allowed}`,
      );
    }
  }
  // Every key was checked against PARAM_KINDS, which mirrors StrategyOptions[N].
  return { ...STRATEGY_DEFAULTS[name], ...params } as unknown as StrategyOptions[N];
}

/** Builds a strategy; throws on an unknown name or an unknown / ill-typed parameter. */
export function createStrategy(name: string, params: Record<string, unknown> = {}): Strategy {
  if (!isStrategyName(name)) {
    throw new Error(`Unknown strategy "${name}"; allowed: ${Object.keys(PARAM_KINDS).join(', ')}`);
  }
  switch (name) {
    case 'random':
      return new RandomSearch(resolveParams(name, params));
    case 'beam':
      return new BeamSearch(resolveParams(name, params));
    case 'genetic':
      return new GeneticSearch(checkGenetic(resolveParams(name, params)));
    case 'reinforce':
      return new ReinforceSearch(resolveParams(name, params));
  }
}

/** Cross-parameter rule: at least one child per generation must be bred. */
function checkGenetic(p: GeneticSearchOptions): GeneticSearchOptions {
  if (p.eliteCount >= p.population) {
    throw new Error(
      `Parameter "eliteCount" of strategy "genetic" must be < population (${p.population}), got ${p.eliteCount}`,
    );
  }
  return p;
}
