/**
 * One schema for every JSON a user writes: the search config (`searches/*.json`), the strategy
 * parameters in it, and the leaderboard suite. Types are inferred from the schemas; every error
 * is one line naming the file and the field, before any model loads.
 *
 * To add a config field, add one line to the section it belongs to (experiment, candidates,
 * search, compute, refine); the JSON Schema (`npm run schema`) and the types follow.
 */
import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { parseLabelList } from '../data/load';
import { DATA_FORMATS } from '../data/table';
import { TASKS } from '../data/tasks';
import { UserError } from '../errors';
import { bool, int, oneOf, parseWith, posInt, positive, says, text, words } from '../util/schemaParse';
import { SCORERS } from '../model/load';
import { DEFAULT_DTYPE, DEFAULT_MODEL, DTYPES } from '../model/modelFolder';
import { CALIBRATIONS, DEFAULT_CALIBRATION } from '../prompt/calibration';
import { DEFAULT_MIN_COSINE } from '../prompt/labelExpansion';
import { DEFAULT_OBJECTIVE, LABEL_SCORE_RULES, LabelScoreRule, OBJECTIVES } from '../scoring/metrics';
import { SELECTIONS } from './select';
import { LABEL_WORD_METHODS, LabelWordMethod } from '../search/candidatePools';
import { UserTask, dataObjectTask, folderTask, safeName } from './suiteTasks';
import { KIND_TEXT, PARAM_KINDS, ParamKind, STRATEGY_DEFAULTS, STRATEGY_NAMES, StrategyName } from '../search/strategies';

export { DTYPES, SCORERS, STRATEGY_NAMES, OBJECTIVES, CALIBRATIONS, SELECTIONS };

const nonNegInt = () => z.number(says('expected an integer >= 0')).int(says('expected an integer >= 0')).min(0, says('expected an integer >= 0'));

// ---- search config, by section ---------------------------------------------------------------

