import * as fs from 'fs';
import * as path from 'path';
import { DataSource, LoadedData, loadExamples } from '../data/load';
import { BudgetTooSmallError, StoppedError, UserError, isStoppedError } from '../errors';
import { modelLabelNames, resolveModel, sha256File } from '../model/modelFolder';
import { loadModel, modelMaxLength } from '../model/load';
import { FullLogitsBackend } from '../model/onnxBackend';
import { PromptTokenizer } from '../model/tokenizer';
import { checkTemplateForModel, compileTemplate, encodeExample } from '../prompt/encode';
import { Template, parseTemplate, renderTemplate } from '../prompt/template';
import { WordIds, buildVerbalizer, parseVerbalizerSpec, wordText, wordTokens } from '../prompt/verbalizer';
import { renderPrompt } from '../scoring/evaluate';
import { Reading } from '../scoring/scorer';
import { ScoringPool, checkWorkers } from '../scoring/pool';
import { ScoreTask, WorkerInit } from '../scoring/workerProtocol';
import {
  DEFAULT_LABEL_TOP_K,
  chooseDataLabelWords,
  firstTokenFill,
  proposeLabelWordPools,
  proposeSlotPools,
} from '../search/candidatePools';
import { requireExactFill, tokenizeFill } from '../prompt/fill';
import { createStrategy } from '../search/strategies';
import { Candidate, Score, ScoredCandidate, SearchSpace, SlotGroup, candidateKey } from '../search/types';
import { SearchConfig, configDataSource } from './config';
import { expandLabelWordsOf, findLabelWordsOf } from './schema';
import { BudgetedEvaluator, stratifiedOrder } from './evaluator';
import { Decoded, Judged, MemberScores, selectWinner } from './select';
import { contentFreeLike } from '../prompt/calibration';
import { expandLabelWordIds } from '../prompt/labelExpansion';
import { readWordEmbeddings } from '../model/graph/embedsInput';
import { runRefine } from '../refine/refine';
import { preflightTemplates, runTemplates } from './templates';
import { checkRunData } from './dataChecks';
import {
  BEST_VERSION,
  BestResult,
  EnsembleMember,
  EnsembleResult,
  RefineResult,
  ResolvedRun,
  RunDir,
  SelectedPrompt,
  describeEnsemble,
  editedConfigFields,
  fieldDiffs,
} from './runDir';
import { packageVersions } from './versions';
import { faultPoint } from './faultPoint';
import type { SearchProgress } from './progress';

export type { BestResult } from './runDir';

interface CandidateLine {
  i: number;
  key: string;
  prompt: string;
  labelWords: string[];
  score: Score;
  cost: number;
}

export interface RunOptions {
  runDir: string;
  /** Continue a stopped run in runDir: recorded scores are replayed, then the search goes on. */
  resume?: boolean;
  /** Polled between batches; true stops the search cleanly (Ctrl-C). */
  stopRequested?: () => boolean;
  /** Called after each scored batch: example evaluations spent of the budget, and the best so far. */
  onProgress?: (p: SearchProgress) => void;
  log?: (line: string) => void;
}

/**
 * RunOptions plus the hooks the run's own modules pass each other (runner/templates.ts,
 * runner/leaderboard.ts); not part of the library's API.
 */
export interface InternalRunOptions extends RunOptions {
  /**
   * Called once the prompt (or the run's own ensemble) is selected, with its members' raw label
   * log-probabilities on dev and test, in the order of the run's members: a multi-template run
   * scores its ensemble from them instead of scoring every member again.
   */
  onMemberScores?: (scores: MemberScores[]) => void;
  /** The label words a member's readout member reads (runner/templates.ts), scored with the member's test rows; see SelectionInput. */
  readoutReading?: (slots: Record<string, number[]>) => Promise<Reading>;
  /** A pool to share with other searches instead of starting and closing one's own (see SharedPool). */
  sharedPool?: SharedPool;
  /** The caller ran checkRunData on this config's data and said its warnings (a leaderboard, before its first cell). */
  dataChecked?: boolean;
}

/**
 * One scoring pool for the templates of a multi-template run (runner/templates.ts): the first
 * template's search starts it, the next ones reuse its workers (each task names its template),
 * and the owner closes it. A search whose model, layout or data differ from the pool's (`key`)
 * starts its own.
 */
export interface SharedPool {
  pool?: Promise<ScoringPool>;
  key?: string;
}

function dataSource(c: SearchConfig, split: 'train' | 'dev' | 'test', modelLabels: string[] | undefined): DataSource {
  return configDataSource(c, split, modelLabels);
}

