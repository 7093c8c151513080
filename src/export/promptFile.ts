/**
 * The prompt file: a found prompt, self-contained, to apply without the run directory.
 *
 * Schema `promptsearch/prompt`, version 2, 3, 4, 5 or 6 (JSON object):
 *
 * - `schema`, `version`: always `"promptsearch/prompt"`; `6` when an ensemble member has a
 *   `soft` prompt (a refined ensemble), else `5` when one has a `readout`, else `4` when one has a `labelScore`, else `3` when one has a `fit` (a reader that
 *   ignored either would decide otherwise), `2` otherwise. Version 1 files (no
 *   calibration) are still read and applied as they were found (raw scores); readers refuse
 *   anything else.
 * - `template`: the search template, e.g. `"{x} <A:2> [MASK] ."`.
 * - `slots`: per slot name, the searched tokens: `ids` (what the model reads; authoritative),
 *   `tokens` (vocabulary strings) and `text` (decoded, for humans). Ids, not text, are applied:
 *   re-tokenizing the text need not give the same ids back.
 * - `labels`: one per label, in label order: `id` (the integer label), `name`, `words` (label
 *   words) and `ids` (their token ids, one per word; a label's score is the log-sum-exp of their
 *   logits). A causal model's word that is several tokens has a list of ids in its place, e.g.
 *   `[3112, [812, 4401]]`: its score is the sum of its tokens' log-probabilities.
 * - `calibration`: the decision rule: `mode` (`inputs`, `content-free` or `none`) and `offsets`
 *   (one number per label, subtracted from the label log-probabilities before the argmax; null
 *   for `none`). Stored, not recomputed, so predictions reproduce the recorded accuracies exactly.
 * - `ensemble` (optional; `promptsearch export --ensemble` of a run with `ensemble` > 1 or several
 *   `templates`): `members`, each `{template?, slots, labels, labelScore?, readout?, calibration, fit?, scores: {train, dev}}`,
 *   with its own `template` when the run searched several (absent: the file's `template`) and,
 *   from a run with `fitMembers`, its `fit` `{scale, bias}` (version 3): the member's calibrated
 *   log-probabilities c are read as log_softmax(scale · c + bias), and, for a readout member of a run with
 *   `dataLabelWords` `labelScore: "mean"`, its `labelScore` `"mean"` (version 4): a label's score
 *   is the mean of its words' logits instead of their log-sum-exp; for a readout member of a run with
 *   `labelScore: "discriminant"`, its `labelScore` `"discriminant"` and its `readout` `{weights,
 *   bias}` (version 5): every label lists the same words, `weights[l]` one number per word of
 *   label l, and a label's score is weights[l] · x + bias[l], x the words' logits minus their
 *   log-sum-exp (prompt/discriminant.ts). The ensemble's label
 *   log-probabilities are the mean of the members' calibrated (and fitted) ones; a member's
 *   `scores` are its own, before the fit. The top-level `slots`,
 *   `labels` and `calibration` are the first (selected) member's; `scores` are the ensemble's dev and
 *   test accuracy, with the first member's train accuracy.
 * - `model`: `name` (bundled model name, or the model folder's absolute path), `dtype`,
 *   `onnxSha256` and `tokenizerSha256` of the files the search used.
 * - `scores`: `train`, `dev`, `test` accuracy of the run (`dev`/`test` may be null).
 * - `search`: the run's search config (config.json without `resolved`).
 * - `source`: `runDir` (absolute) and `runId` of the run.
 * - `promptsearchVersion`, `createdAt` (ISO 8601).
 * - `soft` (optional; `promptsearch export --soft` of a refined run): the soft prompt from
 *   `promptsearch refine`, continuous vectors that replace the slot tokens' word embeddings:
 *   `hidden` (the model's hidden size), `vectors` (one list of `hidden` numbers per slot token,
 *   slots in template order, tokens in `slots.<name>.ids` order), `modelSha256` (sha256 of the
 *   onnx file the vectors belong to: applying them needs exactly that model, any other is an
 *   error) and `refine` (the refinement: `discrete` and `refined` train/dev/test accuracy,
 *   `improvedDev`, `evaluations`, `budget`, `generations`, `options`). With `soft`, `scores` are
 *   the refined scores and `slots` still lists the discrete tokens the vectors started from.
 *   Readers without soft-prompt support would apply the discrete tokens and get other scores.
 * - Version 6, a refined ensemble (`promptsearch export --soft` of a refined ensemble run): an
 *   ensemble member may carry its own `soft` `{hidden, vectors, modelSha256}` (as above, for the
 *   member's template and slots): its slot tokens' embeddings are replaced by the vectors, and its
 *   `calibration` and `fit` are the refined prompt's. A readout member of a refined prompt member
 *   may carry the same vectors (it reads the same refined prompt's mask). The other members are
 *   applied as they were found, through the same (inputs-embeds) scorer. `scores` are then the
 *   refined ensemble's.
 * - `refine` (optional, any version; ignored when applying): what `promptsearch refine` did, the
 *   summary kept in `soft.refine` (`discrete`, `refined`, `improvedDev`, `evaluations`, `budget`,
 *   `generations`, `options`, and for an ensemble `members`): in a version 6 file, and in the
 *   file exported with `--soft` of a refinement that kept the discrete prompt (no `soft`: the file
 *   is the run's own result).
 *
 * `promptsearch export` of several runs writes a JSON array of these objects, best first.
 */
