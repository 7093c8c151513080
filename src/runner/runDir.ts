/**
 * The run directory: the one place that knows its file names, their types, and how they are
 * read and written. Search, resume, refine, export and leaderboards go through it.
 *
 *     config.json       the search config + `resolved` (model/tokenizer sha256, versions, sizes)
 *     state.json        {status: running | interrupted | done, evaluations?, seconds?}
 *     space.json        the candidate pools (written once; a resume reuses them)
 *     candidates.jsonl  one scored candidate per line, appended; `i` counts 0, 1, 2...
 *     progress.jsonl    best-so-far after each batch, then the dev selection
 *     best.json         the result (BestResult)
 *     test-predictions.json  the result's predicted label per test example (written just before best.json)
 *     t1/, t2/, ...     a search over several templates: each template's own run
 *     refine/           soft.json, result.json, progress.jsonl (`promptsearch refine`)
 *     prompt.json, prompt.soft.json   `promptsearch export`
 *     cell.json         a leaderboard cell's result
 *     lock              {pid, host, startedAt} while a process writes the run
 *
 * Integrity rules: a JSON file that is empty or garbled is an error naming it; in a JSON-lines
 * file only a torn *last* line (a crash mid-append) is forgiven and cut off, damage anywhere
 * else is an error naming the line and nothing is changed.
 */
import type { CvEstimate, ReadoutSettings } from '../prompt/crossValidation';
import type { Calibration, MemberFit } from '../prompt/calibration';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError } from '../errors';
import { canonicalJson } from '../util/canonicalJson';
import { MakeDirError, makeDirs, userIoProblem, writeJsonAtomic } from './atomic';
import { SearchConfig, validateConfig } from './config';
import { WordIds } from '../prompt/verbalizer';
import type { LabelScoreRule } from '../scoring/metrics';
import type { Readout } from '../prompt/discriminant';

export const RUN_FILES = {
  config: 'config.json',
  state: 'state.json',
  space: 'space.json',
  candidates: 'candidates.jsonl',
  progress: 'progress.jsonl',
  best: 'best.json',
  testPredictions: 'test-predictions.json',
  lock: 'lock',
  cell: 'cell.json',
  refineSoft: path.join('refine', 'soft.json'),
  refineResult: path.join('refine', 'result.json'),
  refineProgress: path.join('refine', 'progress.jsonl'),
  prompt: 'prompt.json',
  promptSoft: 'prompt.soft.json',
  promptEnsemble: 'prompt.ensemble.json',
} as const;
export type RunFile = keyof typeof RUN_FILES;

/** The prompt the search selected on one template (for a run over several templates: the member with the best dev accuracy). */
export interface SelectedPrompt {
  template: string;
  prompt: string;
  slots: Record<string, { ids: number[]; tokens: string[]; text: string }>;
  labelWords: string[][];
  labelIds: WordIds[][];
  trainAccuracy: number;
  trainMargin: number;
  devAccuracy: number | null;
  testAccuracy: number | null;
  /** The decision rule: calibration mode and the per-label offsets subtracted from label log-probabilities. */
  calibration: Calibration;
  /** The search objective and its value on train and dev. */
  objective: { name: string; train: number; dev: number | null };
}

/** best.json's format version (1: the files before it, whose top level was the selected prompt's). */
export const BEST_VERSION = 2;

/**
 * What `best.json` holds. The top level is the run's result, what `promptsearch export` writes and
 * `predict` applies: the selected prompt, or the ensemble of `members` where there is one.
 */
