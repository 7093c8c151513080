/**
 * "Necessary" FLOPs of a BERT-style encoder, from its config.json: the multiply-adds of the
 * encoder's weight matrices (Q, K, V, attention output, FFN in and out; no embeddings, biases,
 * layer norms or output head) plus attention scores and context, counted on real tokens only.
 * A multiply-add counts as 2 FLOPs. Pure, for the benchmark and its tests.
 */

export interface EncoderShape {
  layers: number;
  hidden: number;
  intermediate: number;
}

export function encoderShape(config: Record<string, unknown>): EncoderShape {
  const num = (...keys: string[]): number => {
    for (const k of keys) {
      const v = Number(config[k]);
      if (Number.isFinite(v) && v > 0) return v;
    }
    throw new Error(`config.json has no ${keys.join(' / ')}`);
  };
  const hidden = num('hidden_size', 'd_model', 'dim');
  const layers = num('num_hidden_layers', 'n_layers', 'num_layers');
  const intermediate = Number(config.intermediate_size) > 0 ? Number(config.intermediate_size) : 4 * hidden;
  return { layers, hidden, intermediate };
}

/** Weight parameters of the encoder matmuls (per model, biases excluded). */
export function encoderMatmulParams(s: EncoderShape): number {
  return s.layers * (4 * s.hidden * s.hidden + 2 * s.hidden * s.intermediate);
}

/**
 * FLOPs per token in one layer of a sequence of `seqLen` tokens:
 * 2 × (4·H² + 2·H·I) for the weight matmuls, plus 2 × 2 × seqLen × H for the attention scores
 * (Q·Kᵀ) and context (softmax·V).
 */
export function flopsPerTokenPerLayer(s: EncoderShape, seqLen: number): number {
  return 2 * (4 * s.hidden * s.hidden + 2 * s.hidden * s.intermediate) + 2 * 2 * seqLen * s.hidden;
}

/** FLOPs of one sentence of `tokens` real tokens (specials included, padding not). */
export function sentenceFlops(s: EncoderShape, tokens: number): number {
  return s.layers * tokens * flopsPerTokenPerLayer(s, tokens);
}

/** Total necessary FLOPs over sentences of the given real-token lengths. */
export function totalFlops(s: EncoderShape, lengths: number[]): number {
  return lengths.reduce((sum, n) => sum + sentenceFlops(s, n), 0);
}

/**
 * The weight-matmul FLOPs alone over sentences of the given real-token lengths: what an int8
 * model runs as integer GEMMs (attention scores and context stay fp32). 2 × (4·H² + 2·H·I) per
 * token per layer.
 */
export function weightMatmulFlops(s: EncoderShape, lengths: number[]): number {
  const tokens = lengths.reduce((a, b) => a + b, 0);
  return 2 * encoderMatmulParams(s) * tokens;
}
