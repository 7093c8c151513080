/**
 * Causal language models (gpt-mini-imdb, GPT-2 architecture): [MASK] last means "the next token";
 * right-padded batches give the one-at-a-time numbers; the model card's SST-2 parity.
 */
import { spawnSync } from 'child_process';
import { loadExamples } from '../src/data/load';
import { loadModel } from '../src/model/load';
import { modelKind, resolveModel } from '../src/model/modelFolder';
import { PromptTokenizer } from '../src/model/tokenizer';
import { buildRow, compileTemplate, encodeExample } from '../src/prompt/encode';
import { parseTemplate } from '../src/prompt/template';
import { buildVerbalizer } from '../src/prompt/verbalizer';
import { labelLogitsForRows } from '../src/scoring/scorer';
import { evaluateTemplate } from '../src/scoring/evaluate';
import { CLI } from './helpers';

const GPT = 'gpt-mini-imdb';
const gptTokenizer = () => PromptTokenizer.fromFolder(resolveModel(GPT, 'fp32'));

describe('model kind and causal templates', () => {
  test('config.json decides the kind', () => {
    expect(resolveModel(GPT, 'fp32').kind).toBe('causal');
    expect(resolveModel('bert-mini-imdb-uncased', 'fp32').kind).toBe('masked');
    expect(resolveModel('roberta-mini-imdb', 'fp32').kind).toBe('masked');
    expect(modelKind({ architectures: ['LlamaForCausalLM'] })).toBe('causal');
    expect(modelKind({ model_type: 'gpt2' })).toBe('causal');
    expect(modelKind({ model_type: 'bert', architectures: ['BertForMaskedLM'] })).toBe('masked');
  });

  test('rows carry no mask token: the last prompt token is read, the prefix is marked', () => {
    const tok = gptTokenizer();
    const ct = compileTemplate(parseTemplate('{x} <A:2> It was [MASK]'), tok, 'sentence', 128);
    expect(ct.causal).toBe(true);
    expect(ct.reusablePrefix).toBe(true);
    const ex = encodeExample(ct, tok, { fields: { sentence: 'A fine film.' }, label: 1 });
    const slots = { A: tok.encode('so', true).concat(tok.encode('yes', true)) };
    const row = buildRow(ct, ex, slots);
    const expected = tok.encode('A fine film. so yes It was');
    expect(row.ids).toEqual(expected);
    expect(row.maskPos).toBe(expected.length - 1);
    expect(row.prefixLength).toBe(ex.inputs[0].length);
    expect(row.slotPos).toEqual([ex.inputs[0].length, ex.inputs[0].length + 1]);
  });

  test('a slot before {x} turns prefix reuse off; {x} [MASK] keeps one token to score', () => {
    const tok = gptTokenizer();
    const before = compileTemplate(parseTemplate('<A:1> {x} It was [MASK]'), tok, 'sentence', 128);
    expect(before.reusablePrefix).toBe(false);
    const ex = encodeExample(before, tok, { fields: { sentence: 'Good.' }, label: 1 });
    expect(buildRow(before, ex, { A: tok.encode('so', false) }).prefixLength).toBeUndefined();
    const bare = compileTemplate(parseTemplate('{x} [MASK]'), tok, 'sentence', 128);
    const row = buildRow(bare, encodeExample(bare, tok, { fields: { sentence: 'Good movie.' }, label: 1 }), {});
    expect(row.maskPos).toBe(row.ids.length - 1);
    expect(row.prefixLength).toBe(row.ids.length - 1);
  });

  test('[MASK] not last is a one-line user error, exit 2', () => {
    const tok = gptTokenizer();
    expect(() => compileTemplate(parseTemplate('{x} It was [MASK] .'), tok, 'sentence', 128)).toThrow(
      /\[MASK\] must be the last thing in the template \(found '\.' after it\)/,
    );
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
        '{x} [MASK] indeed',
        '--verbalizer',
        'awful,wonderful',
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^promptsearch: .*found 'indeed' after it/);
  });

  test('a label word of several tokens is kept as its tokens; one that gives no ordinary token is a user error', () => {
    expect(buildVerbalizer([['awful'], ['wonderfulness']], gptTokenizer()).ids).toEqual([
      [gptTokenizer().encode('awful', true)[0]],
      [gptTokenizer().encode('wonderfulness', true)],
    ]);
    expect(() => buildVerbalizer([['awful'], ['</s>']], gptTokenizer())).toThrow(
      /label word '<\/s>' is a special token of the model \('<\/s>'\), which cannot be a label word/,
    );
  });
});

