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
import { parseTemplate } from '../prompt/template';
import {
  KIND_TEXT,
  PARAM_KINDS,
  PARAM_TEXT,
  ParamKind,
  STRATEGY_DEFAULTS,
  STRATEGY_NAMES,
  StrategyName,
} from '../search/strategies';

export { DTYPES, SCORERS, STRATEGY_NAMES, OBJECTIVES, CALIBRATIONS, SELECTIONS };

const nonNegInt = () =>
  z
    .number(says('expected an integer >= 0'))
    .int(says('expected an integer >= 0'))
    .min(0, says('expected an integer >= 0'));

// ---- search config, by section ---------------------------------------------------------------

/** The search config format this code writes: configs without `version` and with `strategy` are version 1. */
export const CONFIG_VERSION = 2;

/** The recommended default's templates (version 2, when a config names none): three generic prompt shapes. */
export const DEFAULT_TEMPLATES: readonly string[] = [
  '{x} <A:2> [MASK] .',
  '<A:2> [MASK] : {x}',
  '{x} . <A:1> [MASK] <B:1> .',
];
/** With the default templates and no label words given: where label words from the data are read (one context per template). */
export const DEFAULT_LABEL_WORD_CONTEXTS: readonly Record<string, string>[] = [
  { A: 'it was' },
  { A: 'it was' },
  { A: 'very', B: '!' },
];
/** The recommended default's readout members: a discriminant over the words the model finds likeliest at the mask. */
export const DEFAULT_READOUT = { method: 'discriminant' } as const;
/** Words added to each given label word by default (version 2; tuning/labelExpansion.ts fixes it on train + dev). */
export const DEFAULT_EXPANSION_WORDS = 5;
/** The most words a discriminant readout member reads when its config leaves the choice to cross-validation. */
export const DISCRIMINANT_MAX_WORDS = 200;

const wordList = () =>
  z.union(
    [
      z.string(),
      words(),
      z.record(z.string(), z.union([z.string(), words()], says('expected "word,word" or a list of words'))),
    ],
    says('expected "word,word", a list of words, or {"0": [...], ...}'),
  );

const expandSchema = z.union(
  [
    nonNegInt(),
    z.strictObject({
      words: nonNegInt().describe('Words added to each label at most.'),
      minCosine: z
        .number(says('expected a number in [-1, 1]'))
        .min(-1, says('expected a number in [-1, 1]'))
        .max(1, says('expected a number in [-1, 1]'))
        .optional()
        .describe("Only words at least this close (cosine) to the label's given words; default 0.4."),
    }),
  ],
  says('expected an integer >= 0 or {words, minCosine}'),
);

/** Readout members: `false`, or how each selected prompt's extra member reads the mask. */
export const READOUT_METHODS = ['discriminant', 'mean', 'logsumexp'] as const;
const readoutSchema = z.union(
  [
    z.literal(false, says('expected false or {method, topWords | wordsPerLabel}')),
    z.strictObject(
      {
        method: oneOf(READOUT_METHODS).describe(
          '`discriminant`: a linear readout fitted over the likeliest words; `mean` / `logsumexp`: words per label from the data.',
        ),
        topWords: posInt()
          .optional()
          .describe(
            'discriminant: how many of the words the model finds likeliest at the mask it reads (default: chosen per run by cross-validation on train + dev among 50, 100, 200).',
          ),
        shrinkage: z
          .number(says('expected a number in [0, 1]'))
          .min(0, says('expected a number in [0, 1]'))
          .max(1, says('expected a number in [0, 1]'))
          .optional()
          .describe(
            "discriminant: how far the words' correlations are shrunk to none, 0 (none) to 1 (each word alone) (default: chosen per run by cross-validation on train + dev among 0.5, 0.8, 0.9, 0.95, 0.99).",
          ),
        wordsPerLabel: posInt()
          .optional()
          .describe('mean, logsumexp: words chosen from the data per label (default 10).'),
      },
      says('expected an object'),
    ),
  ],
  says(`expected false or {method, topWords | wordsPerLabel} with method ${READOUT_METHODS.join(', ')}`),
);

const findLabelWordsSchema = z.union(
  [
    bool(),
    z.strictObject({
      method: oneOf(LABEL_WORD_METHODS)
        .optional()
        .describe(
          '`fromData` (chosen from the labelled examples, then fixed) or `withSlots` (searched with the slots; the default of `true`).',
        ),
      candidates: posInt()
        .optional()
        .describe('Likeliest words at the mask to choose from: fromData 200, withSlots 16 per label.'),
      // One context for every template, or a list with one per template (`templates`), for
      // templates whose slots differ.
      context: z
        .union(
          [
            z.record(z.string(), text()),
            z.array(z.record(z.string(), text())).min(1, says('expected at least one context')),
          ],
          says('expected an object of slot fills, or a list of them (one per template)'),
        )
        .optional()
        .describe('Slot fills the label words are read after, e.g. {"A": "it was"}; or one per template.'),
      wordsPerLabel: posInt().optional().describe('Words per label: fromData 10, withSlots 1.'),
    }),
  ],
  says('expected true, false or {method, candidates, context, wordsPerLabel}'),
);