/** Runs one search experiment end to end and writes its run directory. */
export function runSearch(config: SearchConfig, opts: RunOptions): Promise<BestResult> {
  return runSearchWith(config, opts);
}

/** runSearch with the internal hooks (InternalRunOptions). */
export async function runSearchWith(config: SearchConfig, opts: InternalRunOptions): Promise<BestResult> {
  // Every split against the templates and the labels, before anything is scored or written.
  if (!opts.dataChecked) {
    for (const w of checkRunData(config)) opts.log?.(`warning: ${w}`);
    opts = { ...opts, dataChecked: true };
  }
  if (config.templates && config.templates.length > 1)
    return runTemplates(
      config,
      opts,
      runSearchWith,
      () => resolveRun(config),
      (run, resolved) => checkResumable(run, config, resolved),
      (c) => void loadRun(c, () => {}),
    );
  const loaded = loadRun(config, opts.log ?? (() => {}));
  const runDir = opts.runDir;
  const run = new RunDir(runDir);
  run.lock();
  try {
    return await searchLocked(run, config, opts, loaded);
  } finally {
    run.unlock();
  }
}

/**
 * Throws what runSearch would refuse before it starts (model folder, template, data, label words,
 * budget), reading the files but writing nothing: a leaderboard checks every entry this way first.
 */
export function preflightSearch(config: SearchConfig): void {
  if (config.templates && config.templates.length > 1) preflightTemplates(config, (c) => void loadRun(c, () => {}));
  else loadRun(config, () => {});
}

/**
 * Everything a search reads before it writes anything: the model folder, template, data splits,
 * tokenizer and label words, and the budget check. Throws a UserError naming what is wrong.
 */
function loadRun(config: SearchConfig, log: (line: string) => void): Loaded {
  const t0 = Date.now();
  const folder = resolveModel(config.model, config.dtype);
  // Before any model load: a thousand workers would take the machine's memory, not finish sooner.
  checkWorkers(config.workers, folder.onnxPath, 'workers');
  const template = parseTemplate(config.template);
  const modelLabels = modelLabelNames(folder);
  const train = loadExamples(dataSource(config, 'train', modelLabels), 'train');
  const dev = loadExamples(dataSource(config, 'dev', modelLabels), 'dev');
  const test =
    config.data && !config.data.test ? undefined : loadExamples(dataSource(config, 'test', modelLabels), 'test');
  const numLabels = train.numLabels;
  const tokenizer = PromptTokenizer.fromFolder(folder);
  checkTemplateForModel(template, tokenizer);

  const labelSearch = findLabelWordsOf(config);
  const searchLabels = labelSearch?.method === 'withSlots';
  // The context must fill this template's slots; checked here, before any template's search runs.
  if (labelSearch?.context) {
    try {
      requireExactFill(template.slots, tokenizeFill(template, tokenizer, labelSearch.context));
    } catch (e) {
      if (e instanceof UserError)
        throw new UserError(`findLabelWords.context for template '${config.template}': ${e.message}`);
      throw e;
    }
  }
  const fixedWords = config.verbalizer !== undefined ? parseVerbalizerSpec(config.verbalizer, numLabels) : undefined;
  const fixedVerbalizer = fixedWords
    ? expandVerbalizer(buildVerbalizer(fixedWords, tokenizer), config.expandLabelWords, folder.onnxPath, tokenizer)
    : undefined;
  const reserve = config.selectTopK * dev.examples.length;
  if (config.budget < reserve + train.examples.length)
    throw new BudgetTooSmallError(
      config.budget,
      reserve + train.examples.length,
      config.selectTopK,
      dev.examples.length,
      train.examples.length,
    );

  return {
    folder,
    template,
    train,
    dev,
    test,
    tokenizer,
    fixedVerbalizer,
    searchLabels,
    dataWords: labelSearch?.method === 'fromData',
    numLabels,
    reserve,
    t0,
    log,
  };
}

interface Loaded {
  folder: ReturnType<typeof resolveModel>;
  template: Template;
  train: LoadedData;
  dev: LoadedData;
  test: LoadedData | undefined;
  tokenizer: PromptTokenizer;
  fixedVerbalizer: { ids: WordIds[][] } | undefined;
  searchLabels: boolean;
  /** The label words are chosen from the labelled examples before the search (findLabelWords method `fromData`), recorded in space.json. */
  dataWords: boolean;
  numLabels: number;
  reserve: number;
  t0: number;
  log: (line: string) => void;
}

