/**
 * Candidate pools: which tokens each slot position (and each searched label word) may take.
 *
 * The vocabulary is far too large to search blindly, so the model itself proposes candidates:
 * slot positions are filled with the mask token and the tokens the model finds likely there,
 * averaged over the train examples, become that position's pool (AutoPrompt / LM-BFF style).
 * Label-word pools come from the real mask position, ranked per label so a word must be both
 * likely for that label and more likely than for the others.
 */
import { UserError } from '../errors';
import type { FullLogitsBackend } from '../model/onnxBackend';
import { PromptTokenizer } from '../model/tokenizer';
import { logSoftmax } from '../prompt/calibration';
import { buildRow, CompiledTemplate, EncodedExample, EncodedRow } from '../prompt/encode';
import { requireExactFill } from '../prompt/fill';
import { planBatches } from '../scoring/batching';

/** What proposing needs from the model (FullLogitsBackend has it; tests may fake it). */
export type LogitsAtBackend = Pick<FullLogitsBackend, 'logitsAt'>;

export const DEFAULT_SLOT_TOP_K = 64;
export const DEFAULT_LABEL_TOP_K = 16;
export const DEFAULT_PROPOSE_BATCH = 32;
/** wordLists key whose words go into every slot. */
export const ALL_SLOTS = '*';

export interface SlotPoolOptions {
  backend: LogitsAtBackend;
  tokenizer: PromptTokenizer;
  compiled: CompiledTemplate;
  /** Train examples (labels unused). */
  examples: EncodedExample[];
  /** Model proposals per position, on top of the hand-crafted words. Default 64. */
  topK?: number;
  /** Ids the model may not propose (typically the label words, unless allowed in slots). */
  exclude?: Set<number>;
  /** Hand-crafted words per slot name, or per `*` for every slot; they lead each pool. */
  wordLists?: Record<string, string[]>;
  /** Rows per model call. Default 32. */
  batchSize?: number;
}

export interface LabelPoolOptions {
  backend: LogitsAtBackend;
  tokenizer: PromptTokenizer;
  compiled: CompiledTemplate;
  /** Train examples; their labels define the per-label means. */
  examples: EncodedExample[];
  numLabels: number;
  /** Words per label. Default 16. */
  topK?: number;
  /** The slot filling used while proposing (a neutral default, e.g. `firstTokenFill(slotPools)`). */
  fixedSlots: Record<string, number[]>;
  exclude?: Set<number>;
  batchSize?: number;
}

/**
 * Pools for every slot position: `result[slot][p]` lists candidate ids for position p. Each pool is
 * the hand-crafted words (slot-specific first, then `*`), then the `topK` best whole-word model
 * proposals not already listed, by mean log-probability over the examples (ties: lower id first).
 * Hand-crafted words are the user's explicit choice, so `exclude` filters only model proposals.
 */
export async function proposeSlotPools(opts: SlotPoolOptions): Promise<Record<string, number[][]>> {
  const { tokenizer, compiled } = opts;
  const topK = opts.topK ?? DEFAULT_SLOT_TOP_K;
  const exclude = opts.exclude ?? new Set<number>();
  const slots = compiled.template.slots;
  // Validate and map the hand-crafted words before spending any model time.
  const handCrafted = handCraftedIds(tokenizer, slots, opts.wordLists ?? {});
  const result: Record<string, number[][]> = {};
  if (slots.length === 0) return result;
  if (opts.examples.length === 0) throw new UserError('cannot propose slot tokens: no train examples');

  // Masked LM: slots filled with the mask token, read at the slot. Causal LM: a slot token is the
  // next token after the one before it, so read one position earlier (slots filled with the pad
  // token stand in for the still-unknown earlier slot tokens; a slot at position 0 reads position 0).
  const filler = compiled.causal ? tokenizer.special.pad : tokenizer.special.mask;
  const maskFill = Object.fromEntries(slots.map((s) => [s.name, new Array<number>(s.length).fill(filler)]));
  const rows = opts.examples.map((ex) => buildRow(compiled, ex, maskFill));
  const positions = rows.map((r) => (compiled.causal ? r.slotPos!.map((p) => Math.max(0, p - 1)) : r.slotPos!));
  const { sums, counts } = await sumLogSoftmax(
    opts.backend,
    rows,
    positions,
    new Array(rows.length).fill(0),
    1,
    opts.batchSize,
  );

  const eligible = wholeWordIds(tokenizer, sums[0][0].length);
  let k = 0;
  for (const s of slots) {
    const pools: number[][] = [];
    for (let p = 0; p < s.length; p++, k++) {
      const mean = sums[0][k].map((v) => v / counts[0]);
      const lead = handCrafted[s.name];
      const taken = new Set(lead);
      const proposed = topTokens(
        mean,
        eligible.filter((id) => !exclude.has(id) && !taken.has(id)),
        topK,
      );
      pools.push([...lead, ...proposed]);
    }
    result[s.name] = pools;
  }
  return result;
}