import * as path from 'path';
import { getTask } from '../data/tasks';
import { UserError } from '../errors';
import { BUNDLED_MODELS_DIR } from '../paths';
import type { SearchConfig } from '../runner/config';
import { BestResult, RefineResult, RunDir, SoftPromptData } from '../runner/runDir';
import { packageVersions } from '../runner/versions';
import { z } from 'zod';
import { DTYPES } from '../model/modelFolder';
import { readJsonFile } from '../util/jsonFile';
import { oneOf, parseWith, says, text, words } from '../util/schemaParse';
import { CALIBRATIONS, Calibration, MemberFit } from '../prompt/calibration';
import { parseTemplate } from '../prompt/template';
import { WordIds } from '../prompt/verbalizer';
import { LABEL_SCORE_RULES, LabelScoreRule } from '../scoring/metrics';
import { Readout } from '../prompt/discriminant';

export const PROMPT_SCHEMA = 'promptsearch/prompt';
export const PROMPT_VERSION = 2;
/** The version of a file whose ensemble members carry fits. */
export const PROMPT_VERSION_FIT = 3;
/** The version of a file whose ensemble members read their label words otherwise than by log-sum-exp. */
export const PROMPT_VERSION_LABEL_SCORE = 4;
/** The version of a file whose ensemble members read their words through a fitted readout (a discriminant). */
export const PROMPT_VERSION_READOUT = 5;
/** The version of a file whose ensemble members may be soft prompts (a refined ensemble). */
export const PROMPT_VERSION_SOFT_MEMBERS = 6;
/** Versions this promptsearch reads: 1 (before calibration: applied raw), 2, 3 (member fits), 4 (member label scores), 5 (member readouts) and 6 (soft members). */
export const READABLE_PROMPT_VERSIONS = [1, 2, 3, 4, 5, 6];

export type PromptCalibration = Calibration;

export interface EnsembleMemberFile {
  /** The member's own template (an ensemble over several templates); absent: the file's `template`. */
  template?: string;
  slots: PromptFile['slots'];
  labels: PromptLabel[];
  /** How its label words make a label's score; absent: `logsumexp`. */
  labelScore?: LabelScoreRule;
  /** With `labelScore: "discriminant"`: the weights (per label, one per word) and biases. */
  readout?: Readout;
  calibration: PromptCalibration;
  fit?: MemberFit;
  scores: { train: number; dev: number };
  /** A refined member's soft prompt (version 6): vectors for the slot tokens of its template. */
  soft?: MemberSoftPrompt;
}

/** A soft ensemble member's vectors (version 6). */
export type MemberSoftPrompt = Omit<SoftPrompt, 'refine'>;

export interface PromptLabel {
  id: number;
  name: string;
  words: string[];
  /** One per word: its token id, or (causal models, a word of several tokens) its ids in order. */
  ids: WordIds[];
}

