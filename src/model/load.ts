import { UserError } from '../errors';
import { cacheDir } from '../paths';
import { MaskedLmBackend } from './backend';
import { Dtype, ModelFolder, resolveModel } from './modelFolder';
import { FullLogitsBackend, MaskHeadBackend, SessionOptions } from './onnxBackend';
import { PromptTokenizer } from './tokenizer';
import type { ActivationQuant } from './graph/preparedCache';

/** The scorers: `mask-head`, the rewritten graph computing only label logits; `full`, the model as exported. */
export const SCORERS = ['mask-head', 'full'] as const;
export type ScorerName = (typeof SCORERS)[number];

export interface LoadOptions extends SessionOptions {
  model?: string;
  dtype?: Dtype;
  /** `mask-head` (default): the rewritten graph computing only label logits; `full`: the model as exported. */
  scorer?: ScorerName;
  /**
   * Causal models with the mask-head scorer: reuse each example's prefix keys and values across
   * candidates (PrefixReuseBackend). Default true; false scores whole rows (the reference for benches).
   */
  prefixReuse?: boolean;
  /**
   * int8 models, mask-head scorer: activations quantized `per-row` (default, batch-independent
   * scores) or `per-tensor` (as exported; for benches). `full` always runs the file as exported.
   */
  activations?: ActivationQuant;
}

export interface LoadedModel {
  folder: ModelFolder;
  tokenizer: PromptTokenizer;
  backend: MaskedLmBackend;
  maxLength: number;
  dispose(): Promise<void>;
}

/** Longest input the model takes: tokenizer_config's model_max_length, else the position table (RoBERTa reserves 2). */
export function modelMaxLength(folder: ModelFolder): number {
  const fromTok = Number(folder.tokenizerConfig.model_max_length);
  if (Number.isFinite(fromTok) && fromTok > 0 && fromTok < 100000) return fromTok;
  const pos = Number(folder.config.max_position_embeddings ?? folder.config.n_positions ?? 512);
  return folder.config.model_type === 'roberta' ? pos - 2 : pos;
}

export async function loadModel(opts: LoadOptions = {}): Promise<LoadedModel> {
  const folder = resolveModel(opts.model, opts.dtype);
  const tokenizer = PromptTokenizer.fromFolder(folder);
  const maxLength = modelMaxLength(folder);
  let backend: MaskedLmBackend;
  if ((opts.scorer ?? 'mask-head') === 'mask-head') {
    // Lazy import: the graph rewriter pulls in the ONNX protobuf schema, which `full` does not need.
    const { prepareMaskHeadModel } = await import('./graph/maskHead');
    let prepared: string;
    try {
      prepared = await prepareMaskHeadModel(folder.onnxPath, cacheDir(), {}, opts.activations);
    } catch (e) {
      throw new UserError(
        `${folder.onnxPath}: cannot prepare the mask-head scorer (${(e as Error).message}); --scorer full uses the model as exported`,
      );
    }
    // Causal models: multi-token label words need log-probabilities, from graph variants with a
    // log-sum-exp output, prepared and opened only when such a verbalizer is first scored (the
    // one-token path keeps running the graphs above, unchanged).
    const logProbGraph = (prepare: () => Promise<string>) => async () => {
      try {
        return await prepare();
      } catch (e) {
        throw new UserError(
          `${folder.onnxPath}: cannot prepare the log-probability scorer for multi-token label words (${(e as Error).message})`,
        );
      }
    };
    const wholeLogProbs =
      folder.kind === 'causal'
        ? logProbGraph(() => prepareMaskHeadModel(folder.onnxPath, cacheDir(), { logSumExp: true }, opts.activations))
        : undefined;
    if (folder.kind === 'causal' && opts.prefixReuse !== false) {
      const { prepareCausalPrefixModels } = await import('./graph/causalPrefix');
      const { PrefixReuseBackend } = await import('./prefixBackend');
      let parts: { prefix: string; suffix: string };
      try {
        parts = await prepareCausalPrefixModels(folder.onnxPath, cacheDir());
      } catch (e) {
        throw new UserError(
          `${folder.onnxPath}: cannot prepare prefix reuse for this causal model (${(e as Error).message}); --scorer full uses the model as exported`,
        );
      }
      const { prepareCausalSuffixModel } = await import('./graph/causalPrefix');
      const suffixLogProbs = logProbGraph(() =>
        prepareCausalSuffixModel(folder.onnxPath, cacheDir(), { logSumExp: true }),
      );
      backend = await PrefixReuseBackend.load(
        { ...parts, wholeMaskHead: prepared, suffixLogProbs, wholeLogProbs },
        maxLength,
        tokenizer.special.pad,
        opts,
      );
    } else {
      backend = await MaskHeadBackend.load(prepared, maxLength, tokenizer.special.pad, {
        ...opts,
        logProbs: wholeLogProbs,
      });
    }
  } else {
    // The reference path: the file exactly as exported (int8: one activation scale per batch).
    backend = await FullLogitsBackend.load(folder.onnxPath, maxLength, tokenizer.special.pad, opts);
  }
  return { folder, tokenizer, backend, maxLength, dispose: () => backend.dispose() };
}