describe('causal scoring', () => {
  test('right-padded batches equal one-row-at-a-time scoring (fp32, 1e-4), both scorers', async () => {
    const data = loadExamples({ task: 'sst-2' }, 'test');
    for (const scorer of ['mask-head', 'full'] as const) {
      const model = await loadModel({ model: GPT, dtype: 'fp32', scorer, threads: 1 });
      try {
        const ct = compileTemplate(
          parseTemplate('{x} It was [MASK]'),
          model.tokenizer,
          data.textColumn,
          model.maxLength,
        );
        const labelIds = buildVerbalizer([['awful'], ['wonderful']], model.tokenizer).ids.flat() as number[];
        // 48 sentences of mixed lengths: batches of up to 16 rows, most of them padded.
        const rows = data.examples.slice(0, 48).map((ex) => buildRow(ct, encodeExample(ct, model.tokenizer, ex), {}));
        expect(new Set(rows.map((r) => r.ids.length)).size).toBeGreaterThan(10);
        const batched = await labelLogitsForRows(model.backend, rows, labelIds, { maxBatchRows: 16 });
        for (let i = 0; i < rows.length; i++) {
          const single = await model.backend.labelLogits([rows[i]], labelIds);
          for (let k = 0; k < labelIds.length; k++) expect(Math.abs(batched[i * 2 + k] - single[k])).toBeLessThan(1e-4);
        }
      } finally {
        await model.dispose();
      }
    }
  });

  test('model card parity through eval: SST-2 test, {x} It was + awful/wonderful, fp32 0.7633', async () => {
    const r = await evaluateTemplate({
      data: { task: 'sst-2' },
      split: 'test',
      model: GPT,
      dtype: 'fp32',
      template: '{x} It was [MASK]',
      verbalizer: 'awful,wonderful',
      calibration: 'none',
    });
    expect(r.n).toBe(1821);
    expect(r.accuracy.toFixed(4)).toBe('0.7633');
  });
});

describe('soft prompts on a causal model (inputs_embeds)', () => {
  test("the inputs-embeds scorer reproduces the token scorer when the soft prompt is the slot tokens' embeddings", async () => {
    const fs = await import('fs');
    const { cacheDir } = await import('../src/paths');
    const { analyzeInputsEmbeds, prepareEmbedsModel, readWordEmbeddings } =
      await import('../src/model/graph/embedsInput');
    const { SoftPromptBackend } = await import('../src/refine/softPromptBackend');
    const folder = resolveModel(GPT, 'fp32');
    // GPT-2 looks up Reshape(input_ids, [-1, seq]): the lookup is still found.
    const info = analyzeInputsEmbeds(fs.readFileSync(folder.onnxPath), 'gpt');
    expect(info.quantization).toBe('gather-then-dequantize');
    const emb = readWordEmbeddings(fs.readFileSync(folder.onnxPath));
    const model = await loadModel({ model: GPT, dtype: 'fp32', scorer: 'full', threads: 1 });
    const soft = await SoftPromptBackend.load(
      await prepareEmbedsModel(folder.onnxPath, cacheDir()),
      emb,
      model.maxLength,
      model.tokenizer.special.pad,
      1,
    );
    try {
      const data = loadExamples({ task: 'sst-2' }, 'test');
      const ct = compileTemplate(parseTemplate('{x} <A:2> [MASK]'), model.tokenizer, data.textColumn, model.maxLength);
      const slotIds = model.tokenizer.encode('It was', true);
      const rows = data.examples
        .slice(0, 32)
        .map((ex) => buildRow(ct, encodeExample(ct, model.tokenizer, ex), { A: slotIds }));
      const labelIds = buildVerbalizer([['awful'], ['wonderful']], model.tokenizer).ids.flat() as number[];
      soft.soft = Float32Array.from(
        slotIds.flatMap((id) => Array.from(emb.matrix.subarray(id * emb.hidden, (id + 1) * emb.hidden))),
      );
      const got = await labelLogitsForRows(soft, rows, labelIds);
      const want = await labelLogitsForRows(model.backend, rows, labelIds);
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-4);
    } finally {
      await soft.dispose();
      await model.dispose();
    }
  });
});