export interface PromptFile {
  schema: typeof PROMPT_SCHEMA;
  version: number;
  template: string;
  slots: Record<string, { ids: number[]; tokens: string[]; text: string }>;
  labels: PromptLabel[];
  /** Absent only in version 1 files; validatePromptFile fills `{mode: 'none', offsets: null}` for them. */
  calibration: PromptCalibration;
  ensemble?: { members: EnsembleMemberFile[] };
  model: { name: string; dtype: string; onnxSha256: string; tokenizerSha256: string };
  scores: { train: number; dev: number | null; test: number | null };
  search: SearchConfig;
  source: { runDir: string; runId: string };
  promptsearchVersion: string;
  createdAt: string;
  /** The refined soft prompt (export --soft); absent for a discrete prompt. */
  soft?: SoftPrompt;
  /** What refine did (a refined ensemble, or a refinement that kept the discrete prompt); not applied. */
  refine?: RefineSummary;
}

/** What a prompt file keeps of refine/result.json. */
export type RefineSummary = Pick<
  RefineResult,
  'discrete' | 'refined' | 'improvedDev' | 'evaluations' | 'budget' | 'generations' | 'options' | 'of' | 'members'
>;

export interface SoftPrompt {
  hidden: number;
  /** [slot tokens × hidden]: slots in template order, each slot's tokens in `ids` order. */
  vectors: number[][];
  /** sha256 of the onnx file the vectors belong to. */
  modelSha256: string;
  refine: RefineSummary;
}

export interface PromptFromRunOptions {
  /** Export the refined soft prompt (`<runDir>/refine/soft.json`) instead of the discrete one. */
  soft?: boolean;
  /**
   * Export the run's ensemble (best.json `members`; default: the run's result). With
   * `soft`, a refinement of the ensemble is exported as an ensemble unless this is `false`
   * (refused: its vectors belong to the ensemble's members).
   */
  ensemble?: boolean;
}

