import * as fs from 'fs';
import { UserError } from '../errors';
import { DEFAULT_DTYPE, DEFAULT_MODEL, DTYPES, Dtype } from '../model/modelFolder';
import { OBJECTIVES, ObjectiveName } from '../scoring/metrics';

/**
 * A search experiment, as written in `searches/*.json`. Every field but `template`, the data
 * (`task` or `data`) and the verbalizer (or `searchVerbalizer`) has a default.
 */
export interface SearchConfig {
  name: string;
  model: string;
  dtype: Dtype;
  /** Bundled task (datasets/16-shot/NAME); or give `data`. */
  task?: string;
  /** Data split seed (13, 21, 42, 87, 100). */
  seed: number;
  /** Explicit TSV files instead of a bundled task. */
  data?: { train: string; dev: string; test?: string; textColumn?: string; labelColumn?: string };
  template: string;
  /** Fixed label words (`"terrible,great"`, a list, or `{"0": [...]}`); ignored for labels searched. */
  verbalizer?: string | string[] | Record<string, string | string[]>;
  /**
   * Search the label words too (one searched word per label), from model-proposed candidates.
   * `context` fills the slots while the candidates are proposed (e.g. {"A": "it was"}); default:
   * each slot position's most likely token.
   */
  searchVerbalizer: boolean | { candidates?: number; context?: Record<string, string> };
  candidates: {
    /** Model-proposed tokens per slot position. */
    topK: number;
    /** Hand-crafted words per slot name (or "*" for every slot), tried first. */
    words?: Record<string, string[]>;
    /** Let slots use the label words (off: a prompt that names the answer is a leak). */
    allowLabelWords: boolean;
  };
  strategy: 'random' | 'beam' | 'genetic' | 'reinforce';
  strategyParams: Record<string, unknown>;
  objective: ObjectiveName;
  /** Hard cap on example evaluations (candidate × example forward passes), train and dev together. */
  budget: number;
  /** How many of the best train candidates are scored on dev to pick the winner. */
  selectTopK: number;
  workers?: number;
  threadsPerWorker?: number;
  /** Search RNG seed; default: the data seed. */
  randomSeed?: number;
  scorer: 'mask-head' | 'full';
  /**
   * Causal models, mask-head scorer: compute each example's prefix once and score candidates on
   * their own suffix tokens (default true); false recomputes whole rows (for speed comparisons).
   */
  prefixReuse?: boolean;
  /**
   * Early rejection: score a candidate on `fraction` of train first and drop it when it cannot
   * reach the current `topK`-th best train accuracy (z = 0: provably; z > 0: with z standard
   * errors of optimism). fraction 0 turns it off.
   */
  racing: { fraction: number; topK: number; z: number };
  /** After the search, refine the winner into a soft prompt (see `promptsearch refine`). */
  refine?: { budget?: number; dim?: number; popSize?: number; sigma0?: number; seed?: number; loss?: 'ce' | 'margin' };
}

const STRATEGIES = ['random', 'beam', 'genetic', 'reinforce'] as const;

export const CONFIG_DEFAULTS = {
  model: DEFAULT_MODEL,
  dtype: DEFAULT_DTYPE,
  seed: 13,
  searchVerbalizer: false,
  candidates: { topK: 64, allowLabelWords: false },
  strategyParams: {},
  objective: 'accuracy' as ObjectiveName,
  budget: 50_000,
  selectTopK: 5,
  scorer: 'mask-head' as const,
  racing: { fraction: 0, topK: 16, z: 0 },
};