export interface BestResult {
  version: typeof BEST_VERSION;
  runId: string;
  status: 'done' | 'interrupted';
  /** What the result is: one prompt, or an ensemble of `members`. */
  result: 'prompt' | 'ensemble';
  /** The prompt, or a one-line description of the ensemble. */
  prompt: string;
  /** The result's accuracies (an ensemble's train accuracy is null where it was not scored). */
  trainAccuracy: number | null;
  devAccuracy: number | null;
  testAccuracy: number | null;
  /** An ensemble's members (prompt members and readout members), each with its own numbers. */
  members?: EnsembleMember[];
  /**
   * The result's accuracy estimated by cross-validation on the labelled train + dev examples
   * (prompt/crossValidation.ts): what a user can expect on new data, unlike `devAccuracy`, which
   * the selection and the fits have seen. Absent: not estimated (a single prompt, older runs).
   */
  estimate?: EstimateRecord | null;
  /** A search over several templates with discriminant readout members: their settings, and how they were chosen. */
  readoutChoice?: ReadoutSettings & {
    chosenBy: 'cross-validation' | 'config';
    /** Every setting tried and its cross-validated accuracy and log-loss (cross-validation only). */
    tried?: (ReadoutSettings & Pick<CvEstimate, 'accuracy' | 'logLoss'>)[];
  };
  /** The hand-written prompt the result was compared with (config `baseline`). */
  baseline?: BaselineSummary;
  /** One line: which of the search's result and the baseline is the result, and why. */
  choice?: string;
  /** When the baseline is the result: what the search found (its ensemble and numbers). */
  searched?: {
    prompt: string;
    trainAccuracy: number | null;
    devAccuracy: number | null;
    testAccuracy: number | null;
    estimate: EstimateRecord | null;
    members: EnsembleMember[];
  };
  /** The search's selected single prompt (the result itself when `result` is `prompt`). */
  selected: SelectedPrompt;
  evaluations: number;
  budget: number;
  candidatesScored: number;
  /** Wall time of the search, summed over every session of a resumed run. */
  seconds: number;
  model: string;
  dtype: string;
  strategy: string;
  seed: number;
}

/** A cross-validated accuracy estimate (prompt/crossValidation.ts, runner/ensemble.ts) and what was cross-validated. */
export interface EstimateRecord extends CvEstimate {
  /** What was cross-validated, in a few words. */
  method: string;
}

/** The hand-written baseline's numbers in best.json. */
export interface BaselineSummary {
  prompt: string;
  labelWords: string[][];
  trainAccuracy: number;
  devAccuracy: number;
  testAccuracy: number | null;
  estimate: EstimateRecord | null;
}

/** An ensemble's one-line description: "ensemble of 6 members over 3 templates". */
export function describeEnsemble(members: readonly EnsembleMember[], template: string): string {
  const templates = new Set(members.map((m) => m.template ?? template)).size;
  return `ensemble of ${members.length} members${templates > 1 ? ` over ${templates} templates` : ''}`;
}

/** A best.json of version 1 (top level: the selected prompt; the ensemble nested) in today's form. */
export function upgradeBest(raw: Record<string, unknown>): BestResult {
  if (raw.version === BEST_VERSION) return raw as unknown as BestResult;
  const o = raw as unknown as SelectedPrompt & {
    runId: string;
    status: BestResult['status'];
    ensemble?: { members: EnsembleMember[]; devAccuracy: number | null; testAccuracy: number | null };
  } & Pick<
      BestResult,
      'evaluations' | 'budget' | 'candidatesScored' | 'seconds' | 'model' | 'dtype' | 'strategy' | 'seed'
    >;
  const selected: SelectedPrompt = {
    template: o.template,
    prompt: o.prompt,
    slots: o.slots,
    labelWords: o.labelWords,
    labelIds: o.labelIds,
    trainAccuracy: o.trainAccuracy,
    trainMargin: o.trainMargin,
    devAccuracy: o.devAccuracy,
    testAccuracy: o.testAccuracy,
    // Runs from before calibration decided on raw scores.
    calibration: o.calibration ?? { mode: 'none', offsets: null },
    objective: o.objective,
  };
  const rest = {
    evaluations: o.evaluations,
    budget: o.budget,
    candidatesScored: o.candidatesScored,
    seconds: o.seconds,
    model: o.model,
    dtype: o.dtype,
    strategy: o.strategy,
    seed: o.seed,
  };
  if (o.ensemble)
    return {
      version: BEST_VERSION,
      runId: o.runId,
      status: o.status,
      result: 'ensemble',
      prompt: describeEnsemble(o.ensemble.members, o.template),
      trainAccuracy: null,
      devAccuracy: o.ensemble.devAccuracy,
      testAccuracy: o.ensemble.testAccuracy,
      members: o.ensemble.members,
      selected,
      ...rest,
    };
  return {
    version: BEST_VERSION,
    runId: o.runId,
    status: o.status,
    result: 'prompt',
    prompt: o.prompt,
    trainAccuracy: o.trainAccuracy,
    devAccuracy: o.devAccuracy,
    testAccuracy: o.testAccuracy,
    selected,
    ...rest,
  };
}