/** What a run's numbers depend on besides its config (config.json `resolved`). */
function resolvedRun(
  folder: ReturnType<typeof resolveModel>,
  train: LoadedData,
  dev: LoadedData,
  test: LoadedData | undefined,
): ResolvedRun {
  return {
    modelDir: folder.dir,
    onnxFile: path.relative(folder.dir, folder.onnxPath),
    modelSha256: sha256File(folder.onnxPath),
    tokenizerSha256: sha256File(path.join(folder.dir, 'tokenizer.json')),
    versions: packageVersions(),
    trainExamples: train.examples.length,
    devExamples: dev.examples.length,
    testExamples: test?.examples.length ?? 0,
    labelNames: train.labelNames,
  };
}

/** The `resolved` of a config, loading its data. */
function resolveRun(config: SearchConfig): ResolvedRun {
  const folder = resolveModel(config.model, config.dtype);
  const labels = modelLabelNames(folder);
  const test = config.data && !config.data.test ? undefined : loadExamples(dataSource(config, 'test', labels), 'test');
  return resolvedRun(
    folder,
    loadExamples(dataSource(config, 'train', labels), 'train'),
    loadExamples(dataSource(config, 'dev', labels), 'dev'),
    test,
  );
}

/**
 * Config fields that may differ on resume: those that change the speed, never a score, and the
 * run's name, which only labels it (a leaderboard method renamed while its cell was unfinished).
 */
export const RESUME_FREE: readonly string[] = ['workers', 'threadsPerWorker', 'name'];

/**
 * How a run's saved setup differs from `config` with `resolved` (model and tokenizer files): one
 * phrase per difference, none when the run computes what `config` asks for. Fields that change
 * only the speed are ignored; a field the run's config does not have counts as a difference (it
 * may predate the field, computed the old way).
 */
function setupDiffs(
  run: RunDir,
  config: SearchConfig,
  resolved: ResolvedRun,
  ignore: readonly string[] = [],
): string[] {
  const saved = run.readConfig();
  const diffs = fieldDiffs(saved.config, config, [...RESUME_FREE, ...ignore]);
  for (const f of editedConfigFields(saved.config, saved.resolved))
    diffs.push(
      `field '${f}' of config.json was edited after the run started (its candidates were scored with the value it had then; put it back, or start a new run)`,
    );
  if (saved.resolved.modelSha256 !== resolved.modelSha256)
    diffs.push(
      `model file ${resolved.onnxFile} sha256 ${resolved.modelSha256.slice(0, 12)}… (run: ${String(saved.resolved.modelSha256).slice(0, 12)}…)`,
    );
  if (saved.resolved.tokenizerSha256 !== resolved.tokenizerSha256)
    diffs.push(
      `tokenizer.json sha256 ${resolved.tokenizerSha256.slice(0, 12)}… (run: ${String(saved.resolved.tokenizerSha256).slice(0, 12)}…)`,
    );
  return diffs;
}

/** Refuses to resume a run whose config, model or tokenizer changed since it was started. */
function checkResumable(run: RunDir, config: SearchConfig, resolved: ResolvedRun): void {
  const diffs = setupDiffs(run, config, resolved);
  if (diffs.length)
    throw new UserError(
      `${run.file('config')}: cannot resume, this run was started with another setup: ${diffs.join('; ')}`,
    );
}

/** How the finished or started run in `run` differs from what `config` asks for today (see setupDiffs), but for the fields in `ignore`. */
export function runSetupDiffs(run: RunDir, config: SearchConfig, ignore: readonly string[] = []): string[] {
  return setupDiffs(run, config, resolveRun(config), ignore);
}