/** Model, data, template and label words: what is being prompted. */
export const experimentFields = {
  $schema: z.string().optional().describe('For editors: the JSON Schema of this file.'),
  version: z
    .union([z.literal(1), z.literal(2)], says('expected 1 or 2'))
    .optional()
    .describe(
      'Config format: 2 (the recommended defaults). Without it, a config that has `strategy` is read as version 1 (the old defaults).',
    ),
  description: z.string().optional().describe('Free text.'),
  name: text()
    .optional()
    .describe('Names the run directory (`results/<name>-s<seed>-<time>`); default: the file name.'),
  model: text().default(DEFAULT_MODEL).describe('A bundled model name or a model folder (see docs/own-model.md).'),
  dtype: oneOf(DTYPES)
    .default(DEFAULT_DTYPE)
    .describe('Which ONNX file: fp32 `onnx/model.onnx` or int8 `onnx/model_quantized.onnx`.'),
  task: text()
    .optional()
    .describe('A bundled task (`datasets/16-shot/NAME`): sst-2, sst-5, agnews, trec. Or give `data`.'),
  seed: int()
    .default(13)
    .describe('Data split seed of a bundled task (13, 21, 42, 87, 100); also the search RNG seed unless `randomSeed`.'),
  data: z
    .strictObject(
      {
        train: text().describe('Training file: the search signal.'),
        dev: text().describe('Development file: picks the winner among the best train candidates.'),
        test: text().optional().describe('Test file: scored once for the report, never for a choice.'),
        textColumn: text().optional().describe('Column of the input text (default `sentence` or `text`).'),
        labelColumn: text().optional().describe('Column of the label (default `label`).'),
        format: oneOf(DATA_FORMATS).optional().describe('File format when the extension does not say it.'),
      },
      says('expected an object'),
    )
    .optional()
    .describe(
      "Your own data files (.tsv, .csv, .jsonl, .json) instead of a bundled task; relative paths are read from the config's folder.",
    ),
  labels: z
    .union([z.string(), z.array(z.string(says('expected a name')))], says('expected "name,name" or a list of names'))
    .optional()
    .describe('Label names in label order ("negative,positive" or a list): the data\'s labels may be these names.'),
  template: text()
    .optional()
    .describe('One template, e.g. `{x} <A:2> [MASK] .` (see docs/concepts.md). Or give `templates`.'),
  templates: z
    .array(text(), says('expected a list of templates'))
    .min(1, says('expected at least one template'))
    .optional()
    .describe(
      'Several templates: the budget is split evenly and the result is the ensemble of their selected prompts. Default (version 2): three generic shapes.',
    ),
  verbalizer: wordList()
    .optional()
    .describe(
      'The label words, in label order (`"terrible,great"`, a list, or `{"0": [...]}`). Without it (version 2), label words are found in the data.',
    ),
  expandLabelWords: expandSchema
    .optional()
    .describe(
      "Add to each label up to K words nearest to its given words in the model's embeddings (cosine >= `minCosine`, default 0.4). Default: 5 (version 2), 0 (version 1); both fixed on train and dev splits only (results/tuning/label-expansion.md).",
    ),
  readoutMembers: readoutSchema
    .optional()
    .describe(
      'With several templates: give each selected prompt a readout member that reads its mask through words chosen from the labelled data. Default (version 2): `{"method": "discriminant"}`, its settings chosen per run by cross-validation; `false`: none.',
    ),
  fitMemberWeights: bool()
    .optional()
    .describe(
      "With several templates: fit each ensemble member's scale and per-label bias on the labelled train and dev examples. Default: true (version 2).",
    ),
  baseline: z
    .union([bool(), text()], says('expected true, false or a template without slots'))
    .optional()
    .describe(
      "With several templates: the hand-written prompt the result must beat, estimated like it by cross-validation on train + dev; the better of the two is the result. `true` (default, version 2): the task's hand-written prompt (a bundled task's, else `{x} it was [MASK] .`) with the given label words; a template without slots; `false`: none.",
    ),
  findLabelWords: findLabelWordsSchema
    .optional()
    .describe(
      'Find the label words instead of giving them: `method` `fromData` (chosen from the labelled examples before the search; the version 2 default without `verbalizer`) or `withSlots` (searched with the slots).',
    ),
};

/** Version 1 names, still read: each maps to its version 2 field (a config using one gets a note). */
export const RENAMED_FIELDS: Readonly<Record<string, string>> = {
  dataLabelWords: 'readoutMembers',
  fitMembers: 'fitMemberWeights',
  searchVerbalizer: 'findLabelWords',
  racing: 'earlyRejection',
};