/** Builds the prompt file of a finished run directory (with `soft`, of its refined soft prompt). */
export function promptFileFromRun(runDir: string, opts: PromptFromRunOptions = {}): PromptFile {
  const run = new RunDir(runDir);
  const { config: search, resolved, best } = run.readFinished();
  const sel = best.selected;
  // The names the run resolved (--labels, the task's, the model's id2label); older runs: the task's.
  const names =
    resolved.labelNames ?? (search.task ? getTask(search.task).labelNames : sel.labelIds.map((_, i) => String(i)));
  let refined: ReturnType<typeof readSoft> | undefined;
  let softMembers: ReturnType<typeof readSoftMembers> | undefined;
  if (opts.soft === true) {
    const refine = readRefineOf(run);
    if (refine.soft.members || refine.result.of === 'ensemble') {
      if (opts.ensemble === false)
        throw new UserError(
          `${runDir}: the run's refinement is of its ensemble (soft members): export it with --soft, without --no-ensemble`,
        );
      softMembers = readSoftMembers(run, refine, best);
    } else {
      if (opts.ensemble)
        throw new UserError('export: --soft and --ensemble cannot be combined (a soft prompt refines one prompt)');
      refined = readSoft(run, search.template, best, refine);
    }
  }
  // By default the run's result: its ensemble where it has one.
  const ensemble = softMembers !== undefined || (opts.ensemble ?? (opts.soft !== true && best.result === 'ensemble'));
  if (ensemble && !best.members)
    throw new UserError(`${runDir}: the run has no ensemble (search with "ensemble": 3, say, in the config)`);
  const labelsOf = (labelIds: WordIds[][], labelWords: string[][]): PromptLabel[] =>
    labelIds.map((ids, id) => ({ id, name: names[id] ?? String(id), words: labelWords[id], ids }));
  const calibration: PromptCalibration = { mode: sel.calibration.mode, offsets: sel.calibration.offsets };
  const file: PromptFile = {
    schema: PROMPT_SCHEMA,
    version: PROMPT_VERSION,
    template: sel.template,
    slots: sel.slots,
    labels: labelsOf(sel.labelIds, sel.labelWords),
    calibration,
    model: {
      name: modelName(resolved.modelDir),
      dtype: best.dtype,
      onnxSha256: resolved.modelSha256,
      tokenizerSha256: resolved.tokenizerSha256,
    },
    // The selected prompt's numbers: the run's headline when the prompt is its result.
    scores:
      best.result === 'prompt'
        ? { train: best.trainAccuracy ?? sel.trainAccuracy, dev: best.devAccuracy, test: best.testAccuracy }
        : { train: sel.trainAccuracy, dev: sel.devAccuracy, test: sel.testAccuracy },
    search,
    source: { runDir: path.resolve(runDir), runId: best.runId },
    promptsearchVersion: packageVersions().promptsearch,
    createdAt: new Date().toISOString(),
  };
  if (refined?.soft) {
    file.soft = refined.soft;
    file.scores = { ...refined.soft.refine.refined };
    // The refined prompt's own decision rule (none for soft prompts refined before calibration).
    file.calibration = refined.calibration;
  } else if (refined) file.refine = refined.summary; // kept discrete: the run's own prompt
  if (ensemble && best.members) {
    const members = best.members;
    file.ensemble = {
      members: members.map((m) => ({
        ...(m.template !== undefined ? { template: m.template } : {}),
        slots: m.slots,
        labels: labelsOf(m.labelIds, m.labelWords),
        ...(m.labelScore && m.labelScore !== 'logsumexp' ? { labelScore: m.labelScore } : {}),
        ...(m.readout ? { readout: m.readout } : {}),
        calibration: { mode: calibration.mode, offsets: m.offsets },
        ...(m.fit ? { fit: m.fit } : {}),
        scores: { train: m.trainAccuracy, dev: m.devAccuracy },
      })),
    };
    if (members.some((m) => m.fit)) file.version = PROMPT_VERSION_FIT;
    if (file.ensemble.members.some((m) => m.labelScore)) file.version = PROMPT_VERSION_LABEL_SCORE;
    if (file.ensemble.members.some((m) => m.readout)) file.version = PROMPT_VERSION_READOUT;
    // The ensemble's own train accuracy where it was scored (a run over several templates), else the selected prompt's.
    file.scores = { train: best.trainAccuracy ?? sel.trainAccuracy, dev: best.devAccuracy, test: best.testAccuracy };
    if (softMembers) {
      softMembers.members.forEach((sm, k) => {
        if (!sm) return;
        const m = file.ensemble!.members[k];
        m.soft = sm.soft;
        m.calibration = sm.calibration;
        if (sm.fit) m.fit = sm.fit;
      });
      file.refine = softMembers.summary;
      if (softMembers.members.some((sm) => sm)) {
        file.version = PROMPT_VERSION_SOFT_MEMBERS;
        const r = softMembers.summary.refined;
        file.scores = { train: r.train, dev: r.dev, test: r.test };
      }
    }
  }
  return file;
}

/** refine/result.json and refine/soft.json, or the error that says to refine first. */
function readRefineOf(run: RunDir): { result: RefineResult; soft: SoftPromptData } {
  const refine = run.readRefine();
  if (!refine)
    throw new UserError(
      `${run.dir}: the run has not been refined (no refine/${run.has('refineSoft') ? 'result' : 'soft'}.json); run \`promptsearch refine ${run.dir}\` first`,
    );
  if (!refine.result?.refined || typeof refine.result.refined.train !== 'number')
    throw new UserError(`${run.file('refineResult')}: not a refine result (no refined scores)`);
  return refine;
}

/** What a prompt file keeps of a refine result. */
function refineSummary(result: RefineResult): RefineSummary {
  return {
    discrete: result.discrete,
    refined: result.refined,
    improvedDev: result.improvedDev,
    evaluations: result.evaluations,
    budget: result.budget,
    generations: result.generations,
    options: result.options,
    ...(result.of ? { of: result.of } : {}),
    ...(result.members ? { members: result.members } : {}),
  };
}

