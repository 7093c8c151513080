import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';
import { LoadedModel, loadModel, modelMaxLength } from '../model/load';
import type { MaskedLmBackend } from '../model/backend';
import { Dtype, resolveModel, sha256File } from '../model/modelFolder';
import { PromptTokenizer } from '../model/tokenizer';
import { cacheDir } from '../paths';
import { judge, softmax } from '../scoring/metrics';
import { promptReading } from '../scoring/scorer';
import { ensembleLogProbs } from '../prompt/calibration';
import { CompiledTemplate, EncodedExample, compileTemplate, encodeExample } from '../prompt/encode';
import { PromptFile, PromptLabel, readPromptFile, validatePromptFile } from './promptFile';
import { Prediction, ShapeOptions, checkTopK, shapePrediction } from './prediction';
import { checkSlotIds, slotIds } from '../prompt/fill';
import { parseTemplate } from '../prompt/template';
import { wordTokens } from '../prompt/verbalizer';

/** A string fills `{x}`; an object gives each template field (`x`, or a named column) its text. */
export type PromptInput = string | Record<string, string>;

export type { Prediction } from './prediction';

export interface LoadPromptOptions {
  /** Model name or folder; default the one in the prompt file. */
  model?: string;
  dtype?: Dtype;
  /** onnxruntime intra-op threads (default: all cores). */
  threads?: number;
  /** Default: the scorer the search used. Not used by soft prompts (they need the inputs-embeds scorer). */
  scorer?: 'mask-head' | 'full';
  /**
   * Receives the one warning about a model that is not the one the prompt was found with (default:
   * kept in `LoadedPrompt.warnings`; the library never writes to the terminal). For a soft prompt
   * another onnx file is an error instead: its vectors belong to one model.
   */
  warn?: (message: string) => void;
  /**
   * Apply the prompt even with a tokenizer other than the one it was found with (its token ids then
   * mean other words: nonsense predictions); without it, that is an error.
   */
  force?: boolean;
}

export interface LoadedPrompt {
  readonly prompt: PromptFile;
  readonly labels: PromptLabel[];
  /** The model folder actually loaded. */
  readonly modelDir: string;
  /** Warnings while loading (a model other than the prompt's) when no `warn` callback was given. */
  readonly warnings: string[];
  /**
   * One prediction per input, in the Hugging Face pipeline shape: `{text, label, score, labelId,
   * scores: [{label, score}...]}` (label names; scores are softmax probabilities, best first;
   * `topK` keeps the K best in `scores`). The predicted label is the highest score, ties → the lowest id.
   */
  classify(inputs: PromptInput[], opts?: ShapeOptions): Promise<Prediction[]>;
  dispose(): Promise<void>;
}

/**
 * Loads the prompt's model and returns a classifier applying the stored slot and label ids; for a
 * soft prompt (`soft` in the file), the slot tokens' embeddings are replaced by its vectors.
 */
export async function loadPrompt(file: string | PromptFile, opts: LoadPromptOptions = {}): Promise<LoadedPrompt> {
  const prompt = typeof file === 'string' ? readPromptFile(file) : validatePromptFile(file, '(prompt object)');
  const warnings: string[] = [];
  const softMembers = prompt.ensemble?.members.some((m) => m.soft) ?? false;
  const model =
    prompt.soft || softMembers
      ? await loadSoftModel(prompt, opts)
      : await loadModel({
          model: opts.model ?? prompt.model.name,
          dtype: opts.dtype ?? (prompt.model.dtype as Dtype),
          scorer: opts.scorer ?? prompt.search?.scorer ?? 'mask-head',
          threads: opts.threads,
        });
  try {
    checkIds(prompt, model);
    // Soft prompts' slot ids only place their vectors; other fills are read as tokens.
    if (!prompt.soft)
      for (const m of prompt.ensemble?.members ?? [prompt])
        if (!('soft' in m && m.soft))
          checkSlotIds(
            slotIds(m.slots),
            model.tokenizer,
            typeof file === 'string' ? `prompt file ${file}` : 'the prompt',
          );
    if (!opts.force) checkTokenizer(prompt, model);
    const mismatch = modelMismatch(prompt, model);
    if (mismatch) (opts.warn ?? ((m: string) => warnings.push(m)))(mismatch);
    return classifier(prompt, model, warnings);
  } catch (e) {
    await model.dispose();
    throw e;
  }
}

