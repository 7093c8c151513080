/**
 * The transformers.js baseline: the straightforward way a user scores a cloze prompt with
 * `@huggingface/transformers` — tokenize a batch of 64 filled prompts (padded to the batch's
 * longest, in file order), run the masked LM, read the label-word logits at [MASK].
 *
 * A devDependency: bench.ts imports this module lazily, so a production install never loads it.
 */
import type * as TJS from '@huggingface/transformers';

export interface TjsOptions {
  /** The folder that holds model folders (transformers.js `env.localModelPath`). */
  modelsDir: string;
  model: string;
  dtype: 'fp32' | 'int8';
  /** Filled prompts, e.g. `<sentence> it was [MASK] .`. */
  texts: string[];
  /** One label word per label, in label order. */
  labelWords: string[];
  threads: number;
  batchSize: number;
  warmupBatches: number;
  passes: number;
}

export interface TjsResult {
  version: string;
  /** Best pass. */
  seconds: number;
  passSeconds: number[];
  sentencesPerSecond: number;
  /** Of the best pass: tokenizer time inside it (included in `seconds`). */
  tokenizeSeconds: number;
  /** argmax over the label words per text (ties → lowest label). */
  predictions: number[];
  /** Row-major [texts × labels] logits at [MASK]. */
  labelLogits: Float32Array;
  /** Token ids per text without padding (specials included), for the parity check. */
  ids: number[][];
}

let loaded: Promise<typeof TJS> | undefined;
/** The package has a CommonJS build for Node, so a plain (lazy) require-style import works. */
function transformers(): Promise<typeof TJS> {
  loaded ??= import('@huggingface/transformers').catch((e: NodeJS.ErrnoException) => {
    if (e?.code === 'MODULE_NOT_FOUND')
      throw new Error(
        'the benchmark compares against @huggingface/transformers, a devDependency: run `npm install` (with dev dependencies) first',
      );
    throw e;
  });
  return loaded;
}

export async function benchTransformersJs(o: TjsOptions): Promise<TjsResult> {
  const T = await transformers();
  T.env.allowRemoteModels = false;
  T.env.allowLocalModels = true;
  T.env.localModelPath = o.modelsDir.endsWith('/') ? o.modelsDir : o.modelsDir + '/';
  const tokenizer = await T.AutoTokenizer.from_pretrained(o.model);
  const model = await T.AutoModelForMaskedLM.from_pretrained(o.model, {
    dtype: o.dtype === 'int8' ? 'q8' : 'fp32',
    device: 'cpu',
    // Same thread count as our scorer; everything else left at transformers.js defaults.
    session_options: { intraOpNumThreads: o.threads },
  });
  try {
    const labelIds = o.labelWords.map((w) => {
      const ids = tokenizer.encode(w, { add_special_tokens: false });
      if (ids.length !== 1) throw new Error(`label word '${w}' is ${ids.length} tokens for transformers.js`);
      return ids[0];
    });
    const maskId = tokenizer.mask_token_id;
    const k = labelIds.length;
    const n = o.texts.length;

    const runBatch = async (texts: string[], out: Float32Array | undefined, offset: number): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const inputs = tokenizer(texts, { padding: true, truncation: true });
      const tokSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const { logits } = await model(inputs);
      if (out) {
        const ids = inputs.input_ids.data as BigInt64Array;
        const [rows, len] = inputs.input_ids.dims as number[];
        const vocab = logits.dims[2] as number;
        const data = logits.data as Float32Array;
        for (let r = 0; r < rows; r++) {
          let pos = -1;
          for (let j = 0; j < len; j++)
            if (Number(ids[r * len + j]) === maskId) {
              pos = j;
              break;
            }
          if (pos < 0) throw new Error(`transformers.js: no [MASK] in row ${offset + r}`);
          for (let c = 0; c < k; c++) out[(offset + r) * k + c] = data[(r * len + pos) * vocab + labelIds[c]];
        }
      }
      logits.dispose?.();
      return tokSeconds;
    };

    for (let b = 0; b < o.warmupBatches; b++) {
      const start = (b * o.batchSize) % Math.max(1, n);
      await runBatch(o.texts.slice(start, start + o.batchSize), undefined, 0);
    }
    const labelLogits = new Float32Array(n * k);
    const passSeconds: number[] = [];
    let tokenizeSeconds = Infinity;
    for (let p = 0; p < o.passes; p++) {
      let tok = 0;
      const t0 = process.hrtime.bigint();
      for (let start = 0; start < n; start += o.batchSize)
        tok += await runBatch(o.texts.slice(start, start + o.batchSize), labelLogits, start);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (s < Math.min(...passSeconds, Infinity)) tokenizeSeconds = tok;
      passSeconds.push(s);
    }
    const predictions = Array.from({ length: n }, (_, i) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (labelLogits[i * k + c] > labelLogits[i * k + best]) best = c;
      return best;
    });
    // Untimed: the ids transformers.js feeds the model, to check both sides read the same input.
    const ids = o.texts.map((t) => tokenizer.encode(t));
    const seconds = Math.min(...passSeconds);
    return {
      version: T.env.version,
      seconds,
      passSeconds,
      sentencesPerSecond: n / seconds,
      tokenizeSeconds,
      predictions,
      labelLogits,
      ids,
    };
  } finally {
    await model.dispose();
  }
}