/** Model, data, template and label words: what is being prompted. */
export const experimentFields = {
  $schema: z.string().optional(),
  description: z.string().optional(),
  name: text().optional(),
  model: text().default(DEFAULT_MODEL),
  dtype: oneOf(DTYPES).default(DEFAULT_DTYPE),
  /** Bundled task (datasets/16-shot/NAME); or give `data`. */
  task: text().optional(),
  /** Data split seed (13, 21, 42, 87, 100). */
  seed: int().default(13),
  /** Explicit data files (.tsv, .csv, .jsonl, .json) instead of a bundled task; `format` overrides the extension. */
  data: z
    .strictObject(
      { train: text(), dev: text(), test: text().optional(), textColumn: text().optional(), labelColumn: text().optional(), format: oneOf(DATA_FORMATS).optional() },
      says('expected an object'),
    )
    .optional(),
  /** Label names in label order ("negative,positive" or a list): the data's labels may be these names. */
  labels: z.union([z.string(), z.array(z.string(says('expected a name')))], says('expected "name,name" or a list of names')).optional(),
  /** The template; or give `templates`. */
  template: text().optional(),
  /**
   * Several templates: the budget is split evenly, each template gets its own search (the run's
   * `t1`, `t2`... sub-runs), and the result is the ensemble of every template's selected prompts
   * (each template's best `ensemble`); runner/templates.ts.
   */
  templates: z.array(text(), says('expected a list of templates')).min(1, says('expected at least one template')).optional(),
  /** Fixed label words (`"terrible,great"`, a list, or `{"0": [...]}`); ignored for labels searched. */
  verbalizer: z
    .union(
      [z.string(), words(), z.record(z.string(), z.union([z.string(), words()], says('expected "word,word" or a list of words')))],
      says('expected "word,word", a list of words, or {"0": [...], ...}'),
    )
    .optional(),
  /**
   * Add to each label up to K words nearest (cosine, the model's input embeddings) to its given
   * words, each word in one label only and only words with cosine >= `minCosine` (default 0.5;
   * prompt/labelExpansion.ts); 0 keeps the given words only. A number K means `{words: K}`.
   * Applies to fixed label words (`verbalizer`), not to searched ones.
   */
  expandLabelWords: z
    .union(
      [
        nonNegInt(),
        z.strictObject({
          words: nonNegInt(),
          minCosine: z.number(says('expected a number in [-1, 1]')).min(-1, says('expected a number in [-1, 1]')).max(1, says('expected a number in [-1, 1]')).optional(),
        }),
      ],
      says('expected an integer >= 0 or {words, minCosine}'),
    )
    .default(0),
  /**
   * With several `templates`: K > 0 gives each selected prompt a twin in the ensemble that reads
   * the same filled prompt through K label words per label taken from the labelled train and dev
   * examples (the words whose log-probability at the mask best separates each class from the
   * others; runner/dataLabelWords.ts); 0: no twins. `labelScore`: how the twin's words make a
   * label's score, `mean` of their log-probabilities (each word one vote) or `logsumexp` (as for
   * given label words); `discriminant` (the recommended default search's): the twin reads the K
   * words the model finds most likely at the mask, K in all, through a linear discriminant fitted
   * on the labelled examples (prompt/discriminant.ts). A number K means
   * `{words: K, labelScore: "logsumexp"}`, what it meant before `labelScore` existed.
   */
  dataLabelWords: z
    .union(
      [nonNegInt(), z.strictObject({ words: nonNegInt(), labelScore: oneOf(LABEL_SCORE_RULES).optional() })],
      says(`expected an integer >= 0 or {words, labelScore} with labelScore ${LABEL_SCORE_RULES.join(', ')}`),
    )
    .default(0),
  /**
   * With several `templates`: fit each ensemble member's scale and per-label bias on the labelled
   * train and dev examples (prompt/calibration.ts fitMember), so the ensemble weighs its members
   * and places its decision boundaries by the labels; false: members count equally, unshifted.
   */
  fitMembers: bool().default(false),
  /**
   * Find the label words instead of taking them from `verbalizer`. `method` `joint` (default):
   * searched with the slots from model-proposed candidates (`candidates` per label, default 16;
   * `context` fills the slots while they are proposed, e.g. {"A": "it was"}, or a list with one
   * such object per template where the templates' slots differ; default each
   * position's likeliest token; `wordsPerLabel` default 1). `data`: chosen from the labelled train
   * and dev examples before the slot search, then fixed: among the `candidates` (default 200)
   * likeliest words at the mask, the `wordsPerLabel` (default 10) that best separate each class
   * from the others (search/candidatePools.ts chooseDataLabelWords), read at the template with its
   * slots left out (or filled with `context`). A label's score is the log-sum-exp of its words'.
   */
  searchVerbalizer: z
    .union(
      [
        bool(),
        z.strictObject({
          method: oneOf(LABEL_WORD_METHODS).optional(),
          candidates: posInt().optional(),
          // One context for every template, or a list with one per template (`templates`), for
          // templates whose slots differ.
          context: z
            .union(
              [z.record(z.string(), text()), z.array(z.record(z.string(), text())).min(1, says('expected at least one context'))],
              says('expected an object of slot fills, or a list of them (one per template)'),
            )
            .optional(),
          wordsPerLabel: posInt().optional(),
        }),
      ],
      says('expected true, false or {method, candidates, context, wordsPerLabel}'),
    )
    .default(false),
};

/** The candidate pools of the slots. */
export const candidatesSchema = z.strictObject(
  {
    /** Model-proposed tokens per slot position. */
    topK: posInt().default(64),
    /** Hand-crafted words per slot name (or "*" for every slot), tried first. */
    words: z.record(z.string(), words()).optional(),
    /** Let slots use the label words (off: a prompt that names the answer is a leak). */
    allowLabelWords: bool().default(false),
  },
  says('expected an object'),
);

/**
 * Early rejection: score a candidate on `fraction` of train first and drop it when it cannot
 * reach the current `topK`-th best train accuracy (z = 0: provably; z > 0: with z standard
 * errors of optimism). fraction 0 turns it off.
 */
export const racingSchema = z.strictObject(
  {
    fraction: z.number(says('expected a number in [0, 1)')).min(0, says('expected a number in [0, 1)')).lt(1, says('expected a number in [0, 1)')).default(0),
    topK: posInt().default(16),
    z: z.number(says('expected a number >= 0')).min(0, says('expected a number >= 0')).default(0),
  },
  says('expected an object'),
);

