import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { loadExamples } from '../src/data/load';
import { LoadedModel, loadModel } from '../src/model/load';
import { rewriteForRowQuant } from '../src/model/graph/rowQuant';
import { ActivationQuant, prepareRowQuantModel } from '../src/model/graph/preparedCache';
import { FullLogitsBackend } from '../src/model/onnxBackend';
import { cacheDir } from '../src/paths';
import { buildRow, compileTemplate, encodeExample, EncodedRow } from '../src/prompt/encode';
import { parseTemplate } from '../src/prompt/template';
import { labelLogitsForRows } from '../src/scoring/scorer';
import { evaluateTemplate } from '../src/scoring/evaluate';
import { maskLogitsOfGraph } from './helpers';

const ROOT = path.resolve(__dirname, '..');
const SST2_TEST = path.join(ROOT, 'datasets/16-shot/sst-2/test.tsv');

const labelIds = (m: LoadedModel, words: string[]) => words.map((w) => m.tokenizer.labelWordId(w));

async function rowsOf(m: LoadedModel, template: string, n?: number): Promise<EncodedRow[]> {
  const data = loadExamples({ file: SST2_TEST }, 'test');
  const ct = compileTemplate(parseTemplate(template), m.tokenizer, data.textColumn, m.maxLength);
  return data.examples.slice(0, n).map((ex) => buildRow(ct, encodeExample(ct, m.tokenizer, ex), {}));
}

/** How many rows get other label logits alone than in the batched run (bit for bit). */
async function aloneVsBatched(m: LoadedModel, rows: EncodedRow[], labelIds: number[]): Promise<number> {
  const batched = await labelLogitsForRows(m.backend, rows, labelIds);
  let differ = 0;
  for (let i = 0; i < rows.length; i++) {
    const alone = await m.backend.labelLogits([rows[i]], labelIds);
    if (labelIds.some((_, k) => alone[k] !== batched[i * labelIds.length + k])) differ++;
  }
  return differ;
}

async function withModel<T>(
  opts: { model?: string; activations?: ActivationQuant; prefixReuse?: boolean },
  f: (m: LoadedModel) => Promise<T>,
): Promise<T> {
  const m = await loadModel({ dtype: 'int8', threads: 2, ...opts });
  try {
    return await f(m);
  } finally {
    await m.dispose();
  }
}

