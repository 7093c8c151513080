import { DataSource, loadExamples } from '../data/load';
import { SEEDS, Split } from '../data/tasks';
import { LoadOptions, loadModel } from '../model/load';
import { modelLabelNames, resolveModel } from '../model/modelFolder';
import { compileTemplate, encodeExample } from '../prompt/encode';
import { tokenizeFill } from '../prompt/fill';
import { Template, parseTemplate, renderTemplate } from '../prompt/template';
import { buildVerbalizer, parseVerbalizerSpec } from '../prompt/verbalizer';
import { Example } from '../data/tsv';
import { PromptTokenizer } from '../model/tokenizer';
import { CalibrationMode, DEFAULT_CALIBRATION, contentFreeExamples, meanOffsets } from '../prompt/calibration';
import { ExampleScore, Summary, judgeAll, summarize } from './metrics';
import { BatchOptions, promptLogProbs, scorerLabel } from './scorer';

export interface EvalRequest extends LoadOptions, BatchOptions {
  template: string;
  verbalizer: string | string[] | Record<string, string | string[]>;
  fill?: Record<string, string>;
  data: DataSource;
  split: Split;
  /** How label priors are removed (default `inputs`; see prompt/calibration.ts). */
  calibration?: CalibrationMode;
  /**
   * Calibration `inputs`: the files whose inputs the offsets are computed on (e.g. a user task's
   * train and dev, as a bundled task's seed); default: see calibrationReference.
   */
  calibrationFrom?: DataSource[];
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
  /** The decision rule: mode, offsets subtracted from the label log-probabilities, and their reference inputs. */
  calibration: { mode: CalibrationMode; offsets: number[] | null; reference: string | null };
  data: string;
  seconds: number;
  sentencesPerSecond: number;
  examples: ExampleScore[];
}

/** Loads everything, scores one filled template on one split, disposes the model. */
export async function evaluateTemplate(req: EvalRequest): Promise<EvalReport> {
  const template = parseTemplate(req.template);
  const data = loadExamples(
    { modelLabels: modelLabelNames(resolveModel(req.model, req.dtype)), ...req.data },
    req.split,
  );
  const words = parseVerbalizerSpec(req.verbalizer, data.numLabels);
  const model = await loadModel(req);
  try {
    const verbalizer = buildVerbalizer(words, model.tokenizer);
    const slots = tokenizeFill(template, model.tokenizer, req.fill ?? {});
    const ct = compileTemplate(template, model.tokenizer, data.textColumn, model.maxLength);
    const encoded = data.examples.map((ex) => encodeExample(ct, model.tokenizer, ex));
    const t0 = process.hrtime.bigint();
    const logProbs = await promptLogProbs(model.backend, ct, encoded, slots, verbalizer.ids, req);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const mode = req.calibration ?? DEFAULT_CALIBRATION;
    const reference = await calibrationReference(
      mode,
      req.data,
      data.examples,
      Object.values(ct.columns),
      model.tokenizer,
      req.calibrationFrom,
    );
    const offsets = reference
      ? meanOffsets(
          reference.examples === data.examples
            ? logProbs
            : await promptLogProbs(
                model.backend,
                ct,
                reference.examples.map((ex) => encodeExample(ct, model.tokenizer, ex)),
                slots,
                verbalizer.ids,
                req,
              ),
          words.length,
        )
      : undefined;
    const scores = judgeAll(
      logProbs,
      data.examples.map((e) => e.label),
      offsets,
    );
    const summary = summarize(scores, words.length);
    return {
      ...summary,
      model: model.folder.name,
      dtype: model.folder.dtype,
      scorer: scorerLabel(model.backend, ct),
      template: req.template,
      prompt: renderPrompt(template, slots, model.tokenizer.decode.bind(model.tokenizer)),
      labelWords: words,
      labelNames: data.labelNames,
      calibration: { mode, offsets: offsets ?? null, reference: reference?.describe ?? null },
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
export function renderPrompt(
  template: Template,
  slots: Record<string, number[]>,
  decode: (ids: number[]) => string,
): string {
  const text: Record<string, string> = {};
  for (const s of template.slots) text[s.name] = decode(slots[s.name] ?? []);
  return renderTemplate(template, text);
}

/**
 * The inputs whose mean label log-probabilities become the offsets: for a bundled task, the
 * seed's train + dev inputs (what a search calibrates on; labels are not read); for a file, the
 * scored inputs themselves; for `content-free`, the content-free inputs. Undefined: no calibration.
 */
async function calibrationReference(
  mode: CalibrationMode,
  src: DataSource,
  scored: Example[],
  columns: string[],
  tokenizer: PromptTokenizer,
  from?: DataSource[],
): Promise<{ examples: Example[]; describe: string } | undefined> {
  if (mode === 'none') return undefined;
  if (mode === 'content-free')
    return {
      examples: contentFreeExamples(columns, tokenizer.token(tokenizer.special.mask)),
      describe: 'content-free inputs ("N/A", "", the mask token)',
    };
  if (from?.length) {
    const loaded = from.map((f) => loadExamples(f, 'train'));
    return {
      examples: loaded.flatMap((l) => l.examples),
      describe: `the ${loaded.reduce((n, l) => n + l.examples.length, 0)} inputs of ${loaded.map((l) => l.origin).join(' + ')}`,
    };
  }
  if (src.file || !src.task) return { examples: scored, describe: `the ${scored.length} scored inputs` };
  const train = loadExamples(src, 'train').examples;
  const dev = loadExamples(src, 'dev').examples;
  return {
    examples: [...train, ...dev],
    describe: `the ${train.length + dev.length} train + dev inputs of seed ${src.seed ?? SEEDS[0]}`,
  };
}