/** Budget, objective and selection. */
export const searchFields = {
  candidates: candidatesSchema.prefault({}),
  /** What the search maximises on train: calibrated cross-entropy (`ce`), accuracy or margin. */
  objective: oneOf(OBJECTIVES).default(DEFAULT_OBJECTIVE),
  /** How label priors are removed before deciding (prompt/calibration.ts). */
  calibration: oneOf(CALIBRATIONS).default(DEFAULT_CALIBRATION),
  /** What picks the winner among the top `selectTopK` by train: its dev objective, or train and dev together. */
  selection: oneOf(SELECTIONS).default('dev'),
  /** K > 1: also an ensemble of the K best selected prompts (mean of calibrated log-probabilities). */
  ensemble: posInt().default(1),
  /** Hard cap on example evaluations (candidate × example forward passes), train and dev together. */
  budget: posInt().default(50_000),
  /** How many of the best train candidates are scored on dev to pick the winner. */
  selectTopK: posInt().default(5),
  /** Search RNG seed; default: the data seed. */
  randomSeed: int().optional(),
  racing: racingSchema.prefault({}),
};

/** How the work is run: never changes a score. */
export const computeFields = {
  workers: posInt().optional(),
  threadsPerWorker: posInt().optional(),
  scorer: oneOf(SCORERS).default('mask-head'),
  /**
   * Causal models, mask-head scorer: compute each example's prefix once and score candidates on
   * their own suffix tokens (default true); false recomputes whole rows (for speed comparisons).
   */
  prefixReuse: bool().optional(),
};

/** After the search, refine the winner into a soft prompt (see `promptsearch refine`). */
export const refineSchema = z.strictObject(
  {
    budget: posInt().optional(),
    dim: posInt().optional(),
    popSize: posInt().optional(),
    sigma0: positive().optional(),
    seed: int().optional(),
    loss: oneOf(['ce', 'margin'] as const).optional(),
  },
  says('expected an object'),
);

const PARAM_SCHEMA: Record<ParamKind, () => z.ZodType> = {
  positiveInt: () => posInt(),
  nonNegativeInt: () =>
    z
      .number(says(`expected ${KIND_TEXT.nonNegativeInt}`))
      .int(says(`expected ${KIND_TEXT.nonNegativeInt}`))
      .min(0, says(`expected ${KIND_TEXT.nonNegativeInt}`)),
  probability: () =>
    z
      .number(says(`expected ${KIND_TEXT.probability}`))
      .min(0, says(`expected ${KIND_TEXT.probability}`))
      .max(1, says(`expected ${KIND_TEXT.probability}`)),
  nonNegative: () => z.number(says(`expected ${KIND_TEXT.nonNegative}`)).min(0, says(`expected ${KIND_TEXT.nonNegative}`)),
  positive: () => positive(),
  boolean: () => bool(),
};

/** A strategy's parameters, from the strategy's own parameter table (every one optional: defaults). */
function paramsOf<N extends StrategyName>(name: N) {
  const shape = Object.fromEntries(Object.entries(PARAM_KINDS[name] as Record<string, ParamKind>).map(([k, kind]) => [k, PARAM_SCHEMA[kind]().optional()]));
  return z.strictObject(shape, says('expected an object')).prefault({});
}

const geneticParams = paramsOf('genetic').check((ctx) => {
  const p = { ...STRATEGY_DEFAULTS.genetic, ...(ctx.value as object) };
  if (p.eliteCount >= p.population) ctx.issues.push({ code: 'custom', input: ctx.value, path: ['eliteCount'], message: `expected < population (${p.population})` });
});

const configFields = { ...experimentFields, ...searchFields, ...computeFields, refine: refineSchema.optional() };
const withStrategy = <N extends StrategyName, P extends z.ZodType>(name: N, params: P) => z.strictObject({ ...configFields, strategy: z.literal(name), strategyParams: params });

/** A search config: its strategy picks which `strategyParams` are allowed. */
export const searchConfigSchema = z.discriminatedUnion('strategy', [
  withStrategy('random', paramsOf('random')),
  withStrategy('beam', paramsOf('beam')),
  withStrategy('genetic', geneticParams),
  withStrategy('reinforce', paramsOf('reinforce')),
]);

