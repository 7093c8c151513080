/**
 * Label words from the labelled data (runner/readoutMembers.ts), on a fake backend whose logits at
 * the mask are made up from what each input says, so the right words are known.
 */
import { MaskedLmBackend } from '../src/model/backend';
import { resolveModel } from '../src/model/modelFolder';
import { PromptTokenizer } from '../src/model/tokenizer';
import { compileTemplate, EncodedRow, encodeExample } from '../src/prompt/encode';
import { parseTemplate } from '../src/prompt/template';
import { LoadedData } from '../src/data/load';
import { fitEnsemble, readoutLogProbs } from '../src/prompt/crossValidation';
import {
  DATA_LABEL_PLAUSIBLE,
  dataLabelReading,
  readoutWordLogits,
  vocabularyLogits,
} from '../src/runner/readoutMembers';
import { EnsembleMember } from '../src/runner/runDir';

const tokenizer = PromptTokenizer.fromFolder(resolveModel('bert-mini-imdb-uncased', 'fp32'));
const id = (w: string) => tokenizer.labelWordId(w);

/**
 * Logits over the whole vocabulary: a flat −5 floor, the plausible words (`common`) at 0, and per
 * input class (the input holds "bad", "okay" or "good") a boost of its own words.
 */
function fakeBackend(
  common: number[],
  boosts: Map<number, Map<number, number>>,
): MaskedLmBackend & { calls: number[][] } {
  const calls: number[][] = [];
  return {
    maxLength: 128,
    kind: 'fake',
    calls,
    async labelLogits(rows: EncodedRow[], labelIds: number[]) {
      calls.push(labelIds);
      const out = new Float32Array(rows.length * labelIds.length);
      rows.forEach((r, i) => {
        const logits = new Float32Array(tokenizer.vocabSize).fill(-5);
        for (const c of common) logits[c] = 0;
        for (const [marker, boost] of boosts) if (r.ids.includes(marker)) for (const [w, b] of boost) logits[w] += b;
        labelIds.forEach((l, k) => (out[i * labelIds.length + k] = logits[l]));
      });
      return out;
    },
    async dispose() {},
  };
}