async function searchLocked(
  run: RunDir,
  config: SearchConfig,
  opts: InternalRunOptions,
  l: Loaded,
): Promise<BestResult> {
  const { folder, template, train, dev, test, tokenizer, searchLabels, dataWords, numLabels, reserve, t0, log } = l;
  let fixedVerbalizer = l.fixedVerbalizer;
  const runDir = run.dir;
  const runId = run.id;
  const resolved = resolvedRun(folder, train, dev, test);
  let replay: Map<string, { score: Score; cost: number }> | undefined;
  let space: SearchSpace;
  /** Seconds spent by earlier sessions of this run (a resume adds to them). */
  let before = 0;
  let selectionRecorded = false;
  if (opts.resume) {
    if (!run.isRun()) throw new UserError(`${runDir}: not a run directory (no config.json)`);
    const state = run.readState();
    if (state?.status === 'done') throw new UserError(`${runDir}: this run is already complete (see best.json)`);
    checkResumable(run, config, resolved);
    const progress = run.readLines<{ seconds?: number; selection?: unknown }>('progress');
    before = Math.max(state?.seconds ?? 0, ...progress.map((p) => p.seconds ?? 0));
    selectionRecorded = progress.some((p) => p.selection !== undefined);
  } else if (run.isRun() || run.has('candidates') || run.has('best')) {
    throw new UserError(
      `${runDir}: already holds a run; continue it with: promptsearch search --resume ${runDir} (or choose another --out)`,
    );
  }
  const saved = opts.resume
    ? run.readSpace<SlotGroup>(dataWords ? { numLabels, vocabSize: tokenizer.vocabSize } : undefined)
    : undefined;
  const recorded = saved ? run.readLines<CandidateLine>('candidates') : undefined;
  log(
    `${config.strategy} search '${config.name}' on ${config.task ?? config.data?.train} (seed ${config.seed}), budget ${config.budget.toLocaleString('en-US')} → ${runDir}`,
  );
  // Train in a seeded, label-stratified order: early rejection's slices then hold every class.
  const trainExamples = stratifiedOrder(
    train.examples.map((e) => e.label),
    config.randomSeed ?? config.seed,
  ).map((i) => train.examples[i]);
  const calibExamples = contentFreeLike(train.examples, tokenizer.token(tokenizer.special.mask));
  // The workers start (model preparation, sessions, tokenization) while the candidate pools are
  // built below: the two do not depend on each other, and the start-up is a few seconds of wall time.
  const splits: WorkerInit['splits'] = {
    train: trainExamples,
    dev: dev.examples,
    calib: calibExamples,
    ...(test ? { test: test.examples } : {}),
  };
  const poolKey =
    opts.sharedPool &&
    JSON.stringify([
      folder.dir,
      config.dtype,
      config.scorer,
      config.prefixReuse,
      config.workers,
      config.threadsPerWorker,
      train.textColumn,
      splits,
    ]);
  const shared = opts.sharedPool && (opts.sharedPool.key ?? poolKey) === poolKey ? opts.sharedPool : undefined;
  const poolReady = shared
    ? (shared.pool ??= startPool(config, folder.dir, train.textColumn, splits, opts.stopRequested))
    : startPool(config, folder.dir, train.textColumn, splits, opts.stopRequested);
  if (shared) shared.key = poolKey;
  poolReady.catch(() => {}); // handled below; a failure must not surface as an unhandled rejection meanwhile
  let pool: ScoringPool;
  try {
    if (saved) {
      const slots = template.slots.map((sl) => `${sl.name}:${sl.length}`).sort();
      const groups = saved.groups
        .filter((g) => !g.name.startsWith('label:'))
        .map((g) => `${g.name}:${g.maxLength}`)
        .sort();
      if (JSON.stringify(slots) !== JSON.stringify(groups))
        throw new UserError(
          `${run.file('space')}: its slot groups (${groups.join(', ') || 'none'}) are not the template's slots (${slots.join(', ') || 'none'}); the run directory is damaged`,
        );
      space = { groups: saved.groups };
      if (saved.labelIds) fixedVerbalizer = { ids: saved.labelIds };
      replay = new Map(recorded!.map((c) => [c.key, { score: c.score, cost: c.cost }]));
      log(`resuming ${runId}: ${replay.size} scored candidates replayed from candidates.jsonl`);
    } else {
      const built = await buildSpace(
        config,
        folder.onnxPath,
        tokenizer,
        template,
        train,
        dev,
        fixedVerbalizer?.ids,
        numLabels,
      );
      space = built.space;
      if (built.labelIds) {
        fixedVerbalizer = { ids: built.labelIds };
        log(
          `label words from the data: ${built.labelIds.map((ws, l) => `${train.labelNames?.[l] ?? l}: ${ws.map((w) => wordText(tokenizer, w)).join(', ')}`).join('; ')}`,
        );
      }
      run.writeConfig(config, resolved);
      run.startLines('candidates');
      run.startLines('progress');
      run.writeSpace(space.groups, built.labelIds);
    }
    if (folder.kind === 'causal' && config.scorer === 'mask-head' && config.prefixReuse !== false) {
      log(
        template.parts.findIndex((p) => p.kind === 'slot') < template.parts.map((p) => p.kind).lastIndexOf('input')
          ? 'causal model: a slot comes before the input, so every candidate is scored on whole rows (no prefix reuse)'
          : "causal model: each example's prefix is computed once and reused for every candidate",
      );
    }
    // Searched label words: no word may serve twice (within a label or across labels).
    if (searchLabels)
      space.isValid = (c) => {
        const words = labelTokens(c, template, numLabels).flat();
        return new Set(words).size === words.length;
      };
    pool = await poolReady;
  } catch (e) {
    if (!shared) await (await poolReady.catch(() => undefined))?.close();
    // Ctrl-C while the workers started: nothing scored yet, the run resumable once its config is written.
    if (isStoppedError(e) && run.isRun()) {
      run.writeState({ status: 'interrupted', evaluations: 0, seconds: before + (Date.now() - t0) / 1000 });
      throw new StoppedError(
        `stopped before the first candidate was scored; resume with: promptsearch search --resume ${runDir}`,
      );
    }
    throw e;
  }
  // A shared pool serves several templates: every task names this one.
  const score = (t: ScoreTask) => pool.score({ ...t, template: config.template });
  run.writeState({ status: 'running', seconds: before });
  const elapsed = () => before + (Date.now() - t0) / 1000;
  const decode = (c: Candidate) => decodeCandidate(c, template, numLabels, fixedVerbalizer?.ids, searchLabels);

  let scoredCount = 0;
  let best: ScoredCandidate | undefined;
  let bestTrainAccuracy: number | null = null;
  const evaluator = new BudgetedEvaluator({
    space,
    decode,
    score,
    trainSize: trainExamples.length,
    trainLabels: trainExamples.map((e) => e.label),
    numLabels,
    calibration: config.calibration,
    calibRows: calibExamples.length,
    budget: config.budget - reserve,
    objective: config.objective,
    seed: config.randomSeed ?? config.seed,
    replay,
    racing: config.earlyRejection,
    stopRequested: opts.stopRequested,
    onScored: (batch) => {
      const lines: CandidateLine[] = [];
      for (const b of batch) {
        const i = scoredCount++;
        // Replayed candidates are in candidates.jsonl already.
        if (!b.replayed) lines.push(candidateLine(i, b.candidate, b.score, b.cost, decode, template, tokenizer));
      }
      run.appendLines('candidates', lines);
      for (const b of batch) {
        if (b.score.partialExamples === undefined && (!best || b.score.objective > best.score.objective))
          best = { candidate: b.candidate, score: b.score };
        if (b.score.partialExamples === undefined)
          bestTrainAccuracy = Math.max(bestTrainAccuracy ?? 0, b.score.accuracy);
      }
      if (best && batch.some((b) => !b.replayed)) {
        run.appendLines('progress', [
          {
            evaluations: evaluator.spent,
            candidates: scoredCount,
            bestTrainAccuracy: best!.score.accuracy,
            bestTrainObjective: best!.score.objective,
            seconds: elapsed(),
          },
        ]);
      }
      if (batch.some((b) => !b.replayed)) faultPoint('candidate');
      const own = { evaluations: evaluator.spent, budget: config.budget };
      opts.onProgress?.({ ...own, search: { ...own, bestTrainAccuracy } });
    },
  });

  try {
    try {
      await createStrategy(config.strategy, config.strategyParams).run(evaluator);
    } catch (e) {
      // A stop refuses the tasks not yet begun: the batch under way is dropped, the earlier ones are kept.
      if (!(isStoppedError(e) && opts.stopRequested?.())) throw e;
    }
    const interrupted = opts.stopRequested?.() ?? false;
    // Only candidates scored on the whole train split compete (early rejection drops the rest).
    const ranked = evaluator
      .all()
      .filter((c) => c.score.partialExamples === undefined)
      .sort(
        (a, b) =>
          b.score.objective - a.score.objective || (candidateKey(a.candidate) < candidateKey(b.candidate) ? -1 : 1),
      );
    if (ranked.length === 0) {
      if (interrupted) {
        run.writeState({ status: 'interrupted', evaluations: evaluator.spent, seconds: elapsed() });
        throw new StoppedError(
          `stopped before the first candidate was scored; resume with: promptsearch search --resume ${runDir}`,
        );
      }
      throw new UserError('the search scored no candidate (budget too small?)');
    }
    let chosen: Judged = {
      candidate: ranked[0],
      offsets: ranked[0].score.offsets,
      dev: ranked[0].score,
      select: ranked[0].score.objective,
    };
    let devScore: Score | null = null;
    let testAccuracy: number | null = null;
    let spent = evaluator.spent;
    let ensemble: EnsembleResult | undefined;
    let testPredicted: number[] | undefined;
    if (!interrupted) {
      // Selection on dev among the top-k by train; charged to the budget (reserved up front).
      // Test is scored once, for the report; never used for a choice, never charged.
      const sel = await stoppable(
        selectWinner({
          ranked,
          topK: config.selectTopK,
          ensemble: config.ensemble,
          rule: config.selection,
          objective: config.objective,
          calibration: config.calibration,
          numLabels,
          trainSize: trainExamples.length,
          devLabels: dev.examples.map((e) => e.label),
          testLabels: test?.examples.map((e) => e.label),
          decode,
          score,
          ...(opts.readoutReading ? { readoutReading: (d: Decoded) => opts.readoutReading!(d.slots) } : {}),
        }),
        () => {
          run.writeState({ status: 'interrupted', evaluations: evaluator.spent, seconds: elapsed() });
          return new StoppedError(
            `stopped during the selection on dev; resume with: promptsearch search --resume ${runDir}`,
          );
        },
        opts.stopRequested,
      );
      spent += sel.evaluations;
      opts.onMemberScores?.(sel.memberScores);
      chosen = sel.chosen;
      devScore = chosen.dev;
      testAccuracy = sel.testAccuracy;
      testPredicted = sel.testPredicted;
      const render = (c: Candidate) => renderPrompt(template, decode(c).slots, (ids) => tokenizer.decode(ids));
      // A resume after the selection was recorded (killed before best.json) does not record it twice.
      if (!selectionRecorded)
        run.appendLines('progress', [
          {
            evaluations: spent,
            selection: sel.judged.map((j) => ({
              prompt: render(j.candidate.candidate),
              train: j.candidate.score.accuracy,
              dev: j.dev.accuracy,
              select: j.select,
            })),
          },
        ]);
      if (sel.ensemble) {
        ensemble = {
          members: sel.ensemble.members.map((m) => {
            const d = describe(decode(m.candidate.candidate), template, tokenizer);
            return {
              ...d,
              offsets: m.offsets ?? null,
              trainAccuracy: m.candidate.score.accuracy,
              devAccuracy: m.dev.accuracy,
            };
          }),
          devAccuracy: sel.ensemble.devAccuracy,
          testAccuracy: sel.ensemble.testAccuracy,
        };
      }
    }
    const result = bestResult({
      runId,
      status: interrupted ? 'interrupted' : 'done',
      chosen,
      dev: devScore,
      testAccuracy,
      ensemble,
      evaluations: spent,
      candidatesScored: evaluator.all().length,
      seconds: elapsed(),
      config,
      template,
      tokenizer,
      decode,
    });
    if (testPredicted) run.writeTestPredictions({ of: ensemble ? 'ensemble' : 'prompt', predicted: testPredicted });
    run.writeBest(result);
    run.writeState({ status: result.status, evaluations: spent, seconds: result.seconds });
    return result;
  } finally {
    if (!shared) await pool.close();
  }
}