const oldDataLabelWords = z.union(
  [nonNegInt(), z.strictObject({ words: nonNegInt(), labelScore: oneOf(LABEL_SCORE_RULES).optional() })],
  says(`expected an integer >= 0 or {words, labelScore} with labelScore ${LABEL_SCORE_RULES.join(', ')}`),
);

/** `searchVerbalizer` with its version 1 method names, checked before they are mapped. */
const oldSearchVerbalizer = z.strictObject({
  searchVerbalizer: z.union(
    [
      bool(),
      z.strictObject({
        ...findLabelWordsSchema.options[1].shape,
        method: oneOf(['joint', 'data'] as const).optional(),
      }),
    ],
    says('expected true, false or {method, candidates, context, wordsPerLabel}'),
  ),
});

/** A version 1 field's value in its version 2 form (validated as the old field first, so errors name it). */
function renamedValue(old: string, value: unknown, where: string): unknown {
  if (old === 'dataLabelWords') {
    const d = parseWith(
      z.strictObject({ dataLabelWords: oldDataLabelWords }),
      { dataLabelWords: value },
      where,
    ).dataLabelWords;
    const { words: k, labelScore } =
      typeof d === 'number'
        ? { words: d, labelScore: 'logsumexp' as const }
        : { words: d.words, labelScore: d.labelScore ?? 'logsumexp' };
    if (k === 0) return false;
    return labelScore === 'discriminant'
      ? { method: 'discriminant', topWords: k }
      : { method: labelScore, wordsPerLabel: k };
  }
  if (old === 'searchVerbalizer') parseWith(oldSearchVerbalizer, { searchVerbalizer: value }, where);
  if (old === 'searchVerbalizer' && value && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    const method = o.method === 'joint' ? 'withSlots' : o.method === 'data' ? 'fromData' : o.method;
    value = method === undefined ? o : { ...o, method };
  }
  // Checked under the name the config used, so an error names the field as written.
  const schema = { fitMembers: bool(), racing: earlyRejectionSchema }[old];
  if (schema) parseWith(z.strictObject({ [old]: schema }), { [old]: value }, where);
  return value;
}

/** The candidate pools of the slots. */
export const candidatesSchema = z.strictObject(
  {
    topK: posInt()
      .optional()
      .describe('Model-proposed tokens per slot position. Default: 32 (version 2), 64 (version 1).'),
    words: z
      .record(z.string(), words())
      .optional()
      .describe('Hand-written words per slot name (or "*" for every slot), tried first.'),
    allowLabelWords: bool()
      .default(false)
      .describe('Let slots use the label words (off: a prompt that names the answer is a leak).'),
  },
  says('expected an object'),
);

/**
 * Early rejection: score a candidate on `fraction` of train first and drop it when it cannot
 * reach the current `topK`-th best train accuracy (z = 0: provably; z > 0: with z standard
 * errors of optimism). fraction 0 turns it off.
 */
export const earlyRejectionSchema = z.strictObject(
  {
    fraction: z
      .number(says('expected a number in [0, 1)'))
      .min(0, says('expected a number in [0, 1)'))
      .lt(1, says('expected a number in [0, 1)'))
      .default(0)
      .describe('Part of train scored first; 0 turns early rejection off.'),
    topK: posInt().default(16).describe('A candidate is dropped when it cannot reach the topK-th best train accuracy.'),
    z: z
      .number(says('expected a number >= 0'))
      .min(0, says('expected a number >= 0'))
      .default(0)
      .describe('Standard errors of optimism (0: drop only what provably cannot reach it).'),
  },
  says('expected an object'),
);

/** Budget, objective and selection. */
export const searchFields = {
  candidates: candidatesSchema.prefault({}).describe('The candidate pools of the slots.'),
  strategy: oneOf(STRATEGY_NAMES)
    .optional()
    .describe('The search: beam (version 2 default), genetic, reinforce or random. Required in version 1.'),
  objective: oneOf(OBJECTIVES)
    .default(DEFAULT_OBJECTIVE)
    .describe('What the search maximises on train: calibrated cross-entropy (`ce`), accuracy or margin.'),
  calibration: oneOf(CALIBRATIONS)
    .default(DEFAULT_CALIBRATION)
    .describe('How label priors are removed before deciding (see docs/concepts.md).'),
  selection: oneOf(SELECTIONS)
    .default('dev')
    .describe(
      'What picks the winner among the top `selectTopK` by train: its dev objective, or train and dev together.',
    ),
  ensemble: posInt()
    .default(1)
    .describe('K > 1: the result is the ensemble of the K best selected prompts of each template.'),
  budget: posInt()
    .default(50_000)
    .describe('Cap on example evaluations (one candidate on one example), train and dev together.'),
  selectTopK: posInt()
    .default(5)
    .describe('How many of the best train candidates are scored on dev to pick the winner.'),
  randomSeed: int().optional().describe('Search RNG seed; default: `seed`.'),
  earlyRejection: earlyRejectionSchema
    .prefault({})
    .describe('Drop a candidate early when a slice of train shows it cannot win.'),
};

