/**
 * Prefix reuse for causal models: the prefix/suffix graph rewrite gives the logits of whole-row
 * scoring (fp32, 1e-4), reuses cached prefixes, and refuses graphs it cannot split.
 *
 * The default run checks the first 256 SST-2 test sentences (a few seconds per slot length on two
 * busy cores); PROMPTSEARCH_FULL_PARITY=1 checks all 1,821.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadExamples } from '../src/data/load';
import { findCausalPattern, rewriteForCausalPrefix } from '../src/model/graph/causalPrefix';
import { loadModel, LoadedModel } from '../src/model/load';
import { PrefixReuseBackend } from '../src/model/prefixBackend';
import { buildRow, compileTemplate, encodeExample, EncodedExample } from '../src/prompt/encode';
import { parseTemplate } from '../src/prompt/template';
import { buildVerbalizer } from '../src/prompt/verbalizer';
import { labelLogitsForRows } from '../src/scoring/scorer';
import { onnx } from 'onnx-proto';
import { CLI, ROOT } from './helpers';

const GPT = 'gpt-mini-imdb';
const N = process.env.PROMPTSEARCH_FULL_PARITY === '1' ? Infinity : 256;
const gptOnnx = path.join(ROOT, 'models', GPT, 'onnx', 'model.onnx');

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe('prefix reuse (gpt-mini-imdb)', () => {
  let reuse: LoadedModel;
  let full: LoadedModel;
  let labelIds: number[];
  const data = loadExamples({ task: 'sst-2' }, 'test');

  beforeAll(async () => {
    reuse = await loadModel({ model: GPT, dtype: 'fp32', threads: 1 });
    full = await loadModel({ model: GPT, dtype: 'fp32', scorer: 'full', threads: 1 });
    labelIds = buildVerbalizer([['awful'], ['wonderful']], reuse.tokenizer).ids.flat() as number[];
  });
  afterAll(async () => {
    await reuse?.dispose();
    await full?.dispose();
  });

  test('the causal default is the prefix-reuse backend', () => {
    expect(reuse.backend.kind).toBe('prefix-reuse');
    expect(full.backend.kind).toBe('full-logits');
  });

  test.each([
    [2, 'It was'],
    [5, 'In short, it was'],
  ])('%i-token slot: logits equal the model as exported within 1e-4 (fp32)', async (length, fill) => {
    const ct = compileTemplate(
      parseTemplate(`{x} <A:${length}> [MASK]`),
      reuse.tokenizer,
      data.textColumn,
      reuse.maxLength,
    );
    const slots = { A: reuse.tokenizer.encode(fill, true) };
    expect(slots.A).toHaveLength(length);
    const examples = data.examples.slice(0, N).map((ex) => encodeExample(ct, reuse.tokenizer, ex));
    const rows = examples.map((ex) => buildRow(ct, ex, slots));
    expect(rows.every((r) => r.prefixLength! > 0 && r.ids.length - r.prefixLength! === length)).toBe(true);
    const got = await labelLogitsForRows(reuse.backend, rows, labelIds);
    const want = await labelLogitsForRows(full.backend, rows, labelIds);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
  });

  test('a second candidate reuses the cached prefixes and still matches', async () => {
    const backend = reuse.backend as PrefixReuseBackend;
    const ct = compileTemplate(
      parseTemplate('{x} <A:2> It was [MASK]'),
      reuse.tokenizer,
      data.textColumn,
      reuse.maxLength,
    );
    const examples: EncodedExample[] = data.examples
      .slice(300, 364)
      .map((ex) => encodeExample(ct, reuse.tokenizer, ex));
    const first = examples.map((ex) => buildRow(ct, ex, { A: reuse.tokenizer.encode('so yes', true) }));
    await labelLogitsForRows(backend, first, labelIds);
    const prefixRows = backend.stats.prefixRows;
    const second = examples.map((ex) => buildRow(ct, ex, { A: reuse.tokenizer.encode('Honestly,', true) }));
    const got = await labelLogitsForRows(backend, second, labelIds);
    expect(backend.stats.prefixRows).toBe(prefixRows);
    expect(maxAbsDiff(got, await labelLogitsForRows(full.backend, second, labelIds))).toBeLessThan(1e-4);
  });

  test('a slot before {x}: whole rows, same logits as the model as exported', async () => {
    const backend = reuse.backend as PrefixReuseBackend;
    const ct = compileTemplate(
      parseTemplate('<A:1> {x} It was [MASK]'),
      reuse.tokenizer,
      data.textColumn,
      reuse.maxLength,
    );
    expect(ct.reusablePrefix).toBe(false);
    const rows = data.examples
      .slice(0, 32)
      .map((ex) => buildRow(ct, encodeExample(ct, reuse.tokenizer, ex), { A: reuse.tokenizer.encode('The') }));
    const fallback = backend.stats.fallbackRows;
    const got = await labelLogitsForRows(backend, rows, labelIds);
    expect(backend.stats.fallbackRows).toBe(fallback + 32);
    expect(maxAbsDiff(got, await labelLogitsForRows(full.backend, rows, labelIds))).toBeLessThan(1e-4);
  });

  test('a tiny cache evicts and recomputes, with the same numbers', async () => {
    // ~300 KB per sentence: 1 MB keeps a handful.
    const before = process.env.PROMPTSEARCH_PREFIX_CACHE_MB;
    process.env.PROMPTSEARCH_PREFIX_CACHE_MB = '1';
    const small = await loadModel({ model: GPT, dtype: 'fp32', threads: 1 });
    if (before === undefined) delete process.env.PROMPTSEARCH_PREFIX_CACHE_MB;
    else process.env.PROMPTSEARCH_PREFIX_CACHE_MB = before;
    try {
      const backend = small.backend as PrefixReuseBackend;
      const ct = compileTemplate(parseTemplate('{x} <A:2> [MASK]'), small.tokenizer, data.textColumn, small.maxLength);
      const rows = data.examples
        .slice(0, 64)
        .map((ex) =>
          buildRow(ct, encodeExample(ct, small.tokenizer, ex), { A: small.tokenizer.encode('It was', true) }),
        );
      const a = await labelLogitsForRows(backend, rows, labelIds);
      const b = await labelLogitsForRows(backend, rows, labelIds);
      expect(backend.stats.prefixRows).toBeGreaterThan(64);
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
    } finally {
      await small.dispose();
    }
  });
});

describe('the causal prefix rewrite', () => {
  test('finds one attention per layer and the position lookup in gpt-mini-imdb', () => {
    const model = onnx.ModelProto.decode(fs.readFileSync(gptOnnx));
    const p = findCausalPattern(model, 'gpt');
    expect(p.layers).toHaveLength(6);
    expect(p.positionGather.input![0]).toMatch(/wpe/);
    const prefix = onnx.ModelProto.decode(rewriteForCausalPrefix(fs.readFileSync(gptOnnx), 'gpt'));
    expect(prefix.graph!.output!.map((o) => o.name)).toEqual(
      Array.from({ length: 6 }, (_, l) => [`present_key_${l}`, `present_value_${l}`]).flat(),
    );
  });

  test('refuses masked-LM graphs with a reason', () => {
    const bert = onnx.ModelProto.decode(
      fs.readFileSync(path.join(ROOT, 'models', 'bert-mini-imdb-uncased', 'onnx', 'model.onnx')),
    );
    expect(() => findCausalPattern(bert, 'bert')).toThrow(/^bert: expected one position-embedding lookup .* found 2$/);
    const roberta = onnx.ModelProto.decode(
      fs.readFileSync(path.join(ROOT, 'models', 'roberta-mini-imdb', 'onnx', 'model_quantized.onnx')),
    );
    expect(() => findCausalPattern(roberta, 'roberta')).toThrow(/^roberta: /);
  });

  test('CLI: a causal model whose graph cannot be split is one line, exit 2', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-causal-'));
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
      fs.copyFileSync(path.join(ROOT, 'models', GPT, f), path.join(dir, f));
    fs.mkdirSync(path.join(dir, 'onnx'));
    // A masked LM's graph (same byte-level vocabulary) under a GPT-2 config.
    fs.symlinkSync(
      path.join(ROOT, 'models', 'roberta-mini-imdb', 'onnx', 'model_quantized.onnx'),
      path.join(dir, 'onnx', 'model_quantized.onnx'),
    );
    const r = spawnSync(
      process.execPath,
      [
        CLI,
        'eval',
        '--model',
        dir,
        '--task',
        'sst-2',
        '--split',
        'dev',
        '--template',
        '{x} It was [MASK]',
        '--verbalizer',
        'awful,wonderful',
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^promptsearch: .*model_quantized\.onnx: cannot prepare prefix reuse for this causal model \(.*\); --scorer full uses the model as exported/,
    );
  });
});
