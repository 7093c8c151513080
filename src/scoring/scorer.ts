import { UserError } from '../errors';
import { MaskedLmBackend } from '../model/backend';
import { CompiledTemplate, EncodedExample, EncodedRow, buildRow } from '../prompt/encode';
import { allSingleToken, WordIds, wordTokens } from '../prompt/verbalizer';
import { planBatches } from './batching';
import { Readout } from '../prompt/discriminant';
import { ExampleScore, LabelScoreRule, Summary, judgeAll, labelLogProbsOfRow, summarize, wordLabels } from './metrics';

export interface BatchOptions {
  /** Padded tokens per batch (rows × longest row). */
  maxBatchTokens?: number;
  maxBatchRows?: number;
}
export const DEFAULT_BATCH: Required<BatchOptions> = { maxBatchTokens: 2048, maxBatchRows: 64 };

/**
 * Rows per pool task when a whole split is scored (dev, test). Only a unit of work: a row's scores
 * do not depend on the rows batched with it (fp32, and int8 with per-row activation quantization,
 * model/graph/rowQuant.ts), so any split into tasks or batches gives the same numbers.
 */
export const SPLIT_TASK_ROWS = 256;

/**
 * What scores this template: the backend's kind, except that prefix reuse (causal models) cannot
 * apply when a slot comes before the input, and those rows are scored whole.
 */
export function scorerLabel(backend: MaskedLmBackend, ct: CompiledTemplate): string {
  if (backend.kind === 'prefix-reuse' && !ct.reusablePrefix)
    return 'mask-head (not prefix-reuse: a slot comes before the input)';
  return backend.kind;
}

/** Runs rows through the backend in length-sorted batches; returns logits in the rows' order. */
export async function labelLogitsForRows(
  backend: MaskedLmBackend,
  rows: EncodedRow[],
  labelIds: number[],
  opts: BatchOptions = {},
): Promise<Float32Array> {
  return inBatches(rows, labelIds.length, opts, (batch) => backend.labelLogits(batch, labelIds));
}

/**
 * `run` on the rows in length-sorted batches; each batch gives
 * [batch rows × k]; returns [rows × k] in the rows' order.
 */
async function inBatches(
  rows: EncodedRow[],
  k: number,
  opts: BatchOptions,
  run: (batch: EncodedRow[]) => Promise<Float32Array>,
): Promise<Float32Array> {
  const { maxBatchTokens, maxBatchRows } = { ...DEFAULT_BATCH, ...opts };
  const out = new Float32Array(rows.length * k);
  for (const batch of planBatches(
    rows.map((r) => r.ids.length),
    maxBatchTokens,
    maxBatchRows,
  )) {
    const values = await run(batch.map((i) => rows[i]));
    batch.forEach((i, j) => out.set(values.subarray(j * k, (j + 1) * k), i * k));
  }
  return out;
}

/**
 * How multi-token label words are read (causal models): each distinct continuation (the first
 * j tokens of a word, j = 0 … length − 1) is one extra row per example, the prompt followed by
 * those tokens, read at its last token; `reads[w][j]` = [continuation index, token column] of
 * word w's token j. A continuation shared by several words (the empty one, always) is run once.
 */
export interface ContinuationPlan {
  continuations: number[][];
  /** Distinct tokens read anywhere: the label ids every row is read at. */
  tokens: number[];
  reads: [number, number][][];
  /** Longest continuation: the room a prompt leaves for it. */
  longest: number;
}

export function planContinuations(words: number[][]): ContinuationPlan {
  const continuations: number[][] = [];
  const contIndex = new Map<string, number>();
  const tokens: number[] = [];
  const column = new Map<number, number>();
  const reads = words.map((w) =>
    w.map((t, j): [number, number] => {
      const key = w.slice(0, j).join(',');
      let c = contIndex.get(key);
      if (c === undefined) {
        c = continuations.length;
        contIndex.set(key, c);
        continuations.push(w.slice(0, j));
      }
      let col = column.get(t);
      if (col === undefined) {
        col = tokens.length;
        column.set(t, col);
        tokens.push(t);
      }
      return [c, col];
    }),
  );
  return { continuations, tokens, reads, longest: Math.max(0, ...continuations.map((c) => c.length)) };
}

/** The row with `continuation` after its read position (before any closing special tokens), read at its last token. */
export function continueRow(row: EncodedRow, continuation: number[]): EncodedRow {
  if (continuation.length === 0) return row;
  const at = row.maskPos + 1;
  return {
    ...row,
    ids: [...row.ids.slice(0, at), ...continuation, ...row.ids.slice(at)],
    maskPos: row.maskPos + continuation.length,
  };
}

/**
 * Log-probability of each label word after each row's prompt, [rows × words]: the sum over the
 * word's tokens of log-softmax over the vocabulary of the next token, each given the prompt and
 * the word's tokens before it. Causal models only (the backend's `labelLogProbs`).
 */