describe('int8 with per-row activation quantization', () => {
  test('every SST-2 test sentence scored alone equals the batched run, bit for bit (per-tensor, as exported, does not)', async () => {
    const labels = ['awful', 'wonderful'];
    const perRow = await withModel({}, async (m) => {
      const rows = await rowsOf(m, '{x} it was [MASK] .');
      expect(rows).toHaveLength(1821);
      return aloneVsBatched(m, rows, labelIds(m, labels));
    });
    expect(perRow).toBe(0);
    // The check can fail: the exported graph's one scale per batch changes rows alone.
    const perTensor = await withModel({ activations: 'per-tensor' }, async (m) =>
      aloneVsBatched(m, await rowsOf(m, '{x} it was [MASK] .', 64), labelIds(m, labels)),
    );
    expect(perTensor).toBeGreaterThan(0);
  });

  test('causal model: whole rows alone equal batched; prefix reuse within its fp32 noise', async () => {
    const words = ['awful', 'wonderful'];
    const whole = await withModel({ model: 'gpt-mini-imdb', prefixReuse: false }, async (m) =>
      aloneVsBatched(m, await rowsOf(m, '{x} It was [MASK]', 96), labelIds(m, words)),
    );
    expect(whole).toBe(0);
    // Prefix reuse attends to cached prefixes padded to the batch's longest: its fp32 sums differ by
    // ~1e-6 with the batch (measured 2.4e-6), which per-row rounding can carry to ~1e-2 in int8.
    const drift = await withModel({ model: 'gpt-mini-imdb' }, async (m) => {
      const rows = await rowsOf(m, '{x} It was [MASK]', 96);
      const ids = labelIds(m, words);
      const batched = await labelLogitsForRows(m.backend, rows, ids);
      let max = 0;
      for (let i = 0; i < rows.length; i++)
        (await m.backend.labelLogits([rows[i]], ids)).forEach(
          (v, k) => (max = Math.max(max, Math.abs(v - batched[i * 2 + k]))),
        );
      return max;
    });
    expect(drift).toBeLessThan(0.05);
  });

  test('the mask-head rewrite is exact on int8 now: label logits equal the whole per-row graph at the mask', async () => {
    const ids = ['awful', 'wonderful', 'great', 'terrible'];
    await withModel({}, async (m) => {
      const rows = await rowsOf(m, '{x} it was [MASK] .', 128);
      const head = await labelLogitsForRows(m.backend, rows, labelIds(m, ids));
      const whole = await FullLogitsBackend.load(
        await prepareRowQuantModel(m.folder.onnxPath, cacheDir()),
        m.maxLength,
        m.tokenizer.special.pad,
        { threads: 2 },
      );
      try {
        const full = await labelLogitsForRows(whole, rows, labelIds(m, ids));
        let maxDiff = 0;
        head.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - full[i]))));
        expect(maxDiff).toBeLessThan(1e-4);
      } finally {
        await whole.dispose();
      }
    });
  });

  test('label logits stay as close to fp32 as the exported per-tensor graph (catches a wrong rewrite that still classifies)', async () => {
    const ids = ['awful', 'wonderful', 'great', 'terrible'];
    const logits = (opts: { dtype: 'fp32' | 'int8'; activations?: ActivationQuant }) =>
      loadModel({ threads: 2, ...opts }).then(async (m) => {
        try {
          return await labelLogitsForRows(m.backend, await rowsOf(m, '{x} it was [MASK] .', 256), labelIds(m, ids));
        } finally {
          await m.dispose();
        }
      });
    const fp32 = await logits({ dtype: 'fp32' });
    const meanErr = (xs: ArrayLike<number>) =>
      Array.from(xs).reduce((a, v, i) => a + Math.abs(v - fp32[i]), 0) / fp32.length;
    const perRow = meanErr(await logits({ dtype: 'int8' }));
    const perTensor = meanErr(await logits({ dtype: 'int8', activations: 'per-tensor' }));
    // Measured: mean error per-row 0.063, per-tensor 0.062; with MatMulIntegerToFloat's bias input 0.28.
    expect(perRow).toBeLessThan(1.25 * perTensor);
    expect(perRow).toBeLessThan(0.2);
  });

  test('accuracy within 0.5 points of fp32 (SST-2, {x} it was [MASK] ., awful/wonderful: fp32 0.7941)', async () => {
    const sst2 = {
      data: { task: 'sst-2' },
      split: 'test' as const,
      calibration: 'none' as const,
      template: '{x} it was [MASK] .',
      verbalizer: 'awful,wonderful',
    };
    const r = await evaluateTemplate({ ...sst2, dtype: 'int8' });
    expect(Math.abs(r.accuracy - 0.7941)).toBeLessThanOrEqual(0.005);
  });
});

