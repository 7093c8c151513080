/**
 * A search over several templates (config `templates`): one prompt shape read through one mask
 * tops out early (a linear read-out of this model's mask under one template reaches about 80 % on
 * SST-2 even with 910 labels), and prompts of different shapes err on different inputs. So the
 * budget is split evenly, each template gets its own search, a complete run directory of its own
 * (`<run>/t1`, `<run>/t2`, ...: exportable on their own), and the run's result is the ensemble of
 * every template's selected prompts (the mean of their calibrated label log-probabilities, as for
 * `ensemble`), each member applied with its own template; with `readoutMembers`, also each
 * member's readout member, read through words from the labelled data (runner/readoutMembers.ts). The
 * templates' searches share one pool of scoring workers (run.ts SharedPool).
 */
import { loadExamples } from '../data/load';
import { BudgetTooSmallError, StoppedError, UserError } from '../errors';
import { LoadedModel, loadModel } from '../model/load';
import { modelLabelNames, resolveModel } from '../model/modelFolder';
import { calibrate, fitMember } from '../prompt/calibration';
import { compileTemplate, encodeExample, textAfterMask } from '../prompt/encode';
import { parseTemplate } from '../prompt/template';
import { slotIds } from '../prompt/fill';
import { Reading, promptReading } from '../scoring/scorer';
import { SearchConfig, configDataSource } from './config';
import { readoutOf } from './schema';
import { RunSplits, readoutMembersFor, readoutReading, WordsPerLabelRule } from './readoutMembers';
import { BEST_VERSION, BestResult, EnsembleMember, ResolvedRun, RunDir, describeEnsemble } from './runDir';
import type { InternalRunOptions, SharedPool } from './run';
import { faultPoint } from './faultPoint';
import { getTask } from '../data/tasks';
import { parseVerbalizerSpec } from '../prompt/verbalizer';
import { USER_MANUAL_TEMPLATE } from './suiteTasks';
import {
  baselineAsResult,
  BaselineResult,
  baselineSummary,
  chooseResult,
  ensembleAccuracy,
  estimateFixedReadings,
  fitDiscriminantEnsemble,
  FittedRunEnsemble,
  scoreBaseline,
} from './ensemble';
import type { MemberScores } from './select';
import type { SearchProgress } from './progress';

/**
 * Each template's budget: the total split evenly, the remainder to the first templates, so the
 * parts add up to the total exactly.
 */
export function splitBudget(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total % parts ? 1 : 0));
}

/** The search config of template i's sub-run: that template, its share of the budget. */
export function templateConfig(config: SearchConfig, i: number, budget: number): SearchConfig {
  // The readout members and the member weights belong to the run's ensemble, not to a template's own run.
  const sub: SearchConfig = {
    ...config,
    name: `${config.name}-t${i + 1}`,
    template: config.templates![i],
    budget,
    readoutMembers: false,
    fitMemberWeights: false,
  };
  delete sub.templates;
  // A list of label-word contexts gives each template its own.
  const sv = config.findLabelWords;
  if (typeof sv === 'object' && Array.isArray(sv.context)) sub.findLabelWords = { ...sv, context: sv.context[i] };
  return sub;
}

/** A sub-run's members: its ensemble's, or its one selected prompt (with the sub-run's template). */
export function membersOf(best: BestResult): EnsembleMember[] {
  const sel = best.selected;
  const own: EnsembleMember = {
    prompt: sel.prompt,
    slots: sel.slots,
    labelWords: sel.labelWords,
    labelIds: sel.labelIds,
    offsets: sel.calibration?.offsets ?? null,
    trainAccuracy: sel.trainAccuracy,
    devAccuracy: sel.devAccuracy ?? 0,
  };
  return (best.members ?? [own]).map((m) => ({ ...m, template: sel.template }));
}