describe('the causal leaderboard suite', () => {
  test('is valid; its manual method scores the causal prompt given in its config (SST-2 test 0.7633)', async () => {
    const fs = await import('fs');
    const os = await import('os');
    const path = await import('path');
    const { readSuite, runLeaderboard } = await import('../src/runner/leaderboard');
    const { ROOT } = await import('./helpers');
    const suite = readSuite(path.join(ROOT, 'searches', 'leaderboard-causal.json'));
    expect(suite.base.model).toBe(GPT);
    expect(suite.methods.map((m) => m.name)).toEqual(expect.arrayContaining(['manual', 'genetic']));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-lb-causal-'));
    const { cells, complete } = await runLeaderboard(
      { ...suite, seeds: [13], methods: suite.methods.filter((m) => m.manual) },
      { outDir: out },
    );
    expect(complete).toBe(true);
    expect(cells.map((c) => c.method)).toEqual(['manual', 'manual + calibration']);
    expect(cells[0].prompt).toBe('{x} It was [MASK]');
    expect(cells[0].testAccuracy.toFixed(4)).toBe('0.7633');
    // The calibrated row: the same prompt, offsets from seed 13's train + dev inputs.
    const cal = await evaluateTemplate({
      data: { task: 'sst-2', seed: 13 },
      split: 'test',
      model: GPT,
      dtype: 'fp32',
      template: '{x} It was [MASK]',
      verbalizer: 'awful,wonderful',
      calibration: 'inputs',
    });
    expect(cells[1].testAccuracy).toBe(cal.accuracy);
    expect(cells[1].testAccuracy).not.toBe(cells[0].testAccuracy);
    expect(fs.readFileSync(path.join(out, 'leaderboard.md'), 'utf8')).toMatch(/Model gpt-mini-imdb \(fp32\)/);
  });
});

describe('search, export and loadPrompt on the causal model', () => {
  test('a small search exports a prompt file whose loadPrompt predictions equal eval of the same prompt', async () => {
    const fs = await import('fs');
    const os = await import('os');
    const path = await import('path');
    const { validateConfig } = await import('../src/runner/config');
    const { runSearch } = await import('../src/runner/run');
    const { promptFileFromRun } = await import('../src/export/promptFile');
    const { loadPrompt } = await import('../src/export/applyPrompt');
    const { ROOT } = await import('./helpers');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-causal-run-'));
    // The first 48 test sentences keep the run's test scoring short.
    const sst2 = path.join(ROOT, 'datasets', '16-shot', 'sst-2');
    const test = path.join(dir, 'test.tsv');
    fs.writeFileSync(
      test,
      fs.readFileSync(path.join(sst2, 'test.tsv'), 'utf8').split('\n').slice(0, 49).join('\n') + '\n',
    );
    const data = { train: path.join(sst2, '16-13', 'train.tsv'), dev: path.join(sst2, '16-13', 'dev.tsv'), test };
    const config = validateConfig(
      {
        name: 'c',
        data,
        model: GPT,
        dtype: 'fp32',
        template: '{x} <A:2> [MASK]',
        verbalizer: 'awful,wonderful',
        strategy: 'random',
        candidates: { topK: 8 },
        budget: 600,
        selectTopK: 2,
        workers: 1,
        threadsPerWorker: 1,
      },
      'x',
    );
    const runDir = path.join(dir, 'run');
    const log: string[] = [];
    const best = await runSearch(config, { runDir, log: (l) => log.push(l) });
    expect(log).toContain("causal model: each example's prefix is computed once and reused for every candidate");
    const file = path.join(runDir, 'prompt.json');
    fs.writeFileSync(file, JSON.stringify(promptFileFromRun(runDir)));
    const examples = loadExamples({ file: test }, 'test');
    const applied = await loadPrompt(file);
    try {
      const got = await applied.classify(examples.examples.map((e) => e.fields[examples.textColumn]));
      const fill = Object.fromEntries(Object.entries(best.selected.slots).map(([k, v]) => [k, v.text]));
      const r = await evaluateTemplate({
        data: { file: test },
        split: 'test',
        model: GPT,
        dtype: 'fp32',
        template: '{x} <A:2> [MASK]',
        verbalizer: 'awful,wonderful',
        fill,
      });
      expect(r.n).toBe(48);
      expect(r.accuracy).toBeCloseTo(best.testAccuracy!, 10);
      expect(got.map((g) => g.labelId)).toEqual(r.examples.map((e) => e.predicted));
    } finally {
      await applied.dispose();
    }
  });
});