/**
 * Per-label word scores at the real mask: `result[l][id]`. See `proposeLabelWordPools`. Exposed so
 * callers (and tests) can see why a word landed where it did.
 */
export async function labelWordScores(opts: LabelPoolOptions): Promise<Float64Array[]> {
  return discriminativeScores(await classMeanLogProbs(opts), PLAUSIBLE_LABEL_WORDS);
}

/** Per label: the mean over its examples of the log-softmax at the mask (slots filled with `fixedSlots`). */
export async function classMeanLogProbs(opts: Omit<LabelPoolOptions, 'topK' | 'exclude'>): Promise<Float64Array[]> {
  const { compiled, numLabels } = opts;
  requireExactFill(compiled.template.slots, opts.fixedSlots);
  const bad = opts.examples.find((e) => !Number.isInteger(e.label) || e.label < 0 || e.label >= numLabels);
  if (bad) throw new UserError(`example label ${bad.label} is outside 0..${numLabels - 1}`);
  for (let l = 0; l < numLabels; l++) {
    if (!opts.examples.some((e) => e.label === l))
      throw new UserError(`label ${l} has no train examples; cannot propose label words for it`);
  }
  const rows = opts.examples.map((ex) => buildRow(compiled, ex, opts.fixedSlots));
  const { sums, counts } = await sumLogSoftmax(
    opts.backend,
    rows,
    rows.map((r) => [r.maskPos]),
    opts.examples.map((e) => e.label),
    numLabels,
    opts.batchSize,
  );
  return sums.map((perPos, l) => perPos[0].map((v) => v / counts[l]));
}

/** Label words are ranked among the this-many most likely words at the mask (all labels pooled). */
export const PLAUSIBLE_LABEL_WORDS = 1000;

/**
 * Per-label scores from per-label mean log-probabilities at the mask: the contrast
 * meanLogP(l) − mean over the other labels, among the `plausible` most likely tokens overall
 * (−∞ elsewhere). Likelihood-weighted rankings pick generic words that fit every example ("way",
 * "film" after "i the"), which a search then overfits to 16 examples per class with; the contrast
 * among plausible words picks words that separate the classes ("stupid" / "stunning"). Pure.
 */
export function discriminativeScores(means: ArrayLike<number>[], plausible: number): Float64Array[] {
  const numLabels = means.length;
  const vocab = means[0].length;
  const overall = new Float64Array(vocab);
  for (let id = 0; id < vocab; id++) for (let l = 0; l < numLabels; l++) overall[id] += means[l][id] / numLabels;
  const cutoff = plausible >= vocab ? -Infinity : [...overall].sort((a, b) => b - a)[plausible - 1];
  return means.map((mine, l) => {
    const score = new Float64Array(vocab).fill(-Infinity);
    for (let id = 0; id < vocab; id++) {
      if (overall[id] < cutoff) continue;
      if (numLabels === 1) {
        score[id] = mine[id];
        continue;
      }
      let other = 0;
      for (let o = 0; o < numLabels; o++) if (o !== l) other += means[o][id];
      score[id] = mine[id] - other / (numLabels - 1);
    }
    return score;
  });
}

export async function proposeLabelWordPools(opts: LabelPoolOptions): Promise<number[][]> {
  const scores = await labelWordScores(opts);
  const exclude = opts.exclude ?? new Set<number>();
  const eligible = wholeWordIds(opts.tokenizer, scores[0].length).filter((id) => !exclude.has(id));
  return assignLabelPools(scores, eligible, opts.topK ?? DEFAULT_LABEL_TOP_K);
}

/**
 * How `findLabelWords` finds label words: `withSlots`, searched with the slots from model-proposed
 * pools (proposeLabelWordPools); `fromData`, chosen from the labelled examples before the slot
 * search and then fixed (chooseDataLabelWords).
 */
export const LABEL_WORD_METHODS = ['withSlots', 'fromData'] as const;
export type LabelWordMethod = (typeof LABEL_WORD_METHODS)[number];

/** Label words chosen from the data (`findLabelWords` method `fromData`) are ranked among this many likeliest whole words at the mask. */
export const DATA_WORD_CANDIDATES = 200;
/** Words per label when they are chosen from the data. */
export const DEFAULT_DATA_WORDS_PER_LABEL = 10;

/**
 * How well each candidate word's log-probability separates each class from the others, as a
 * t-statistic: (the class's mean − the mean of the other classes' means) / the pooled
 * within-class standard deviation. `features[i][j]`: example i's log-probability of candidate j;
 * `result[l][j]`. A word that differs between classes by less than it varies within them (common
 * on 16 examples per class) scores low however large the difference of its means. Pure.
 */