/** A refined ensemble's soft members (refine/soft.json `members`), checked against best.json's ensemble. */
function readSoftMembers(run: RunDir, refine: { result: RefineResult; soft: SoftPromptData }, best: BestResult) {
  const softFile = run.file('refineSoft');
  const again = `run \`promptsearch refine ${run.dir}\` again`;
  const members = best.members;
  const entries = refine.soft.members;
  if (!members || !Array.isArray(entries) || entries.length !== members.length)
    throw new UserError(
      `${softFile}: refined another ensemble than the run's (${members?.length ?? 0} members); ${again}`,
    );
  const modelSha256 = refine.soft.modelSha256;
  const out = entries.map((sm, k) => {
    if (sm === null) return null;
    const slotIds = parseTemplate(members[k].template ?? best.selected.template).slots.flatMap(
      (s) => members[k].slots[s.name]?.ids ?? [],
    );
    const ids = Array.isArray(sm?.slotTokens) ? sm.slotTokens.map((t) => t?.id) : undefined;
    if (!ids || ids.length !== slotIds.length || ids.some((id, j) => id !== slotIds[j]))
      throw new UserError(`${softFile}: member ${k + 1} was refined from other slot tokens than the run's; ${again}`);
    const soft: MemberSoftPrompt = { hidden: refine.soft.hidden, vectors: sm.vectors, modelSha256 };
    checkSoft(soft, slotIds.length, (field, what) => new UserError(`${softFile}: members[${k}]: '${field}' ${what}`));
    return { soft, calibration: sm.calibration, ...(sm.fit ? { fit: sm.fit } : {}) };
  });
  return { members: out, summary: refineSummary(refine.result) };
}

/**
 * The run's refine output as a prompt file's `soft`; checked against the run's best prompt. A
 * refinement that kept the discrete prompt (refined by this promptsearch: `of` recorded) has no
 * `soft`: the file is then the run's own prompt, with the summary.
 */
function readSoft(
  run: RunDir,
  template: string,
  best: BestResult,
  refine: { result: RefineResult; soft: SoftPromptData },
): { soft?: SoftPrompt; calibration: PromptCalibration; summary: RefineSummary } {
  const softFile = run.file('refineSoft');
  const { soft: data, result } = refine;
  const slotIds = parseTemplate(template).slots.flatMap((s) => best.selected.slots[s.name]?.ids ?? []);
  const refinedIds = Array.isArray(data?.slotTokens) ? data.slotTokens.map((t) => t?.id) : undefined;
  if (!refinedIds || refinedIds.length !== slotIds.length || refinedIds.some((id, k) => id !== slotIds[k])) {
    throw new UserError(
      `${softFile}: refined from other slot tokens than the run's best prompt; run \`promptsearch refine ${run.dir}\` again`,
    );
  }
  const summary = refineSummary(result);
  const calibration = data.calibration ?? { mode: 'none', offsets: null };
  if (result.of !== undefined && !result.improvedDev) return { calibration, summary };
  const soft: SoftPrompt = {
    hidden: data.hidden,
    vectors: data.vectors,
    modelSha256: data.modelSha256,
    refine: summary,
  };
  checkSoft(soft, slotIds.length, (field, what) => new UserError(`${softFile}: '${field}' ${what}`));
  return { soft, calibration, summary };
}

/** The fields a soft prompt is applied with: one finite vector of `hidden` numbers per slot token, and the model's sha256. */
function checkSoft(soft: unknown, slotTokens: number, bad: (field: string, what: string) => UserError): void {
  if (!soft || typeof soft !== 'object' || Array.isArray(soft))
    throw bad('soft', 'must be an object {hidden, vectors, modelSha256, refine}');
  const s = soft as Record<string, unknown>;
  const hidden = s.hidden;
  if (!Number.isInteger(hidden) || (hidden as number) < 1) throw bad('soft.hidden', 'must be a positive integer');
  const vectors = s.vectors;
  if (!Array.isArray(vectors) || vectors.length !== slotTokens)
    throw bad('soft.vectors', `must list ${slotTokens} vector(s), one per slot token`);
  vectors.forEach((v, k) => {
    if (!Array.isArray(v) || v.length !== hidden)
      throw bad(`soft.vectors[${k}]`, `must be a list of ${hidden} numbers`);
    if (!v.every((x) => typeof x === 'number' && Number.isFinite(x)))
      throw bad(`soft.vectors[${k}]`, 'must hold finite numbers only');
  });
  if (typeof s.modelSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.modelSha256))
    throw bad('soft.modelSha256', 'must be the sha256 (64 hex digits) of the model the vectors belong to');
}