/**
 * The soft-prompt scorer (as `promptsearch refine` scores): the inputs-embeds model over the
 * word-embedding table, the slot tokens' rows replaced by the prompt's vectors. Only the onnx
 * file the vectors were refined on will do: checked by sha256 before anything is loaded.
 */
async function loadSoftModel(prompt: PromptFile, opts: LoadPromptOptions): Promise<LoadedModel> {
  // The one soft prompt, or (a refined ensemble) the first soft member's: all belong to one model (validated).
  const soft = prompt.soft ?? prompt.ensemble!.members.find((m) => m.soft)!.soft!;
  const folder = resolveModel(opts.model ?? prompt.model.name, opts.dtype ?? (prompt.model.dtype as Dtype));
  const sha = sha256File(folder.onnxPath);
  if (sha !== soft.modelSha256) {
    throw new UserError(
      `the soft prompt's vectors belong to another model: ${folder.onnxPath} has sha256 ${sha.slice(0, 12)}…, the vectors were refined on ${String(soft.modelSha256).slice(0, 12)}… (${prompt.model.name}, ${prompt.model.dtype}); soft prompts only apply to that exact model file`,
    );
  }
  const tokenizer = PromptTokenizer.fromFolder(folder);
  const maxLength = modelMaxLength(folder);
  const { SoftPromptBackend } = await import('../refine/softPromptBackend');
  const { prepareEmbedsModel, readWordEmbeddings } = await import('../model/graph/embedsInput');
  const emb = readWordEmbeddings(fs.readFileSync(folder.onnxPath), folder.onnxPath);
  if (emb.hidden !== soft.hidden)
    throw new UserError(
      `the soft prompt's vectors have ${soft.hidden} numbers each, but ${folder.onnxPath} has hidden size ${emb.hidden}`,
    );
  let prepared: string;
  try {
    prepared = await prepareEmbedsModel(folder.onnxPath, cacheDir());
  } catch (e) {
    throw new UserError(`${folder.onnxPath}: cannot prepare the soft-prompt scorer (${(e as Error).message})`);
  }
  const backend = await SoftPromptBackend.load(prepared, emb, maxLength, tokenizer.special.pad, opts.threads);
  if (prompt.soft) backend.soft = softVectors(prompt.soft);
  return { folder, tokenizer, backend, maxLength, dispose: () => backend.dispose() };
}

/** Row-major [slot tokens × hidden], as the soft-prompt scorer reads them. */
function softVectors(soft: { hidden: number; vectors: number[][] }): Float32Array {
  const vectors = new Float32Array(soft.vectors.length * soft.hidden);
  soft.vectors.forEach((v, k) => vectors.set(v, k * soft.hidden));
  return vectors;
}