export interface EnsembleMember {
  /** The member's own template, in a search over several templates (absent: the run's template). */
  template?: string;
  prompt: string;
  slots: SelectedPrompt['slots'];
  labelWords: string[][];
  labelIds: WordIds[][];
  /** How its label words make a label's score (a readout member with method `mean` or `discriminant`); absent: logsumexp. */
  labelScore?: LabelScoreRule;
  /** A `discriminant` readout member's weights (one per label word, in `labelIds` order) and biases. */
  readout?: Readout;
  offsets: number[] | null;
  /** Its weights fitted on the labelled train and dev examples (config `fitMemberWeights`); absent: none. */
  fit?: MemberFit;
  /** The member's own accuracies (calibrated, before any fit). */
  trainAccuracy: number;
  devAccuracy: number;
}

export interface EnsembleResult {
  members: EnsembleMember[];
  devAccuracy: number | null;
  testAccuracy: number | null;
}

/** The predicted label of every test example by the run's result: its selected prompt, or (a run over several templates) its ensemble. */
export interface TestPredictions {
  of: 'prompt' | 'ensemble';
  predicted: number[];
}

/** What `config.json` records beside the search config: what the numbers depend on. */
export interface ResolvedRun {
  modelDir: string;
  onnxFile: string;
  modelSha256: string;
  tokenizerSha256: string;
  versions: Record<string, string>;
  trainExamples: number;
  devExamples: number;
  testExamples: number;
  /** The label names the run resolved (--labels / config labels, the task's, the model's id2label). */
  labelNames?: string[];
  /** A short sha256 of each config field as the run started (configFieldHashes): an edited config.json is refused on resume. */
  configFields?: Record<string, string>;
}

export interface RunState {
  status: 'running' | 'interrupted' | 'done';
  evaluations?: number;
  seconds?: number;
}

/** The refinement options (`promptsearch refine`, a config's `refine` block). */
export interface RefineOptions {
  /** Example evaluations (train for CMA-ES, dev for selection), like every search. */
  budget: number;
  /** Dimension of z (BBT's intrinsic dimension). */
  dim: number;
  /** CMA-ES population λ; default 4 + ⌊3 ln d⌋. */
  popSize?: number;
  /** Initial CMA-ES step size in z (1 moves each prompt coordinate by about the embeddings' spread). */
  sigma0: number;
  seed: number;
  loss: 'ce' | 'margin';
  threads?: number;
}

export interface SplitScores {
  train: number;
  dev: number;
  test: number | null;
}

/** What `refine/result.json` holds. */
export interface RefineResult {
  discrete: SplitScores;
  refined: SplitScores;
  /** False when no generation beat the discrete prompt on dev: the soft prompt is then p0 itself. */
  improvedDev: boolean;
  evaluations: number;
  budget: number;
  generations: number;
  seconds: number;
  options: RefineOptions;
  /** What was refined: the run's one prompt, or (absent in older files: a prompt) its ensemble. */
  of?: 'prompt' | 'ensemble';
  /** An ensemble's refinement, per prompt member (best.json's member index). */
  members?: RefinedMember[];
}