/** How the work is run: never changes a score. */
export const computeFields = {
  workers: posInt().optional().describe('Scoring worker threads (default: one per core).'),
  threadsPerWorker: posInt().optional().describe('onnxruntime threads in each worker.'),
  scorer: oneOf(SCORERS)
    .default('mask-head')
    .describe('`mask-head`: the fast rewritten graph; `full`: the model as exported.'),
  prefixReuse: bool()
    .optional()
    .describe(
      "Causal models: compute each example's prefix once and score candidates on their own suffix tokens (default true).",
    ),
};

/** After the search, refine the winner into a soft prompt (see `promptsearch refine`). */
export const refineSchema = z
  .strictObject(
    {
      budget: posInt()
        .optional()
        .describe('Example evaluations for the refinement (train for CMA-ES, dev for selection).'),
      dim: posInt()
        .optional()
        .describe('Dimension of the low-dimensional search space the soft prompt is projected from.'),
      popSize: posInt().optional().describe('CMA-ES population; default 4 + 3 ln(dim).'),
      sigma0: positive().optional().describe('Initial CMA-ES step size.'),
      seed: int().optional().describe('Refinement RNG seed; default the search seed.'),
      loss: oneOf(['ce', 'margin'] as const)
        .optional()
        .describe('What CMA-ES minimises on train: cross-entropy or margin.'),
    },
    says('expected an object'),
  )
  .describe('After the search, refine the selected prompt into a soft prompt (see docs/refine.md).');

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
  nonNegative: () =>
    z.number(says(`expected ${KIND_TEXT.nonNegative}`)).min(0, says(`expected ${KIND_TEXT.nonNegative}`)),
  positive: () => positive(),
  boolean: () => bool(),
};

/** A strategy's parameters, from the strategy's own parameter table (every one optional: defaults). */
function paramsOf<N extends StrategyName>(name: N) {
  const shape = Object.fromEntries(
    Object.entries(PARAM_KINDS[name] as Record<string, ParamKind>).map(([k, kind]) => [
      k,
      PARAM_SCHEMA[kind]()
        .optional()
        .describe(PARAM_TEXT[k] ?? ''),
    ]),
  );
  return z
    .strictObject(shape, says('expected an object'))
    .prefault({})
    .describe("The strategy's parameters; each left out takes the strategy's default.");
}

const geneticParams = paramsOf('genetic').check((ctx) => {
  const p = { ...STRATEGY_DEFAULTS.genetic, ...(ctx.value as object) };
  if (p.eliteCount >= p.population)
    ctx.issues.push({
      code: 'custom',
      input: ctx.value,
      path: ['eliteCount'],
      message: `expected < population (${p.population})`,
    });
});

const configFields = { ...experimentFields, ...searchFields, ...computeFields, refine: refineSchema.optional() };
const withStrategy = <N extends StrategyName, P extends z.ZodType>(name: N, params: P) =>
  z.strictObject({
    ...configFields,
    strategy: z
      .literal(name)
      .describe('The search: beam (the version 2 default), genetic, reinforce or random. Required in version 1.'),
    strategyParams: params,
  });

/** A search config: its strategy picks which `strategyParams` are allowed. */
export const searchConfigSchema = z.discriminatedUnion('strategy', [
  withStrategy('random', paramsOf('random')),
  withStrategy('beam', paramsOf('beam')),
  withStrategy('genetic', geneticParams),
  withStrategy('reinforce', paramsOf('reinforce')),
]);

type ParsedConfig = z.output<typeof searchConfigSchema>;
/** Fields whose defaults depend on the config's version: resolved by parseSearchConfig. */
type Resolved =
  'version' | 'expandLabelWords' | 'readoutMembers' | 'fitMemberWeights' | 'findLabelWords' | 'candidates';
type ResolvedConfig<T> = T extends unknown
  ? Omit<T, Resolved> & {
      /** Always 2 once parsed: every field is explicit, so the config means the same under either version's defaults. */
      version: 2;
      name: string;
      template: string;
      expandLabelWords: z.output<typeof expandSchema>;
      readoutMembers: z.output<typeof readoutSchema>;
      fitMemberWeights: boolean;
      findLabelWords: z.output<typeof findLabelWordsSchema>;
      candidates: ParsedConfig['candidates'] & { topK: number };
    }
  : never;
/** A parsed search config: every default filled in, written to a run's config.json as it is. */
export type SearchConfig = ResolvedConfig<ParsedConfig>;

// ---- leaderboard suite --------------------------------------------------------------------

const looseObject = () => z.record(z.string(), z.unknown(), says('expected an object'));

