import { FullLogitsBackend } from '../src/model/onnxBackend';
import { loadTaskSplit } from '../src/data/tasks';
import { resolveModel } from '../src/model/modelFolder';
import { PromptTokenizer } from '../src/model/tokenizer';
import { compileTemplate, CompiledTemplate, EncodedExample, encodeExample } from '../src/prompt/encode';
import { parseTemplate } from '../src/prompt/template';
import {
  assignLabelPools,
  chooseDataLabelWords,
  discriminativeScores,
  firstTokenFill,
  labelWordScores,
  proposeLabelWordPools,
  proposeSlotPools,
  separationScores,
} from '../src/search/candidatePools';

const TEMPLATE = '{x} <A:2> [MASK] .';
const POSITIVE = ['great', 'good', 'wonderful', 'excellent', 'fantastic', 'amazing', 'perfect', 'best'];
const NEGATIVE = ['terrible', 'bad', 'awful', 'horrible', 'boring', 'worst', 'poor', 'dull'];

describe('assignLabelPools (pure)', () => {
  test('a contested token goes to the label where it scores higher; the other refills', () => {
    // ids 0..4; token 0 is top for both labels but scores higher for label 1.
    const scores = [
      [5, 4, 3, 0, 0],
      [6, 0, 0, 2, 1],
    ];
    expect(assignLabelPools(scores, [0, 1, 2, 3, 4], 2)).toEqual([
      [1, 2],
      [0, 3],
    ]);
  });

  test('ties go to the lower token id, then the lower label; ineligible ids never appear', () => {
    const scores = [
      [1, 1, 1, 9],
      [1, 1, 1, 9],
    ];
    expect(assignLabelPools(scores, [0, 1, 2], 1)).toEqual([[0], [1]]);
  });
});

