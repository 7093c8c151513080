/**
 * Leaderboard rows that need no search: the task's hand-written prompt (raw or calibrated) and
 * the linear probe on the frozen model's mask log-probabilities. They show what a user gets
 * without searching.
 */
import { loadExamples } from '../data/load';
import { getTask } from '../data/tasks';
import { loadModel } from '../model/load';
import { Dtype } from '../model/modelFolder';
import { FullLogitsBackend } from '../model/onnxBackend';
import { CalibrationMode } from '../prompt/calibration';
import { buildRow, compileTemplate, encodeExample } from '../prompt/encode';
import { parseTemplate } from '../prompt/template';
import { evaluateTemplate } from '../scoring/evaluate';
import { runProbe } from '../scoring/probe';
import { Cell } from '../reports/leaderboardTable';

export interface BaselineSetting {
  model?: string;
  dtype?: Dtype;
  /** A method's own prompt in place of the task's hand-written one (a causal model needs [MASK] last). */
  template?: string;
  verbalizer?: string;
}

/**
 * The task's manual prompt (datasets README) on dev and test, with the given calibration. Raw
 * (`none`), the test score does not depend on the seed: pass the task's first cell as `sameTest`
 * and it is not scored again. Calibrated, the offsets come from the seed's inputs, so it does.
 */
export async function manualCell(method: string, task: string, seed: number, setting: BaselineSetting, calibration: CalibrationMode, sameTest?: Cell): Promise<Cell> {
  const info = getTask(task);
  const common = { model: setting.model, dtype: setting.dtype, template: setting.template ?? info.manualTemplate, verbalizer: setting.verbalizer ?? info.manualLabelWords, calibration };
  const dev = await evaluateTemplate({ ...common, data: { task, seed }, split: 'dev' });
  const reuse = calibration === 'none' ? sameTest : undefined;
  const test = reuse ? { accuracy: reuse.testAccuracy, prompt: reuse.prompt, labelWords: reuse.labelWords, seconds: 0 } : await evaluateTemplate({ ...common, data: { task, seed }, split: 'test' });
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
  const info = getTask(task);
  const model = await loadModel({ model: setting.model, dtype: setting.dtype, scorer: 'full' });
  try {
    const splits = { train: loadExamples({ task, seed }, 'train'), dev: loadExamples({ task, seed }, 'dev'), test: loadExamples({ task, seed }, 'test') };
    const ct = compileTemplate(parseTemplate(info.manualTemplate), model.tokenizer, splits.train.textColumn, model.maxLength);
    const rows = (k: keyof typeof splits) => splits[k].examples.map((ex) => buildRow(ct, encodeExample(ct, model.tokenizer, ex), {}));
    const labels = (k: keyof typeof splits) => splits[k].examples.map((ex) => ex.label);
    const out = await runProbe(
      model.backend as FullLogitsBackend,
      { train: rows('train'), dev: rows('dev'), test: rows('test') },
      { train: labels('train'), dev: labels('dev'), test: labels('test') },
      splits.train.numLabels,
    );
    return {
      method,
      task,
      seed,
      testAccuracy: out.testAccuracy,
      devAccuracy: out.devAccuracy,
      trainAccuracy: null,
      prompt: `linear probe at the mask of ${info.manualTemplate} (C = ${out.C})`,
      labelWords: [],
      evaluations: 0,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await model.dispose();
  }
}
