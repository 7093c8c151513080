/**
 * Label words from the labelled data: readout members for an ensemble's members (config `dataLabelWords`).
 *
 * A member reads its prompt through the label words the user gave (and their expansion). Its readout member
 * reads the same filled prompt through K words per label taken from the labelled train and dev
 * examples: the model's log-probabilities at the mask, averaged per class, and each label gets the
 * words that most separate its class from the others (mean log-probability in the class minus the
 * mean over the other classes), among the DATA_LABEL_PLAUSIBLE words the model finds most likely
 * there overall; no word serves two labels (search/candidatePools.ts: classMeanLogProbs,
 * discriminativeScores, assignLabelPools). The readout member is calibrated like its member and joins the ensemble, so the
 * ensemble averages what the given words and what the data say about each input. Measured with the
 * default search on the bundled tasks (README, "Search quality"): hand-written label words can be
 * poor for the task (TREC's "description, entity, …"), and readout members help most there.
 *
 * With `labelScore: "discriminant"` the readout member reads the K words the model finds most likely at the
 * mask (all classes pooled), every label the same words: the labelled examples' log-probabilities
 * of those words are fitted by a linear discriminant (prompt/discriminant.ts), each label's score
 * a weighted sum of them; no word belongs to one label.
 */
import { LoadedData } from '../data/load';
import { MaskedLmBackend } from '../model/backend';
import { PromptTokenizer } from '../model/tokenizer';
import { CalibrationMode, contentFreeLike, meanOffsets } from '../prompt/calibration';
import { buildRow, compileTemplate, encodeExample, EncodedExample } from '../prompt/encode';
import { slotIds } from '../prompt/fill';
import { parseTemplate } from '../prompt/template';
import { wordText } from '../prompt/verbalizer';
import { LabelScoreRule, judgeAll, summarize } from '../scoring/metrics';
import { labelLogitsForRows, promptReading, Reading } from '../scoring/scorer';
import {
  assignLabelPools,
  classMeanLogProbs,
  discriminativeScores,
  likeliestWholeWords,
  LogitsAtBackend,
} from '../search/candidatePools';
import { EnsembleMember } from './runDir';
import type { MemberScores } from './select';

/** How a readout member of words per label reads them (a discriminant is fitted with the ensemble instead). */
export type WordsPerLabelRule = Exclude<LabelScoreRule, 'discriminant'>;

/** Readout member label words are ranked among this many most likely words at the mask (all classes pooled). */
export const DATA_LABEL_PLAUSIBLE = 200;

/**
 * `logitsAt` through a scorer backend: every vocabulary id's logit at each row's read position
 * (the mask). Only the read position can be asked for.
 */
export function vocabularyLogits(backend: MaskedLmBackend, vocabSize: number): LogitsAtBackend {
  const ids = Array.from({ length: vocabSize }, (_, i) => i);
  return {
    async logitsAt(rows, positions) {
      rows.forEach((r, i) => {
        if (positions[i].length !== 1 || positions[i][0] !== r.maskPos)
          throw new Error('vocabularyLogits: reads the mask position only');
      });
      const flat = await backend.labelLogits(rows, ids);
      return rows.map((_, i) => [flat.subarray(i * vocabSize, (i + 1) * vocabSize)]);
    },
  };
}

/**
 * A readout member's reading from labelled examples read through one filled prompt (see the file
 * comment): K word ids per label (`logsumexp`, `mean`). A discriminant's reading is fitted with
 * the ensemble (runner/ensemble.ts, from readoutWordLogits).
 */
export async function dataLabelReading(opts: {
  backend: MaskedLmBackend;
  tokenizer: PromptTokenizer;
  compiled: ReturnType<typeof compileTemplate>;
  examples: EncodedExample[];
  numLabels: number;
  slots: Record<string, number[]>;
  words: number;
  labelScore: WordsPerLabelRule;
}): Promise<Reading> {
  const { tokenizer, compiled, examples, numLabels, labelScore } = opts;
  const means = await classMeanLogProbs({
    backend: vocabularyLogits(opts.backend, tokenizer.vocabSize),
    tokenizer,
    compiled,
    examples,
    numLabels,
    fixedSlots: opts.slots,
  });
  // The plausible words: whole words, by their mean log-probability over the classes (ties: lower id).
  const words = likeliestWholeWords(means, tokenizer);
  return {
    labelIds: assignLabelPools(discriminativeScores(means, Infinity), words.slice(0, DATA_LABEL_PLAUSIBLE), opts.words),
    labelScore,
  };
}

/** A discriminant readout member's data: the words it may read (likeliest first) and their raw logits per split. */
export interface ReadoutWordLogits {
  words: number[];
  train: Float32Array[];
  dev: Float32Array[];
  test?: Float32Array[];
  contentFree?: Float32Array[];
}

/**
 * For each member's prompt, the `maxWords` words the model finds likeliest at its mask over the
 * labelled train and dev examples (the classes' mean log-probabilities, then their mean), and those
 * words' raw logits on every split: what a discriminant readout member is fitted and
 * cross-validated on (prompt/crossValidation.ts). `contentFree`: also on the content-free inputs.
 */