export function separationScores(features: ArrayLike<number>[], labels: number[], numLabels: number): Float64Array[] {
  const width = features[0]?.length ?? 0;
  const sums = Array.from({ length: numLabels }, () => new Float64Array(width));
  const counts = new Array<number>(numLabels).fill(0);
  features.forEach((f, i) => {
    counts[labels[i]]++;
    for (let j = 0; j < width; j++) sums[labels[i]][j] += f[j];
  });
  const means = sums.map((s, l) => s.map((v) => v / Math.max(1, counts[l])));
  const squares = new Float64Array(width);
  features.forEach((f, i) => {
    for (let j = 0; j < width; j++) squares[j] += (f[j] - means[labels[i]][j]) ** 2;
  });
  const dof = Math.max(1, features.length - numLabels);
  const sd = squares.map((q) => Math.sqrt(q / dof) + 1e-6);
  return means.map((mine, l) =>
    mine.map((m, j) => {
      if (numLabels === 1) return m / sd[j];
      let other = 0;
      for (let o = 0; o < numLabels; o++) if (o !== l) other += means[o][j];
      return (m - other / (numLabels - 1)) / sd[j];
    }),
  );
}

/** Whole words by their mean log-probability over the classes (`means[l][id]`), likeliest first; ties: lower id. */
export function likeliestWholeWords(means: ArrayLike<number>[], tokenizer: PromptTokenizer): number[] {
  const overall = (id: number) => means.reduce((s, m) => s + m[id], 0) / means.length;
  return wholeWordIds(tokenizer, means[0].length)
    .map((id) => ({ id, p: overall(id) }))
    .sort((a, b) => b.p - a.p || a.id - b.id)
    .map((w) => w.id);
}

/**
 * Label words chosen from labelled examples, for a search with no given label words: among the
 * `candidates` whole words the model finds likeliest at the mask (mean log-probability over the
 * classes), each label gets the `topK` words (default 10) whose log-probability, renormalized over
 * the candidates, best separates its class from the others (separationScores); no word serves two
 * labels (assignLabelPools). Two passes over the examples: the class means over the vocabulary,
 * then the candidates' logits per example.
 */
export async function chooseDataLabelWords(opts: LabelPoolOptions & { candidates?: number }): Promise<number[][]> {
  const { tokenizer, numLabels } = opts;
  const means = await classMeanLogProbs(opts);
  const exclude = opts.exclude ?? new Set<number>();
  const candidates = likeliestWholeWords(means, tokenizer)
    .filter((id) => !exclude.has(id))
    .slice(0, opts.candidates ?? DATA_WORD_CANDIDATES);
  const rows = opts.examples.map((ex) => buildRow(opts.compiled, ex, opts.fixedSlots));
  const features: number[][] = new Array(rows.length);
  for (const batch of planBatches(
    rows.map((r) => r.ids.length),
    Infinity,
    Math.max(1, opts.batchSize ?? DEFAULT_PROPOSE_BATCH),
  )) {
    const logits = await opts.backend.logitsAt(
      batch.map((i) => rows[i]),
      batch.map((i) => [rows[i].maskPos]),
    );
    batch.forEach((r, b) => (features[r] = logSoftmax(candidates.map((id) => logits[b][0][id]))));
  }
  const separation = separationScores(
    features,
    opts.examples.map((e) => e.label),
    numLabels,
  );
  const scores = separation.map((row) => {
    const full = new Float64Array(means[0].length).fill(-Infinity);
    candidates.forEach((id, j) => (full[id] = row[j]));
    return full;
  });
  const pools = assignLabelPools(scores, candidates, opts.topK ?? DEFAULT_DATA_WORDS_PER_LABEL);
  const empty = pools.findIndex((p) => p.length === 0);
  if (empty >= 0)
    throw new UserError(
      `no label word left for label ${empty} among the ${candidates.length} likeliest words at the mask (findLabelWords: raise 'candidates' or lower 'wordsPerLabel')`,
    );
  return pools;
}

/**
 * Disjoint top-k per label. Greedy over (label, token) pairs by descending score: a token goes to
 * the first label that wants it while that label still has room, i.e. to the label where it
 * scores highest unless that label already filled up with better words. Ties: lower token id,
 * then lower label. Pure, for tests.
 */
export function assignLabelPools(scores: Float64Array[] | number[][], eligible: number[], topK: number): number[][] {
  const L = scores.length;
  // Other labels can take at most topK of a label's words each, so its top L·topK suffice.
  const pairs: { label: number; id: number; score: number }[] = [];
  scores.forEach((s, label) => {
    for (const id of topTokens(s, eligible, L * topK)) pairs.push({ label, id, score: s[id] });
  });
  pairs.sort((a, b) => b.score - a.score || a.id - b.id || a.label - b.label);
  const pools: number[][] = scores.map(() => []);
  const used = new Set<number>();
  for (const p of pairs) {
    if (used.has(p.id) || pools[p.label].length >= topK) continue;
    pools[p.label].push(p.id);
    used.add(p.id);
  }
  return pools;
}

