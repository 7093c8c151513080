import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import {
  analyzeInputsEmbeds,
  embedIds,
  findWordEmbedding,
  prepareEmbedsModel,
  readWordEmbeddings,
  rewriteForInputsEmbeds,
  WordEmbeddings,
} from '../src/model/graph/embedsInput';
import { rewriteForMaskHead } from '../src/model/graph/maskHead';
import { preparedTagSuffix } from '../src/model/graph/preparedCache';
import { Dtype, resolveModel } from '../src/model/modelFolder';
import { PromptTokenizer } from '../src/model/tokenizer';

import * as ort from 'onnxruntime-node'; // typed arrays shared with the main realm: test/setup/sharedRealm.ts

/** The per-row int8 rewrite's part of a cached file's tag. */
const RQ = preparedTagSuffix();

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1 };

// SST-2 (16-shot train split), varying lengths so most rows are padded and the mask moves.
const SENTENCES = [
  'too silly to take seriously .',
  "i do n't blame eddie murphy but should n't owen wilson know a movie must have a story and a script ?",
  'follows the original film virtually scene for scene and yet manages to bleed it almost completely dry of humor , verve and fun .',
  "the densest distillation of roberts ' movies ever made .",
  'a gorgeous , witty , seductive movie .',
  'charming and funny .',
];

interface Prepared {
  tok: PromptTokenizer;
  maskHead: Uint8Array;
  embeds: Uint8Array;
  table: WordEmbeddings;
}

const cache = new Map<string, Prepared>();
function prepare(model: string, dtype: Dtype): Prepared {
  const key = `${model}/${dtype}`;
  if (!cache.has(key)) {
    const folder = resolveModel(model, dtype);
    const maskHead = rewriteForMaskHead(fs.readFileSync(folder.onnxPath));
    cache.set(key, {
      tok: PromptTokenizer.fromFolder(folder),
      maskHead,
      embeds: rewriteForInputsEmbeds(maskHead),
      table: readWordEmbeddings(maskHead),
    });
  }
  return cache.get(key)!;
}

const int64 = (xs: ArrayLike<number | bigint>, dims: number[]) =>
  new ort.Tensor('int64', BigInt64Array.from(Array.from(xs, (x) => BigInt(x))), dims);

/** label_logits of the mask-head model fed ids, and of the embeds model fed looked-up embeddings, same batch. */
async function compare(
  p: Prepared,
  labelIds: number[],
  idsForEmbedsModel: (ids: number[], mask: number[]) => number[] = (ids) => ids,
): Promise<{ ids: Float32Array; embeds: Float32Array; seq: number }> {
  const maskToken = p.tok.token(p.tok.special.mask);
  const rows = SENTENCES.map((s) => p.tok.encodeWithSpecials(`${s} it was ${maskToken} .`));
  const B = rows.length;
  const S = Math.max(...rows.map((r) => r.length));
  const ids = new Array<number>(B * S).fill(p.tok.special.pad);
  const mask = new Array<number>(B * S).fill(0);
  rows.forEach((r, b) => r.forEach((t, s) => ((ids[b * S + s] = t), (mask[b * S + s] = 1))));
  const maskIndex = rows.map((r, b) => {
    expect(r.filter((t) => t === p.tok.special.mask)).toHaveLength(1);
    return b * S + r.indexOf(p.tok.special.mask);
  });

  const common: Record<string, ort.Tensor> = {
    attention_mask: int64(mask, [B, S]),
    mask_index: int64(maskIndex, [B]),
    label_ids: int64(labelIds, [labelIds.length]),
  };
  const ref = await ort.InferenceSession.create(p.maskHead, SESSION_OPTIONS);
  const emb = await ort.InferenceSession.create(p.embeds, SESSION_OPTIONS);
  const withTypes = (s: ort.InferenceSession, f: Record<string, ort.Tensor>) =>
    s.inputNames.includes('token_type_ids') ? { ...f, token_type_ids: int64(new Array(B * S).fill(0), [B, S]) } : f;

  const refOut = (await ref.run(withTypes(ref, { ...common, input_ids: int64(ids, [B, S]) }))).label_logits;
  const embFeeds: Record<string, ort.Tensor> = {
    ...common,
    inputs_embeds: new ort.Tensor('float32', embedIds(p.table, ids), [B, S, p.table.hidden]),
  };
  if (emb.inputNames.includes('input_ids')) embFeeds.input_ids = int64(idsForEmbedsModel(ids, mask), [B, S]);
  const embOut = (await emb.run(withTypes(emb, embFeeds))).label_logits;
  expect(embOut.dims).toEqual([B, labelIds.length]);
  const res = {
    ids: Float32Array.from(refOut.data as Float32Array),
    embeds: Float32Array.from(embOut.data as Float32Array),
    seq: S,
  };
  await ref.release();
  await emb.release();
  return res;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
/** Bitwise equality (jest's toEqual is very slow on millions of elements). */
const sameFloats = (a: Float32Array, b: Float32Array) =>
  a.length === b.length &&
  Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ) === 0;