describe('candidate pools on bert-mini-imdb, sst-2 seed 13', () => {
  let tokenizer: PromptTokenizer;
  let backend: FullLogitsBackend;
  let compiled: CompiledTemplate;
  let examples: EncodedExample[];
  let exclude: Set<number>;
  let pools: Record<string, number[][]>;
  const wordLists = { A: ['it'], '*': ['was', 'it'] };
  const id = (w: string) => tokenizer.labelWordId(w);
  const words = (ids: number[]) => ids.map((i) => tokenizer.tokenText(i).trim());

  beforeAll(async () => {
    const folder = resolveModel('bert-mini-imdb-uncased', 'fp32');
    tokenizer = PromptTokenizer.fromFolder(folder);
    backend = await FullLogitsBackend.load(folder.onnxPath, 128, tokenizer.special.pad, { threads: 2 });
    compiled = compileTemplate(parseTemplate(TEMPLATE), tokenizer, 'sentence', 128);
    examples = loadTaskSplit('sst-2', 'train', 13).map((e) => encodeExample(compiled, tokenizer, e));
    exclude = new Set(['great', 'terrible'].map(id));
    pools = await proposeSlotPools({ backend, tokenizer, compiled, examples, topK: 32, exclude, wordLists });
  });

  afterAll(async () => {
    await backend?.dispose();
  });

  test('logitsAt returns full-vocab vectors at the asked positions', async () => {
    const rows = [
      { ids: [2, 5, 6, 4, 3], maskPos: 3 },
      { ids: [2, 4, 3], maskPos: 1 },
    ];
    const out = await backend.logitsAt(rows, [[3, 0], [1]]);
    expect(out.map((r) => r.length)).toEqual([2, 1]);
    expect(out[0][0].length).toBe(tokenizer.vocabSize);
    await expect(backend.logitsAt(rows, [[5], [0]])).rejects.toThrow(/position 5 is outside row 0/);
  });

  test('slot pools: shape, hand-crafted words first, whole words, no excluded ids', () => {
    expect(Object.keys(pools)).toEqual(['A']);
    expect(pools.A).toHaveLength(2);
    const lead = [id('it'), id('was')];
    for (const pool of pools.A) {
      expect(pool.slice(0, 2)).toEqual(lead);
      const proposed = pool.slice(2);
      expect(proposed).toHaveLength(32);
      expect(new Set(pool).size).toBe(pool.length);
      expect(proposed.every((t) => tokenizer.isWholeWord(t))).toBe(true);
      expect(proposed.some((t) => exclude.has(t))).toBe(false);
    }
    console.log(
      `slot A (${TEMPLATE}) top 10 per position:\n` +
        pools.A.map((p, i) => `  A[${i}]: ${words(p.slice(2, 12)).join(' ')}`).join('\n'),
    );
  });

  test('slot pools are deterministic', async () => {
    const again = await proposeSlotPools({ backend, tokenizer, compiled, examples, topK: 32, exclude, wordLists });
    expect(again).toEqual(pools);
  });

  test('a bad hand-crafted word or slot name fails clearly, before running the model', async () => {
    await expect(
      proposeSlotPools({ backend, tokenizer, compiled, examples, wordLists: { A: ['it', 'zzqxv'] } }),
    ).rejects.toThrow(/slot <A>: hand-crafted word 'zzqxv' is not a single token/);
    await expect(
      proposeSlotPools({ backend, tokenizer, compiled, examples, wordLists: { '*': ['it was'] } }),
    ).rejects.toThrow(/slot <A>.*'it was'/);
    await expect(
      proposeSlotPools({ backend, tokenizer, compiled, examples, wordLists: { B: ['it'] } }),
    ).rejects.toThrow(/slot <B>.*no such slot/);
  });

  test('firstTokenFill takes each position’s first pooled token', () => {
    expect(firstTokenFill(pools)).toEqual({ A: [id('it'), id('it')] });
  });

  test('label pools: disjoint, deterministic, whole words, sentiment words on the right side', async () => {
    // "it was [MASK] ." — the classic neutral filling, so the proposals are easy to judge.
    const opts = { backend, tokenizer, compiled, examples, numLabels: 2, fixedSlots: { A: [id('it'), id('was')] } };
    const scores = await labelWordScores(opts);
    const labelPools = await proposeLabelWordPools(opts);
    expect(await proposeLabelWordPools(opts)).toEqual(labelPools); // deterministic
    expect(labelPools.map((p) => p.length)).toEqual([16, 16]);
    expect(labelPools[0].filter((t) => labelPools[1].includes(t))).toEqual([]);
    expect(labelPools.flat().every((t) => tokenizer.isWholeWord(t))).toBe(true);
    console.log(
      ['negative', 'positive']
        .map((name, l) => `label ${name} top 10: ${words(labelPools[l].slice(0, 10)).join(' ')}`)
        .join('\n'),
    );

    // With two labels the score contrast reduces to which label the model finds the word likelier for.
    const posWins = POSITIVE.filter((w) => scores[1][id(w)] > scores[0][id(w)]);
    const negWins = NEGATIVE.filter((w) => scores[0][id(w)] > scores[1][id(w)]);
    expect(posWins.length).toBeGreaterThanOrEqual(POSITIVE.length / 2);
    expect(negWins.length).toBeGreaterThanOrEqual(NEGATIVE.length / 2);
    expect(scores[1][id('great')]).toBeGreaterThan(scores[0][id('great')]);

    // An excluded id never appears; the pools stay full.
    const ex = new Set(labelPools[1].slice(0, 3));
    const without = await proposeLabelWordPools({ ...opts, exclude: ex });
    expect(without.flat().some((t) => ex.has(t))).toBe(false);
    expect(without.map((p) => p.length)).toEqual([16, 16]);
  });

  test('label words from the data: K per label, disjoint, whole words, deterministic, the candidates respected', async () => {
    const opts = { backend, tokenizer, compiled, examples, numLabels: 2, fixedSlots: { A: [id('it'), id('was')] } };
    const chosen = await chooseDataLabelWords(opts);
    expect(await chooseDataLabelWords(opts)).toEqual(chosen);
    expect(chosen.map((p) => p.length)).toEqual([10, 10]);
    expect(chosen[0].filter((t) => chosen[1].includes(t))).toEqual([]);
    expect(chosen.flat().every((t) => tokenizer.isWholeWord(t))).toBe(true);
    console.log(
      ['negative', 'positive'].map((name, l) => `data words ${name}: ${words(chosen[l]).join(' ')}`).join('\n'),
    );
    // Sentiment words land on their side: of the hand-picked lists, the chosen ones sit with their label.
    const misplaced = [
      ...chosen[1].filter((t) => NEGATIVE.includes(words([t])[0])),
      ...chosen[0].filter((t) => POSITIVE.includes(words([t])[0])),
    ];
    expect(misplaced).toEqual([]);
    // 6 candidates for 2 × 3 words: every candidate is used; excluded ids never are.
    const few = await chooseDataLabelWords({ ...opts, candidates: 6, topK: 3 });
    expect(few.map((p) => p.length)).toEqual([3, 3]);
    const ex = new Set(chosen.flat());
    const without = await chooseDataLabelWords({ ...opts, exclude: ex });
    expect(without.flat().some((t) => ex.has(t))).toBe(false);
    await expect(chooseDataLabelWords({ ...opts, candidates: 1 })).rejects.toThrow(
      /no label word left for label [01] among the 1 likeliest words/,
    );
  });

  test('label pools reject a label with no examples and a wrong slot filling', async () => {
    const base = { backend, tokenizer, compiled, numLabels: 2, fixedSlots: { A: [id('it'), id('was')] } };
    await expect(labelWordScores({ ...base, examples: examples.filter((e) => e.label === 0) })).rejects.toThrow(
      /label 1 has no train examples/,
    );
    await expect(labelWordScores({ ...base, examples, fixedSlots: { A: [id('it')] } })).rejects.toThrow(
      /slot <A:2> needs 2 token/,
    );
  });
});