/** A method of a suite: a hand-written prompt, or a search strategy with its settings. */
export const suiteMethodSchema = z.strictObject({
  name: text().describe("The method's row name in the tables (no slash, backslash or '..')."),
  manual: bool()
    .optional()
    .describe("The task's hand-written prompt (datasets README); otherwise a search config fragment."),
  calibration: oneOf(CALIBRATIONS)
    .optional()
    .describe('With `manual`: how label priors are removed (default `none`: the raw prompt).'),
  probe: bool()
    .optional()
    .describe("The linear probe baseline (logistic regression on the mask's vocabulary log-probabilities)."),
  ensemble: int()
    .min(2, says('expected an integer >= 2'))
    .optional()
    .describe(
      "A search whose entry reports its ensemble of the best `ensemble` prompts (sets the config's `ensemble`).",
    ),
  strategy: z.string().optional().describe('A search method: its strategy (random, beam, genetic, reinforce).'),
  strategyParams: looseObject().optional().describe("The strategy's parameters."),
  findLabelWords: findLabelWordsSchema
    .optional()
    .describe("Sets the entry config's `findLabelWords` (`searchVerbalizer`: its version 1 name)."),
  searchVerbalizer: findLabelWordsSchema.optional().describe('Version 1 name of `findLabelWords`.'),
  refine: refineSchema
    .optional()
    .describe("Refine the search's winner into a soft prompt; the entry reports the refined test accuracy."),
  config: looseObject()
    .optional()
    .describe('Any other search config fields for this method (e.g. `{"objective": "margin"}`).'),
});

/**
 * A task of the user's own in a suite: the fields of a search config's `data` (or `folder`, a
 * folder in the bundled layout), a name (its row/column in the tables and its folder name), label
 * names, label words, and the manual prompt of its manual rows.
 */
export const suiteTaskSchema = z.strictObject(
  {
    name: text().describe("The task's name in the tables."),
    train: text().optional().describe("Training file (relative paths: from the suite's folder)."),
    dev: text().optional().describe('Development file.'),
    test: text().optional().describe('Test file: the tables report it.'),
    folder: text()
      .optional()
      .describe('Instead of the files: a folder in the bundled layout (16-<seed>/train|dev.<ext>, test.<ext>).'),
    textColumn: text().optional().describe('Column of the input text.'),
    labelColumn: text().optional().describe('Column of the label.'),
    format: oneOf(DATA_FORMATS).optional().describe('File format when the extension does not say it.'),
    labels: experimentFields.labels,
    verbalizer: experimentFields.verbalizer,
    manual: z
      .strictObject(
        { template: text(), verbalizer: experimentFields.verbalizer },
        says('expected {template, verbalizer}'),
      )
      .optional()
      .describe("The manual rows' prompt (default `{x} it was [MASK] .` with the task's label words)."),
  },
  says('expected an object'),
);

export const suiteSchema = z.strictObject({
  $schema: z.string().optional(),
  version: z
    .union([z.literal(1), z.literal(2)], says('expected 1 or 2'))
    .optional()
    .describe(
      "2: every entry's search config is read with the version 2 (recommended) defaults; without it, version 1.",
    ),
  name: text().describe('Names the leaderboard and its output folder.'),
  description: z.string().optional().describe('Free text.'),
  tasks: z
    .array(
      z.union(
        [z.string(says('expected a task name or folder')), suiteTaskSchema],
        says('expected a task name, a folder or a data object'),
      ),
    )
    .min(1, says('expected at least one task'))
    .describe('Bundled task names, folders in the bundled layout, or data objects (runner/suiteTasks.ts).'),
  seeds: z
    .array(int())
    .min(1, says('expected at least one seed'))
    .describe('Data split seeds (bundled tasks); each entry runs once per seed.'),
  base: looseObject()
    .prefault({})
    .describe('Search config fields shared by every search entry (template, verbalizer, budget, dtype...).'),
  perTask: z
    .record(z.string(), looseObject())
    .optional()
    .describe('Per-task overrides of `base` (e.g. another template for AG News).'),
  methods: z
    .array(suiteMethodSchema)
    .min(1, says('expected at least one method'))
    .describe('The rows: hand-written prompts, the linear probe, searches.'),
  published: bool()
    .optional()
    .describe('Show the published RoBERTa-large rows of datasets/README.md as reference rows.'),
});

export type SuiteMethod = z.output<typeof suiteMethodSchema>;
/** A parsed suite: `tasks` are the tasks' names; the user's own tasks (not bundled) are in `userTasks`. */
export type Suite = Omit<z.output<typeof suiteSchema>, 'tasks'> & {
  tasks: string[];
  userTasks?: Record<string, UserTask>;
};