/** A bundled model is named (it moves with the package); any other folder by absolute path. */
function modelName(modelDir: string): string {
  return path.dirname(path.resolve(modelDir)) === path.resolve(BUNDLED_MODELS_DIR)
    ? path.basename(modelDir)
    : path.resolve(modelDir);
}

/** Reads and validates a prompt file; of an array (an export of several runs) the first, best, one. */
export function readPromptFile(file: string): PromptFile {
  const raw = readJsonFile(file, 'prompt file');
  if (Array.isArray(raw) && raw.length === 0) throw new UserError(`prompt file ${file} is an empty list`);
  return validatePromptFile(Array.isArray(raw) ? raw[0] : raw, file);
}

const tokenId = () =>
  z
    .number(says('must be a token id (an integer >= 0)'))
    .int(says('must be a token id (an integer >= 0)'))
    .min(0, says('must be a token id (an integer >= 0)'));
const tokenIds = () => z.array(tokenId(), says('must be a list of token ids'));
/** Label words' ids: a token id per word, or a word's token ids in order (causal models). */
const wordIds = () =>
  z.array(
    z.union(
      [tokenId(), tokenIds().min(1, says('must list at least one token id'))],
      says('must be a token id or a list of token ids'),
    ),
    says('must be a list of token ids (or lists of token ids, one per word)'),
  );
const sha256 = () =>
  z.string(says('must be a sha256 (64 hex digits)')).regex(/^[0-9a-f]{64}$/, says('must be a sha256 (64 hex digits)'));

const slotsSchema = () =>
  z.record(
    z.string(),
    z.object({ ids: tokenIds(), tokens: z.array(z.string()).optional(), text: z.string().optional() }),
    says('must be an object'),
  );
const labelsSchema = () =>
  z
    .array(
      z.object({
        id: tokenId(),
        name: z.string(says('must be a string')),
        words: words(),
        ids: wordIds().min(1, says('must list at least one token id')),
      }),
      says('must be a list'),
    )
    .min(2, says('must list at least 2 labels'));
const calibrationSchema = () =>
  z.object(
    {
      mode: oneOf(CALIBRATIONS),
      offsets: z
        .array(
          z.number(says('must hold finite numbers')).finite(says('must hold finite numbers')),
          says('must be a list of numbers or null'),
        )
        .nullable(),
    },
    says('must be {mode, offsets}'),
  );

/** The fields a prompt is applied with (`soft` is checked against the template's slot tokens below). */
const promptFileSchema = z.object({
  template: z.string(says('must be a string')),
  slots: slotsSchema(),
  labels: labelsSchema(),
  calibration: calibrationSchema(),
  ensemble: z
    .object(
      {
        members: z
          .array(
            z.object({
              template: z.string(says('must be a string')).optional(),
              slots: slotsSchema(),
              labels: labelsSchema(),
              labelScore: oneOf(LABEL_SCORE_RULES).optional(),
              readout: z
                .object(
                  {
                    weights: z.array(
                      z.array(
                        z.number(says('must hold finite numbers')).finite(says('must hold finite numbers')),
                        says('must be lists of numbers'),
                      ),
                      says('must be a list per label'),
                    ),
                    bias: z.array(
                      z.number(says('must hold finite numbers')).finite(says('must hold finite numbers')),
                      says('must be a list of numbers'),
                    ),
                  },
                  says('must be {weights, bias}'),
                )
                .optional(),
              calibration: calibrationSchema(),
              fit: z
                .object(
                  {
                    scale: z
                      .number(says('must be a finite number >= 0'))
                      .finite(says('must be a finite number >= 0'))
                      .min(0, says('must be a finite number >= 0')),
                    bias: z.array(
                      z.number(says('must hold finite numbers')).finite(says('must hold finite numbers')),
                      says('must be a list of numbers'),
                    ),
                  },
                  says('must be {scale, bias}'),
                )
                .optional(),
              scores: z
                .object(
                  { train: z.number(says('must be a number')), dev: z.number(says('must be a number')) },
                  says('must be {train, dev}'),
                )
                .optional(),
              soft: z.unknown().optional(),
            }),
            says('must be a list'),
          )
          .min(1, says('must list at least one member')),
      },
      says('must be {members}'),
    )
    .optional(),
  model: z.object(
    { name: text(), dtype: oneOf(DTYPES), onnxSha256: sha256(), tokenizerSha256: sha256() },
    says("must name the model, its dtype ('int8' or 'fp32') and its files' sha256"),
  ),
  scores: z.object(
    {
      train: z.number(says('must be a number')),
      dev: z.number(says('must be a number or null')).nullable(),
      test: z.number(says('must be a number or null')).nullable(),
    },
    says('must be {train, dev, test}'),
  ),
  search: z.record(z.string(), z.unknown()).optional(),
  source: z.object({ runDir: z.string(), runId: z.string() }).optional(),
  soft: z.unknown().optional(),
});