/** The neutral slot filling for proposing label words: each position's first pooled token. */
export function firstTokenFill(pools: Record<string, number[][]>): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(pools).map(([name, ps]) => [
      name,
      ps.map((pool, p) => {
        if (pool.length === 0) throw new UserError(`slot <${name}> position ${p + 1} has an empty candidate pool`);
        return pool[0];
      }),
    ]),
  );
}

/** The `k` ids of `ids` with the highest score, descending; ties broken by lower id. */
function topTokens(score: ArrayLike<number>, ids: number[], k: number): number[] {
  return [...ids].sort((a, b) => score[b] - score[a] || a - b).slice(0, k);
}

function wholeWordIds(tokenizer: PromptTokenizer, n: number): number[] {
  const ids: number[] = [];
  for (let id = 0; id < n; id++) if (tokenizer.isWholeWord(id)) ids.push(id);
  return ids;
}

/** Hand-crafted words as ids per slot, slot-specific words first, then `*`, de-duplicated. */
function handCraftedIds(
  tokenizer: PromptTokenizer,
  slots: { name: string }[],
  wordLists: Record<string, string[]>,
): Record<string, number[]> {
  const names = new Set(slots.map((s) => s.name));
  for (const key of Object.keys(wordLists)) {
    if (key !== ALL_SLOTS && !names.has(key)) {
      throw new UserError(
        `word list for slot <${key}>: the template has no such slot (slots: ${[...names].map((n) => `<${n}>`).join(', ') || 'none'})`,
      );
    }
  }
  const out: Record<string, number[]> = {};
  for (const { name } of slots) {
    const ids: number[] = [];
    for (const word of [...(wordLists[name] ?? []), ...(wordLists[ALL_SLOTS] ?? [])]) {
      const id = singleTokenId(tokenizer, word, name);
      if (!ids.includes(id)) ids.push(id);
    }
    out[name] = ids;
  }
  return out;
}

/** Same rule as label words (the token as it reads after a space); otherwise a UserError. */
function singleTokenId(tokenizer: PromptTokenizer, word: string, slot: string): number {
  const w = word.trim();
  const ids = w.length > 0 ? tokenizer.encode(w, true) : [];
  if (ids.length === 1 && !tokenizer.special.all.has(ids[0])) return ids[0];
  const pieces = ids.map((i) => `'${tokenizer.token(i)}'`).join(' ');
  const close = w.length > 0 ? tokenizer.closeWords(w, 5) : [];
  throw new UserError(
    `slot <${slot}>: hand-crafted word '${word}' is not a single token for this tokenizer (it becomes ${pieces || 'nothing'})` +
      (close.length ? `; close single-token words: ${close.join(', ')}` : ''),
  );
}

/**
 * Sums of log-softmax vectors: `sums[g][k]` adds up position k's log-probabilities over the rows
 * in group g (`groupOf[r]`), `counts[g]` counts them. Rows are batched by length to cut padding;
 * the plan depends only on the rows, so the sums are deterministic.
 */
async function sumLogSoftmax(
  backend: LogitsAtBackend,
  rows: EncodedRow[],
  positions: number[][],
  groupOf: number[],
  numGroups: number,
  batchSize = DEFAULT_PROPOSE_BATCH,
): Promise<{ sums: Float64Array[][]; counts: number[] }> {
  const perRow = positions[0]?.length ?? 0;
  const sums: Float64Array[][] = Array.from({ length: numGroups }, () => []);
  const counts = new Array<number>(numGroups).fill(0);
  for (const batch of planBatches(
    rows.map((r) => r.ids.length),
    Infinity,
    Math.max(1, batchSize),
  )) {
    const logits = await backend.logitsAt(
      batch.map((i) => rows[i]),
      batch.map((i) => positions[i]),
    );
    batch.forEach((r, b) => {
      const g = groupOf[r];
      counts[g]++;
      for (let k = 0; k < perRow; k++) {
        const v = logits[b][k];
        if (!sums[g][k]) sums[g][k] = new Float64Array(v.length);
        addLogSoftmax(sums[g][k], v);
      }
    });
  }
  // Groups without rows still get zero vectors, so callers can index them (and report counts of 0).
  const vocab = sums.flat()[0]?.length ?? 0;
  for (const g of sums) for (let k = 0; k < perRow; k++) g[k] ??= new Float64Array(vocab);
  return { sums, counts };
}

/** acc += log_softmax(logits), in float64 for a stable sum. */
function addLogSoftmax(acc: Float64Array, logits: Float32Array): void {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < logits.length; i++) acc[i] += logits[i] - lse;
}
