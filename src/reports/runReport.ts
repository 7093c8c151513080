import * as path from 'path';
import { loadExamples } from '../data/load';
import { modelLabelNames, resolveModel } from '../model/modelFolder';
import { loadPrompt } from '../export/applyPrompt';
import { promptFileFromRun } from '../export/promptFile';
import { writeFileAtomic, writeJsonAtomic } from '../runner/atomic';
import { configDataSource } from '../runner/config';
import {
  CandidateLine,
  RefineProgressLine,
  checkRunDir,
  readRefineProgress,
  readRefineResult,
  readRunBest,
  readRunCandidates,
  readRunConfig,
  readRunProgress,
  readRunTestPredictions,
  runReportPath,
  templateRunDirs,
} from './runFiles';
import { runReportHtml } from './runReportHtml';
import { UserError } from '../errors';
import type { LabelScoreRule } from '../scoring/metrics';

/** Everything one run's report shows; written next to the page as report.json (the page's numbers). */
export interface RunReportData {
  dir: string;
  runId: string;
  name: string;
  strategy: string;
  /** The run's template (a search over several templates: the first; see `templates`). */
  template: string;
  data: string;
  model: string;
  dtype: string;
  budget: number;
  status: string;
  /** The search objective its candidates are ranked by on train (config `objective`). */
  objective: string;
  /**
   * Best train accuracy so far against example evaluations, from candidates.jsonl in scoring
   * order: the highest train accuracy among the candidates scored on the whole train split so
   * far (never decreasing; the search ranks by its objective, so its pick may score lower), a
   * point where it rises and one at the last evaluation.
   */
  curve: { evaluations: number; bestTrain: number }[];
  /** The dev selection among the top train candidates (dev is scored only there). */
  selection?: { evaluations: number; candidates: { prompt: string; train: number; dev: number }[] };
  /** Candidates scored on the whole train split, by train accuracy. */
  histogram: { accuracy: number; count: number }[];
  /** Candidates dropped early (early rejection) (scored on part of train only). */
  raced: number;
  /** best.json's top level: the run's result (what export writes and predict applies), with the selected prompt's label words. */
  best?: {
    prompt: string;
    labelWords: string[][];
    train: number | null;
    dev: number | null;
    test: number | null;
    evaluations: number;
  };
  /** The run's result: what it is, and what the run cost. */
  result?: {
    of: 'prompt' | 'ensemble';
    prompt: string;
    dev: number | null;
    test: number | null;
    evaluations: number;
    seconds: number | null;
    /** Its cross-validated accuracy on train + dev and the spread over folds (best.json `estimate`). */
    estimate?: { accuracy: number; std: number; folds: number };
    /** The hand-written prompt it was compared with, and which one is the result, in one line. */
    baseline?: { prompt: string; estimate: number | null; test: number | null };
    choice?: string;
  };
  /**
   * The run's result on test: confusion[gold][predicted], per-class accuracy (null: no example of
   * that class). `of`: the selected prompt, or the ensemble of a search over several templates.
   */
  test?: {
    of: 'prompt' | 'ensemble';
    labelNames: string[];
    n: number;
    accuracy: number;
    perClass: (number | null)[];
    confusion: number[][];
  };
  /** A search over several templates: each template's own run (its curve, selection, histogram; test not scored again). */
  templates?: RunReportData[];
  /** best.json's ensemble: its members (with their templates and fits) and accuracies. */
  ensemble?: {
    members: {
      template: string;
      prompt: string;
      labelWords: string[][];
      labelScore?: LabelScoreRule;
      wordsRead?: number;
      scale?: number;
      bias?: number[];
    }[];
    dev: number | null;
    test: number | null;
  };
  /** best.json's calibration offsets, when the run has them. */
  calibration?: { labelNames: string[]; offsets: number[] } | { raw: string };
  refine?: {
    budget?: number;
    curve: RefineProgressLine[];
    discrete?: { train: number; dev: number; test: number | null };
    refined?: { train: number; dev: number; test: number | null };
    improvedDev?: boolean;
  };
}

export interface RunReportOptions {
  /**
   * The confusion matrix on test: from the predictions the run recorded, else (a run from before
   * they were recorded) by scoring its selected prompt (loads the model); false: neither. Default true.
   */
  scoreTest?: boolean;
  threads?: number;
}