/** One prompt member of an ensemble's refinement. */
export interface RefinedMember {
  /** Its index among best.json's ensemble members. */
  member: number;
  prompt: string;
  /** `soft`: its refined soft prompt was accepted (the ensemble's dev went up); `discrete`: kept. */
  kept: 'soft' | 'discrete';
  /** The readout members (indices) of this prompt that read through its soft prompt. */
  readoutMembers: number[];
  /** The ensemble's dev accuracy before and after this member. */
  devBefore: number;
  devAfter: number;
  budget: number;
  evaluations: number;
  generations: number;
}

/** The soft prompt file (`refine/soft.json`): vectors per slot token, for the model they belong to. */
export interface SoftPromptData {
  slotTokens: { slot: string; id: number; token: string }[];
  hidden: number;
  /** Row-major [slot tokens × hidden]. */
  vectors: number[][];
  modelSha256: string;
  /**
   * The decision rule the refined scores used: a refined prompt is calibrated on the train + dev
   * inputs (mode `inputs`) unless the search ran without calibration; the unrefined discrete
   * prompt keeps the run's rule. Absent in soft prompts refined before calibration (raw).
   */
  calibration?: Calibration;
  /**
   * An ensemble's refinement: one entry per member of best.json's ensemble, in order, null for a
   * member kept discrete (then `slotTokens` and `vectors` above are empty lists).
   */
  members?: (SoftMemberData | null)[];
}

/** A member of a refined ensemble that reads through a soft prompt: its vectors, decision rule and fit. */
export interface SoftMemberData {
  slotTokens: { slot: string; id: number; token: string }[];
  vectors: number[][];
  calibration: Calibration;
  fit?: MemberFit;
}

/** A finished run, as refine and export need it. */
export interface FinishedRun {
  dir: string;
  config: SearchConfig;
  resolved: ResolvedRun;
  best: BestResult;
}

interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
}

type Kind = 'string' | 'number' | 'object' | 'array' | 'boolean' | 'number|null';

/** Fields a typed read insists on (a file of the right name but the wrong content is named). */
const REQUIRED: Partial<Record<RunFile, Record<string, Kind>>> = {
  state: { status: 'string' },
  space: { groups: 'array' },
  config: { resolved: 'object' },
  refineResult: { discrete: 'object', refined: 'object', improvedDev: 'boolean', evaluations: 'number' },
  refineSoft: { slotTokens: 'array', hidden: 'number', vectors: 'array', modelSha256: 'string' },
  cell: { method: 'string', task: 'string', seed: 'number', testAccuracy: 'number' },
};
/** Fields every line of a JSON-lines file must have. */
const LINE_FIELDS: Partial<Record<RunFile, Record<string, Kind>>> = {
  candidates: { i: 'number', key: 'string', score: 'object', cost: 'number' },
  progress: { evaluations: 'number' },
};

function kindOf(v: unknown): Kind {
  if (Array.isArray(v)) return 'array';
  return typeof v as Kind;
}

/** The fields a version 1 best.json must have (its top level was the selected prompt). */
const BEST_V1: Record<string, Kind> = {
  runId: 'string',
  status: 'string',
  template: 'string',
  prompt: 'string',
  slots: 'object',
  labelWords: 'array',
  labelIds: 'array',
  trainAccuracy: 'number',
  devAccuracy: 'number|null',
  testAccuracy: 'number|null',
  evaluations: 'number',
  seconds: 'number',
};
/** The fields of a best.json of today's version, and of its `selected`. */
const BEST_V2: Record<string, Kind> = {
  runId: 'string',
  status: 'string',
  result: 'string',
  prompt: 'string',
  trainAccuracy: 'number|null',
  devAccuracy: 'number|null',
  testAccuracy: 'number|null',
  selected: 'object',
  evaluations: 'number',
  seconds: 'number',
};
const SELECTED: Record<string, Kind> = {
  template: 'string',
  prompt: 'string',
  slots: 'object',
  labelWords: 'array',
  labelIds: 'array',
  trainAccuracy: 'number',
};

