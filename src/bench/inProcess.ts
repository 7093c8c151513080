/**
 * The in-process scorer timed the way `npm run bench` times it (also the reference rate of
 * `npm run bench:search`): SST-2 test sentences through `{x} it was [MASK] .` with awful/wonderful,
 * warmed up on a few batches, then 2 timed passes; the best pass counts.
 */
import { Example } from '../data/tsv';
import { ActivationQuant } from '../model/graph/preparedCache';
import { loadModel } from '../model/load';
import { Dtype } from '../model/modelFolder';
import { buildRow, compileTemplate, encodeExample } from '../prompt/encode';
import { parseTemplate } from '../prompt/template';
import { buildVerbalizer } from '../prompt/verbalizer';
import { labelLogitsForRows, scorePrompt } from '../scoring/scorer';

export const TEMPLATE = '{x} it was [MASK] .';
export const LABEL_WORDS = ['awful', 'wonderful'];
export const BATCH = 64;
const WARMUP_ROWS = 2 * BATCH;
export const PASSES = 2;

export interface Timed {
  sentencesPerSecond: number;
  passSeconds: number[];
}
export interface InProcess extends Timed {
  predictions: number[];
  labelLogits: number[];
  ids: number[][];
  encodeSeconds: number;
}

export const now = () => process.hrtime.bigint();
export const since = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
export const best = (t: Timed) => Math.min(...t.passSeconds);
export const r2 = (x: number) => Math.round(x * 100) / 100;

/** A scorer in this process, loaded and warmed, ready for timed passes (see interleave). */
export interface OpenScorer {
  /** One pass over every example. */
  pass(): Promise<void>;
  /** The last pass's predictions and raw label-word logits; disposes of the model. */
  finish(): Promise<Omit<InProcess, keyof Timed>>;
}

/** Loads one scorer in this process (loadModel → compileTemplate/encodeExample) and warms it up. */
export async function openInProcess(
  dtype: Dtype,
  scorer: 'mask-head' | 'full',
  examples: Example[],
  textColumn: string,
  threads: number,
  activations: ActivationQuant = 'per-row',
): Promise<OpenScorer> {
  const model = await loadModel({ dtype, scorer, threads, activations });
  try {
    const labelIds = buildVerbalizer(
      LABEL_WORDS.map((w) => [w]),
      model.tokenizer,
    ).ids;
    const ct = compileTemplate(parseTemplate(TEMPLATE), model.tokenizer, textColumn, model.maxLength);
    const t0 = now();
    const encoded = examples.map((ex) => encodeExample(ct, model.tokenizer, ex));
    const encodeSeconds = since(t0);
    await scorePrompt(model.backend, ct, encoded.slice(0, WARMUP_ROWS), {}, labelIds);
    let last: Awaited<ReturnType<typeof scorePrompt>> | undefined;
    return {
      async pass() {
        last = await scorePrompt(model.backend, ct, encoded, {}, labelIds);
      },
      async finish() {
        try {
          // Raw label-word logits (not the log-probabilities the scorer decides on), to compare with transformers.js.
          const rows = encoded.map((ex) => buildRow(ct, ex, {}));
          const labelLogits = Array.from(await labelLogitsForRows(model.backend, rows, labelIds.flat() as number[]));
          return {
            predictions: last!.scores.map((s) => s.predicted),
            labelLogits,
            ids: rows.map((r) => r.ids),
            encodeSeconds,
          };
        } finally {
          await model.dispose();
        }
      },
    };
  } catch (e) {
    await model.dispose();
    throw e;
  }
}

/**
 * Timed passes of several scorers, interleaved (pass 1 of each, then pass 2 of each, …), so a
 * busy moment of a shared machine falls on all of them alike and their ratio holds.
 */
export async function interleave(n: number, passes: (() => Promise<void>)[], rounds = PASSES): Promise<Timed[]> {
  const seconds = passes.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++)
    for (const [i, pass] of passes.entries()) {
      const t0 = now();
      await pass();
      seconds[i].push(since(t0));
    }
  return seconds.map((passSeconds) => ({ sentencesPerSecond: n / Math.min(...passSeconds), passSeconds }));
}

/** One scorer in this process, timed alone. */
export async function benchInProcess(...args: Parameters<typeof openInProcess>): Promise<InProcess> {
  const open = await openInProcess(...args);
  const [timed] = await interleave(args[2].length, [() => open.pass()]);
  return { ...timed, ...(await open.finish()) };
}