export type SearchConfig = z.output<typeof searchConfigSchema> & { name: string; template: string };

/** Fields every search cell of a leaderboard suite (and `base`) may set. */
export const SEARCH_CONFIG_FIELDS = Object.keys(configFields).concat('strategy', 'strategyParams');

// ---- leaderboard suite --------------------------------------------------------------------

const looseObject = () => z.record(z.string(), z.unknown(), says('expected an object'));

/** A method of a suite: a hand-written prompt, or a search strategy with its settings. */
export const suiteMethodSchema = z.strictObject({
  name: text(),
  /** The task's hand-written prompt (datasets README); otherwise a search config fragment. */
  manual: bool().optional(),
  /** With `manual`: how label priors are removed (default `none`: the raw prompt). */
  calibration: oneOf(CALIBRATIONS).optional(),
  /** The linear probe baseline (logistic regression on the mask's vocabulary log-probabilities). */
  probe: bool().optional(),
  /** A search whose cell reports its ensemble of the best `ensemble` prompts (sets the config's `ensemble`). */
  ensemble: int().min(2, says('expected an integer >= 2')).optional(),
  strategy: z.string().optional(),
  strategyParams: looseObject().optional(),
  // Without the search config's default (false), which would override a `searchVerbalizer` in `config`.
  searchVerbalizer: experimentFields.searchVerbalizer.unwrap().optional(),
  /** Refine the search's winner into a soft prompt; the cell reports the refined test accuracy. */
  refine: refineSchema.optional(),
  /** Any other search config fields for this method (e.g. `{"objective": "margin"}`). */
  config: looseObject().optional(),
});

/**
 * A task of the user's own in a suite: the fields of a search config's `data` (or `folder`, a
 * folder in the bundled layout), a name (its row/column in the tables and its folder name), label
 * names, label words, and the manual prompt of its manual rows.
 */
export const suiteTaskSchema = z.strictObject(
  {
    name: text(),
    train: text().optional(),
    dev: text().optional(),
    test: text().optional(),
    folder: text().optional(),
    textColumn: text().optional(),
    labelColumn: text().optional(),
    format: oneOf(DATA_FORMATS).optional(),
    labels: experimentFields.labels,
    verbalizer: experimentFields.verbalizer,
    /** The manual rows' prompt (default `{x} it was [MASK] .` with the task's label words). */
    manual: z.strictObject({ template: text(), verbalizer: experimentFields.verbalizer }, says('expected {template, verbalizer}')).optional(),
  },
  says('expected an object'),
);

export const suiteSchema = z.strictObject({
  $schema: z.string().optional(),
  name: text(),
  description: z.string().optional(),
  /** Bundled task names, folders in the bundled layout, or data objects (runner/suiteTasks.ts). */
  tasks: z.array(z.union([z.string(says('expected a task name or folder')), suiteTaskSchema], says('expected a task name, a folder or a data object'))).min(1, says('expected at least one task')),
  seeds: z.array(int()).min(1, says('expected at least one seed')),
  /** Search config fields shared by every search cell (template, verbalizer, budget, dtype...). */
  base: looseObject().prefault({}),
  /** Per-task overrides of `base` (e.g. another template for AG News). */
  perTask: z.record(z.string(), looseObject()).optional(),
  methods: z.array(suiteMethodSchema).min(1, says('expected at least one method')),
  /** Show the published RoBERTa-large rows of datasets/README.md as reference rows. */
  published: bool().optional(),
});

export type SuiteMethod = z.output<typeof suiteMethodSchema>;
/** A parsed suite: `tasks` are the tasks' names; the user's own tasks (not bundled) are in `userTasks`. */
export type Suite = Omit<z.output<typeof suiteSchema>, 'tasks'> & { tasks: string[]; userTasks?: Record<string, UserTask> };

/** A config's `dataLabelWords` as `{words, labelScore}` (a number K: K words read by log-sum-exp). */
export function dataLabelWordsOf(c: Pick<SearchConfig, 'dataLabelWords'>): { words: number; labelScore: LabelScoreRule } {
  const d = c.dataLabelWords;
  return typeof d === 'number' ? { words: d, labelScore: 'logsumexp' } : { words: d.words, labelScore: d.labelScore ?? 'logsumexp' };
}