/**
 * Throws what one of the templates' searches would refuse before it starts (`preflight`: its
 * template, label words, budget), each with its share of the budget. A share too small is told
 * as the total the user gave and the total needed.
 */
export function preflightTemplates(config: SearchConfig, preflight: (sub: SearchConfig) => void): void {
  const templates = config.templates!;
  const budgets = splitBudget(config.budget, templates.length);
  templates.forEach((_, i) => {
    try {
      preflight(templateConfig(config, i, budgets[i]));
    } catch (e) {
      if (!(e instanceof BudgetTooSmallError)) throw e;
      throw new UserError(
        `budget ${config.budget} is too small for ${templates.length} templates: each template's search gets a share (${budgets[i]}) and needs ${e.needed} (dev selection plus one candidate on train); give a budget of ${e.needed * templates.length} or more, or fewer templates`,
      );
    }
  });
}

/**
 * Runs every template's search (resuming the unfinished ones), then scores the ensemble of their
 * selected prompts on dev and test. `runOne` is runSearch (passed in: run.ts imports this file);
 * `preflight` throws what a template's search would refuse before it starts.
 */
export async function runTemplates(
  config: SearchConfig,
  opts: InternalRunOptions,
  runOne: (c: SearchConfig, o: InternalRunOptions) => Promise<BestResult>,
  resolve: () => ResolvedRun,
  checkResumable: (run: RunDir, resolved: ResolvedRun) => void,
  preflight: (sub: SearchConfig) => void,
): Promise<BestResult> {
  const templates = config.templates!;
  const run = new RunDir(opts.runDir);
  if (opts.resume) {
    if (!run.isRun()) throw new UserError(`${run.dir}: not a run directory (no config.json)`);
    checkResumable(run, resolve());
  } else if (run.isRun() || run.has('best')) {
    throw new UserError(
      `${run.dir}: already holds a run; continue it with: promptsearch search --resume ${run.dir} (or choose another --out)`,
    );
  }
  const budgets = splitBudget(config.budget, templates.length);
  // Every template's search is checked (template, label words, budget) before anything is written.
  if (!opts.resume) preflightTemplates(config, preflight);
  await run.locked(async () => {
    if (!opts.resume) run.writeConfig(config, resolve());
    run.writeState({ status: 'running' });
  });
  // One in-process model for the readout members and for members scored again, loaded only if needed.
  let model: LoadedModel | undefined;
  const getModel = async () =>
    (model ??= await loadModel({
      model: config.model,
      dtype: config.dtype,
      scorer: config.scorer,
      prefixReuse: config.prefixReuse,
      threads: config.threadsPerWorker,
    }));
  // One scoring pool for every template's search: its workers start once, not once per template.
  const sharedPool: SharedPool = {};
  try {
    return await runAll(config, { ...opts, sharedPool }, run, runOne, budgets, getModel);
  } finally {
    await model?.dispose();
    await (await sharedPool.pool?.catch(() => undefined))?.close();
  }
}