describe('dataLabelReading', () => {
  const ct = compileTemplate(parseTemplate('{x} it was [MASK] .'), tokenizer, 'sentence', 128);
  const examples = [
    ...['bad movie', 'a bad one', 'so bad'].map((t) => ({ fields: { sentence: t }, label: 0 })),
    ...['okay movie', 'an okay one'].map((t) => ({ fields: { sentence: t }, label: 1 })),
    ...['good movie', 'a good one', 'so good'].map((t) => ({ fields: { sentence: t }, label: 2 })),
  ].map((ex) => encodeExample(ct, tokenizer, ex));
  const neg = ['awful', 'dull', 'stupid'].map(id);
  const mid = ['fine', 'decent'].map(id);
  const pos = ['superb', 'moving', 'brilliant'].map(id);
  const neutral = ['movie', 'film', 'story', 'really'].map(id);
  const boosts = new Map([
    [id('bad'), new Map(neg.map((w, k) => [w, 3 - k] as [number, number]))],
    [id('okay'), new Map(mid.map((w, k) => [w, 2 - k] as [number, number]))],
    [id('good'), new Map(pos.map((w, k) => [w, 3 - k] as [number, number]))],
  ]);

  test('each label gets the words that separate its class, best first; no word in two labels; generic words in none', async () => {
    const backend = fakeBackend([...neg, ...mid, ...pos, ...neutral], boosts);
    const { labelIds: words, labelScore } = await dataLabelReading({
      backend,
      tokenizer,
      compiled: ct,
      examples,
      numLabels: 3,
      slots: {},
      words: 2,
      labelScore: 'mean',
    });
    expect(words).toEqual([neg.slice(0, 2), mid, pos.slice(0, 2)]);
    expect(labelScore).toBe('mean');
    // The whole vocabulary was read at the mask, in one call per batch.
    expect(backend.calls.every((ids) => ids.length === tokenizer.vocabSize)).toBe(true);
  });

  test('only the most plausible words compete: a word the model never proposes does not win by contrast', async () => {
    // "jealous" gets a large boost in class 0 but sits at the floor everywhere else, far below the
    // DATA_LABEL_PLAUSIBLE most likely words (filled here with other whole words at 0).
    const filler: number[] = [];
    for (let i = 0; filler.length < DATA_LABEL_PLAUSIBLE; i++)
      if (tokenizer.isWholeWord(i) && ![...neg, ...mid, ...pos].includes(i)) filler.push(i);
    const rare = id('jealous');
    const withRare = new Map(boosts);
    withRare.set(id('bad'), new Map([...boosts.get(id('bad'))!, [rare, 4]]));
    const backend = fakeBackend([...neg, ...mid, ...pos, ...filler], withRare);
    const { labelIds: words } = await dataLabelReading({
      backend,
      tokenizer,
      compiled: ct,
      examples,
      numLabels: 3,
      slots: {},
      words: 2,
      labelScore: 'mean',
    });
    expect(words.flat()).not.toContain(rare);
    expect(words[0]).toEqual(neg.slice(0, 2));
  });

  test('discriminant: every label reads the K likeliest words, with weights fitted so that each class wins its own examples', async () => {
    const backend = fakeBackend([...neg, ...mid, ...pos, ...neutral], boosts);
    const K = 8;
    const raw = [
      ...['bad movie', 'a bad one', 'so bad'].map((t) => ({ fields: { sentence: t }, label: 0 })),
      ...['okay movie', 'an okay one'].map((t) => ({ fields: { sentence: t }, label: 1 })),
      ...['good movie', 'a good one', 'so good'].map((t) => ({ fields: { sentence: t }, label: 2 })),
    ];
    const split = (examples: typeof raw): LoadedData => ({
      examples,
      textColumn: 'sentence',
      numLabels: 3,
      labelNames: ['0', '1', '2'],
      origin: 'test',
      columns: ['sentence'],
    });
    const member: EnsembleMember = {
      template: '{x} it was [MASK] .',
      prompt: '{x} it was [MASK] .',
      slots: {},
      labelWords: [],
      labelIds: [],
      offsets: null,
      trainAccuracy: 0,
      devAccuracy: 0,
    };
    const [w] = await readoutWordLogits([member], K, false, backend, tokenizer, {
      train: split(raw.slice(0, 4)),
      dev: split(raw.slice(4)),
    });
    // The K words with the highest mean log-probability over the classes (boosted words first).
    expect(w.words).toHaveLength(K);
    expect(w.words.slice(0, 2).sort()).toEqual([neg[0], pos[0]].sort());
    const golds = raw.map((e) => e.label);
    const fitted = fitEnsemble(
      {
        golds,
        numLabels: 3,
        members: [],
        readouts: [{ logits: [...w.train, ...w.dev], offsets: { fixed: undefined } }],
        fitMembers: false,
      },
      { topWords: K, shrinkage: 0.9 },
      golds.map((_, i) => i),
    );
    const readout = fitted.readouts[0];
    expect(readout.weights.map((x) => x.length)).toEqual([K, K, K]);
    // Each training example goes to its own class.
    const predicted = [...w.train, ...w.dev].map((row) => {
      const lp = readoutLogProbs(row, readout);
      return lp.indexOf(Math.max(...lp));
    });
    expect(predicted).toEqual(golds);
    // "awful" (a class-0 word) weighs more for label 0 than for label 2, "superb" the other way.
    const col = (x: number) => w.words.indexOf(x);
    expect(readout.weights[0][col(neg[0])]).toBeGreaterThan(readout.weights[2][col(neg[0])]);
    expect(readout.weights[2][col(pos[0])]).toBeGreaterThan(readout.weights[0][col(pos[0])]);
  });

  test('vocabularyLogits reads the mask position only', async () => {
    const backend = vocabularyLogits(fakeBackend([], new Map()), tokenizer.vocabSize);
    const row = { ids: [1, 2, 3], maskPos: 1 } as unknown as EncodedRow;
    await expect(backend.logitsAt([row], [[2]])).rejects.toThrow(/reads the mask position only/);
    const [[v]] = await backend.logitsAt([row], [[1]]);
    expect(v).toHaveLength(tokenizer.vocabSize);
  });
});
