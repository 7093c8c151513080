/**
 * A multi-template run's result once every template's search is done: the ensemble of the selected
 * prompts and their readout members, fitted on the labelled train + dev examples, its
 * cross-validated estimate (prompt/crossValidation.ts), and the hand-written baseline it must beat.
 *
 * Discriminant readout members choose their settings (words read, shrinkage) per run, by
 * cross-validation over train + dev; the run's estimate is nested around that choice. The
 * baseline (the task's hand-written prompt with the given label words, calibrated) is estimated the
 * same way; the result is whichever estimate is higher (ties: the search's).
 */
import { LoadedData } from '../data/load';
import { LoadedModel } from '../model/load';
import { CalibrationMode, ensembleLogProbs } from '../prompt/calibration';
import {
  chooseReadout,
  cvUnavailable,
  EnsembleData,
  estimateOf,
  fitEnsemble,
  FittedEnsemble,
  READOUT_GRID,
  ReadoutSettings,
  readoutLogProbs,
  runFolds,
  crossValidate,
  OffsetRule,
} from '../prompt/crossValidation';
import { compileTemplate, encodeExample } from '../prompt/encode';
import { parseTemplate } from '../prompt/template';
import { buildVerbalizer, parseVerbalizerSpec, wordText } from '../prompt/verbalizer';
import { judgeAll, summarize } from '../scoring/metrics';
import { promptReading } from '../scoring/scorer';
import { contentFreeLike, meanOffsets } from '../prompt/calibration';
import { BaselineSummary, BestResult, EnsembleMember, EstimateRecord } from './runDir';
import { ReadoutWordLogits, RunSplits, readoutWordLogits } from './readoutMembers';

/** Folds of the run's cross-validation. */
export const CV_FOLDS = 5;

/** The estimate recorded in best.json: held-out accuracy on train + dev, its spread over folds. */
export type ResultEstimate = EstimateRecord;

/** The discriminant readout members' settings and how they were chosen (best.json `readoutChoice`). */
export type ReadoutChoice = NonNullable<BestResult['readoutChoice']>;

export interface FittedRunEnsemble {
  members: EnsembleMember[];
  trainAccuracy: number;
  devAccuracy: number;
  testAccuracy: number | null;
  testPredicted?: number[];
  estimate: ResultEstimate | null;
  readoutChoice?: ReadoutChoice;
}

const golds = (d: LoadedData) => d.examples.map((e) => e.label);
const labelled = (s: RunSplits) => [...golds(s.train), ...golds(s.dev)];

function offsetRule(calibration: CalibrationMode, offsets: number[] | null): OffsetRule {
  return calibration === 'inputs' ? { refit: true } : { fixed: offsets ?? undefined };
}

/** An ensemble's accuracy and predictions on a split, from its members' raw label log-probabilities there. */
export function ensembleAccuracy(
  members: readonly EnsembleMember[],
  lps: number[][][],
  d: LoadedData,
): { accuracy: number; predicted: number[] } {
  const scores = ensembleLogProbs(
    members.map((m, j) => ({ logProbs: lps[j], offsets: m.offsets ?? undefined, fit: m.fit })),
  );
  const judged = judgeAll(scores, golds(d), undefined);
  return { accuracy: summarize(judged, d.numLabels).accuracy, predicted: judged.map((e) => e.predicted) };
}

/** The readout settings a run tries: the config's where it fixes them, else READOUT_GRID's values. */
function readoutGrid(fixed: Partial<ReadoutSettings>): ReadoutSettings[] {
  const topWords = fixed.topWords ? [fixed.topWords] : [...new Set(READOUT_GRID.map((g) => g.topWords))];
  const shrinkage =
    fixed.shrinkage !== undefined ? [fixed.shrinkage] : [...new Set(READOUT_GRID.map((g) => g.shrinkage))];
  return topWords.flatMap((t) => shrinkage.map((s) => ({ topWords: t, shrinkage: s })));
}

