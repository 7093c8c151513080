/**
 * Multi-token label words on a causal model (gpt-mini-imdb): a word's score is the sum of its
 * tokens' log-probabilities, the first after the prompt, each next one given the ones before.
 * Checked against one-example-at-a-time forward passes of the model as exported, through the
 * prefix-reuse scorer and through whole-row (full recompute) scoring; calibration applies as for
 * one-token words.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadExamples } from '../src/data/load';
import { FullLogitsBackend } from '../src/model/onnxBackend';
import { loadModel, LoadedModel } from '../src/model/load';
import { PrefixReuseBackend } from '../src/model/prefixBackend';
import { meanOffsets } from '../src/prompt/calibration';
import { buildRow, compileTemplate, encodeExample, EncodedRow } from '../src/prompt/encode';
import { parseTemplate } from '../src/prompt/template';
import { buildVerbalizer, parseVerbalizerSpec, wordTokens } from '../src/prompt/verbalizer';
import { evaluateTemplate } from '../src/scoring/evaluate';
import { judgeAll, labelLogProbsOfRow, wordLabels } from '../src/scoring/metrics';
import { labelLogitsForRows, planContinuations, promptLogProbs, wordLogProbsForRows } from '../src/scoring/scorer';
import { CLI, ROOT } from './helpers';

const GPT = 'gpt-mini-imdb';
/** " a waste" and " a masterpiece" share their first token; " awful" is one token; "wonderfulness" is " wonderful" + "ness". */
const WORDS = [
  ['a waste', 'awful'],
  ['a masterpiece', 'wonderfulness'],
];
const N = 16;

/** Reference: each row alone, prompt + the word's tokens, log-softmax (float64) at every read position, summed. */
async function referenceWordScores(
  full: FullLogitsBackend,
  rows: EncodedRow[],
  words: number[][],
): Promise<number[][]> {
  const out: number[][] = [];
  for (const r of rows) {
    const scores: number[] = [];
    for (const w of words) {
      const ids = [...r.ids.slice(0, r.maskPos + 1), ...w, ...r.ids.slice(r.maskPos + 1)];
      const positions = w.map((_, j) => r.maskPos + j);
      const [logits] = await full.logitsAt([{ ids, maskPos: r.maskPos }], [positions]);
      let sum = 0;
      logits.forEach((l, j) => {
        let max = -Infinity;
        for (const x of l) max = Math.max(max, x);
        let s = 0;
        for (const x of l) s += Math.exp(x - max);
        sum += l[w[j]] - (max + Math.log(s));
      });
      scores.push(sum);
    }
    out.push(scores);
  }
  return out;
}