/** Checks the schema, version and every field a prompt is applied with. */
export function validatePromptFile(raw: unknown, file: string): PromptFile {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new UserError(`prompt file ${file}: expected a JSON object`);
  const p = raw as Record<string, unknown>;
  if (p.schema !== PROMPT_SCHEMA)
    throw new UserError(
      `${file} is not a promptsearch prompt file (schema ${JSON.stringify(p.schema)}; expected "${PROMPT_SCHEMA}")`,
    );
  if (!READABLE_PROMPT_VERSIONS.includes(p.version as number))
    throw new UserError(
      `prompt file ${file} has schema version ${JSON.stringify(p.version)}; this promptsearch reads versions ${READABLE_PROMPT_VERSIONS.slice(0, -1).join(', ')} and ${READABLE_PROMPT_VERSIONS.at(-1)}`,
    );
  const bad = (field: string, what: string) => new UserError(`prompt file ${file}: '${field}' ${what}`);
  if (p.version === 1) {
    // Version 1 predates calibration: applied as it was found, on raw scores.
    // The check runs again on an object it already read (predict reads the file, then applies the object): the filled-in calibration is fine.
    const filled = JSON.stringify(p.calibration) === JSON.stringify({ mode: 'none', offsets: null });
    if ((p.calibration !== undefined && !filled) || p.ensemble !== undefined)
      throw bad('version', "1 has no 'calibration' or 'ensemble': use version 2");
    p.calibration = { mode: 'none', offsets: null } satisfies PromptCalibration;
  }
  const parsed = parseWith(promptFileSchema, raw, `prompt file ${file}`);
  const applied = (
    where: string,
    m: {
      template?: string;
      slots: Record<string, { ids: number[] }>;
      labels: { id: number; ids: WordIds[] }[];
      calibration: PromptCalibration;
      labelScore?: LabelScoreRule;
    },
  ) => {
    let template;
    try {
      template = parseTemplate(m.template ?? parsed.template);
    } catch (e) {
      throw bad(`${where}template`, `is not a template (${(e as Error).message})`);
    }
    for (const s of template.slots) {
      const ids = m.slots[s.name]?.ids;
      if (!isIdList(ids) || ids.length > s.length)
        throw bad(`${where}slots.${s.name}.ids`, `must be a list of at most ${s.length} token id(s)`);
    }
    // A fill for a slot the template does not have would be dropped without a word.
    for (const name of Object.keys(m.slots))
      if (!template.slots.some((s) => s.name === name))
        throw bad(`${where}slots.${name}`, `names no slot of the template '${m.template ?? parsed.template}'`);
    m.labels.forEach((l, i) => {
      if (l.id !== i) throw bad(`${where}labels[${i}].id`, `must be ${i} (labels in label order)`);
    });
    if (m.labels.length !== parsed.labels.length)
      throw bad(`${where}labels`, `must list the same ${parsed.labels.length} labels`);
    // Two labels read through one token cannot be told apart. An ensemble member whose labels all
    // list the same words is a readout member's shape (a discriminant reads every word for every label).
    const readoutShape =
      where !== '' &&
      (m.labelScore === 'discriminant' ||
        m.labels.every((l) => JSON.stringify(l.ids) === JSON.stringify(m.labels[0].ids)));
    if (!readoutShape) {
      const owner = new Map<string, number>();
      m.labels.forEach((l, i) =>
        l.ids.forEach((w) => {
          const key = JSON.stringify(w);
          const prev = owner.get(key);
          if (prev !== undefined && prev !== i)
            throw bad(
              `${where}labels[${i}].ids`,
              `holds token id ${key}, which labels[${prev}] holds too: two labels on one token cannot be told apart`,
            );
          owner.set(key, i);
        }),
      );
    }
    const { mode, offsets } = m.calibration;
    if (mode === 'none' ? offsets !== null : offsets === null || offsets.length !== m.labels.length) {
      throw bad(
        `${where}calibration.offsets`,
        mode === 'none'
          ? "must be null with mode 'none'"
          : `must list ${m.labels.length} finite numbers, one per label`,
      );
    }
  };
  applied('', parsed);
  parsed.ensemble?.members.forEach((m, k) => {
    applied(`ensemble.members[${k}].`, m);
    if (m.fit && (p.version as number) < PROMPT_VERSION_FIT)
      throw bad(
        `ensemble.members[${k}].fit`,
        `needs version ${PROMPT_VERSION_FIT} or later (the file says ${JSON.stringify(p.version)})`,
      );
    const needs = m.labelScore === 'discriminant' ? PROMPT_VERSION_READOUT : PROMPT_VERSION_LABEL_SCORE;
    if (m.labelScore && (p.version as number) < needs)
      throw bad(
        `ensemble.members[${k}].labelScore`,
        `needs version ${needs} or later (the file says ${JSON.stringify(p.version)})`,
      );
    if ((m.labelScore === 'discriminant') !== (m.readout !== undefined))
      throw bad(
        `ensemble.members[${k}].readout`,
        m.readout ? "is read only with labelScore 'discriminant'" : "is needed with labelScore 'discriminant'",
      );
    if (m.readout) {
      const { weights, bias } = m.readout;
      if (weights.length !== m.labels.length)
        throw bad(`ensemble.members[${k}].readout.weights`, `must list ${m.labels.length} lists, one per label`);
      weights.forEach((w, l) => {
        if (w.length !== m.labels[l].ids.length)
          throw bad(
            `ensemble.members[${k}].readout.weights[${l}]`,
            `must list ${m.labels[l].ids.length} numbers, one per word of label ${l}`,
          );
      });
      if (bias.length !== m.labels.length)
        throw bad(`ensemble.members[${k}].readout.bias`, `must list ${m.labels.length} finite numbers, one per label`);
    }
    if (m.fit && m.fit.bias.length !== m.labels.length)
      throw bad(`ensemble.members[${k}].fit.bias`, `must list ${m.labels.length} finite numbers, one per label`);
    const soft = m.soft;
    if (soft !== undefined) {
      if ((p.version as number) < PROMPT_VERSION_SOFT_MEMBERS)
        throw bad(
          `ensemble.members[${k}].soft`,
          `needs version ${PROMPT_VERSION_SOFT_MEMBERS} or later (the file says ${JSON.stringify(p.version)})`,
        );
      const template = parseTemplate(m.template ?? parsed.template);
      checkSoft(
        soft,
        template.slots.reduce((n, s) => n + m.slots[s.name].ids.length, 0),
        (field, what) => bad(`ensemble.members[${k}].${field}`, what),
      );
      const sha = (x: unknown) => (x as { modelSha256: string }).modelSha256;
      if (sha(soft) !== sha(parsed.ensemble!.members.find((x) => x.soft !== undefined)!.soft))
        throw bad(`ensemble.members[${k}].soft.modelSha256`, 'must be the same model as the other soft members');
    }
  });
  if (parsed.ensemble && p.soft !== undefined) throw bad('ensemble', 'cannot be combined with soft');
  if (p.soft !== undefined)
    checkSoft(
      p.soft,
      parseTemplate(parsed.template).slots.reduce((n, s) => n + parsed.slots[s.name].ids.length, 0),
      bad,
    );
  return raw as PromptFile;
}

function isIdList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0);
}