/** runTemplates once the run directory is set up: every template's run, then the ensemble. */
async function runAll(
  config: SearchConfig,
  opts: InternalRunOptions,
  run: RunDir,
  runOne: (c: SearchConfig, o: InternalRunOptions) => Promise<BestResult>,
  budgets: number[],
  getModel: () => Promise<LoadedModel>,
): Promise<BestResult> {
  const templates = config.templates!;
  const bests: BestResult[] = [];
  const splits = runSplits(config);
  // A readout member's label words are chosen as soon as its template's run has chosen the member, so that
  // the member's test pass reads them too (one pass over test for both).
  // (A discriminant's readout is chosen with the ensemble, by cross-validation: runner/ensemble.ts.)
  const perLabel = wordsPerLabel(config);
  const readoutReadingOf = (template: string) =>
    perLabel
      ? async (slots: Record<string, number[]>): Promise<Reading> => {
          const m = await getModel();
          return readoutReading(template, slots, perLabel, m.backend, m.tokenizer, splits);
        }
      : undefined;
  let spentBefore = 0;
  // The members' dev and test log-probabilities as each template's run scored them (a template
  // finished in an earlier session has none here, and its members are scored again).
  const memberScores: (MemberScores[] | undefined)[] = [];
  for (let i = 0; i < templates.length; i++) {
    const sub = run.templateRun(i);
    // Progress: the template's own count, budget and best, and the whole run's count (the earlier templates' evaluations plus this one's).
    const before = spentBefore;
    const template = { index: i, count: templates.length };
    const onProgress =
      opts.onProgress &&
      ((p: SearchProgress) =>
        opts.onProgress!({ ...p, evaluations: before + p.evaluations, budget: config.budget, template }));
    const state = sub.isRun() ? sub.readState() : undefined;
    opts.log?.(`template ${i + 1} of ${templates.length}: ${templates[i]}`);
    const onMemberScores = (scores: MemberScores[]) => (memberScores[i] = scores);
    const best =
      state?.status === 'done' && sub.readBest()
        ? sub.readBest()!
        : await runOne(templateConfig(config, i, budgets[i]), {
            ...opts,
            runDir: sub.dir,
            resume: sub.isRun(),
            onProgress,
            onMemberScores,
            readoutReading: readoutReadingOf(templates[i]),
          });
    if (best.status !== 'done') {
      run.writeState({ status: 'interrupted' });
      if (opts.stopRequested?.()) return { ...best, status: 'interrupted' };
      throw new StoppedError(`template ${i + 1} stopped early; resume with: promptsearch search --resume ${run.dir}`);
    }
    bests.push(best);
    spentBefore += best.evaluations;
  }
  return run.locked(async () => {
    const tEnsemble = Date.now();
    const selected = bests.flatMap(membersOf);
    const selectedScores = bests.flatMap((b, i) => membersOf(b).map((_, k) => memberScores[i]?.[k]));
    const ens = await ensembleOf(config, selected, selectedScores, splits, getModel, opts.log);
    const baseline = await baselineOf(config, splits, getModel, opts.log);
    faultPoint('ensemble');
    // The run's selected prompt: the template's with the best dev accuracy (ties: the earlier template).
    let primary = 0;
    bests.forEach((b, i) => {
      if ((b.selected.devAccuracy ?? -1) > (bests[primary].selected.devAccuracy ?? -1)) primary = i;
    });
    const p = bests[primary];
    // The templates' own times (each counts its resumed sessions) plus the ensemble's scoring.
    const seconds = bests.reduce((s, b) => s + b.seconds, 0) + (Date.now() - tEnsemble) / 1000;
    const searched = {
      prompt: describeEnsemble(ens.members, p.selected.template),
      trainAccuracy: ens.trainAccuracy,
      devAccuracy: ens.devAccuracy,
      testAccuracy: ens.testAccuracy,
      estimate: ens.estimate,
      members: ens.members,
    };
    const choice = chooseResult(ens.estimate, baseline);
    const chosen = choice.baseline ? baselineAsResult(baseline!) : searched;
    const result: BestResult = {
      ...p,
      version: BEST_VERSION,
      runId: run.id,
      result: 'ensemble',
      ...chosen,
      ...(ens.readoutChoice ? { readoutChoice: ens.readoutChoice } : {}),
      ...(baseline ? { baseline: baselineSummary(baseline), choice: choice.line } : {}),
      ...(choice.baseline ? { searched } : {}),
      evaluations: bests.reduce((s, b) => s + b.evaluations, 0),
      budget: config.budget,
      candidatesScored: bests.reduce((s, b) => s + b.candidatesScored, 0),
      seconds,
    };
    if (baseline) opts.log?.(choice.line);
    const testPredicted = choice.baseline ? baseline!.testPredicted : ens.testPredicted;
    if (testPredicted) run.writeTestPredictions({ of: 'ensemble', predicted: testPredicted });
    run.writeBest(result);
    run.writeState({ status: 'done', evaluations: result.evaluations, seconds });
    return result;
  });
}

