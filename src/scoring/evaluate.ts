import { DataSource, loadExamples } from '../data/load';
import { Split } from '../data/tasks';
import { LoadOptions, loadModel } from '../model/load';
import { compileTemplate, encodeExample } from '../prompt/encode';
import { tokenizeFill } from '../prompt/fill';
import { Template, parseTemplate, renderTemplate } from '../prompt/template';
import { buildVerbalizer, parseVerbalizerSpec } from '../prompt/verbalizer';
import { ExampleScore, Summary } from './metrics';
import { BatchOptions, scorePrompt, scorerLabel } from './scorer';

export interface EvalRequest extends LoadOptions, BatchOptions {
  template: string;
  verbalizer: string | string[] | Record<string, string | string[]>;
  fill?: Record<string, string>;
  data: DataSource;
  split: Split;
}

export interface EvalReport extends Summary {
  model: string;
  dtype: string;
  scorer: string;
  template: string;
  /** The prompt as the model reads it, with `{x}` standing for the input. */
  prompt: string;
  labelWords: string[][];
  labelNames: string[];
  data: string;
  seconds: number;
  sentencesPerSecond: number;
  examples: ExampleScore[];
}

/** Loads everything, scores one filled template on one split, disposes the model. */
export async function evaluateTemplate(req: EvalRequest): Promise<EvalReport> {
  const template = parseTemplate(req.template);
  const data = loadExamples(req.data, req.split);
  const words = parseVerbalizerSpec(req.verbalizer, data.numLabels);
  const model = await loadModel(req);
  try {
    const verbalizer = buildVerbalizer(words, model.tokenizer);
    const slots = tokenizeFill(template, model.tokenizer, req.fill ?? {});
    const ct = compileTemplate(template, model.tokenizer, data.textColumn, model.maxLength);
    const encoded = data.examples.map((ex) => encodeExample(ct, model.tokenizer, ex));
    const t0 = process.hrtime.bigint();
    const { scores, summary } = await scorePrompt(model.backend, ct, encoded, slots, verbalizer.ids, req);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return {
      ...summary,
      model: model.folder.name,
      dtype: model.folder.dtype,
      scorer: scorerLabel(model.backend, ct),
      template: req.template,
      prompt: renderPrompt(template, slots, model.tokenizer.decode.bind(model.tokenizer)),
      labelWords: words,
      labelNames: data.labelNames,
      data: data.origin,
      seconds,
      sentencesPerSecond: scores.length / seconds,
      examples: scores,
    };
  } finally {
    await model.dispose();
  }
}

/** The template with slots replaced by their decoded tokens. */
export function renderPrompt(template: Template, slots: Record<string, number[]>, decode: (ids: number[]) => string): string {
  const text: Record<string, string> = {};
  for (const s of template.slots) text[s.name] = decode(slots[s.name] ?? []);
  return renderTemplate(template, text);
}