function missingField(v: unknown, fields: Record<string, Kind> | undefined): string | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return '(expected a JSON object)';
  if (!fields) return undefined;
  for (const [k, kind] of Object.entries(fields)) {
    const x = (v as Record<string, unknown>)[k];
    const ok =
      kind === 'number|null'
        ? x === null || typeof x === 'number'
        : x !== undefined && x !== null && kindOf(x) === kind;
    if (!ok) return `field '${k}' is missing or not ${kind === 'array' ? 'a list' : `a ${kind}`}`;
  }
  return undefined;
}

function ioError(file: string, e: unknown, doing: string): UserError {
  const why = userIoProblem(e) ?? (e as NodeJS.ErrnoException)?.code ?? String(e);
  return new UserError(`${file}: cannot ${doing} (${why})`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * How a saved setup differs from the current one, field by field: `field now (run: before)` for
 * each field whose JSON differs, `(unset)` for a missing one; fields in `ignore` are skipped.
 */
export function fieldDiffs(saved: object, current: object, ignore: readonly string[] = []): string[] {
  const [a, b] = [saved as Record<string, unknown>, current as Record<string, unknown>];
  const diffs: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (ignore.includes(k)) continue;
    const [before, now] = [JSON.stringify(a[k]), JSON.stringify(b[k])];
    if (before !== now) diffs.push(`${k} ${now ?? '(unset)'} (run: ${before ?? '(unset)'})`);
  }
  return diffs;
}

/**
 * Config fields without a hash in `resolved.configFields`: those a resume may change (the speed
 * settings and the name, RESUME_FREE in run.ts), the data files' paths, which a queue worker
 * rewrites (the data are checked by their sizes and label names), and the model's path (a moved
 * model folder is fine: its files are checked by their sha256).
 */
const UNHASHED_FIELDS: readonly string[] = ['workers', 'threadsPerWorker', 'name', 'data', 'model'];

/** A short sha256 of each config field's value, kept in config.json's `resolved` when the run starts. */
export function configFieldHashes(config: SearchConfig): Record<string, string> {
  const c = config as unknown as Record<string, unknown>;
  const fields = Object.keys(c)
    .filter((k) => !UNHASHED_FIELDS.includes(k) && c[k] !== undefined)
    .sort();
  return Object.fromEntries(
    fields.map((k) => [k, crypto.createHash('sha256').update(canonicalJson(c[k])).digest('hex').slice(0, 16)]),
  );
}

/**
 * The fields of a run's config.json whose value is not the one the run started with (edited by
 * hand since): its candidates, space and state were computed from the old values. None for a run
 * from before the hashes were kept.
 */
export function editedConfigFields(config: SearchConfig, resolved: ResolvedRun): string[] {
  if (!resolved.configFields) return [];
  const now = configFieldHashes(config);
  return [...new Set([...Object.keys(resolved.configFields), ...Object.keys(now)])]
    .filter((k) => !UNHASHED_FIELDS.includes(k) && resolved.configFields![k] !== now[k])
    .sort();
}

/** What is wrong with space.json's `groups` (named slot groups of token-id pools), if anything. */
function badGroups(groups: unknown): string | undefined {
  if (!Array.isArray(groups)) return "'groups' is not a list";
  const isId = (x: unknown) => Number.isInteger(x) && (x as number) >= 0;
  for (const [i, g] of groups.entries()) {
    const o = g as { name?: unknown; minLength?: unknown; maxLength?: unknown; pools?: unknown };
    if (!o || typeof o !== 'object' || typeof o.name !== 'string') return `groups[${i}] has no name`;
    if (
      !isId(o.minLength) ||
      !isId(o.maxLength) ||
      (o.maxLength as number) < 1 ||
      (o.minLength as number) > (o.maxLength as number)
    )
      return `groups[${i}] '${o.name}': bad minLength/maxLength`;
    if (
      !Array.isArray(o.pools) ||
      o.pools.length !== o.maxLength ||
      o.pools.some((p) => !Array.isArray(p) || p.length === 0 || !p.every(isId))
    )
      return `groups[${i}] '${o.name}': expected ${String(o.maxLength)} non-empty lists of token ids in 'pools'`;
  }
  return undefined;
}

export class RunDir {
  constructor(readonly dir: string) {}

  get id(): string {
    return path.basename(path.resolve(this.dir));
  }

  file(name: RunFile): string {
    return path.join(this.dir, RUN_FILES[name]);
  }

  has(name: RunFile): boolean {
    return fs.existsSync(this.file(name));
  }

  /** The sub-run of template i (0-based) of a search over several templates: `<run>/t<i+1>`. */
  templateRun(i: number): RunDir {
    return new RunDir(path.join(this.dir, `t${i + 1}`));
  }

  /** A run directory is one with a config.json. */
  isRun(): boolean {
    return this.has('config');
  }

  // ---- lock -------------------------------------------------------------------------------

  private lockHeld = false;

  /**
   * Takes the run's lock (`lock`: pid, host, start time), so two processes never write one run.
   * A lock left by a dead process on this host (a crash, SIGKILL) is stale and taken over; a lock
   * of a live process, or of another host, is an error naming it.
   */
  lock(): void {
    try {
      makeDirs(this.dir);
    } catch (e) {
      const at = (e as MakeDirError).dir ?? this.dir;
      throw ioError(
        at,
        e,
        at === path.resolve(this.dir)
          ? 'create the run directory'
          : `create the run directory ${path.resolve(this.dir)}`,
      );
    }
    const file = this.file('lock');
    const me: LockInfo = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, JSON.stringify(me) + '\n', { flag: 'wx' });
        this.lockHeld = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(file, e, 'write the lock file');
      }
      let text = '';
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue; // released meanwhile: try again
      }
      let held: LockInfo | undefined;
      try {
        held = JSON.parse(text);
      } catch {
        held = undefined; // torn: its writer died between creating and writing it
      }
      const stale = !held || !Number.isInteger(held.pid) || (held.host === me.host && !isAlive(held.pid));
      if (!stale) {
        throw new UserError(
          `${this.dir}: in use by process ${held!.pid} on ${held!.host} (since ${held!.startedAt}); wait for it, or delete ${file} if that process is gone`,
        );
      }
      // Stale: remove it only if it is still the same lock we judged.
      try {
        if (fs.readFileSync(file, 'utf8') === text) fs.unlinkSync(file);
      } catch {
        // gone already
      }
    }
    throw new UserError(`${file}: could not take the lock (another process keeps taking it)`);
  }

  unlock(): void {
    if (!this.lockHeld) return;
    this.lockHeld = false;
    try {
      const held = JSON.parse(fs.readFileSync(this.file('lock'), 'utf8')) as LockInfo;
      if (held.pid === process.pid) fs.unlinkSync(this.file('lock'));
    } catch {
      // already gone
    }
  }

  /** Runs `work` holding the lock. */
  async locked<T>(work: () => Promise<T>): Promise<T> {
    this.lock();
    try {
      return await work();
    } finally {
      this.unlock();
    }
  }

  // ---- JSON files ------------------------------------------------------------------------

  private readJson<T>(name: RunFile, what: string): T {
    const file = this.file(name);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw ioError(file, e, `read the ${what}`);
    }
    if (!text.trim()) throw new UserError(`${file}: empty file (the ${what}); the run directory is damaged`);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${file}: not valid JSON (${(e as Error).message}); the run directory is damaged`);
    }
    const bad = missingField(v, REQUIRED[name]);
    if (bad) throw new UserError(`${file}: not a ${what}: ${bad}`);
    return v as T;
  }

  private writeJson(name: RunFile, value: unknown): void {
    writeJsonAtomic(this.file(name), value);
  }

  /** config.json: the search config (validated again) and what it resolved to. */
  readConfig(): { config: SearchConfig; resolved: ResolvedRun } {
    const { resolved, ...saved } = this.readJson<{ resolved: ResolvedRun } & Record<string, unknown>>(
      'config',
      'run config',
    );
    return { config: validateConfig(saved, this.file('config')), resolved };
  }

  writeConfig(config: SearchConfig, resolved: ResolvedRun): void {
    this.writeJson('config', { ...config, resolved: { ...resolved, configFields: configFieldHashes(config) } });
  }

  readState(): RunState | undefined {
    return this.has('state') ? this.readJson<RunState>('state', 'run state') : undefined;
  }

  writeState(state: RunState): void {
    this.writeJson('state', state);
  }

  /**
   * The search space; `labelIds`: the label words chosen from the data before the search
   * (searchVerbalizer method `data`), given only when `dataWords` asks for them: the run's label
   * words come from the data, so the file must hold them, one non-empty list of token ids
   * (< `vocabSize`) per label.
   */
  readSpace<G>(dataWords?: {
    numLabels: number;
    vocabSize: number;
  }): { groups: G[]; labelIds?: number[][] } | undefined {
    if (!this.has('space')) return undefined;
    const space = this.readJson<{ groups: G[]; labelIds?: unknown }>('space', 'search space');
    const bad = badGroups(space.groups);
    if (bad) throw new UserError(`${this.file('space')}: ${bad}; the run directory is damaged`);
    if (!dataWords) return { groups: space.groups };
    const ids = space.labelIds;
    if (!ids)
      throw new UserError(
        `${this.file('space')}: no labelIds; this run's label words come from the data and are recorded there`,
      );
    const isId = (id: unknown) => Number.isInteger(id) && (id as number) >= 0 && (id as number) < dataWords.vocabSize;
    if (
      !Array.isArray(ids) ||
      ids.length !== dataWords.numLabels ||
      ids.some((ws) => !Array.isArray(ws) || ws.length === 0 || !ws.every(isId))
    )
      throw new UserError(
        `${this.file('space')}: labelIds: expected ${dataWords.numLabels} lists of token ids, one per label`,
      );
    return { groups: space.groups, labelIds: ids as number[][] };
  }

  writeSpace<G>(groups: G[], labelIds?: number[][]): void {
    this.writeJson('space', { groups, ...(labelIds ? { labelIds } : {}) });
  }

  /** best.json in today's form (a version 1 file is read as version 2). */
  readBest(): BestResult | undefined {
    if (!this.has('best')) return undefined;
    const raw = this.readJson<Record<string, unknown>>('best', 'run result');
    const v2 = raw.version === BEST_VERSION;
    const bad =
      missingField(raw, v2 ? BEST_V2 : BEST_V1) ??
      (v2 ? missingField(raw.selected, SELECTED)?.replace("field '", "field 'selected.") : undefined);
    if (bad) throw new UserError(`${this.file('best')}: not a run result: ${bad}`);
    return upgradeBest(raw);
  }

  writeBest(best: BestResult): void {
    this.writeJson('best', best);
  }

  /** test-predictions.json, or undefined when the run has none (no test split, or from before the file existed). */
  readTestPredictions(): TestPredictions | undefined {
    if (!this.has('testPredictions')) return undefined;
    const p = this.readJson<TestPredictions>('testPredictions', 'test predictions');
    if (
      (p?.of !== 'prompt' && p?.of !== 'ensemble') ||
      !Array.isArray(p.predicted) ||
      !p.predicted.every((x) => Number.isInteger(x) && x >= 0)
    )
      throw new UserError(
        `${this.file('testPredictions')}: not test predictions ({"of": "prompt" or "ensemble", "predicted": [label ids]})`,
      );
    return p;
  }

  writeTestPredictions(p: TestPredictions): void {
    this.writeJson('testPredictions', p);
  }

  readCell<C>(): C | undefined {
    return this.has('cell') ? this.readJson<C>('cell', 'leaderboard cell') : undefined;
  }

  writeCell(cell: unknown): void {
    this.writeJson('cell', cell);
  }

  /** A finished run (search done): its config and best result; a clear error otherwise. */
  readFinished(): FinishedRun {
    if (!fs.existsSync(this.dir) || !fs.statSync(this.dir).isDirectory())
      throw new UserError(`${this.dir}: no such run directory`);
    if (!this.isRun()) throw new UserError(`${this.dir}: not a run directory (no config.json)`);
    const best = this.readBest();
    if (!best)
      throw new UserError(
        `${this.dir}: no best.json yet (the search has not finished; resume it with: promptsearch search --resume ${this.dir})`,
      );
    if (best.status !== 'done')
      throw new UserError(
        `${this.dir}: the run stopped early (status '${best.status}'); finish it first: promptsearch search --resume ${this.dir}`,
      );
    const { config, resolved } = this.readConfig();
    return { dir: this.dir, config, resolved, best };
  }

  /** refine/result.json and refine/soft.json, or undefined when the run was not refined. */
  readRefine(): { result: RefineResult; soft: SoftPromptData } | undefined {
    if (!this.has('refineSoft') || !this.has('refineResult')) return undefined;
    return {
      result: this.readJson<RefineResult>('refineResult', 'refine result'),
      soft: this.readJson<SoftPromptData>('refineSoft', 'soft prompt'),
    };
  }

  writeRefine(result: RefineResult, soft: SoftPromptData): void {
    this.writeJson('refineSoft', soft);
    this.writeJson('refineResult', result);
  }

  /** Where `promptsearch export` writes this run's prompt file by default. */
  promptFile(kind: 'discrete' | 'soft' | 'ensemble'): string {
    return this.file(kind === 'soft' ? 'promptSoft' : kind === 'ensemble' ? 'promptEnsemble' : 'prompt');
  }

  // ---- JSON-lines files ------------------------------------------------------------------

  /** Empties a JSON-lines file (a new run, a new refinement). */
  startLines(name: 'candidates' | 'progress' | 'refineProgress'): void {
    writeJsonLinesStart(this.file(name));
  }

  /**
   * Reads a JSON-lines file. A torn last line (no newline: a crash mid-append) is cut off the
   * file, so the next append starts on a clean line; any other bad line is an error naming it,
   * and the file is left as it is.
   */
  readLines<T>(name: 'candidates' | 'progress' | 'refineProgress'): T[] {
    const file = this.file(name);
    if (!fs.existsSync(file)) return [];
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw ioError(file, e, 'read');
    }
    const parts = text.split('\n');
    const tail = parts.pop()!; // '' when the file ends with a newline
    const out: T[] = [];
    parts.forEach((line, k) => {
      if (!line.trim()) return;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        throw new UserError(
          `${file}: line ${k + 1} is not valid JSON; the file is damaged (nothing was changed; only a torn last line is repaired)`,
        );
      }
      const bad = missingField(v, LINE_FIELDS[name]);
      if (bad) throw new UserError(`${file}: line ${k + 1}: ${bad}; the file is damaged (nothing was changed)`);
      if (name === 'candidates' && (v as { i: number }).i !== out.length) {
        throw new UserError(
          `${file}: line ${k + 1} has index ${(v as { i: number }).i}, expected ${out.length} (written by two processes at once?); the file is damaged (nothing was changed)`,
        );
      }
      out.push(v as T);
    });
    if (tail !== '') {
      // The torn last line: cut it off, so the next append starts on a clean line.
      try {
        fs.truncateSync(file, Buffer.byteLength(text) - Buffer.byteLength(tail));
      } catch (e) {
        throw ioError(file, e, 'repair the torn last line of');
      }
    }
    return out;
  }

  appendLines(name: 'candidates' | 'progress' | 'refineProgress', records: unknown[]): void {
    if (records.length === 0) return;
    const file = this.file(name);
    try {
      fs.appendFileSync(file, records.map((r) => JSON.stringify(r) + '\n').join(''));
    } catch (e) {
      throw ioError(file, e, 'append to');
    }
  }
}

function writeJsonLinesStart(file: string): void {
  try {
    makeDirs(path.dirname(file));
    fs.writeFileSync(file, '');
  } catch (e) {
    throw ioError(file, e, 'write');
  }
}