export async function wordLogProbsForRows(
  backend: MaskedLmBackend,
  rows: EncodedRow[],
  words: number[][],
  opts: BatchOptions = {},
): Promise<Float64Array> {
  const labelLogProbs = backend.labelLogProbs?.bind(backend);
  if (!labelLogProbs)
    throw new UserError(
      `multi-token label words need a causal model's log-probabilities, which the ${backend.kind} scorer does not give`,
    );
  const plan = planContinuations(words);
  const C = plan.continuations.length;
  const T = plan.tokens.length;
  const extended = rows.flatMap((r) => plan.continuations.map((c) => continueRow(r, c)));
  const tooLong = extended.find((r) => r.ids.length > backend.maxLength);
  if (tooLong)
    throw new UserError(
      `a prompt followed by its label word's tokens is ${tooLong.ids.length} tokens; the model takes at most ${backend.maxLength}`,
    );
  const lp = await inBatches(extended, T, opts, (batch) => labelLogProbs(batch, plan.tokens));
  const out = new Float64Array(rows.length * words.length);
  for (let i = 0; i < rows.length; i++) {
    plan.reads.forEach((read, w) => {
      let sum = 0;
      for (const [c, col] of read) sum += lp[(i * C + c) * T + col];
      out[i * words.length + w] = sum;
    });
  }
  return out;
}

/**
 * The rows of one filled prompt. With multi-token label words the inputs are cut so that the
 * prompt plus the longest continuation still fits the model.
 */
function promptRows(
  ct: CompiledTemplate,
  examples: EncodedExample[],
  slots: Record<string, number[]>,
  longest: number,
): EncodedRow[] {
  const fit = longest > 0 ? { ...ct, maxLength: ct.maxLength - longest } : ct;
  return examples.map((ex) => buildRow(fit, ex, slots));
}

/** One way to read a prompt's label words: per label its words' ids, and how their log-probabilities make the label's score. */
export interface Reading {
  labelIds: WordIds[][];
  /** Default `logsumexp`. */
  labelScore?: LabelScoreRule;
  /** The weights and biases of a `discriminant` reading (weights[l] aligned with labelIds[l]). */
  readout?: Readout;
}

/**
 * Label log-probabilities (log-softmax over the labels' scores) of one filled prompt on examples:
 * the hot path of every search. Fixed text and inputs are tokenized already (`CompiledTemplate`,
 * `EncodedExample`); this only assembles rows. A label's score is the log-sum-exp of its words'.
 */
export async function promptLogProbs(
  backend: MaskedLmBackend,
  ct: CompiledTemplate,
  examples: EncodedExample[],
  slots: Record<string, number[]>,
  labelIds: WordIds[][],
  opts: BatchOptions = {},
): Promise<number[][]> {
  return promptReading(backend, ct, examples, slots, { labelIds }, opts);
}

/** promptLogProbs through one reading: its words, how they make a label's score (and a discriminant's readout). */
export async function promptReading(
  backend: MaskedLmBackend,
  ct: CompiledTemplate,
  examples: EncodedExample[],
  slots: Record<string, number[]>,
  reading: Reading,
  opts: BatchOptions = {},
): Promise<number[][]> {
  return (await promptReadings(backend, ct, examples, slots, [reading], opts))[0];
}

/**
 * promptLogProbs for several readings of the same filled prompt, [reading][example][label]. When
 * every word is one token the rows go through the model once, asked for all the readings' words
 * (a word's logit does not depend on which other words are asked for: the mask head's projection
 * row by row; bit-identical, tested); multi-token words are scored reading by reading.
 */
export async function promptReadings(
  backend: MaskedLmBackend,
  ct: CompiledTemplate,
  examples: EncodedExample[],
  slots: Record<string, number[]>,
  readings: Reading[],
  opts: BatchOptions = {},
): Promise<number[][][]> {
  if (readings.every((r) => allSingleToken(r.labelIds))) {
    // Every label word is one token: its logit at the read position (the softmax's normaliser is
    // the same for every word of a row, so the label log-softmax needs no more).
    const rows = promptRows(ct, examples, slots, 0);
    // One request for every reading's words, each reading's words a run of columns of its own.
    const flat = readings.flatMap((r) => r.labelIds.flat() as number[]);
    const logits = await labelLogitsForRows(backend, rows, flat, opts);
    let start = 0;
    return readings.map((r) => {
      const labelOfWord = wordLabels(r.labelIds);
      const at = start;
      start += labelOfWord.length;
      return examples.map((_, i) =>
        labelLogProbsOfRow(logits, i * flat.length + at, labelOfWord, r.labelIds.length, r.labelScore, r.readout),
      );
    });
  }
  const out: number[][][] = [];
  for (const r of readings) {
    // Multi-token words (causal models): each word's log-probability, the sum over its tokens.
    const words = r.labelIds.flat().map(wordTokens);
    const rows = promptRows(ct, examples, slots, planContinuations(words).longest);
    const scores = await wordLogProbsForRows(backend, rows, words, opts);
    const labelOfWord = wordLabels(r.labelIds);
    out.push(
      examples.map((_, i) =>
        labelLogProbsOfRow(scores, i * words.length, labelOfWord, r.labelIds.length, r.labelScore, r.readout),
      ),
    );
  }
  return out;
}

/**
 * Scores one filled prompt on examples: label log-probabilities, then the decision with the
 * calibration offsets (none: raw scores).
 */
export async function scorePrompt(
  backend: MaskedLmBackend,
  ct: CompiledTemplate,
  examples: EncodedExample[],
  slots: Record<string, number[]>,
  labelIds: WordIds[][],
  opts: BatchOptions = {},
  offsets?: number[],
): Promise<{ logProbs: number[][]; scores: ExampleScore[]; summary: Summary }> {
  const logProbs = await promptLogProbs(backend, ct, examples, slots, labelIds, opts);
  const scores = judgeAll(
    logProbs,
    examples.map((ex) => ex.label),
    offsets,
  );
  return { logProbs, scores, summary: summarize(scores, labelIds.length) };
}