/** Reads a run directory (and scores its winner on test) into the report's numbers. */
export async function collectRunReport(dir: string, opts: RunReportOptions = {}): Promise<RunReportData> {
  checkRunDir(dir);
  const config = readRunConfig(dir);
  const best = readRunBest(dir);
  const progress = readRunProgress(dir);
  const candidates = readRunCandidates(dir);
  const curve = learningCurve(candidates);
  const sel = progress.find((p) => p.selection);
  const counts = new Map<number, number>();
  let raced = 0;
  for (const c of candidates) {
    if (c.score.partialExamples !== undefined) raced++;
    else counts.set(c.score.accuracy, (counts.get(c.score.accuracy) ?? 0) + 1);
  }
  const labelNames = config.resolved?.labelNames ?? best?.selected.labelIds.map((_, i) => String(i)) ?? [];
  const report: RunReportData = {
    dir: path.resolve(dir),
    runId: path.basename(path.resolve(dir)),
    name: config.name,
    strategy: config.strategy,
    template: config.template,
    data: config.task ? `${config.task} (seed ${config.seed})` : (config.data?.train ?? '?'),
    model: config.model,
    dtype: config.dtype,
    budget: config.budget,
    objective: config.objective,
    status: best?.status ?? 'running',
    curve,
    selection: sel ? { evaluations: sel.evaluations, candidates: sel.selection! } : undefined,
    histogram: [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([accuracy, count]) => ({ accuracy, count })),
    raced,
  };
  if (best) {
    report.best = {
      prompt: best.prompt,
      labelWords: best.selected.labelWords,
      train: best.trainAccuracy,
      dev: best.devAccuracy,
      test: best.testAccuracy,
      evaluations: best.evaluations,
    };
    report.calibration = calibrationOf(best.selected.calibration, labelNames);
    report.result = {
      of: best.result,
      prompt: best.prompt,
      dev: best.devAccuracy,
      test: best.testAccuracy,
      evaluations: best.evaluations,
      seconds: best.seconds,
      ...(best.estimate
        ? { estimate: { accuracy: best.estimate.accuracy, std: best.estimate.std, folds: best.estimate.folds } }
        : {}),
      ...(best.baseline
        ? {
            baseline: {
              prompt: best.baseline.prompt,
              estimate: best.baseline.estimate?.accuracy ?? null,
              test: best.baseline.testAccuracy,
            },
          }
        : {}),
      ...(best.choice ? { choice: best.choice } : {}),
    };
  }
  if (best?.members) {
    report.ensemble = {
      members: best.members.map((m) => ({
        template: m.template ?? config.template,
        prompt: m.prompt,
        // A discriminant readout member reads the same words for every label: show each label's most weighted.
        labelWords: m.readout ? mostWeighted(m.readout.weights, m.labelWords[0], 4) : m.labelWords,
        ...(m.labelScore ? { labelScore: m.labelScore } : {}),
        ...(m.readout ? { wordsRead: m.labelWords[0].length } : {}),
        ...(m.fit ? { scale: m.fit.scale, bias: m.fit.bias } : {}),
      })),
      dev: best.devAccuracy,
      test: best.testAccuracy,
    };
  }
  if ((config.templates?.length ?? 1) > 1) {
    report.templates = [];
    for (const t of templateRunDirs(dir, config.templates!.length))
      report.templates.push(await collectRunReport(t, { ...opts, scoreTest: false }));
  }
  if (best?.status === 'done' && best.testAccuracy !== null && opts.scoreTest !== false)
    report.test = await testOf(dir, opts.threads);
  const refineCurve = readRefineProgress(dir);
  const refined = readRefineResult(dir);
  if (refineCurve.length || refined)
    report.refine = {
      ...(config.refine?.budget ? { budget: config.refine.budget } : {}),
      curve: refineCurve,
      discrete: refined?.discrete,
      refined: refined?.refined,
      improvedDev: refined?.improvedDev,
    };
  return report;
}

/** The highest train accuracy so far (see RunReportData.curve): never decreasing. */
export function learningCurve(candidates: CandidateLine[]): RunReportData['curve'] {
  const curve: RunReportData['curve'] = [];
  let spent = 0;
  let best = -Infinity;
  for (const c of candidates) {
    spent += c.cost;
    if (c.score.partialExamples !== undefined || !(c.score.accuracy > best)) continue;
    best = c.score.accuracy;
    curve.push({ evaluations: spent, bestTrain: best });
  }
  const last = curve[curve.length - 1];
  if (last && last.evaluations < spent) curve.push({ evaluations: spent, bestTrain: last.bestTrain });
  return curve;
}

