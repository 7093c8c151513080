import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node'; // typed arrays shared with the main realm: test/setup/sharedRealm.ts
import { loadModel } from '../src/model/load';
import { rewriteForRowQuant } from '../src/model/graph/rowQuant';
import { foldTransposesIntoMatMul } from '../src/model/graph/transposeFold';
import { maskLogitsOfGraph } from './helpers';
import { loadExamples } from '../src/data/load';
import { buildRow, compileTemplate, encodeExample } from '../src/prompt/encode';
import { parseTemplate } from '../src/prompt/template';

const ROOT = path.resolve(__dirname, '..');
const BERT = path.join(ROOT, 'models/bert-mini-imdb-uncased/onnx');
const FLOAT = onnx.TensorProto.DataType.FLOAT;

const perm = (n: onnx.INodeProto) => (n.attribute?.find((a) => a.name === 'perm')?.ints ?? []).map(Number).join(',');
const nodes = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.node!;

/** Y = X · Transpose(W, [1, 0]) (+ W's transpose also a graph output when `exposed`). */
function toyModel(exposed: boolean): Uint8Array {
  const w = Float32Array.from({ length: 5 * 4 }, (_, i) => Math.sin(i + 1) / 3);
  const graph: onnx.IGraphProto = {
    name: 'toy',
    node: [
      {
        name: 't',
        opType: 'Transpose',
        input: ['W'],
        output: ['Wt'],
        attribute: [{ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [1, 0] }],
      },
      { name: 'mm', opType: 'MatMul', input: ['X', 'Wt'], output: ['Y'] },
    ],
    initializer: [{ name: 'W', dataType: FLOAT, dims: [5, 4], floatData: Array.from(w) }],
    input: [
      { name: 'X', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 3 }, { dimValue: 4 }] } } } },
    ],
    output: [
      { name: 'Y', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 3 }, { dimValue: 5 }] } } } },
      ...(exposed ? [{ name: 'Wt', type: { tensorType: { elemType: FLOAT } } }] : []),
    ],
  };
  return onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph }).finish();
}

async function runToy(bytes: Uint8Array, x: Float32Array): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    return (await s.run({ X: new ort.Tensor('float32', x, [3, 4]) })).Y.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe('foldTransposesIntoMatMul', () => {
  test('a 2-D transpose read only as MatMul B is dropped: FusedMatMul transB, the same numbers bit for bit', async () => {
    const before = toyModel(false);
    const after = foldTransposesIntoMatMul(before);
    expect(nodes(after).map((n) => n.opType)).toEqual(['FusedMatMul']);
    expect(nodes(after)[0].input).toEqual(['X', 'W']);
    const x = Float32Array.from({ length: 12 }, (_, i) => Math.cos(i * 0.7) * 3);
    const [a, b] = [await runToy(before, x), await runToy(after, x)];
    expect(a.length).toBe(15);
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  test('a transpose that is also read elsewhere (here a graph output) is left alone', () => {
    const bytes = toyModel(true);
    expect(foldTransposesIntoMatMul(bytes)).toBe(bytes);
  });

  test("BERT's key transposes [0,2,3,1] become [0,2,1,3] + FusedMatMul transB; logits bit-identical, fp32 and per-row int8", async () => {
    const fp32 = fs.readFileSync(path.join(BERT, 'model.onnx'));
    const folded = foldTransposesIntoMatMul(fp32);
    expect(nodes(fp32).filter((n) => n.opType === 'Transpose' && perm(n) === '0,2,3,1')).toHaveLength(6);
    expect(nodes(folded).filter((n) => n.opType === 'Transpose' && perm(n) === '0,2,3,1')).toHaveLength(0);
    expect(
      nodes(folded).filter(
        (n) => n.opType === 'FusedMatMul' && n.attribute?.some((a) => a.name === 'transB' && Number(a.i) === 1),
      ),
    ).toHaveLength(6);
    expect(nodes(folded).filter((n) => n.opType === 'Transpose')).toHaveLength(
      nodes(fp32).filter((n) => n.opType === 'Transpose').length,
    );

    const int8 = rewriteForRowQuant(fs.readFileSync(path.join(BERT, 'model_quantized.onnx')));
    const m = await loadModel({ dtype: 'fp32', scorer: 'full' });
    const data = loadExamples({ file: path.join(ROOT, 'datasets/16-shot/sst-2/test.tsv') }, 'test');
    const ct = compileTemplate(parseTemplate('{x} it was [MASK] .'), m.tokenizer, data.textColumn, m.maxLength);
    const rows = data.examples.slice(0, 40).map((ex) => buildRow(ct, encodeExample(ct, m.tokenizer, ex), {}));
    await m.dispose();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfold-'));
    for (const [name, graph] of [
      ['fp32', fp32],
      ['int8', int8],
    ] as const) {
      const outputs: Float32Array[] = [];
      // Two threads: where the unfolded permutation is slow and the fold pays off.
      for (const [i, bytes] of [graph, foldTransposesIntoMatMul(graph)].entries())
        outputs.push(await maskLogitsOfGraph(bytes, path.join(dir, `${name}-${i}.onnx`), rows, 2));
      expect(outputs[0].length).toBe(40 * 16384);
      expect(outputs[1].every((v, i) => v === outputs[0][i])).toBe(true);
    }
  });
});