/** `work`, but a StoppedError of a requested stop becomes `stopped()`'s error. */
async function stoppable<T>(work: Promise<T>, stopped: () => Error, stopRequested?: () => boolean): Promise<T> {
  try {
    return await work;
  } catch (e) {
    throw isStoppedError(e) && stopRequested?.() ? stopped() : e;
  }
}

/** The scoring workers for a search; the model is prepared in this process first, so its errors are user errors, not worker crashes. */
async function startPool(
  config: SearchConfig,
  modelDir: string,
  textColumn: string,
  splits: WorkerInit['splits'],
  stopRequested?: () => boolean,
): Promise<ScoringPool> {
  await (
    await loadModel({
      model: config.model,
      dtype: config.dtype,
      scorer: config.scorer,
      prefixReuse: config.prefixReuse,
      threads: 1,
    })
  ).dispose();
  if (stopRequested?.()) throw new StoppedError('stopped before the scoring workers started');
  return ScoringPool.start(
    {
      model: modelDir,
      dtype: config.dtype,
      scorer: config.scorer,
      prefixReuse: config.prefixReuse,
      template: config.template,
      textColumn,
      splits,
      batch: {},
    },
    { workers: config.workers, threadsPerWorker: config.threadsPerWorker, stopRequested },
  );
}