export interface TjsCausalOptions {
  modelsDir: string;
  model: string;
  dtype: 'fp32' | 'int8';
  /** Full prompts; the label word is the next token after each. */
  texts: string[];
  /** Label words as they follow the prompt, with their leading space (` awful`). */
  labelWords: string[];
  threads: number;
  batchSize: number;
  warmupBatches: number;
  passes: number;
}

/**
 * The transformers.js baseline for a causal LM: tokenize a batch of prompts (padded on the right,
 * the tokenizer's default), run `AutoModelForCausalLM`, read the label-word logits at each row's
 * last real token (attention mask sum − 1).
 */
export async function benchTransformersJsCausal(o: TjsCausalOptions): Promise<TjsResult> {
  const T = await transformers();
  T.env.allowRemoteModels = false;
  T.env.allowLocalModels = true;
  T.env.localModelPath = o.modelsDir.endsWith('/') ? o.modelsDir : o.modelsDir + '/';
  const tokenizer = await T.AutoTokenizer.from_pretrained(o.model);
  const model = await T.AutoModelForCausalLM.from_pretrained(o.model, {
    dtype: o.dtype === 'int8' ? 'q8' : 'fp32',
    device: 'cpu',
    session_options: { intraOpNumThreads: o.threads },
  });
  try {
    const labelIds = o.labelWords.map((w) => {
      const ids = tokenizer.encode(w, { add_special_tokens: false });
      if (ids.length !== 1) throw new Error(`label word '${w}' is ${ids.length} tokens for transformers.js`);
      return ids[0];
    });
    const k = labelIds.length;
    const n = o.texts.length;
    const runBatch = async (texts: string[], out: Float32Array | undefined, offset: number): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const inputs = tokenizer(texts, { padding: true, truncation: true });
      const tokSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const { logits } = await model(inputs);
      if (out) {
        const mask = inputs.attention_mask.data as BigInt64Array;
        const [rows, len] = inputs.input_ids.dims as number[];
        const vocab = logits.dims[2] as number;
        const data = logits.data as Float32Array;
        for (let r = 0; r < rows; r++) {
          let last = -1;
          for (let j = 0; j < len; j++) if (mask[r * len + j] === 1n) last = j;
          for (let c = 0; c < k; c++) out[(offset + r) * k + c] = data[(r * len + last) * vocab + labelIds[c]];
        }
      }
      logits.dispose?.();
      return tokSeconds;
    };
    for (let b = 0; b < o.warmupBatches; b++) {
      const start = (b * o.batchSize) % Math.max(1, n);
      await runBatch(o.texts.slice(start, start + o.batchSize), undefined, 0);
    }
    const labelLogits = new Float32Array(n * k);
    const passSeconds: number[] = [];
    let tokenizeSeconds = Infinity;
    for (let p = 0; p < o.passes; p++) {
      let tok = 0;
      const t0 = process.hrtime.bigint();
      for (let start = 0; start < n; start += o.batchSize)
        tok += await runBatch(o.texts.slice(start, start + o.batchSize), labelLogits, start);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (s < Math.min(...passSeconds, Infinity)) tokenizeSeconds = tok;
      passSeconds.push(s);
    }
    const predictions = Array.from({ length: n }, (_, i) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (labelLogits[i * k + c] > labelLogits[i * k + best]) best = c;
      return best;
    });
    const ids = o.texts.map((t) => tokenizer.encode(t, { add_special_tokens: false }));
    const seconds = Math.min(...passSeconds);
    return {
      version: T.env.version,
      seconds,
      passSeconds,
      sentencesPerSecond: n / seconds,
      tokenizeSeconds,
      predictions,
      labelLogits,
      ids,
    };
  } finally {
    await model.dispose();
  }
}