const FIELDS: Record<keyof SearchConfig | '$schema' | 'description', (v: unknown, where: string) => void> = {
  $schema: () => {},
  description: str,
  name: str,
  model: str,
  dtype: (v, w) => oneOf(v, w, DTYPES),
  task: str,
  seed: int,
  data: (v, w) => {
    obj(v, w, ['train', 'dev', 'test', 'textColumn', 'labelColumn']);
    const d = v as Record<string, unknown>;
    for (const k of Object.keys(d)) str(d[k], `${w}.${k}`);
    if (!d.train || !d.dev) throw new UserError(`${w}: needs at least 'train' and 'dev' files`);
  },
  template: str,
  verbalizer: (v, w) => {
    if (typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'))) return;
    if (v && typeof v === 'object' && !Array.isArray(v)) return;
    throw new UserError(`${w}: expected "word,word", a list of words, or {"0": [...], ...}`);
  },
  searchVerbalizer: (v, w) => {
    if (typeof v === 'boolean') return;
    obj(v, w, ['candidates', 'context']);
    const c = (v as Record<string, unknown>).candidates;
    if (c !== undefined) posInt(c, `${w}.candidates`);
    const ctx = (v as Record<string, unknown>).context;
    if (ctx !== undefined) {
      obj(ctx, `${w}.context`);
      for (const [k, t] of Object.entries(ctx as object)) str(t, `${w}.context.${k}`);
    }
  },
  candidates: (v, w) => {
    obj(v, w, ['topK', 'words', 'allowLabelWords']);
    const c = v as Record<string, unknown>;
    if (c.topK !== undefined) posInt(c.topK, `${w}.topK`);
    if (c.allowLabelWords !== undefined && typeof c.allowLabelWords !== 'boolean') throw new UserError(`${w}.allowLabelWords: expected true or false`);
    if (c.words !== undefined) {
      obj(c.words, `${w}.words`);
      for (const [k, ws] of Object.entries(c.words as object)) {
        if (!Array.isArray(ws) || !ws.every((x) => typeof x === 'string')) throw new UserError(`${w}.words.${k}: expected a list of words`);
      }
    }
  },
  strategy: (v, w) => oneOf(v, w, STRATEGIES),
  strategyParams: (v, w) => obj(v, w),
  objective: (v, w) => oneOf(v, w, OBJECTIVES),
  budget: posInt,
  selectTopK: posInt,
  workers: posInt,
  threadsPerWorker: posInt,
  randomSeed: int,
  scorer: (v, w) => oneOf(v, w, ['mask-head', 'full']),
  prefixReuse: (v, w) => {
    if (typeof v !== 'boolean') throw new UserError(`${w}: expected true or false`);
  },
  racing: (v, w) => {
    obj(v, w, ['fraction', 'topK', 'z']);
    const r = v as Record<string, unknown>;
    if (r.z !== undefined && (typeof r.z !== 'number' || r.z < 0)) throw new UserError(`${w}.z: expected a number >= 0`);
    if (r.fraction !== undefined && (typeof r.fraction !== 'number' || r.fraction < 0 || r.fraction >= 1)) throw new UserError(`${w}.fraction: expected a number in [0, 1)`);
    if (r.topK !== undefined) posInt(r.topK, `${w}.topK`);
  },
  refine: (v, w) => {
    obj(v, w, ['budget', 'dim', 'popSize', 'sigma0', 'seed', 'loss']);
    const r = v as Record<string, unknown>;
    for (const k of ['budget', 'dim', 'popSize'] as const) if (r[k] !== undefined) posInt(r[k], `${w}.${k}`);
    if (r.seed !== undefined) int(r.seed, `${w}.seed`);
    if (r.sigma0 !== undefined && (typeof r.sigma0 !== 'number' || r.sigma0 <= 0)) throw new UserError(`${w}.sigma0: expected a number > 0`);
    if (r.loss !== undefined) oneOf(r.loss, `${w}.loss`, ['ce', 'margin']);
  },
};

function str(v: unknown, w: string): void {
  if (typeof v !== 'string' || v.length === 0) throw new UserError(`${w}: expected a non-empty string`);
}
function int(v: unknown, w: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new UserError(`${w}: expected an integer`);
}
function posInt(v: unknown, w: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new UserError(`${w}: expected a positive integer`);
}
function oneOf(v: unknown, w: string, allowed: readonly string[]): void {
  if (typeof v !== 'string' || !allowed.includes(v)) throw new UserError(`${w}: expected one of ${allowed.join(', ')}`);
}
function obj(v: unknown, w: string, keys?: string[]): void {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${w}: expected an object`);
  if (keys) for (const k of Object.keys(v)) if (!keys.includes(k)) throw new UserError(`${w}: unknown field '${k}' (allowed: ${keys.join(', ')})`);
}

/** Validates a parsed config object and fills defaults. `where` names the file in errors. */
export function validateConfig(raw: unknown, where: string): SearchConfig {
  obj(raw, where);
  const r = raw as Record<string, unknown>;
  for (const [k, v] of Object.entries(r)) {
    const check = FIELDS[k as keyof typeof FIELDS];
    if (!check) throw new UserError(`${where}: unknown field '${k}' (allowed: ${Object.keys(FIELDS).filter((f) => !f.startsWith('$')).join(', ')})`);
    check(v, `${where}: ${k}`);
  }
  if (r.template === undefined) throw new UserError(`${where}: missing field 'template'`);
  if (r.task === undefined && r.data === undefined) throw new UserError(`${where}: missing field 'task' (or 'data' with train/dev files)`);
  if (r.strategy === undefined) throw new UserError(`${where}: missing field 'strategy' (one of ${STRATEGIES.join(', ')})`);
  if (r.verbalizer === undefined && !r.searchVerbalizer) throw new UserError(`${where}: missing field 'verbalizer' (or set "searchVerbalizer": true)`);
  const c = { ...CONFIG_DEFAULTS, ...r } as SearchConfig;
  c.candidates = { ...CONFIG_DEFAULTS.candidates, ...(r.candidates as object) };
  c.racing = { ...CONFIG_DEFAULTS.racing, ...(r.racing as object) };
  c.name ??= where.replace(/^.*\//, '').replace(/\.json$/, '');
  return c;
}

export function readConfig(file: string): SearchConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UserError(`${file}: cannot read the search config`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return validateConfig(raw, file);
}