/**
 * A search, then (when the config has a `refine` block and the search finished) its refinement,
 * which gets the search's result handed in. Resuming a run whose search is done goes on with
 * what is missing (a leaderboard cell killed between best.json and its refinement).
 */
export async function runSearchAndRefine(
  config: SearchConfig,
  opts: InternalRunOptions,
): Promise<{ best: BestResult; refined?: RefineResult }> {
  const run = new RunDir(opts.runDir);
  const finished = opts.resume && run.isRun() && run.readState()?.status === 'done' ? run.readBest() : undefined;
  const best = finished ?? (await runSearchWith(config, opts));
  if (!config.refine || best.status !== 'done' || (opts.stopRequested?.() ?? false)) return { best };
  const earlier = finished ? run.readRefine()?.result : undefined;
  if (earlier) return { best, refined: earlier };
  const refined = await runRefine(
    { dir: opts.runDir, config, best },
    { seed: config.randomSeed ?? config.seed, ...config.refine, threads: config.threadsPerWorker },
    { log: opts.log, stopRequested: opts.stopRequested },
  );
  return { best, refined };
}

/**
 * The search space: each slot's candidate pools and, with searched label words, each label's. With
 * label words from the data (findLabelWords method `fromData`) they are chosen first, from the
 * labelled train and dev examples, and returned as `labelIds` (fixed for the search; no slot may
 * propose them unless `allowLabelWords`).
 */
