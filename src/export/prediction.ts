import { UserError } from '../errors';

/**
 * The shape of one prediction, as the Hugging Face text-classification pipeline returns it
 * (`{label, score}` with label names, `scores` best first, `top_k`), plus the input text and the
 * integer label id. Pure: the decision (which label) and the probabilities come from the caller.
 */

export interface LabelScore {
  label: string;
  score: number;
}

export interface Prediction {
  /** The input: a string input itself; for a record of fields, its `x` field (else its fields joined by tabs). */
  text: string;
  /** Predicted label name. */
  label: string;
  /** Its probability. */
  score: number;
  /** Predicted label id (index into the prompt's labels). */
  labelId: number;
  /** Every label (or the `topK` best) with its probability, best first; ties keep label order. */
  scores: LabelScore[];
}

export interface ShapeOptions {
  /** Keep the K best labels in `scores` (default all), like the pipeline's `top_k`. */
  topK?: number;
}

export function inputText(input: string | Record<string, string>): string {
  return typeof input === 'string' ? input : (input.x ?? Object.values(input).join('\t'));
}

/** One prediction from the decided label id and per-label probabilities (in label order). */
export function shapePrediction(
  input: string | Record<string, string>,
  labelId: number,
  probabilities: number[],
  labelNames: string[],
  opts: ShapeOptions = {},
): Prediction {
  const order = probabilities
    .map((p, i) => ({ label: labelNames[i], score: p, i }))
    .sort((a, b) => b.score - a.score || a.i - b.i);
  const k = opts.topK ?? order.length;
  return {
    text: inputText(input),
    label: labelNames[labelId],
    score: probabilities[labelId],
    labelId,
    scores: order.slice(0, k).map(({ label, score }) => ({ label, score })),
  };
}

/** `--top-k` / `topK`: a positive integer (at most the number of labels: more is the same as all). */
export function checkTopK(topK: number | undefined, numLabels: number): number | undefined {
  if (topK === undefined) return undefined;
  if (!Number.isInteger(topK) || topK < 1) throw new UserError(`top-k ${topK}: expected a positive integer`);
  return Math.min(topK, numLabels);
}