export async function readoutWordLogits(
  members: EnsembleMember[],
  maxWords: number,
  contentFree: boolean,
  backend: MaskedLmBackend,
  tokenizer: PromptTokenizer,
  splits: RunSplits,
): Promise<ReadoutWordLogits[]> {
  const { train, dev, test } = splits;
  const out: ReadoutWordLogits[] = [];
  for (const m of members) {
    const ct = compileTemplate(parseTemplate(m.template!), tokenizer, train.textColumn, backend.maxLength);
    const slots = slotIds(m.slots);
    const encode = (d: readonly LoadedData['examples'][number][]) => d.map((ex) => encodeExample(ct, tokenizer, ex));
    const labelled = encode([...train.examples, ...dev.examples]);
    const means = await classMeanLogProbs({
      backend: vocabularyLogits(backend, tokenizer.vocabSize),
      tokenizer,
      compiled: ct,
      examples: labelled,
      numLabels: train.numLabels,
      fixedSlots: slots,
    });
    const words = likeliestWholeWords(means, tokenizer).slice(0, maxWords);
    const logitsOf = async (examples: EncodedExample[]) => {
      const flat = await labelLogitsForRows(
        backend,
        examples.map((ex) => buildRow(ct, ex, slots)),
        words,
      );
      return examples.map((_, i) => flat.slice(i * words.length, (i + 1) * words.length));
    };
    const cf = contentFree ? contentFreeLike(train.examples, tokenizer.token(tokenizer.special.mask)) : undefined;
    // The labelled examples are encoded once: train's rows, then dev's.
    const trainDev = await logitsOf(labelled);
    out.push({
      words,
      train: trainDev.slice(0, train.examples.length),
      dev: trainDev.slice(train.examples.length),
      ...(test ? { test: await logitsOf(encode(test.examples)) } : {}),
      ...(cf ? { contentFree: await logitsOf(encode(cf)) } : {}),
    });
  }
  return out;
}

export interface RunSplits {
  train: LoadedData;
  dev: LoadedData;
  test?: LoadedData;
}

/** The reading a member's readout member reads its filled prompt (`template` with `slots`, token ids) with, from the labelled train and dev examples. */
export async function readoutReading(
  template: string,
  slots: Record<string, number[]>,
  { words, labelScore }: { words: number; labelScore: WordsPerLabelRule },
  backend: MaskedLmBackend,
  tokenizer: PromptTokenizer,
  splits: RunSplits,
): Promise<Reading> {
  const { train, dev } = splits;
  const ct = compileTemplate(parseTemplate(template), tokenizer, train.textColumn, backend.maxLength);
  const examples = [...train.examples, ...dev.examples].map((ex) => encodeExample(ct, tokenizer, ex));
  return dataLabelReading({
    backend,
    tokenizer,
    compiled: ct,
    examples,
    numLabels: train.numLabels,
    slots,
    words,
    labelScore,
  });
}

/**
 * Each member's readout member with its label log-probabilities on train, dev and test (raw, as the ensemble takes
 * them; a label's score the `labelScore` of its words' log-probabilities), calibrated with the run's mode: `inputs` on the train and dev inputs, `content-free` on
 * the content-free inputs, `none` not at all. `known[i]`: member i's readout member words and test
 * log-probabilities as its template's run scored them (runner/select.ts `twinReading`); the rest
 * is computed here, in this process (the same numbers: a row scores the same in any batch).
 */
export async function readoutMembersFor(
  members: EnsembleMember[],
  { words, labelScore }: { words: number; labelScore: WordsPerLabelRule },
  calibration: CalibrationMode,
  backend: MaskedLmBackend,
  tokenizer: PromptTokenizer,
  splits: RunSplits,
  known: (MemberScores['readoutMember'] | undefined)[] = [],
): Promise<{ member: EnsembleMember; scores: MemberScores }[]> {
  const { train, dev, test } = splits;
  const readoutMembers: { member: EnsembleMember; scores: MemberScores }[] = [];
  for (const [i, m] of members.entries()) {
    const ct = compileTemplate(parseTemplate(m.template!), tokenizer, train.textColumn, backend.maxLength);
    const encode = (d: LoadedData) => d.examples.map((ex) => encodeExample(ct, tokenizer, ex));
    const slots = slotIds(m.slots);
    const reading =
      known[i]?.reading ??
      (await readoutReading(m.template!, slots, { words, labelScore }, backend, tokenizer, splits));
    const labelIds = reading.labelIds as number[][];
    const lp = (ex: EncodedExample[]) => promptReading(backend, ct, ex, slots, reading);
    const trainLp = await lp(encode(train));
    const devLp = await lp(encode(dev));
    let offsets: number[] | undefined;
    if (calibration === 'inputs') offsets = meanOffsets([...trainLp, ...devLp], train.numLabels);
    else if (calibration === 'content-free') {
      const cf = contentFreeLike(train.examples, tokenizer.token(tokenizer.special.mask));
      offsets = meanOffsets(await lp(cf.map((ex) => encodeExample(ct, tokenizer, ex))), train.numLabels);
    }
    const accuracy = (logProbs: number[][], d: LoadedData) =>
      summarize(
        judgeAll(
          logProbs,
          d.examples.map((e) => e.label),
          offsets,
        ),
        d.numLabels,
      ).accuracy;
    const labelWords = labelIds.map((ids) => ids.map((id) => wordText(tokenizer, id)));
    const testLp = test ? (known[i]?.test ?? (await lp(encode(test)))) : undefined;
    readoutMembers.push({
      member: {
        ...m,
        labelWords,
        labelIds,
        ...(labelScore !== 'logsumexp' ? { labelScore } : {}),
        ...(reading.readout ? { readout: reading.readout } : {}),
        offsets: offsets ?? null,
        trainAccuracy: accuracy(trainLp, train),
        devAccuracy: accuracy(devLp, dev),
      },
      scores: { train: trainLp, dev: devLp, ...(testLp ? { test: testLp } : {}) },
    });
  }
  return readoutMembers;
}