async function buildSpace(
  config: SearchConfig,
  onnxPath: string,
  tokenizer: PromptTokenizer,
  template: Template,
  train: LoadedData,
  dev: LoadedData,
  fixedLabelIds: WordIds[][] | undefined,
  numLabels: number,
): Promise<{ space: SearchSpace; labelIds?: number[][] }> {
  const maxLength = modelMaxLength(resolveModel(config.model, config.dtype));
  const backend = await FullLogitsBackend.load(onnxPath, maxLength, tokenizer.special.pad);
  try {
    const labelSearch = findLabelWordsOf(config);
    const compiled = compileTemplate(template, tokenizer, train.textColumn, maxLength);
    const examples = train.examples.map((ex) => encodeExample(compiled, tokenizer, ex));
    // The slots' filling while label words are proposed or chosen, when the config gives one.
    const fill = labelSearch?.context ? tokenizeFill(template, tokenizer, labelSearch.context) : undefined;
    let labelIds: number[][] | undefined;
    if (labelSearch?.method === 'fromData') {
      // Read at the template with its slots left out (or filled with the given context).
      const at = fill
        ? compiled
        : compileTemplate(
            parseTemplate(renderTemplate(template, Object.fromEntries(template.slots.map((sl) => [sl.name, ''])))),
            tokenizer,
            train.textColumn,
            maxLength,
          );
      labelIds = await chooseDataLabelWords({
        backend,
        tokenizer,
        compiled: at,
        examples: [...train.examples, ...dev.examples].map((ex) => encodeExample(at, tokenizer, ex)),
        numLabels,
        fixedSlots: fill ?? {},
        topK: labelSearch.wordsPerLabel,
        candidates: labelSearch.candidates,
      });
    }
    const exclude = new Set<number>(
      config.candidates.allowLabelWords ? [] : (labelIds ?? fixedLabelIds ?? []).flat().flatMap(wordTokens),
    );
    const slotPools = await proposeSlotPools({
      backend,
      tokenizer,
      compiled,
      examples,
      topK: config.candidates.topK,
      exclude,
      wordLists: config.candidates.words,
    });
    const groups: SlotGroup[] = template.slots.map((s) => ({
      name: s.name,
      minLength: s.length,
      maxLength: s.length,
      pools: slotPools[s.name],
    }));
    if (labelSearch?.method === 'withSlots') {
      const fixedSlots = fill ?? firstTokenFill(slotPools);
      const labelPools = await proposeLabelWordPools({
        backend,
        tokenizer,
        compiled,
        examples,
        numLabels,
        topK: labelSearch.candidates ?? DEFAULT_LABEL_TOP_K,
        fixedSlots,
      });
      const k = labelSearch.wordsPerLabel ?? 1;
      labelPools.forEach((pool, label) =>
        groups.push({
          name: `label:${label}`,
          minLength: k,
          maxLength: k,
          pools: Array.from({ length: k }, () => pool),
        }),
      );
    }
    return { space: { groups }, ...(labelIds ? { labelIds } : {}) };
  } finally {
    await backend.dispose();
  }
}

/**
 * The given label words plus each label's `k` nearest words in the model's input embeddings
 * (prompt/labelExpansion.ts); k = 0: the given words.
 */
export function expandVerbalizer(
  v: { ids: WordIds[][] },
  spec: SearchConfig['expandLabelWords'],
  onnxPath: string,
  tokenizer: PromptTokenizer,
): { ids: WordIds[][] } {
  const { words: k, minCosine } = expandLabelWordsOf(spec);
  if (k <= 0) return v;
  // Neighbours are looked up per token: words of several tokens are kept as they are, not expanded.
  const single = v.ids.map((ws) => ws.filter((w): w is number => typeof w === 'number'));
  const several = v.ids.map((ws) => ws.filter((w) => typeof w !== 'number'));
  // Decoding the model for its embeddings takes a fraction of a second; a search over several
  // templates expands the same words once for its checks and once per template.
  const stat = fs.statSync(onnxPath);
  const key = JSON.stringify([onnxPath, stat.size, stat.mtimeMs, tokenizer.vocabSize, single, k, minCosine]);
  let ids = expansions.get(key);
  if (!ids) {
    const emb = readWordEmbeddings(fs.readFileSync(onnxPath), onnxPath);
    const eligible: number[] = [];
    for (let id = 0; id < Math.min(emb.vocab, tokenizer.vocabSize); id++)
      if (tokenizer.isWholeWord(id)) eligible.push(id);
    ids = expandLabelWordIds(emb, single, eligible, k, minCosine);
    expansions.set(key, ids);
  }
  return { ids: ids.map((ws, l) => [...ws, ...several[l]]) };
}