/** The run's result on its test split: from its recorded predictions, else by scoring its selected prompt. */
async function testOf(dir: string, threads?: number): Promise<RunReportData['test']> {
  const prompt = promptFileFromRun(dir);
  const config = prompt.search;
  const data = loadExamples(
    configDataSource(config, 'test', modelLabelNames(resolveModel(config.model, config.dtype))),
    'test',
  );
  const recorded = readRunTestPredictions(dir);
  const L = prompt.labels.length;
  if (recorded && (recorded.predicted.length !== data.examples.length || recorded.predicted.some((p) => p >= L)))
    throw new UserError(
      `${recorded.file}: ${recorded.predicted.length} predictions of label ids up to ${Math.max(...recorded.predicted)}, but the test split has ${data.examples.length} examples and ${L} labels`,
    );
  let predicted: number[];
  if (recorded) predicted = recorded.predicted;
  else {
    const loaded = await loadPrompt(prompt, { threads, warn: () => {} });
    try {
      predicted = (
        await loaded.classify(data.examples.map((e) => ({ ...e.fields, x: e.fields[data.textColumn] })))
      ).map((p) => p.labelId);
    } finally {
      await loaded.dispose();
    }
  }
  const names = prompt.labels.map((l) => l.name);
  const confusion = Array.from({ length: L }, () => new Array<number>(L).fill(0));
  data.examples.forEach((e, i) => confusion[e.label][predicted[i]]++);
  const perClass = confusion.map((row, g) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n === 0 ? null : row[g] / n;
  });
  const correct = confusion.reduce((a, row, g) => a + row[g], 0);
  return {
    of: recorded?.of ?? 'prompt',
    labelNames: names,
    n: data.examples.length,
    accuracy: correct / data.examples.length,
    perClass,
    confusion,
  };
}

/** Offsets as a list (or {offsets: [...]}, or {name: offset}); anything else is shown as JSON. */
function calibrationOf(c: unknown, labelNames: string[]): RunReportData['calibration'] {
  // Calibration mode 'none' has offsets null: nothing to show beyond the mode.
  if (c && typeof c === 'object' && !Array.isArray(c) && (c as { offsets?: unknown }).offsets === null)
    return { raw: JSON.stringify(c) };
  const list = Array.isArray(c)
    ? c
    : c && typeof c === 'object' && Array.isArray((c as { offsets?: unknown }).offsets)
      ? (c as { offsets: unknown[] }).offsets
      : undefined;
  if (list && list.every((x) => typeof x === 'number')) return { labelNames, offsets: list as number[] };
  if (
    c &&
    typeof c === 'object' &&
    !Array.isArray(c) &&
    labelNames.length &&
    labelNames.every((n) => typeof (c as Record<string, unknown>)[n] === 'number')
  ) {
    return { labelNames, offsets: labelNames.map((n) => (c as Record<string, number>)[n]) };
  }
  return { raw: JSON.stringify(c) };
}

/**
 * Writes the report of one run (`<run>/report.html` and `report.json`) or, for several runs,
 * one page overlaying them at `out` (default `report.html` here). Returns the page's path.
 */
export async function writeRunReport(dirs: string[], opts: RunReportOptions & { out?: string } = {}): Promise<string> {
  const runs: RunReportData[] = [];
  for (const d of dirs) runs.push(await collectRunReport(d, opts));
  const out = opts.out ?? (dirs.length === 1 ? runReportPath(dirs[0]) : 'report.html');
  const title = runs.length === 1 ? `promptsearch run ${runs[0].runId}` : `promptsearch: ${runs.length} runs`;
  writeJsonAtomic(out.replace(/\.html?$/i, '') + '.json', runs.length === 1 ? runs[0] : runs);
  writeFileAtomic(out, runReportHtml(title, runs));
  return out;
}

/**
 * Per label, the `k` words weighted most for it against the other labels: its weights minus their
 * mean over the labels (a part every label shares adds the same to each label's score and decides
 * nothing), largest first; ties: the earlier word.
 */
function mostWeighted(weights: number[][], words: string[], k: number): string[][] {
  const mean = words.map((_, i) => weights.reduce((s, w) => s + w[i], 0) / weights.length);
  return weights.map((w) =>
    w
      .map((x, i) => [x - mean[i], i])
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, k)
      .map(([, i]) => words[i]),
  );
}