/** A config's `expandLabelWords` as `{words, minCosine}` (a number K: K words, the default cosine floor). */
export function expandLabelWordsOf(e: SearchConfig['expandLabelWords']): { words: number; minCosine: number } {
  return typeof e === 'number' ? { words: e, minCosine: DEFAULT_MIN_COSINE } : { words: e.words, minCosine: e.minCosine ?? DEFAULT_MIN_COSINE };
}

/** A config's `searchVerbalizer` with its method and defaults filled in; undefined when the label words are given. */
export function labelWordSearchOf(c: Pick<SearchConfig, 'searchVerbalizer'>): { method: LabelWordMethod; candidates?: number; context?: Record<string, string>; wordsPerLabel?: number } | undefined {
  const sv = c.searchVerbalizer;
  if (!sv) return undefined;
  const o = typeof sv === 'object' ? sv : {};
  // A list of contexts is split over the templates (runner/templates.ts templateConfig) before a template's search reads it.
  if (Array.isArray(o.context)) throw new Error('searchVerbalizer.context: a list of contexts is read per template (templateConfig), not here');
  return { ...o, context: o.context, method: (o.method || 'joint') as LabelWordMethod };
}

/** Validates a parsed search config object and fills defaults. `where` names the file in errors. */
export function parseSearchConfig(raw: unknown, where: string): SearchConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(`${where}: expected a JSON object`);
  const r = raw as Record<string, unknown>;
  if (r.strategy === undefined) throw new UserError(`${where}: missing field 'strategy' (one of ${STRATEGY_NAMES.join(', ')})`);
  if (!(STRATEGY_NAMES as readonly unknown[]).includes(r.strategy)) throw new UserError(`${where}: strategy: expected one of ${STRATEGY_NAMES.join(', ')}`);
  const schema = searchConfigSchema.options[STRATEGY_NAMES.indexOf(r.strategy as StrategyName)];
  const c = parseWith(schema, raw, where) as SearchConfig;
  if (c.template === undefined && c.templates === undefined) throw new UserError(`${where}: missing field 'template' (or 'templates', a list)`);
  if (c.templates !== undefined && c.template !== undefined && c.template !== c.templates[0])
    throw new UserError(`${where}: template: give 'template' or 'templates', not both (with 'templates' the first one is the template)`);
  c.template ??= c.templates![0];
  if (c.templates !== undefined && new Set(c.templates).size !== c.templates.length) throw new UserError(`${where}: templates: a template is listed twice`);
  if (dataLabelWordsOf(c).words > 0 && (c.templates?.length ?? 1) < 2)
    throw new UserError(`${where}: dataLabelWords: adds twins to the ensemble of several templates; give 'templates' (two or more) or dataLabelWords 0`);
  if (c.fitMembers && (c.templates?.length ?? 1) < 2)
    throw new UserError(`${where}: fitMembers: fits the members of the ensemble of several templates; give 'templates' (two or more) or fitMembers false`);
  if (c.templates !== undefined && c.templates.length > 1 && c.refine) throw new UserError(`${where}: refine: refines one prompt, not the ensemble of several templates`);
  if (c.task === undefined && c.data === undefined) throw new UserError(`${where}: missing field 'task' (or 'data' with train/dev files)`);
  if (c.verbalizer === undefined && !c.searchVerbalizer) throw new UserError(`${where}: missing field 'verbalizer' (or set "searchVerbalizer": true)`);
  if (c.searchVerbalizer && expandLabelWordsOf(c.expandLabelWords).words > 0)
    throw new UserError(`${where}: expandLabelWords: expands the given label words, not searched ones; set it to 0 with searchVerbalizer`);
  const sv = c.searchVerbalizer;
  if (typeof sv === 'object' && Array.isArray(sv.context)) {
    const count = c.templates?.length ?? 1;
    if (sv.context.length !== count) throw new UserError(`${where}: searchVerbalizer.context: a list gives one context per template: ${sv.context.length} for ${count} template(s)`);
    // One template, a list of one: its context.
    if (count === 1) c.searchVerbalizer = { ...sv, context: sv.context[0] };
  }
  if (c.ensemble > c.selectTopK)
    throw new UserError(`${where}: ensemble: ${c.ensemble} members need selectTopK >= ${c.ensemble} (it is ${c.selectTopK}): members come from the candidates scored on dev`);
  if (c.labels !== undefined) c.labels = parseLabelList(c.labels, `${where}: labels`);
  c.name ??= where.replace(/^.*\//, '').replace(/\.json$/, '');
  return c;
}