/** Expanded label word ids by model file (path, size, mtime), tokenizer size, words, k and threshold. */
const expansions = new Map<string, number[][]>();

function labelTokens(c: Candidate, template: Template, numLabels: number): number[][] {
  return Array.from({ length: numLabels }, (_, l) => c.tokens[template.slots.length + l]);
}

/** Candidate → slot tokens and label ids (searched labels come after the template slots). */
export function decodeCandidate(
  c: Candidate,
  template: Template,
  numLabels: number,
  fixedLabelIds: WordIds[][] | undefined,
  searchLabels: boolean,
): { slots: Record<string, number[]>; labelIds: WordIds[][] } {
  const slots: Record<string, number[]> = {};
  template.slots.forEach((s, i) => (slots[s.name] = c.tokens[i]));
  const labelIds = searchLabels ? labelTokens(c, template, numLabels) : fixedLabelIds!;
  return { slots, labelIds };
}

function candidateLine(
  i: number,
  c: Candidate,
  score: Score,
  cost: number,
  decode: (c: Candidate) => { slots: Record<string, number[]>; labelIds: WordIds[][] },
  template: Template,
  tokenizer: PromptTokenizer,
): CandidateLine {
  const d = decode(c);
  return {
    i,
    key: candidateKey(c),
    prompt: renderPrompt(template, d.slots, (ids) => tokenizer.decode(ids)),
    labelWords: d.labelIds.map((ids) => ids.map((w) => wordText(tokenizer, w)).join('/')),
    score,
    cost,
  };
}

/** A decoded candidate as best.json and prompt files show it. */
function describe(
  d: { slots: Record<string, number[]>; labelIds: WordIds[][] },
  template: Template,
  tokenizer: PromptTokenizer,
): Pick<EnsembleMember, 'prompt' | 'slots' | 'labelWords' | 'labelIds'> {
  const slots: SelectedPrompt['slots'] = {};
  for (const [name, ids] of Object.entries(d.slots))
    slots[name] = { ids, tokens: ids.map((i) => tokenizer.token(i)), text: tokenizer.decode(ids) };
  return {
    prompt: renderPrompt(template, d.slots, (ids) => tokenizer.decode(ids)),
    slots,
    labelWords: d.labelIds.map((ids) => ids.map((w) => wordText(tokenizer, w))),
    labelIds: d.labelIds,
  };
}

/** What a search writes to best.json: its result (the ensemble where there is one), the selected prompt under it. */
function bestResult(r: {
  runId: string;
  status: BestResult['status'];
  chosen: Judged;
  dev: Score | null;
  testAccuracy: number | null;
  ensemble: EnsembleResult | undefined;
  evaluations: number;
  candidatesScored: number;
  seconds: number;
  config: SearchConfig;
  template: Template;
  tokenizer: PromptTokenizer;
  decode: (c: Candidate) => { slots: Record<string, number[]>; labelIds: WordIds[][] };
}): BestResult {
  const { config, chosen, dev, ensemble } = r;
  const train = chosen.candidate.score;
  const selected: SelectedPrompt = {
    template: config.template,
    ...describe(r.decode(chosen.candidate.candidate), r.template, r.tokenizer),
    trainAccuracy: train.accuracy,
    trainMargin: train.margin,
    devAccuracy: dev?.accuracy ?? null,
    testAccuracy: r.testAccuracy,
    calibration: { mode: config.calibration, offsets: chosen.offsets ?? null },
    objective: { name: config.objective, train: train.objective, dev: dev?.objective ?? null },
  };
  const headline = ensemble
    ? {
        result: 'ensemble' as const,
        prompt: describeEnsemble(ensemble.members, config.template),
        trainAccuracy: null,
        devAccuracy: ensemble.devAccuracy,
        testAccuracy: ensemble.testAccuracy,
        members: ensemble.members,
      }
    : {
        result: 'prompt' as const,
        prompt: selected.prompt,
        trainAccuracy: selected.trainAccuracy,
        devAccuracy: selected.devAccuracy,
        testAccuracy: selected.testAccuracy,
      };
  return {
    version: BEST_VERSION,
    runId: r.runId,
    status: r.status,
    ...headline,
    selected,
    evaluations: r.evaluations,
    budget: config.budget,
    candidatesScored: r.candidatesScored,
    seconds: r.seconds,
    model: config.model,
    dtype: config.dtype,
    strategy: config.strategy,
    seed: config.seed,
  };
}