const inputNames = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.input!.map((i) => i.name);

/** A [V,H] float table looked up by `ids` through Gather, or (variant 'noLookup') no lookup at all. */
function tinyModel(variant: 'lookup' | 'noLookup'): Uint8Array {
  const [V, H] = [5, 3];
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const vi = (name: string, elemType: number, d: (string | number)[]) => ({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: d.map((x) => (typeof x === 'string' ? { dimParam: x } : { dimValue: x })) },
      },
    },
  });
  const nodes: onnx.INodeProto[] =
    variant === 'lookup'
      ? [
          { name: 'emb', opType: 'Gather', input: ['table', 'input_ids'], output: ['e'] },
          { opType: 'Relu', input: ['e'], output: ['y'] },
        ]
      : [
          {
            name: 'cast',
            opType: 'Cast',
            input: ['input_ids'],
            output: ['f'],
            attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
          },
          { opType: 'Relu', input: ['f'], output: ['y'] },
        ];
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny',
      node: nodes,
      input: [vi('input_ids', onnx.TensorProto.DataType.INT64, ['batch', 'seq'])],
      output: [vi('y', FLOAT, variant === 'lookup' ? ['batch', 'seq', H] : ['batch', 'seq'])],
      initializer: [
        {
          name: 'table',
          dims: [V, H],
          dataType: FLOAT,
          floatData: Array.from({ length: V * H }, (_, i) => Math.sin(i) * 2),
        },
      ],
    },
  }).finish();
}

// ---------------------------------------------------------------------------------------------