function classifier(prompt: PromptFile, model: LoadedModel, warnings: string[]): LoadedPrompt {
  // Inputs are keyed by field name, so `{x}` reads the field `x` whatever the run's column was.
  const compiled = new Map<string, CompiledTemplate>();
  const compile = (t: string) => {
    if (!compiled.has(t)) compiled.set(t, compileTemplate(parseTemplate(t), model.tokenizer, 'x', model.maxLength));
    return compiled.get(t)!;
  };
  // One member, or the ensemble's: each applied with its own template, slots, label words, offsets and fit.
  const softEnsemble = prompt.ensemble?.members.some((m) => m.soft) ?? false;
  const members = (prompt.ensemble?.members ?? [prompt]).map((m) => ({
    template: m.template ?? prompt.template,
    slots: slotIds(m.slots),
    labelIds: m.labels.map((l) => l.ids),
    labelScore: 'labelScore' in m ? m.labelScore : undefined,
    readout: 'readout' in m ? m.readout : undefined,
    offsets: m.calibration.offsets ?? undefined,
    fit: 'fit' in m ? m.fit : undefined,
    // A refined ensemble (every member through the soft-prompt scorer): the member's vectors, or null for its discrete tokens.
    vectors: softEnsemble ? ('soft' in m && m.soft ? softVectors(m.soft) : null) : undefined,
  }));
  members.forEach((m) => compile(m.template)); // a template that does not compile fails here, at load
  let disposed = false;
  return {
    prompt,
    labels: prompt.labels,
    modelDir: model.folder.dir,
    warnings,
    async classify(inputs, opts = {}) {
      if (disposed) throw new Error('classify() after dispose()');
      const examples = new Map<string, EncodedExample[]>();
      for (const m of members)
        if (!examples.has(m.template))
          examples.set(
            m.template,
            inputs.map((x) => encodeInput(compile(m.template), model, x)),
          );
      // A row's scores do not depend on its batch (int8 quantizes activations per row), so one
      // input classified alone gets the run's numbers exactly.
      const perMember = [];
      for (const m of members) {
        if (m.vectors !== undefined)
          (model.backend as MaskedLmBackend & { soft: Float32Array | null }).soft = m.vectors;
        perMember.push({
          logProbs: await promptReading(model.backend, compile(m.template), examples.get(m.template)!, m.slots, m),
          offsets: m.offsets,
          fit: m.fit,
        });
      }
      const scores = ensembleLogProbs(perMember);
      const names = prompt.labels.map((l) => l.name);
      const topK = checkTopK(opts.topK, names.length);
      return scores.map((lp, i) => {
        const { predicted } = judge(lp, 0);
        // Pipeline shape: probabilities are the softmax of the calibrated (ensembled) log-probabilities.
        return shapePrediction(inputs[i], predicted, softmax(lp), names, { topK });
      });
    },
    async dispose() {
      if (!disposed) await model.dispose();
      disposed = true;
    },
  };
}

function encodeInput(ct: CompiledTemplate, model: LoadedModel, input: PromptInput): EncodedExample {
  const fields = typeof input === 'string' ? { x: input } : input;
  // The label is unknown and never read.
  return encodeExample(ct, model.tokenizer, { fields, label: 0 });
}

/** Ids from another vocabulary would crash onnxruntime; say so plainly instead. */
function checkIds(prompt: PromptFile, model: LoadedModel): void {
  const ids = [
    ...Object.values(prompt.slots).flatMap((s) => s.ids),
    ...prompt.labels.flatMap((l) => l.ids.flatMap(wordTokens)),
  ];
  const bad = ids.find((id) => id >= model.tokenizer.vocabSize);
  if (bad !== undefined)
    throw new UserError(
      `the prompt uses token id ${bad}, outside the vocabulary of ${model.folder.dir} (${model.tokenizer.vocabSize} tokens); use the model it was found with (${prompt.model.name})`,
    );
}

/** The prompt's token ids mean words only in the tokenizer it was found with. */
function checkTokenizer(prompt: PromptFile, model: LoadedModel): void {
  const tok = sha256File(path.join(model.folder.dir, 'tokenizer.json'));
  if (tok === prompt.model.tokenizerSha256) return;
  throw new UserError(
    `the prompt was found with the tokenizer of ${prompt.model.name} (sha256 ${String(prompt.model.tokenizerSha256).slice(0, 12)}…), but ${path.join(model.folder.dir, 'tokenizer.json')} is another (sha256 ${tok.slice(0, 12)}…): its token ids would mean other words; use the prompt's model, or force it (--force)`,
  );
}

/** One message when the loaded model or tokenizer is not the one the prompt was found with. */
function modelMismatch(prompt: PromptFile, model: LoadedModel): string | undefined {
  const onnx = sha256File(model.folder.onnxPath);
  const tok = sha256File(path.join(model.folder.dir, 'tokenizer.json'));
  const diffs: string[] = [];
  if (onnx !== prompt.model.onnxSha256)
    diffs.push(`onnx sha256 ${onnx.slice(0, 12)}… (prompt: ${String(prompt.model.onnxSha256).slice(0, 12)}…)`);
  if (tok !== prompt.model.tokenizerSha256)
    diffs.push(`tokenizer sha256 ${tok.slice(0, 12)}… (prompt: ${String(prompt.model.tokenizerSha256).slice(0, 12)}…)`);
  if (diffs.length === 0) return undefined;
  return `the prompt was found with model ${prompt.model.name} (${prompt.model.dtype}), but the loaded model ${model.folder.dir} (${model.folder.dtype}) differs: ${diffs.join(', ')}; predictions will run but will not match the prompt's recorded scores`;
}