describe('discriminativeScores', () => {
  test('contrast between labels, among the plausible words only', () => {
    // token 0: likely for both (generic); 1: label 0's word; 2: label 1's word; 3: rare but lopsided
    const means = [
      [-1, -2, -6, -20],
      [-1, -6, -2, -30],
    ];
    const [s0, s1] = discriminativeScores(means, 3);
    expect(Array.from(s0)).toEqual([0, 4, -4, -Infinity]);
    expect(Array.from(s1)).toEqual([0, -4, 4, -Infinity]);
  });
});

describe('separationScores', () => {
  test('a t-statistic: the class contrast over the pooled within-class spread', () => {
    // word 0: means 0 vs 2 (contrast 2), spread ±1 in each class -> t = 2 / 1.1547 (dof 4 - 2)
    // word 1: means 0 vs 1 (contrast 1), no spread -> t = 1 / 1e-6; word 2: the same in both classes
    const features = [
      [-1, 0, 5],
      [1, 0, 5],
      [1, 1, 5],
      [3, 1, 5],
    ];
    const [s0, s1] = separationScores(features, [0, 0, 1, 1], 2);
    const sd = Math.sqrt(4 / 2) + 1e-6;
    expect(s1[0]).toBeCloseTo(2 / sd, 12);
    expect(s0[0]).toBeCloseTo(-2 / sd, 12);
    expect(s1[1]).toBeCloseTo(1 / 1e-6, 3);
    expect(s1[2]).toBe(0);
    // The smaller contrast with no spread outranks the larger one with spread.
    expect(s1[1]).toBeGreaterThan(s1[0]);
  });

  test('three labels: each class against the mean of the other two', () => {
    const features = [[0], [0], [3], [3], [6], [6]];
    const scores = separationScores(features, [0, 0, 1, 1, 2, 2], 3).map((s) => s[0] / 1e6);
    expect(scores[0]).toBeCloseTo(-4.5, 5);
    expect(scores[1]).toBeCloseTo(0, 5);
    expect(scores[2]).toBeCloseTo(4.5, 5);
  });
});