describe('rewriteForInputsEmbeds on bert-mini-imdb', () => {
  const labelWords = ['great', 'terrible', 'good', 'bad'];

  test('fp32: analysis — the word-embedding Gather, input_ids dropped (position ids come from its shape)', () => {
    const p = prepare('bert-mini-imdb-uncased', 'fp32');
    const info = analyzeInputsEmbeds(p.maskHead);
    expect(info).toMatchObject({
      gather: '/m/bert/embeddings/word_embeddings/Gather',
      table: 'm.bert.embeddings.word_embeddings.weight',
      quantization: 'none',
      keepsInputIds: false,
      vocab: 16384,
      hidden: 256,
    });
    expect(inputNames(p.embeds)).toEqual([
      'inputs_embeds',
      'attention_mask',
      'token_type_ids',
      'mask_index',
      'label_ids',
    ]);
    // Same lookup before and after the mask-head rewrite.
    const fromOriginal = readWordEmbeddings(fs.readFileSync(resolveModel('bert-mini-imdb-uncased', 'fp32').onnxPath));
    expect(sameFloats(fromOriginal.matrix, p.table.matrix)).toBe(true);
    // The word-embedding table is gone from the rewritten graph (the decoder has its own copy).
    const inits = onnx.ModelProto.decode(p.embeds).graph!.initializer!.map((t) => t.name);
    expect(inits).not.toContain('m.bert.embeddings.word_embeddings.weight');
  });

  test('fp32: looked-up embeddings give the same label_logits as ids', async () => {
    const p = prepare('bert-mini-imdb-uncased', 'fp32');
    const { ids, embeds } = await compare(
      p,
      labelWords.map((w) => p.tok.labelWordId(w)),
    );
    expect(maxAbsDiff(ids, embeds)).toBeLessThanOrEqual(1e-4);
  });

  test('int8: the table is stored quantized (Gather -> DequantizeLinear) and dequantized exactly', async () => {
    const p = prepare('bert-mini-imdb-uncased', 'int8');
    const info = analyzeInputsEmbeds(p.maskHead);
    expect(info).toMatchObject({
      gather: '/m/bert/embeddings/word_embeddings/Gather',
      table: 'm.bert.embeddings.word_embeddings.weight_quantized',
      quantization: 'gather-then-dequantize',
      embeddings: '/m/bert/embeddings/word_embeddings/Gather_output_0',
      keepsInputIds: false,
    });
    // Dequantized values are multiples of one scale around the zero point, close to the fp32 table.
    const fp32 = prepare('bert-mini-imdb-uncased', 'fp32').table.matrix;
    expect(p.table.matrix.length).toBe(fp32.length);
    expect(maxAbsDiff(p.table.matrix.subarray(0, 256 * 100), fp32.subarray(0, 256 * 100))).toBeLessThan(0.05);

    const { ids, embeds } = await compare(
      p,
      labelWords.map((w) => p.tok.labelWordId(w)),
    );
    // The graph after the lookup is unchanged and fed the very float values DequantizeLinear
    // produced (readWordEmbeddings dequantizes exactly), so no quantization difference enters:
    // bit-identical, unlike the mask-head rewrite's own int8 tolerance.
    expect(maxAbsDiff(ids, embeds)).toBe(0);
  });
});

describe('rewriteForInputsEmbeds on roberta-mini-imdb', () => {
  const labelWords = ['great', 'terrible', 'good', 'bad'];

  test('fp32: input_ids stays (position ids are computed from it); same label_logits', async () => {
    const p = prepare('roberta-mini-imdb', 'fp32');
    const info = analyzeInputsEmbeds(p.maskHead);
    expect(info).toMatchObject({
      gather: '/m/roberta/embeddings/word_embeddings/Gather',
      quantization: 'none',
      keepsInputIds: true,
      vocab: 8192,
      hidden: 256,
    });
    expect(info.inputIdsUsers.some((u) => u.includes('(Equal)'))).toBe(true);
    expect(inputNames(p.embeds)).toEqual(['input_ids', 'inputs_embeds', 'attention_mask', 'mask_index', 'label_ids']);
    // Tied decoder: the table stays in the graph (read by the output head's Transpose).
    expect(onnx.ModelProto.decode(p.embeds).graph!.initializer!.map((t) => t.name)).toContain(
      'm.roberta.embeddings.word_embeddings.weight',
    );

    const { ids, embeds } = await compare(
      p,
      labelWords.map((w) => p.tok.labelWordId(w)),
    );
    expect(maxAbsDiff(ids, embeds)).toBeLessThanOrEqual(1e-4);
  });

  test('int8: quantized table, same label_logits', async () => {
    const p = prepare('roberta-mini-imdb', 'int8');
    expect(analyzeInputsEmbeds(p.maskHead)).toMatchObject({
      quantization: 'gather-then-dequantize',
      keepsInputIds: true,
    });
    const { ids, embeds } = await compare(
      p,
      labelWords.map((w) => p.tok.labelWordId(w)),
    );
    expect(maxAbsDiff(ids, embeds)).toBe(0);
  });

  test('the kept input_ids only matters through which entries are padding', async () => {
    // What a soft-prompt scorer relies on: any non-pad id at the prompt positions gives the same result.
    const p = prepare('roberta-mini-imdb', 'fp32');
    const other = p.tok.special.mask === 5 ? 6 : 5;
    expect(other).not.toBe(p.tok.special.pad);
    const { ids, embeds } = await compare(p, [p.tok.labelWordId('great')], (ids, mask) =>
      ids.map((t, i) => (mask[i] ? other : t)),
    );
    expect(maxAbsDiff(ids, embeds)).toBeLessThanOrEqual(1e-4);
  });
});

