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
import { fitDiscriminant, wordLogProbs } from '../prompt/discriminant';
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
 * A readout member's reading from labelled examples read through one filled prompt (see the file comment):
 * K word ids per label (`logsumexp`, `mean`), or the K likeliest words and a discriminant fitted on
 * their log-probabilities (`discriminant`).
 */
export async function dataLabelReading(opts: {
  backend: MaskedLmBackend;
  tokenizer: PromptTokenizer;
  compiled: ReturnType<typeof compileTemplate>;
  examples: EncodedExample[];
  numLabels: number;
  slots: Record<string, number[]>;
  words: number;
  labelScore: LabelScoreRule;
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
  if (labelScore !== 'discriminant')
    return {
      labelIds: assignLabelPools(
        discriminativeScores(means, Infinity),
        words.slice(0, DATA_LABEL_PLAUSIBLE),
        opts.words,
      ),
      labelScore,
    };
  const read = words.slice(0, opts.words);
  const logits = await labelLogitsForRows(
    opts.backend,
    examples.map((ex) => buildRow(compiled, ex, opts.slots)),
    read,
  );
  const features = examples.map((_, i) => wordLogProbs(logits, i * read.length, read.length));
  const readout = fitDiscriminant(
    features,
    examples.map((e) => e.label),
    numLabels,
  );
  return { labelIds: readout.weights.map(() => [...read]), labelScore, readout };
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
  { words, labelScore }: { words: number; labelScore: LabelScoreRule },
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
  { words, labelScore }: { words: number; labelScore: LabelScoreRule },
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