/**
 * Validates a leaderboard suite's structure (its cells are checked as search configs by the
 * caller) and resolves its tasks: a bundled name, a folder in the bundled layout, or a data object;
 * paths resolve against `baseDir` (the suite file's folder) and are kept absolute.
 */
export function parseSuite(raw: unknown, where: string, baseDir = process.cwd()): Suite {
  const parsed = parseWith(suiteSchema, raw, where);
  const userTasks: Record<string, UserTask> = {};
  const tasks = parsed.tasks.map((t, i) => {
    const at = `${where}: tasks[${i}]`;
    if (typeof t === 'string') {
      if (TASKS[t]) return t;
      const dir = path.resolve(baseDir, t);
      if (!fs.existsSync(dir))
        throw new UserError(`${at}: unknown task '${t}' (bundled tasks: ${Object.keys(TASKS).join(', ')}; or a folder in the bundled layout, here ${dir}, or a data object {name, train, dev, test})`);
      const u = folderTask(dir, parsed.seeds, at);
      userTasks[u.name] = u;
      return u.name;
    }
    const u = dataObjectTask(t, baseDir, parsed.seeds, `${at} '${t.name}'`);
    userTasks[u.name] = u;
    return u.name;
  });
  tasks.forEach((name, i) => {
    if (!safeName(name)) throw new UserError(`${where}: tasks[${i}]: task name '${name}' is used as a folder name: no '/', '\\' or '..'`);
    if (tasks.indexOf(name) !== i) throw new UserError(`${where}: tasks[${i}]: task '${name}' is listed twice (give each task its own name)`);
  });
  for (const field of ['data', 'task'])
    if (parsed.base[field] !== undefined)
      throw new UserError(`${where}: base.${field}: a suite's data are its 'tasks' (a bundled name, a folder, or a data object {name, train, dev, test}), not base.${field}`);
  for (const key of Object.keys(parsed.perTask ?? {})) if (!tasks.includes(key)) throw new UserError(`${where}: perTask.${key}: not one of the suite's tasks (${tasks.join(', ')})`);
  for (const [key, o] of Object.entries(parsed.perTask ?? {}))
    for (const field of ['data', 'task']) if (o[field] !== undefined) throw new UserError(`${where}: perTask.${key}.${field}: a suite's data are its 'tasks', not perTask.${key}.${field}`);
  parsed.methods.forEach((m, i) => {
    for (const field of ['data', 'task']) if (m.config?.[field] !== undefined) throw new UserError(`${where}: methods[${i}].config.${field}: a suite's data are its 'tasks', not a method's config`);
    if (!safeName(m.name)) throw new UserError(`${where}: methods[${i}]: method name '${m.name}' is used as a folder name: no '/', '\\' or '..'`);
    if (parsed.methods.findIndex((x) => x.name === m.name) !== i) throw new UserError(`${where}: methods[${i}]: method '${m.name}' is listed twice (give each method its own name)`);
    if (!m.manual && !m.probe && !(STRATEGY_NAMES as readonly string[]).includes(m.strategy ?? '')) {
      throw new UserError(`${where}: methods[${i}]: method '${m.name}' has unknown strategy '${m.strategy}' (use manual: true, probe: true, or ${STRATEGY_NAMES.join(', ')})`);
    }
  });
  return { ...parsed, tasks, ...(Object.keys(userTasks).length ? { userTasks } : {}) };
}

/** The JSON Schema of a search config (`searches/search-config.schema.json`), for editors. */
export function searchConfigJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(searchConfigSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'promptsearch search config',
    description: 'A search experiment for `promptsearch search` (searches/*.json). Generated from src/runner/schema.ts by `npm run schema`.',
  };
}