describe('rewriteForInputsEmbeds on tiny graphs', () => {
  test('replaces the lookup by an input; embedIds reproduces the output', async () => {
    const bytes = tinyModel('lookup');
    expect(findWordEmbedding(bytes)).toMatchObject({
      gather: 'emb',
      table: 'table',
      quantization: 'none',
      vocab: 5,
      hidden: 3,
    });
    const rewritten = rewriteForInputsEmbeds(bytes);
    expect(inputNames(rewritten)).toEqual(['inputs_embeds']);
    const ids = [4, 0, 2, 2, 1, 3];
    const y = (await (await ort.InferenceSession.create(bytes)).run({ input_ids: int64(ids, [2, 3]) })).y;
    const table = readWordEmbeddings(bytes);
    const y2 = (
      await (
        await ort.InferenceSession.create(rewritten)
      ).run({ inputs_embeds: new ort.Tensor('float32', embedIds(table, ids), [2, 3, 3]) })
    ).y;
    expect(Array.from(y2.data as Float32Array)).toEqual(Array.from(y.data as Float32Array));
    expect(() => embedIds(table, [5])).toThrow(/outside the vocabulary/);
  });

  test('fails clearly, naming the model, when there is no word-embedding Gather', () => {
    expect(() => rewriteForInputsEmbeds(tinyModel('noLookup'), 'tiny.onnx')).toThrow(
      /tiny\.onnx: no word-embedding Gather found.*no Gather reads "input_ids"/,
    );
    expect(() => readWordEmbeddings(tinyModel('noLookup'))).toThrow(/model "tiny": no word-embedding Gather/);
  });

  test('refuses a model already rewritten', () => {
    const once = rewriteForInputsEmbeds(tinyModel('lookup'));
    expect(() => rewriteForInputsEmbeds(once, 'once.onnx')).toThrow(
      /once\.onnx: .*(no "input_ids" input|already has an input named "inputs_embeds")/,
    );
  });
});

describe('prepareEmbedsModel', () => {
  test(`writes <sha256>.embeds-v1.${RQ}.onnx once, reuses it, and accepts a mask-head model as source`, async () => {
    const src = resolveModel('bert-mini-imdb-uncased', 'int8').onnxPath;
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'embeds-test-'));
    const cacheDir = path.join(root, 'nested', 'cache');
    const first = await prepareEmbedsModel(src, cacheDir);
    const sha = createHash('sha256').update(fs.readFileSync(src)).digest('hex');
    expect(first).toBe(path.join(cacheDir, `${sha}.embeds-v1.${RQ}.onnx`));
    expect(fs.readdirSync(cacheDir).sort()).toEqual([
      `${sha}.embeds-v1.${RQ}.onnx`,
      `${sha}.embeds-v1.${RQ}.onnx.sha256`,
    ]); // no tmp file left behind
    const g = onnx.ModelProto.decode(fs.readFileSync(first)).graph!;
    expect(g.input!.map((i) => i.name)).toContain('inputs_embeds');
    expect(g.output!.map((o) => o.name)).toEqual(['label_logits']);

    const past = new Date(Date.now() - 3600_000);
    fs.utimesSync(first, past, past);
    expect(await prepareEmbedsModel(src, cacheDir)).toBe(first);
    expect(Math.abs(fs.statSync(first).mtimeMs - past.getTime())).toBeLessThan(1);

    // A mask-head model as source: only the embeds rewrite is applied.
    const mhPath = path.join(path.dirname(cacheDir), 'mh.onnx');
    fs.writeFileSync(mhPath, prepare('bert-mini-imdb-uncased', 'int8').maskHead);
    const fromMaskHead = await prepareEmbedsModel(mhPath, cacheDir);
    expect(Buffer.compare(fs.readFileSync(fromMaskHead), fs.readFileSync(first))).toBe(0);
    fs.rmSync(root, { recursive: true, force: true });
  });
});