describe('rewriteForRowQuant', () => {
  test('fp32 models come back unchanged', () => {
    const bytes = fs.readFileSync(path.join(ROOT, 'models/bert-mini-imdb-uncased/onnx/model.onnx'));
    expect(rewriteForRowQuant(bytes)).toBe(bytes);
  });

  test('int8: no DynamicQuantizeLinear or MatMulInteger left, one MatMulIntegerToFloat per quantized MatMul', () => {
    const bytes = fs.readFileSync(path.join(ROOT, 'models/bert-mini-imdb-uncased/onnx/model_quantized.onnx'));
    const count = (m: onnx.IModelProto, op: string) => m.graph!.node!.filter((n) => n.opType === op).length;
    const before = onnx.ModelProto.decode(bytes);
    const after = onnx.ModelProto.decode(rewriteForRowQuant(bytes));
    expect(count(after, 'DynamicQuantizeLinear')).toBe(0);
    expect(count(after, 'MatMulInteger')).toBe(0);
    expect(count(after, 'MatMulIntegerToFloat')).toBe(count(before, 'MatMulInteger'));
    expect(count(after, 'QuantizeLinear')).toBe(count(before, 'DynamicQuantizeLinear'));
  });

  test('blocked QuantizeLinear (opset raised to 21) gives the same logits as Div + QuantizeLinear, bit for bit', async () => {
    const bytes = fs.readFileSync(path.join(ROOT, 'models/bert-mini-imdb-uncased/onnx/model_quantized.onnx'));
    const blocked = rewriteForRowQuant(bytes);
    const divided = rewriteForRowQuant(bytes, undefined, { blocked: false });
    const b = onnx.ModelProto.decode(blocked);
    const d = onnx.ModelProto.decode(divided);
    const opset = (m: onnx.IModelProto) => Number(m.opsetImport!.find((o) => !o.domain)!.version);
    expect(opset(b)).toBe(21);
    // One block per row: each QuantizeLinear's block is the K of the weights its MatMuls contract
    // (6 FFN outputs of 1024, the rest 256 wide).
    const dims = new Map(b.graph!.initializer!.map((t) => [t.name!, (t.dims ?? []).map(Number)]));
    const ks = b
      .graph!.node!.filter((n) => n.opType === 'QuantizeLinear')
      .map((n) => {
        const mm = b.graph!.node!.find((c) => c.opType === 'MatMulIntegerToFloat' && c.input![0] === n.output![0])!;
        return [Number(n.attribute?.find((a) => a.name === 'block_size')?.i), dims.get(mm.input![1])![0]];
      });
    expect(ks).toHaveLength(26);
    for (const [block, k] of ks) expect(block).toBe(k);
    expect(ks.filter(([block]) => block === 1024)).toHaveLength(6);
    expect(opset(d)).toBe(17);
    expect(
      d
        .graph!.node!.filter((n) => n.opType === 'QuantizeLinear')
        .every((n) => !n.attribute?.some((a) => a.name === 'block_size')),
    ).toBe(true);
    // Both graphs on the same batch of 48 SST-2 rows (padded to the longest).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rowquant-blocked-'));
    const m = await loadModel({ dtype: 'fp32', scorer: 'full' });
    const rows = await rowsOf(m, '{x} it was [MASK] .', 48).finally(() => m.dispose());
    const outputs = [
      await maskLogitsOfGraph(blocked, path.join(dir, 'blocked.onnx'), rows, 1),
      await maskLogitsOfGraph(divided, path.join(dir, 'divided.onnx'), rows, 1),
    ];
    expect(outputs[0].length).toBe(48 * 16384);
    expect(outputs[0].every((v, i) => v === outputs[1][i])).toBe(true);
  });

  test('a graph with an op whose meaning changed before opset 21 keeps its opset and uses Div + QuantizeLinear', () => {
    const bytes = fs.readFileSync(path.join(ROOT, 'models/bert-mini-imdb-uncased/onnx/model_quantized.onnx'));
    const model = onnx.ModelProto.decode(bytes);
    model.graph!.node!.push({
      name: 'gn',
      opType: 'GroupNormalization',
      input: ['a', 'b', 'c'],
      output: ['gn_out'],
      attribute: [{ name: 'num_groups', type: onnx.AttributeProto.AttributeType.INT, i: 2 }],
    });
    const after = onnx.ModelProto.decode(rewriteForRowQuant(onnx.ModelProto.encode(model).finish()));
    expect(Number(after.opsetImport!.find((o) => !o.domain)!.version)).toBe(17);
    expect(
      after
        .graph!.node!.filter((n) => n.opType === 'QuantizeLinear')
        .every((n) => !n.attribute?.some((a) => a.name === 'block_size')),
    ).toBe(true);
    expect(
      after.graph!.node!.filter((n) => n.opType === 'Div' && n.name!.startsWith('row_quant/')).length,
    ).toBeGreaterThan(0);
  });

  test('opset 17 to 21: Reduce axes become an input, an equal Split gets num_outputs (the causal model)', () => {
    const bytes = fs.readFileSync(path.join(ROOT, 'models/gpt-mini-imdb/onnx/model_quantized.onnx'));
    const before = onnx.ModelProto.decode(bytes);
    const after = onnx.ModelProto.decode(rewriteForRowQuant(bytes));
    const splits = after.graph!.node!.filter((n) => n.opType === 'Split');
    expect(splits.length).toBe(before.graph!.node!.filter((n) => n.opType === 'Split').length);
    expect(splits.length).toBeGreaterThan(0);
    for (const n of splits)
      expect(
        n.input![1] || Number(n.attribute!.find((a) => a.name === 'num_outputs')?.i) === n.output!.length,
      ).toBeTruthy();
    for (const n of after.graph!.node!.filter(
      (x) => x.opType === 'ReduceMax' || x.opType === 'ReduceMin' || x.opType === 'ReduceMean',
    )) {
      expect(n.attribute?.some((a) => a.name === 'axes')).toBeFalsy();
      expect(n.input).toHaveLength(2);
    }
  });

  test('a graph outside the quantize_dynamic pattern is refused, naming the node', () => {
    const bytes = fs.readFileSync(path.join(ROOT, 'models/bert-mini-imdb-uncased/onnx/model_quantized.onnx'));
    const model = onnx.ModelProto.decode(bytes);
    const dql = model.graph!.node!.find((n) => n.opType === 'DynamicQuantizeLinear')!;
    model.graph!.node!.push({ name: 'stray', opType: 'Identity', input: [dql.output![0]], output: ['stray_out'] });
    expect(() => rewriteForRowQuant(onnx.ModelProto.encode(model).finish(), 'x.onnx')).toThrow(
      /^x\.onnx: ".*" \(DynamicQuantizeLinear\) feeds "stray" \(Identity\) other than as MatMulInteger's A/,
    );
  });
});