describe('multi-token label words (gpt-mini-imdb, fp32)', () => {
  let reuse: LoadedModel;
  let whole: LoadedModel;
  let full: LoadedModel;
  const data = loadExamples({ task: 'sst-2' }, 'test');

  beforeAll(async () => {
    reuse = await loadModel({ model: GPT, dtype: 'fp32', threads: 1 });
    whole = await loadModel({ model: GPT, dtype: 'fp32', prefixReuse: false, threads: 1 });
    full = await loadModel({ model: GPT, dtype: 'fp32', scorer: 'full', threads: 1 });
  });
  afterAll(async () => {
    await reuse?.dispose();
    await whole?.dispose();
    await full?.dispose();
  });

  test('the verbalizer keeps one-token words as ids and several-token words as id lists', () => {
    const v = buildVerbalizer(WORDS, reuse.tokenizer);
    expect(typeof v.ids[0][1]).toBe('number');
    expect(v.ids[0][0]).toEqual(reuse.tokenizer.encode('a waste', true));
    expect((v.ids[1][1] as number[]).map((id) => reuse.tokenizer.token(id))).toEqual(['Ġwonderful', 'ness']);
    const plan = planContinuations(v.ids.flat().map(wordTokens));
    // The empty continuation, " a", " wonderful": " a" is run once for both words that start with it.
    expect(plan.continuations).toHaveLength(3);
    expect(plan.longest).toBe(1);
    // A masked LM still needs one token per word.
    const bert = (() => {
      const { PromptTokenizer } = require('../src/model/tokenizer'); // eslint-disable-line @typescript-eslint/no-require-imports
      const { resolveModel } = require('../src/model/modelFolder'); // eslint-disable-line @typescript-eslint/no-require-imports
      return PromptTokenizer.fromFolder(resolveModel('bert-mini-imdb-uncased', 'fp32'));
    })();
    expect(() => buildVerbalizer([['awful'], ['wonderfulness']], bert)).toThrow(
      /'wonderfulness' is not a single token/,
    );
  });

  test.each([
    ['{x} It was [MASK]', {}, 0],
    ['{x} <A:2> [MASK]', { A: 'In short' }, N],
  ])(
    '%s: word scores equal one-example-at-a-time forward passes within 1e-4, prefix reuse and whole rows',
    async (template, fill, from) => {
      const ct = compileTemplate(parseTemplate(template), reuse.tokenizer, data.textColumn, reuse.maxLength);
      const slots = Object.fromEntries(
        Object.entries(fill).map(([k, v]) => [k, reuse.tokenizer.encode(v as string, true)]),
      );
      const words = buildVerbalizer(WORDS, reuse.tokenizer).ids.flat().map(wordTokens);
      // Each case its own sentences, so none of their prefixes is cached yet.
      const sentences = data.examples.slice(from, from + N);
      const rows = sentences.map((ex) => buildRow(ct, encodeExample(ct, reuse.tokenizer, ex), slots));
      const want = await referenceWordScores(full.backend as FullLogitsBackend, rows, words);
      const backend = reuse.backend as PrefixReuseBackend;
      const prefixRows = backend.stats.prefixRows;
      const suffixRows = backend.stats.suffixRows;
      for (const m of [reuse, whole, full]) {
        const got = await wordLogProbsForRows(m.backend, rows, words, { maxBatchRows: 16 });
        for (let i = 0; i < N; i++)
          for (let w = 0; w < words.length; w++)
            expect(Math.abs(got[i * words.length + w] - want[i][w])).toBeLessThan(1e-4);
      }
      // Prefix reuse: one prefix per sentence, one suffix row per sentence and continuation.
      expect(backend.stats.prefixRows - prefixRows).toBe(N);
      expect(backend.stats.suffixRows - suffixRows).toBe(N * 3);
      // The label log-probabilities: log-softmax over the labels of each label's log-sum-exp of its words.
      const ids = buildVerbalizer(WORDS, reuse.tokenizer).ids;
      const examples = sentences.map((ex) => encodeExample(ct, reuse.tokenizer, ex));
      const lp = await promptLogProbs(reuse.backend, ct, examples, slots, ids);
      const labelOfWord = wordLabels(ids);
      lp.forEach((l, i) => {
        const ref = labelLogProbsOfRow(want[i], 0, labelOfWord, 2);
        for (let k = 0; k < 2; k++) expect(Math.abs(l[k] - ref[k])).toBeLessThan(1e-4);
      });
    },
  );

  test('a one-token verbalizer reads the same logits as before (no log-normaliser on that path)', async () => {
    const ct = compileTemplate(parseTemplate('{x} It was [MASK]'), reuse.tokenizer, data.textColumn, reuse.maxLength);
    const examples = data.examples.slice(0, N).map((ex) => encodeExample(ct, reuse.tokenizer, ex));
    const ids = buildVerbalizer([['awful'], ['wonderful']], reuse.tokenizer).ids;
    const lp = await promptLogProbs(reuse.backend, ct, examples, {}, ids);
    // The same length-sorted batches as promptLogProbs (prefix reuse's fp32 attention moves by ~1e-6 with the batch).
    const logits = await labelLogitsForRows(
      reuse.backend,
      examples.map((ex) => buildRow(ct, ex, {})),
      ids.flat() as number[],
    );
    lp.forEach((l, i) => expect(l).toEqual(labelLogProbsOfRow(logits, i * 2, [0, 1], 2)));
  });

  test('eval with calibration: the offsets are the mean label log-probabilities, as for one-token words', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-multitoken-'));
    const file = path.join(dir, 'few.tsv');
    fs.writeFileSync(
      file,
      fs
        .readFileSync(path.join(ROOT, 'datasets', '16-shot', 'sst-2', 'test.tsv'), 'utf8')
        .split('\n')
        .slice(0, N + 1)
        .join('\n') + '\n',
    );
    const few = loadExamples({ file }, 'test');
    const verbalizer = JSON.stringify({ 0: WORDS[0], 1: WORDS[1] });
    const r = await evaluateTemplate({
      data: { file },
      split: 'test',
      model: GPT,
      dtype: 'fp32',
      template: '{x} It was [MASK]',
      verbalizer,
      calibration: 'inputs',
    });
    const ct = compileTemplate(parseTemplate('{x} It was [MASK]'), full.tokenizer, few.textColumn, full.maxLength);
    const rows = few.examples.map((ex) => buildRow(ct, encodeExample(ct, full.tokenizer, ex), {}));
    const ids = buildVerbalizer(parseVerbalizerSpec(verbalizer, 2), full.tokenizer).ids;
    const want = await referenceWordScores(full.backend as FullLogitsBackend, rows, ids.flat().map(wordTokens));
    const lp = want.map((w) => labelLogProbsOfRow(w, 0, wordLabels(ids), 2));
    const judged = judgeAll(
      lp,
      few.examples.map((e) => e.label),
      meanOffsets(lp, 2),
    );
    expect(r.n).toBe(N);
    expect(r.examples.map((e) => e.predicted)).toEqual(judged.map((j) => j.predicted));
  });

  test('a scorer without log-probabilities (the soft-prompt scorer) refuses multi-token words with a user error', async () => {
    const { UserError } = await import('../src/errors');
    const soft = {
      kind: 'soft-prompt',
      maxLength: 128,
      labelLogits: async () => new Float32Array(0),
      dispose: async () => undefined,
    };
    const call = wordLogProbsForRows(soft, [{ ids: [1, 2], maskPos: 1 }], [[3, 4]]);
    await expect(call).rejects.toThrow(UserError);
    await expect(call).rejects.toThrow(/multi-token label words need .* which the soft-prompt scorer does not give/);
  });

  test('CLI: a label word that gives no ordinary token is one line, exit 2', () => {
    const r = spawnSync(
      process.execPath,
      [
        CLI,
        'eval',
        '--model',
        GPT,
        '--task',
        'sst-2',
        '--split',
        'dev',
        '--template',
        '{x} It was [MASK]',
        '--verbalizer',
        'awful,</s>',
      ],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^promptsearch: label word '<\/s>' is a special token of the model \('<\/s>'\), which cannot be a label word/,
    );
  });
});