/** A config's readout members as `{words, labelScore}`: words 0 means none (how the ensemble code reads them). */
export function readoutOf(c: Pick<SearchConfig, 'readoutMembers'>): { words: number; labelScore: LabelScoreRule } {
  const r = c.readoutMembers;
  if (!r) return { words: 0, labelScore: 'logsumexp' };
  return r.method === 'discriminant'
    ? { words: r.topWords ?? DISCRIMINANT_MAX_WORDS, labelScore: 'discriminant' }
    : { words: r.wordsPerLabel ?? 10, labelScore: r.method };
}

/** `expandLabelWords` as a resolved config keeps it: 0, or `{words, minCosine}` with the floor spelled out. */
function resolvedExpansion(e: SearchConfig['expandLabelWords'], floor: number): SearchConfig['expandLabelWords'] {
  if (e === 0) return 0;
  return typeof e === 'number' ? { words: e, minCosine: floor } : { words: e.words, minCosine: e.minCosine ?? floor };
}

/** The cosine floor a version 1 config's `expandLabelWords: K` meant (version 2's default was fixed on train + dev later). */
const V1_MIN_COSINE = 0.5;

/** A config's `expandLabelWords` as `{words, minCosine}` (a number K: K words, the default cosine floor). */
export function expandLabelWordsOf(e: SearchConfig['expandLabelWords']): { words: number; minCosine: number } {
  return typeof e === 'number'
    ? { words: e, minCosine: DEFAULT_MIN_COSINE }
    : { words: e.words, minCosine: e.minCosine ?? DEFAULT_MIN_COSINE };
}

/** A config's `findLabelWords` with its method filled in; undefined when the label words are given. */
export function findLabelWordsOf(
  c: Pick<SearchConfig, 'findLabelWords'>,
):
  | { method: LabelWordMethod; candidates?: number; context?: Record<string, string>; wordsPerLabel?: number }
  | undefined {
  const sv = c.findLabelWords;
  if (!sv) return undefined;
  const o = typeof sv === 'object' ? sv : {};
  // A list of contexts is split over the templates (runner/templates.ts templateConfig) before a template's search reads it.
  if (Array.isArray(o.context))
    throw new Error('findLabelWords.context: a list of contexts is read per template (templateConfig), not here');
  return { ...o, context: o.context, method: (o.method || 'withSlots') as LabelWordMethod };
}

/** Which format version a raw config is in: its `version`, else 1 when it has `strategy` (a version 1 reader required it), else 2. */
export function configVersion(raw: Record<string, unknown>): 1 | 2 {
  if (raw.version === 1 || raw.version === 2) return raw.version;
  return raw.strategy !== undefined ? 1 : 2;
}

/**
 * Validates a parsed search config object and fills defaults. `where` names the file in errors.
 * Notes a user should see (an old version, a renamed field) are pushed onto `notes`.
 */