/** What cross-validation reads: the prompts' raw label log-probabilities and the readouts' word logits, train then dev. */
function discriminantData(
  selected: EnsembleMember[],
  lp: { train: number[][][]; dev: number[][][] },
  words: ReadoutWordLogits[],
  splits: RunSplits,
  calibration: CalibrationMode,
  fitMembers: boolean,
): EnsembleData {
  return {
    golds: labelled(splits),
    numLabels: splits.train.numLabels,
    members: selected.map((m, i) => ({
      logProbs: [...lp.train[i], ...lp.dev[i]],
      offsets: offsetRule(calibration, m.offsets),
    })),
    readouts: words.map((w) => ({
      logits: [...w.train, ...w.dev],
      offsets:
        calibration === 'inputs'
          ? { refit: true as const }
          : calibration === 'content-free'
            ? { contentFree: w.contentFree! }
            : { fixed: undefined },
    })),
    fitMembers,
  };
}

/** The readout setting (chosen by cross-validation where the grid has several) and the nested estimate around it. */
function chooseAndEstimate(
  data: EnsembleData,
  grid: ReadoutSettings[],
  seed: number,
  log?: (line: string) => void,
): { settings: ReadoutSettings; readoutChoice: ReadoutChoice; estimate: ResultEstimate | null } {
  const unavailable = cvUnavailable(data.golds, data.numLabels);
  if (unavailable) {
    log?.(`no cross-validated estimate: ${unavailable}`);
    return { settings: grid[0], readoutChoice: { ...grid[0], chosenBy: 'config' }, estimate: null };
  }
  let settings = grid[0];
  let readoutChoice: ReadoutChoice = { ...settings, chosenBy: 'config' };
  if (grid.length > 1) {
    log?.(`choosing the readout members' settings by ${CV_FOLDS}-fold cross-validation over ${grid.length} settings`);
    const chosen = chooseReadout(data, grid, CV_FOLDS, seed);
    settings = chosen.settings;
    readoutChoice = {
      ...settings,
      chosenBy: 'cross-validation',
      tried: chosen.tried.map((t) => ({ ...t.settings, accuracy: t.estimate.accuracy, logLoss: t.estimate.logLoss })),
    };
  }
  const estimate = {
    ...estimateOf(data, grid, CV_FOLDS, seed),
    method: `${CV_FOLDS}-fold over train + dev: offsets, readouts${grid.length > 1 ? ' (their settings chosen inside each fold)' : ''}${data.fitMembers ? ' and member weights' : ''} refitted, prompts fixed`,
  };
  return { settings, readoutChoice, estimate };
}

/** The ensemble's members under a fit on every labelled example: the prompts, then a discriminant readout member for each. */
function fittedMembers(
  selected: EnsembleMember[],
  words: ReadoutWordLogits[],
  fitted: FittedEnsemble,
  topWords: number,
  tokenizer: LoadedModel['tokenizer'],
): EnsembleMember[] {
  const n = selected.length;
  const readoutMembers: EnsembleMember[] = selected.map((m, k) => {
    const read = words[k].words.slice(0, topWords);
    const readout = fitted.readouts[k];
    return {
      ...m,
      labelWords: readout.weights.map(() => read.map((id) => wordText(tokenizer, id))),
      labelIds: readout.weights.map(() => [...read]),
      labelScore: 'discriminant' as const,
      readout,
      offsets: fitted.offsets[n + k] ?? null,
      trainAccuracy: 0,
      devAccuracy: 0,
    };
  });
  return [...selected.map((m, i) => ({ ...m, offsets: fitted.offsets[i] ?? null })), ...readoutMembers].map((m, j) =>
    fitted.fits[j] ? { ...m, fit: fitted.fits[j] } : m,
  );
}

/**
 * The ensemble of the selected prompts `selected` (their raw label log-probabilities per split in
 * `logProbs`) with a discriminant readout member for each, settings chosen by cross-validation
 * unless `fixed` gives them, member fits if `fitMembers`.
 */