/**
 * The ensemble of the selected prompts: with discriminant readout members (settings by
 * cross-validation, runner/ensemble.ts), or with readout members of words per label, or alone; the
 * member weights fitted when the config asks; its cross-validated estimate.
 */
async function ensembleOf(
  config: SearchConfig,
  selected: EnsembleMember[],
  selectedScores: (MemberScores | undefined)[],
  splits: RunSplits,
  getModel: () => Promise<LoadedModel>,
  log?: (line: string) => void,
): Promise<FittedRunEnsemble> {
  const dataWords = readoutOf(config);
  const cached = (members: EnsembleMember[], known: (MemberScores | undefined)[]) => {
    // Each split's member log-probabilities once (the fit and the accuracies both read dev).
    const scored = new Map<keyof RunSplits, Promise<number[][][]>>();
    return (name: keyof RunSplits) =>
      scored.get(name) ?? scored.set(name, membersLogProbs(splits, name, members, known, getModel)).get(name)!;
  };
  if (dataWords.words > 0 && dataWords.labelScore === 'discriminant') {
    log?.(
      `label words from the data: a discriminant over the words likeliest at the mask, a readout member for each of the ${selected.length} selected prompts`,
    );
    const r = config.readoutMembers || undefined;
    return fitDiscriminantEnsemble({
      selected,
      logProbs: cached(selected, selectedScores),
      splits,
      calibration: config.calibration,
      fitMembers: config.fitMemberWeights,
      fixed: { topWords: r?.topWords, shrinkage: r?.shrinkage },
      seed: config.seed,
      model: await getModel(),
      log,
    });
  }
  return wordsPerLabelEnsemble(config, selected, selectedScores, splits, getModel, cached, log);
}

/** ensembleOf without a discriminant: readout members of words per label, or none; member weights where asked. */
async function wordsPerLabelEnsemble(
  config: SearchConfig,
  selected: EnsembleMember[],
  selectedScores: (MemberScores | undefined)[],
  splits: RunSplits,
  getModel: () => Promise<LoadedModel>,
  cached: (
    members: EnsembleMember[],
    known: (MemberScores | undefined)[],
  ) => (name: keyof RunSplits) => Promise<number[][][]>,
  log?: (line: string) => void,
): Promise<FittedRunEnsemble> {
  const perLabel = wordsPerLabel(config);
  if (perLabel)
    log?.(
      `label words from the data: ${perLabel.words} per label (${perLabel.labelScore} of their log-probabilities), a readout member for each of the ${selected.length} selected prompts`,
    );
  const model = perLabel ? await getModel() : undefined;
  const readoutMembers = model
    ? await readoutMembersFor(
        selected,
        perLabel!,
        config.calibration,
        model.backend,
        model.tokenizer,
        splits,
        selectedScores.map((sc) => sc?.readoutMember),
      )
    : [];
  const unfitted = [...selected, ...readoutMembers.map((t) => t.member)];
  const logProbs = cached(unfitted, [...selectedScores, ...readoutMembers.map((t) => t.scores)]);
  const trainLp = await logProbs('train');
  const devLp = await logProbs('dev');
  let members = unfitted;
  if (config.fitMemberWeights) {
    log?.(`fitting the ${unfitted.length} members' scale and label biases on the labelled train and dev examples`);
    const golds = [...splits.train.examples, ...splits.dev.examples].map((e) => e.label);
    members = unfitted.map((m, i) => {
      const offsets = m.offsets ?? undefined;
      const calibrated = [...trainLp[i], ...devLp[i]].map((lp) => calibrate(lp, offsets));
      return { ...m, fit: fitMember(calibrated, golds, splits.train.numLabels) };
    });
  }
  const judged = async (name: 'train' | 'dev' | 'test') => {
    const lps = await logProbs(name);
    return ensembleAccuracy(members, lps, splits[name]!);
  };
  const test = splits.test ? await judged('test') : undefined;
  return {
    members,
    trainAccuracy: (await judged('train')).accuracy,
    devAccuracy: (await judged('dev')).accuracy,
    testAccuracy: test?.accuracy ?? null,
    testPredicted: test?.predicted,
    estimate: estimateFixedReadings(
      unfitted.map((m) => m.offsets),
      trainLp,
      devLp,
      splits,
      config.calibration,
      config.fitMemberWeights,
      config.seed,
    ),
  };
}