export function parseSearchConfig(raw: unknown, where: string, notes?: string[]): SearchConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(`${where}: expected a JSON object`);
  const r: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  if (r.version !== undefined && r.version !== 1 && r.version !== 2)
    throw new UserError(`${where}: version: expected 1 or 2 (this promptsearch reads config versions 1 and 2)`);
  const version = configVersion(r);
  if (r.version === undefined && version === 1)
    notes?.push(
      `${where}: read as a version 1 config (it has 'strategy' and no 'version'): one template, 64 candidates per slot position, no label-word expansion, no readout members; add "version": 2 for the recommended defaults (docs/configuration.md)`,
    );
  /** The name the config gave a renamed field, for errors about it. */
  const written: Record<string, string> = {};
  const as = (field: string) => written[field] ?? field;
  for (const [old, renamed] of Object.entries(RENAMED_FIELDS)) {
    if (!(old in r)) continue;
    written[renamed] = old;
    if (renamed in r) throw new UserError(`${where}: ${old}: is the old name of '${renamed}'; give only '${renamed}'`);
    r[renamed] = renamedValue(old, r[old], where);
    delete r[old];
    if (version === 2)
      notes?.push(
        `${where}: '${old}' is now called '${renamed}' (read as "${renamed}": ${JSON.stringify(r[renamed])})`,
      );
  }
  if (version === 1 && r.strategy === undefined)
    throw new UserError(`${where}: missing field 'strategy' (one of ${STRATEGY_NAMES.join(', ')})`);
  r.strategy ??= 'beam';
  if (!(STRATEGY_NAMES as readonly unknown[]).includes(r.strategy))
    throw new UserError(`${where}: strategy: expected one of ${STRATEGY_NAMES.join(', ')}`);
  const schema = searchConfigSchema.options[STRATEGY_NAMES.indexOf(r.strategy as StrategyName)];
  const p = parseWith(schema, r, where) as ParsedConfig;
  if (version === 1 && p.template === undefined && p.templates === undefined)
    throw new UserError(`${where}: missing field 'template' (or 'templates', a list)`);
  if (p.templates !== undefined && p.template !== undefined && p.template !== p.templates[0])
    throw new UserError(
      `${where}: template: give 'template' or 'templates', not both (with 'templates' the first one is the template)`,
    );
  const defaultTemplates = p.template === undefined && p.templates === undefined;
  const templates = defaultTemplates ? [...DEFAULT_TEMPLATES] : p.templates;
  const many = (templates?.length ?? 1) > 1;
  const v2 = version === 2;
  if (p.task === undefined && p.data === undefined)
    throw new UserError(`${where}: missing field 'task' (or 'data' with train/dev files)`);
  if (p.task !== undefined && p.data !== undefined)
    throw new UserError(
      `${where}: give 'task' or 'data', not both ('task' names a bundled task, 'data' your own files)`,
    );
  if (p.verbalizer === undefined && p.findLabelWords === false)
    throw new UserError(
      `${where}: missing field 'verbalizer' (or leave out findLabelWords to find label words in the data)`,
    );
  let findLabelWords = p.findLabelWords ?? (v2 && p.verbalizer === undefined ? { method: 'fromData' as const } : false);
  if (version === 1 && p.verbalizer === undefined && !findLabelWords)
    throw new UserError(`${where}: missing field 'verbalizer' (or set "searchVerbalizer": true)`);
  // The default templates' slots differ: label words from the data are read after each one's own context.
  if (
    defaultTemplates &&
    typeof findLabelWords === 'object' &&
    findLabelWords.method === 'fromData' &&
    findLabelWords.context === undefined
  )
    findLabelWords = { ...findLabelWords, context: DEFAULT_LABEL_WORD_CONTEXTS.map((c) => ({ ...c })) };
  const c = {
    ...p,
    version: 2,
    template: p.template ?? templates?.[0],
    ...(templates ? { templates } : {}),
    candidates: { ...p.candidates, topK: p.candidates.topK ?? (v2 ? 32 : 64) },
    // Resolved with its floor: a config says what its run did, whatever the default floor becomes.
    expandLabelWords: resolvedExpansion(
      p.expandLabelWords ?? (v2 && !findLabelWords ? DEFAULT_EXPANSION_WORDS : 0),
      v2 ? DEFAULT_MIN_COSINE : V1_MIN_COSINE,
    ),
    readoutMembers: p.readoutMembers ?? (v2 && many ? { ...DEFAULT_READOUT } : false),
    fitMemberWeights: p.fitMemberWeights ?? (v2 && many),
    baseline: p.baseline ?? (v2 && many),
    findLabelWords,
    // Every strategy parameter explicit: a config says what its run did, whatever the defaults become.
    strategyParams: { ...STRATEGY_DEFAULTS[p.strategy], ...p.strategyParams },
  } as SearchConfig;
  if (c.templates !== undefined && new Set(c.templates).size !== c.templates.length)
    throw new UserError(`${where}: templates: a template is listed twice`);
  // A template that does not parse (a mistyped slot) is refused here, naming the file and field.
  for (const [i, t] of (p.templates ?? [c.template]).entries()) {
    try {
      parseTemplate(t);
    } catch (e) {
      if (e instanceof UserError)
        throw new UserError(`${where}: ${p.templates ? `templates[${i}]: ` : ''}${e.message}`);
      throw e;
    }
  }
  if (typeof c.baseline === 'string') {
    let t: ReturnType<typeof parseTemplate>;
    try {
      t = parseTemplate(c.baseline);
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`${where}: baseline: ${e.message}`);
      throw e;
    }
    if (t.slots.length > 0)
      throw new UserError(
        `${where}: baseline: '${c.baseline}' has slots (${t.slots.map((x) => `<${x.name}:${x.length}>`).join(' ')}); the baseline is a hand-written prompt, every word written out`,
      );
  }
  const readout = c.readoutMembers;
  if (readout && readout.method === 'discriminant' && readout.wordsPerLabel !== undefined)
    throw new UserError(
      `${where}: ${as('readoutMembers')}.wordsPerLabel: the discriminant reads the 'topWords' likeliest words at the mask, not words per label`,
    );
  if (readout && readout.method !== 'discriminant' && readout.topWords !== undefined)
    throw new UserError(
      `${where}: ${as('readoutMembers')}.topWords: method '${readout.method}' reads 'wordsPerLabel' words per label; topWords is the discriminant's`,
    );
  if (readout && readout.method !== 'discriminant' && readout.shrinkage !== undefined)
    throw new UserError(
      `${where}: ${as('readoutMembers')}.shrinkage: only the discriminant (method 'discriminant') is shrunk`,
    );
  if (readout && !many)
    throw new UserError(
      `${where}: ${as('readoutMembers')}: adds members to the ensemble of several templates; give 'templates' (two or more) or ${as('readoutMembers')} ${as('readoutMembers') === 'readoutMembers' ? 'false' : '0'}`,
    );
  if (c.fitMemberWeights && !many)
    throw new UserError(
      `${where}: ${as('fitMemberWeights')}: fits the members of the ensemble of several templates; give 'templates' (two or more) or ${as('fitMemberWeights')} false`,
    );
  if (c.findLabelWords && expandLabelWordsOf(c.expandLabelWords).words > 0)
    throw new UserError(
      `${where}: expandLabelWords: expands the given label words, not found ones; set it to 0 with ${as('findLabelWords')}`,
    );
  const sv = c.findLabelWords;
  if (typeof sv === 'object' && Array.isArray(sv.context)) {
    const count = c.templates?.length ?? 1;
    if (sv.context.length !== count)
      throw new UserError(
        `${where}: ${as('findLabelWords')}.context: a list gives one context per template: ${sv.context.length} for ${count} template(s)`,
      );
    // One template, a list of one: its context.
    if (count === 1) c.findLabelWords = { ...sv, context: sv.context[0] };
  }
  if (c.ensemble > c.selectTopK)
    throw new UserError(
      `${where}: ensemble: ${c.ensemble} members need selectTopK >= ${c.ensemble} (it is ${c.selectTopK}): members come from the candidates scored on dev`,
    );
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
  parsed.seeds.forEach((seed, i) => {
    if (parsed.seeds.indexOf(seed) !== i)
      throw new UserError(`${where}: seeds[${i}]: seed ${seed} is listed twice (each entry runs once per seed)`);
  });
  const userTasks: Record<string, UserTask> = {};
  const tasks = parsed.tasks.map((t, i) => {
    const at = `${where}: tasks[${i}]`;
    if (typeof t === 'string') {
      if (TASKS[t]) return t;
      const dir = path.resolve(baseDir, t);
      if (!fs.existsSync(dir))
        throw new UserError(
          `${at}: unknown task '${t}' (bundled tasks: ${Object.keys(TASKS).join(', ')}; or a folder in the bundled layout, here ${dir}, or a data object {name, train, dev, test})`,
        );
      const u = folderTask(dir, parsed.seeds, at);
      userTasks[u.name] = u;
      return u.name;
    }
    const u = dataObjectTask(t, baseDir, parsed.seeds, `${at} '${t.name}'`);
    userTasks[u.name] = u;
    return u.name;
  });
  // The suite's name is the default output folder's (results/leaderboards/<name>).
  if (!safeName(parsed.name))
    throw new UserError(`${where}: name: suite name '${parsed.name}' is used as a folder name: no '/', '\\' or '..'`);
  tasks.forEach((name, i) => {
    if (!safeName(name))
      throw new UserError(`${where}: tasks[${i}]: task name '${name}' is used as a folder name: no '/', '\\' or '..'`);
    if (tasks.indexOf(name) !== i)
      throw new UserError(`${where}: tasks[${i}]: task '${name}' is listed twice (give each task its own name)`);
  });
  for (const field of ['data', 'task'])
    if (parsed.base[field] !== undefined)
      throw new UserError(
        `${where}: base.${field}: a suite's data are its 'tasks' (a bundled name, a folder, or a data object {name, train, dev, test}), not base.${field}`,
      );
  for (const key of Object.keys(parsed.perTask ?? {}))
    if (!tasks.includes(key))
      throw new UserError(`${where}: perTask.${key}: not one of the suite's tasks (${tasks.join(', ')})`);
  for (const [key, o] of Object.entries(parsed.perTask ?? {}))
    for (const field of ['data', 'task'])
      if (o[field] !== undefined)
        throw new UserError(
          `${where}: perTask.${key}.${field}: a suite's data are its 'tasks', not perTask.${key}.${field}`,
        );
  parsed.methods.forEach((m, i) => {
    for (const field of ['data', 'task'])
      if (m.config?.[field] !== undefined)
        throw new UserError(
          `${where}: methods[${i}].config.${field}: a suite's data are its 'tasks', not a method's config`,
        );
    if (!safeName(m.name))
      throw new UserError(
        `${where}: methods[${i}]: method name '${m.name}' is used as a folder name: no '/', '\\' or '..'`,
      );
    if (parsed.methods.findIndex((x) => x.name === m.name) !== i)
      throw new UserError(
        `${where}: methods[${i}]: method '${m.name}' is listed twice (give each method its own name)`,
      );
    if (!m.manual && !m.probe && !(STRATEGY_NAMES as readonly string[]).includes(m.strategy ?? '')) {
      throw new UserError(
        `${where}: methods[${i}]: method '${m.name}' has unknown strategy '${m.strategy}' (use manual: true, probe: true, or ${STRATEGY_NAMES.join(', ')})`,
      );
    }
  });
  return { ...parsed, tasks, ...(Object.keys(userTasks).length ? { userTasks } : {}) };
}

/** The JSON Schema of a search config (`searches/search-config.schema.json`), for editors. */
export function searchConfigJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(searchConfigSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'promptsearch search config',
    description:
      'A search experiment for `promptsearch search` (searches/*.json). Generated from src/runner/schema.ts by `npm run schema`.',
  };
}