export async function fitDiscriminantEnsemble(opts: {
  selected: EnsembleMember[];
  logProbs: (split: keyof RunSplits) => Promise<number[][][]>;
  splits: RunSplits;
  calibration: CalibrationMode;
  fitMembers: boolean;
  fixed: Partial<ReadoutSettings>;
  seed: number;
  model: LoadedModel;
  log?: (line: string) => void;
}): Promise<FittedRunEnsemble> {
  const { selected, splits, model } = opts;
  const grid = readoutGrid(opts.fixed);
  const maxWords = Math.max(...grid.map((g) => g.topWords));
  const words = await readoutWordLogits(
    selected,
    maxWords,
    opts.calibration === 'content-free',
    model.backend,
    model.tokenizer,
    splits,
  );
  const lp = { train: await opts.logProbs('train'), dev: await opts.logProbs('dev') };
  const data = discriminantData(selected, lp, words, splits, opts.calibration, opts.fitMembers);
  const { settings, readoutChoice, estimate } = chooseAndEstimate(data, grid, opts.seed, opts.log);
  const fitted = fitEnsemble(
    data,
    settings,
    data.golds.map((_, i) => i),
  );
  const members = fittedMembers(selected, words, fitted, settings.topWords, model.tokenizer);
  const nSel = selected.length;
  const judge = async (split: 'train' | 'dev' | 'test') => {
    const readoutLp = words.map((w, k) => w[split]!.map((row) => readoutLogProbs(row, fitted.readouts[k])));
    const lps = [...(await opts.logProbs(split)), ...readoutLp];
    const d = splits[split]!;
    // The readout members' own accuracies (calibrated, before any fit), as every member records them.
    if (split !== 'test')
      members.forEach((m, j) => {
        if (j >= nSel)
          m[split === 'train' ? 'trainAccuracy' : 'devAccuracy'] = summarize(
            judgeAll(lps[j], golds(d), m.offsets ?? undefined),
            d.numLabels,
          ).accuracy;
      });
    return ensembleAccuracy(members, lps, d);
  };
  const train = await judge('train');
  const dev = await judge('dev');
  const test = splits.test ? await judge('test') : undefined;
  return {
    members,
    trainAccuracy: train.accuracy,
    devAccuracy: dev.accuracy,
    testAccuracy: test?.accuracy ?? null,
    testPredicted: test?.predicted,
    estimate,
    readoutChoice,
  };
}

/**
 * The cross-validated estimate of an ensemble with nothing but offsets and member fits to refit
 * (its members' raw label log-probabilities on train and dev known).
 */
export function estimateFixedReadings(
  offsets: (number[] | null)[],
  trainLp: number[][][],
  devLp: number[][][],
  splits: RunSplits,
  calibration: CalibrationMode,
  fitMembers: boolean,
  seed: number,
): ResultEstimate | null {
  const data: EnsembleData = {
    golds: labelled(splits),
    numLabels: splits.train.numLabels,
    members: offsets.map((o, i) => ({ logProbs: [...trainLp[i], ...devLp[i]], offsets: offsetRule(calibration, o) })),
    readouts: [],
    fitMembers,
  };
  if (cvUnavailable(data.golds, data.numLabels)) return null;
  return {
    ...crossValidate(data, { topWords: 0, shrinkage: 0 }, runFolds(data, CV_FOLDS, seed)),
    method: `${CV_FOLDS}-fold over train + dev: offsets${fitMembers ? ' and member weights' : ''} refitted, prompts and their words fixed`,
  };
}

/** The hand-written baseline: its prompt, accuracies and estimate. */
export interface BaselineResult {
  template: string;
  labelWords: string[][];
  labelIds: EnsembleMember['labelIds'];
  offsets: number[] | null;
  trainAccuracy: number;
  devAccuracy: number;
  testAccuracy: number | null;
  testPredicted?: number[];
  estimate: ResultEstimate | null;
}