/** Readout members of words per label (methods `mean`, `logsumexp`), or undefined: none, or a discriminant. */
function wordsPerLabel(config: SearchConfig): { words: number; labelScore: WordsPerLabelRule } | undefined {
  const r = readoutOf(config);
  return r.words > 0 && r.labelScore !== 'discriminant' ? { words: r.words, labelScore: r.labelScore } : undefined;
}

/** The config's hand-written baseline scored on every split (runner/ensemble.ts), or undefined: none asked, or none to be had. */
async function baselineOf(
  config: SearchConfig,
  splits: RunSplits,
  getModel: () => Promise<LoadedModel>,
  log?: (line: string) => void,
): Promise<BaselineResult | undefined> {
  if (!config.baseline) return undefined;
  const info = config.task ? getTask(config.task) : undefined;
  const template =
    typeof config.baseline === 'string' ? config.baseline : (info?.manualTemplate ?? USER_MANUAL_TEMPLATE);
  const verbalizer = config.verbalizer ?? info?.manualLabelWords;
  if (verbalizer === undefined) {
    log?.('no hand-written baseline: the config gives no label words');
    return undefined;
  }
  const model = await getModel();
  if (textAfterMask(parseTemplate(template), model.tokenizer)) {
    log?.(`no hand-written baseline: '${template}' has text after [MASK], which a causal model cannot read`);
    return undefined;
  }
  log?.(
    `scoring the hand-written baseline ${template} with ${parseVerbalizerSpec(verbalizer, splits.train.numLabels)
      .map((w) => w.join('/'))
      .join(', ')}`,
  );
  return scoreBaseline({ template, verbalizer, splits, calibration: config.calibration, seed: config.seed, model });
}

/** The run's splits as its templates' runs read them (no test split when the data files name none). */
function runSplits(config: SearchConfig): RunSplits {
  const labels = modelLabelNames(resolveModel(config.model, config.dtype));
  const split = (name: 'train' | 'dev' | 'test') => loadExamples(configDataSource(config, name, labels), name);
  return {
    train: split('train'),
    dev: split('dev'),
    test: config.data && !config.data.test ? undefined : split('test'),
  };
}

/**
 * Each member's raw label log-probabilities on one split. They come from its template's run
 * (`known`) or, for a template finished in an earlier session (and for train, which the runs do
 * not keep), are scored in this process with the member's own template (a row scores the same in
 * any batch, so the numbers are the same).
 */
async function membersLogProbs(
  splits: RunSplits,
  name: keyof RunSplits,
  members: EnsembleMember[],
  known: (MemberScores | undefined)[],
  getModel: () => Promise<LoadedModel>,
): Promise<number[][][]> {
  const split = splits[name]!;
  const out: number[][][] = [];
  for (const [i, m] of members.entries()) {
    let logProbs = known[i]?.[name];
    if (!logProbs) {
      const model = await getModel();
      const ct = compileTemplate(parseTemplate(m.template!), model.tokenizer, split.textColumn, model.maxLength);
      const encoded = split.examples.map((ex) => encodeExample(ct, model.tokenizer, ex));
      logProbs = await promptReading(model.backend, ct, encoded, slotIds(m.slots), m);
    }
    out.push(logProbs);
  }
  return out;
}
