/**
 * Leaderboard rows that need no search: the task's hand-written prompt (raw or calibrated) and
 * the linear probe on the frozen model's mask log-probabilities. They show what a user gets
 * without searching.
 */
import { DataSource, loadExamples, parseLabelList } from '../data/load';
import { Split, getTask } from '../data/tasks';
import { UserError } from '../errors';
import { loadModel } from '../model/load';
import { Dtype, modelLabelNames, resolveModel } from '../model/modelFolder';
import { FullLogitsBackend } from '../model/onnxBackend';
import { CalibrationMode } from '../prompt/calibration';
import { buildRow, compileTemplate, encodeExample } from '../prompt/encode';
import { parseTemplate } from '../prompt/template';
import { evaluateTemplate } from '../scoring/evaluate';
import { runProbe } from '../scoring/probe';
import { Cell } from '../reports/leaderboardTable';
import { USER_MANUAL_TEMPLATE } from './suiteTasks';

export interface BaselineSetting {
  model?: string;
  dtype?: Dtype;
  /** A method's own prompt in place of the task's hand-written one (a causal model needs [MASK] last). */
  template?: string;
  verbalizer?: string | string[] | Record<string, string | string[]>;
  /**
   * A user task's files for the cell's seed (absolute) and how to read them, in place of the
   * bundled task: the manual prompt is then `template` with `verbalizer` (runner/leaderboard.ts
   * baselineSetting fills both), the probe reads the mask of `template`.
   */
  data?: {
    train: string;
    dev: string;
    test: string;
    format?: string;
    textColumn?: string;
    labelColumn?: string;
    labels?: string | string[];
  };
}

/** Where a baseline cell's split comes from: the user task's file, or the bundled task's split of the seed. */
function splitSource(task: string, seed: number, setting: BaselineSetting, split: Split): DataSource {
  const d = setting.data;
  if (!d) return { task, seed };
  const labels = d.labels === undefined ? undefined : parseLabelList(d.labels, `task '${task}': labels`);
  return {
    file: d[split],
    format: d.format,
    textColumn: d.textColumn,
    labelColumn: d.labelColumn,
    labels,
    modelLabels: modelLabelNames(resolveModel(setting.model, setting.dtype)),
  };
}

/** The manual prompt of a cell: the setting's, else the bundled task's hand-written one. */
function manualPrompt(
  task: string,
  setting: BaselineSetting,
): { template: string; verbalizer: NonNullable<BaselineSetting['verbalizer']> } {
  const info = setting.data ? undefined : getTask(task);
  const template = setting.template ?? info?.manualTemplate ?? USER_MANUAL_TEMPLATE;
  const verbalizer = setting.verbalizer ?? info?.manualLabelWords;
  if (verbalizer === undefined)
    throw new UserError(
      `task '${task}': the manual prompt needs label words ('verbalizer' in the task, base or perTask)`,
    );
  return { template, verbalizer };
}

/**
 * The task's manual prompt (datasets README) on dev and test, with the given calibration. Raw
 * (`none`), the test score does not depend on the seed: pass the task's first cell as `sameTest`
 * and it is not scored again. Calibrated, the offsets come from the seed's inputs, so it does.
 */
export async function manualCell(
  method: string,
  task: string,
  seed: number,
  setting: BaselineSetting,
  calibration: CalibrationMode,
  sameTest?: Cell,
): Promise<Cell> {
  const common = { model: setting.model, dtype: setting.dtype, ...manualPrompt(task, setting), calibration };
  // Calibrated, a user task's offsets come from its train + dev inputs, as a bundled task's do.
  const reference = setting.data
    ? { calibrationFrom: [splitSource(task, seed, setting, 'train'), splitSource(task, seed, setting, 'dev')] }
    : {};
  const dev = await evaluateTemplate({
    ...common,
    ...reference,
    data: splitSource(task, seed, setting, 'dev'),
    split: 'dev',
  });
  const reuse = calibration === 'none' ? sameTest : undefined;
  const test = reuse
    ? { accuracy: reuse.testAccuracy, prompt: reuse.prompt, labelWords: reuse.labelWords, seconds: 0 }
    : await evaluateTemplate({
        ...common,
        ...reference,
        data: splitSource(task, seed, setting, 'test'),
        split: 'test',
      });
  return {
    method,
    task,
    seed,
    testAccuracy: test.accuracy,
    devAccuracy: dev.accuracy,
    trainAccuracy: null,
    prompt: test.prompt,
    labelWords: test.labelWords,
    evaluations: 0,
    seconds: dev.seconds + test.seconds,
  };
}

/**
 * Logistic regression (L2, C chosen on dev, trained on train + dev) on the vocabulary
 * log-probabilities at the mask of the task's manual template (its label words play no part).
 */
export async function probeCell(method: string, task: string, seed: number, setting: BaselineSetting): Promise<Cell> {
  const t0 = Date.now();
  const template = setting.data ? (setting.template ?? USER_MANUAL_TEMPLATE) : getTask(task).manualTemplate;
  const splits = {
    train: loadExamples(splitSource(task, seed, setting, 'train'), 'train'),
    dev: loadExamples(splitSource(task, seed, setting, 'dev'), 'dev'),
    test: loadExamples(splitSource(task, seed, setting, 'test'), 'test'),
  };
  const model = await loadModel({ model: setting.model, dtype: setting.dtype, scorer: 'full' });
  try {
    const ct = compileTemplate(parseTemplate(template), model.tokenizer, splits.train.textColumn, model.maxLength);
    const rows = (k: keyof typeof splits) =>
      splits[k].examples.map((ex) => buildRow(ct, encodeExample(ct, model.tokenizer, ex), {}));
    const labels = (k: keyof typeof splits) => splits[k].examples.map((ex) => ex.label);
    const out = await runProbe(
      model.backend as FullLogitsBackend,
      { train: rows('train'), dev: rows('dev'), test: rows('test') },
      { train: labels('train'), dev: labels('dev'), test: labels('test') },
      Math.max(splits.train.numLabels, splits.dev.numLabels, splits.test.numLabels),
    );
    return {
      method,
      task,
      seed,
      testAccuracy: out.testAccuracy,
      devAccuracy: out.devAccuracy,
      trainAccuracy: null,
      prompt: `linear probe at the mask of ${template} (C = ${out.C})`,
      labelWords: [],
      evaluations: 0,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await model.dispose();
  }
}