/** The hand-written prompt `template` (no slots) with the label words `verbalizer`, calibrated as the run is, on every split. */
export async function scoreBaseline(opts: {
  template: string;
  verbalizer: NonNullable<Parameters<typeof parseVerbalizerSpec>[0]>;
  splits: RunSplits;
  calibration: CalibrationMode;
  seed: number;
  model: LoadedModel;
}): Promise<BaselineResult> {
  const { splits, model } = opts;
  const { tokenizer, backend } = model;
  const words = parseVerbalizerSpec(opts.verbalizer, splits.train.numLabels);
  const verbalizer = buildVerbalizer(words, tokenizer);
  const ct = compileTemplate(parseTemplate(opts.template), tokenizer, splits.train.textColumn, backend.maxLength);
  const lp = (d: LoadedData['examples']) =>
    promptReading(
      backend,
      ct,
      d.map((ex) => encodeExample(ct, tokenizer, ex)),
      {},
      { labelIds: verbalizer.ids },
    );
  const trainLp = await lp(splits.train.examples);
  const devLp = await lp(splits.dev.examples);
  const numLabels = splits.train.numLabels;
  let offsets: number[] | null = null;
  if (opts.calibration === 'inputs') offsets = meanOffsets([...trainLp, ...devLp], numLabels);
  else if (opts.calibration === 'content-free')
    offsets = meanOffsets(
      await lp(contentFreeLike(splits.train.examples, tokenizer.token(tokenizer.special.mask))),
      numLabels,
    );
  const judged = (lps: number[][], d: LoadedData) => judgeAll(lps, golds(d), offsets ?? undefined);
  const testJudged = splits.test ? judged(await lp(splits.test.examples), splits.test) : undefined;
  return {
    template: opts.template,
    labelWords: words,
    labelIds: verbalizer.ids,
    offsets,
    trainAccuracy: summarize(judged(trainLp, splits.train), numLabels).accuracy,
    devAccuracy: summarize(judged(devLp, splits.dev), numLabels).accuracy,
    testAccuracy: testJudged ? summarize(testJudged, numLabels).accuracy : null,
    testPredicted: testJudged?.map((e) => e.predicted),
    estimate: estimateFixedReadings([offsets], [trainLp], [devLp], splits, opts.calibration, false, opts.seed),
  };
}

/** The result is the baseline when its estimate is higher than the search's (ties, or no estimate: the search's). */
export function chooseResult(
  searched: ResultEstimate | null,
  baseline: BaselineResult | undefined,
): { baseline: boolean; line: string } {
  if (!baseline) return { baseline: false, line: '' };
  const pct = (e: ResultEstimate | null) => (e ? `${(100 * e.accuracy).toFixed(1)} %` : 'none');
  const both = `cross-validated on train + dev: search ${pct(searched)}, hand-written prompt ${pct(baseline.estimate)}`;
  if (searched && baseline.estimate && baseline.estimate.accuracy > searched.accuracy)
    return { baseline: true, line: `result: the hand-written prompt, which the search did not beat (${both})` };
  return { baseline: false, line: `result: the search's ensemble (${both})` };
}

/** The baseline as the run's result: a one-member ensemble (exported and applied like any). */
export function baselineAsResult(b: BaselineResult) {
  const member: EnsembleMember = {
    template: b.template,
    prompt: b.template,
    slots: {},
    labelWords: b.labelWords,
    labelIds: b.labelIds,
    offsets: b.offsets,
    trainAccuracy: b.trainAccuracy,
    devAccuracy: b.devAccuracy,
  };
  return {
    prompt: `the hand-written prompt ${b.template}`,
    trainAccuracy: b.trainAccuracy,
    devAccuracy: b.devAccuracy,
    testAccuracy: b.testAccuracy,
    estimate: b.estimate,
    members: [member],
  };
}

/** best.json's `baseline`: what the hand-written prompt scored, without its predictions. */
export function baselineSummary(b: BaselineResult): BaselineSummary {
  return {
    prompt: b.template,
    labelWords: b.labelWords,
    trainAccuracy: b.trainAccuracy,
    devAccuracy: b.devAccuracy,
    testAccuracy: b.testAccuracy,
    estimate: b.estimate,
  };
}
