import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Tokenizer } from '@huggingface/tokenizers';
import { onnx } from 'onnx-proto';
import { findMaskHeadCut, prepareMaskHeadModel, rewriteForMaskHead } from '../src/model/graph/maskHead';
import { onPreparedCacheNotice, preparedTagSuffix } from '../src/model/graph/preparedCache';

import * as ort from 'onnxruntime-node'; // typed arrays shared with the main realm: test/setup/sharedRealm.ts

/** The per-row int8 rewrite's part of a cached file's tag. */
const RQ = preparedTagSuffix();

const BERT_DIR = path.resolve(__dirname, '../models/bert-mini-imdb-uncased');
const ROBERTA_DIR = path.resolve(__dirname, '../models/roberta-mini-imdb');
const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 2, interOpNumThreads: 1 };

// Varying lengths so the mask lands at different positions and most rows are padded.
const SENTENCES = [
  'a gorgeous , witty , seductive movie .',
  'no movement , no yuks , not much of anything .',
  'the plot is nothing but boilerplate clichés from start to finish , and the script assumes that not only would subtlety be lost on the target audience , but that it is also beneath them .',
  'bad .',
  'one of the best films of the year , with performances that stay with you long after the credits roll .',
  'it is a sloppy , amateurish mess that never finds its footing .',
  'charming and funny .',
  'an utterly forgettable exercise in tedium , dragged out far beyond its welcome by a director who seems to have no idea what story he wants to tell .',
];

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

interface Tok {
  encode(text: string): number[];
  id(token: string): number;
  mask: string;
  maskId: number;
  padId: number;
}

function loadTokenizer(dir: string): Tok {
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')), cfg);
  const special = JSON.parse(fs.readFileSync(path.join(dir, 'special_tokens_map.json'), 'utf8'));
  const content = (v: unknown) => (typeof v === 'string' ? v : (v as { content: string }).content);
  const mask = content(cfg.mask_token ?? special.mask_token);
  const pad = content(cfg.pad_token ?? special.pad_token);
  const id = (t: string) => {
    const i = tok.token_to_id(t);
    if (i === undefined) throw new Error(`unknown token ${t}`);
    return i;
  };
  return { encode: (text) => tok.encode(text).ids, id, mask, maskId: id(mask), padId: id(pad) };
}

interface Batch {
  feeds: Record<string, ort.Tensor>;
  rows: number;
  seq: number;
  maskPos: number[];
}

/** Right-padded batch of prompts "<sentence> it was [MASK] ." plus the mask-head inputs. */
function makeBatch(tok: Tok, sentences: string[], inputNames: readonly string[]): Batch {
  const ids = sentences.map((s) => tok.encode(`${s} it was ${tok.mask} .`));
  const rows = ids.length;
  const seq = Math.max(...ids.map((r) => r.length));
  const inputIds = new BigInt64Array(rows * seq).fill(BigInt(tok.padId));
  const attention = new BigInt64Array(rows * seq);
  const maskPos = ids.map((r) => r.indexOf(tok.maskId));
  ids.forEach((r, b) =>
    r.forEach((t, s) => {
      inputIds[b * seq + s] = BigInt(t);
      attention[b * seq + s] = 1n;
    }),
  );
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', inputIds, [rows, seq]),
    attention_mask: new ort.Tensor('int64', attention, [rows, seq]),
  };
  if (inputNames.includes('token_type_ids'))
    feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(rows * seq), [rows, seq]);
  expect(maskPos.every((p) => p > 0)).toBe(true);
  return { feeds, rows, seq, maskPos };
}

const int64 = (xs: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [xs.length]);

/** label logits [row][k] from the original model and from the rewritten one, same batch. */
async function compareModels(
  dir: string,
  file: string,
  labelIds: number[],
): Promise<{ original: number[][]; rewritten: number[][] }> {
  const tok = loadTokenizer(dir);
  const bytes = fs.readFileSync(path.join(dir, 'onnx', file));
  const original = await ort.InferenceSession.create(bytes, SESSION_OPTIONS);
  const rewritten = await ort.InferenceSession.create(rewriteForMaskHead(bytes), SESSION_OPTIONS);
  const batch = makeBatch(tok, SENTENCES, original.inputNames);

  const full = (await original.run(batch.feeds)).logits;
  const vocab = full.dims[2];
  const fullData = full.data as Float32Array;
  const originalRows = batch.maskPos.map((pos, b) =>
    labelIds.map((id) => fullData[(b * batch.seq + pos) * vocab + id]),
  );

  const flatMask = batch.maskPos.map((pos, b) => b * batch.seq + pos);
  const out = (await rewritten.run({ ...batch.feeds, mask_index: int64(flatMask), label_ids: int64(labelIds) }))
    .label_logits;
  expect(out.dims).toEqual([batch.rows, labelIds.length]);
  const outData = out.data as Float32Array;
  const rewrittenRows = flatMask.map((_, b) => labelIds.map((_, k) => outData[b * labelIds.length + k]));
  return { original: originalRows, rewritten: rewrittenRows };
}

const maxAbsDiff = (a: number[][], b: number[][]) =>
  Math.max(...a.flatMap((row, i) => row.map((v, k) => Math.abs(v - b[i][k]))));

/**
 * Tiny float models over x [B,S,H]:
 * - 'softmaxThenHead': Softmax over seq (mixes positions) -> MatMul W -> Add b -> Relu -> logits
 * - 'headThenTranspose': MatMul W -> Transpose(seq <-> batch) -> logits (no position-wise cut)
 * - 'identity': Identity -> `outputName`
 */
function tinyModel(variant: 'softmaxThenHead' | 'headThenTranspose' | 'identity', outputName = 'logits'): Uint8Array {
  const H = 4;
  const V = 6;
  const INT = onnx.AttributeProto.AttributeType.INT;
  const INTS = onnx.AttributeProto.AttributeType.INTS;
  const dims = (d: (string | number)[]) => ({
    dim: d.map((x) => (typeof x === 'string' ? { dimParam: x } : { dimValue: x })),
  });
  const vi = (name: string, d: (string | number)[]) => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: dims(d) } },
  });
  const init = (name: string, d: number[], f: (i: number) => number) => ({
    name,
    dims: d,
    dataType: onnx.TensorProto.DataType.FLOAT,
    floatData: Array.from({ length: d.reduce((a, x) => a * x, 1) }, (_, i) => f(i)),
  });
  const nodes: Record<typeof variant, onnx.INodeProto[]> = {
    softmaxThenHead: [
      { opType: 'Softmax', input: ['x'], output: ['mixed'], attribute: [{ name: 'axis', type: INT, i: 1 }] },
      { opType: 'MatMul', input: ['mixed', 'W'], output: ['mm'] },
      { opType: 'Add', input: ['mm', 'bias'], output: ['pre'] },
      { opType: 'Relu', input: ['pre'], output: [outputName] },
    ],
    headThenTranspose: [
      { opType: 'MatMul', input: ['x', 'W'], output: ['mm'] },
      {
        opType: 'Transpose',
        name: 'swap_batch_seq',
        input: ['mm'],
        output: [outputName],
        attribute: [{ name: 'perm', type: INTS, ints: [1, 0, 2] }],
      },
    ],
    identity: [{ opType: 'Identity', input: ['x'], output: [outputName] }],
  };
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny',
      node: nodes[variant],
      input: [vi('x', ['batch', 'seq', H])],
      output: [vi(outputName, ['batch', 'seq', variant === 'identity' ? H : V])],
      initializer: [init('W', [H, V], (i) => Math.sin(i + 1)), init('bias', [V], (i) => 0.1 * i - 0.2)],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'maskhead-test-'));
}

// ---------------------------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------------------------

describe('rewriteForMaskHead on a tiny graph', () => {
  test('cuts after the last position-mixing op and matches the full output', async () => {
    const bytes = tinyModel('softmaxThenHead');
    const cut = findMaskHeadCut(onnx.ModelProto.decode(bytes));
    expect(cut.cut).toBe('mixed');
    expect(cut.headNodes.map((n) => n.opType)).toEqual(['MatMul', 'Add', 'Relu']);

    const [B, S, H] = [3, 5, 4];
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: B * S * H }, (_, i) => Math.cos(i * 0.7)),
      [B, S, H],
    );
    const full = (await (await ort.InferenceSession.create(bytes)).run({ x })).logits;
    const rewritten = await ort.InferenceSession.create(rewriteForMaskHead(bytes));
    const pos = [4, 0, 2];
    const labels = [5, 1, 3];
    const out = (await rewritten.run({ x, mask_index: int64(pos.map((p, b) => b * S + p)), label_ids: int64(labels) }))
      .label_logits;
    expect(out.dims).toEqual([B, labels.length]);
    const V = full.dims[2];
    pos.forEach((p, b) =>
      labels.forEach((l, k) =>
        expect((out.data as Float32Array)[b * labels.length + k]).toBeCloseTo(
          (full.data as Float32Array)[(b * S + p) * V + l],
          6,
        ),
      ),
    );
  });

  test('fails clearly when no position-wise cut exists', () => {
    expect(() => rewriteForMaskHead(tinyModel('headThenTranspose'))).toThrow(
      /model "tiny".*no position-wise cut.*swap_batch_seq.*Transpose/,
    );
  });

  test('fails clearly when the model has no logits output', () => {
    expect(() => rewriteForMaskHead(tinyModel('identity', 'y'))).toThrow(/model "tiny".*no "logits" output/);
  });
});

describe('rewriteForMaskHead on bert-mini-imdb', () => {
  const tok = loadTokenizer(BERT_DIR);
  const labelWords = ['great', 'terrible', 'good', 'bad', 'fun', 'boring'];
  const labelIds = labelWords.map(tok.id);

  test('mask token is [MASK] = 4', () => {
    expect(tok.maskId).toBe(4);
  });

  test('fp32: label_logits equal the original logits at the mask positions', async () => {
    const cut = findMaskHeadCut(onnx.ModelProto.decode(fs.readFileSync(path.join(BERT_DIR, 'onnx/model.onnx'))));
    // Attention mixes positions; everything after the last attention block's residual Add is per position.
    expect(cut.cut).toBe('/m/bert/encoder/layer.5/attention/output/Add_output_0');
    expect(cut.usesDynamicQuant).toBe(false);

    const { original, rewritten } = await compareModels(BERT_DIR, 'model.onnx', labelIds);
    expect(maxAbsDiff(original, rewritten)).toBeLessThan(1e-4);
  });

  test('int8: close to the original, same decision between two label words on most rows', async () => {
    const bytes = fs.readFileSync(path.join(BERT_DIR, 'onnx/model_quantized.onnx'));
    const cut = findMaskHeadCut(onnx.ModelProto.decode(bytes));
    expect(cut.cut).toBe('/m/bert/encoder/layer.5/attention/output/Add_output_0');
    expect(cut.usesDynamicQuant).toBe(true);

    // The rewritten model must not keep value_info shapes for the head's tensors (they lost the seq dim).
    const headTensors = new Set(cut.headNodes.flatMap((n) => n.output ?? []));
    const rewrittenGraph = onnx.ModelProto.decode(rewriteForMaskHead(bytes)).graph!;
    expect(rewrittenGraph.valueInfo!.filter((v) => headTensors.has(v.name!))).toEqual([]);
    expect(rewrittenGraph.output!.map((o) => o.name)).toEqual(['label_logits']);

    const { original, rewritten } = await compareModels(BERT_DIR, 'model_quantized.onnx', labelIds);
    // Not exact: each DynamicQuantizeLinear in the head picks a per-tensor scale from the rows it sees,
    // which are now only the B mask rows instead of all B*S positions. On 256 SST-2 prompts the largest
    // deviation measured was ~0.15 on logits of magnitude ~10 (253/256 same great-vs-terrible decision),
    // so 0.5 leaves headroom while still catching a wrong row / column (errors of several units).
    expect(maxAbsDiff(original, rewritten)).toBeLessThan(0.5);
    const agree = original.filter((row, b) => row[0] > row[1] === rewritten[b][0] > rewritten[b][1]).length;
    expect(agree).toBeGreaterThanOrEqual(Math.ceil(0.75 * original.length));
  });
});

describe('prepareMaskHeadModel', () => {
  const src = path.join(BERT_DIR, 'onnx/model_quantized.onnx');

  test(`writes <sha256>.maskhead-v1.${RQ}.onnx once and reuses it`, async () => {
    const cacheDir = path.join(tmpDir(), 'nested', 'cache');
    const first = await prepareMaskHeadModel(src, cacheDir);
    const sha = createHash('sha256').update(fs.readFileSync(src)).digest('hex');
    expect(first).toBe(path.join(cacheDir, `${sha}.maskhead-v1.${RQ}.onnx`));
    expect(fs.readdirSync(cacheDir).sort()).toEqual([
      `${sha}.maskhead-v1.${RQ}.onnx`,
      `${sha}.maskhead-v1.${RQ}.onnx.sha256`,
    ]); // no tmp file left behind
    expect(onnx.ModelProto.decode(fs.readFileSync(first)).graph!.output!.map((o) => o.name)).toEqual(['label_logits']);

    // Backdate the cached file: a rewrite would give it a fresh mtime.
    const past = new Date(Date.now() - 3600_000);
    fs.utimesSync(first, past, past);
    const second = await prepareMaskHeadModel(src, cacheDir);
    expect(second).toBe(first);
    expect(Math.abs(fs.statSync(second).mtimeMs - past.getTime())).toBeLessThan(1);
  });

  test.each([
    [
      'damaged weights (the file still parses)',
      (b: Buffer) => {
        const c = Buffer.from(b);
        for (let i = c.length - 4096; i < c.length - 2048; i++) c[i] ^= 0x5a;
        return c;
      },
    ],
    ['truncated', (b: Buffer) => b.subarray(0, b.length >> 1)],
    ['garbage', () => Buffer.from('not a model')],
  ])('a cached model %s is rebuilt once, with one notice', async (_what, damage) => {
    const cacheDir = path.join(tmpDir(), 'cache');
    const first = await prepareMaskHeadModel(src, cacheDir);
    const good = fs.readFileSync(first);
    fs.writeFileSync(first, damage(good));
    const notices: string[] = [];
    onPreparedCacheNotice((m) => notices.push(m));
    try {
      expect(await prepareMaskHeadModel(src, cacheDir)).toBe(first);
      expect(fs.readFileSync(first).equals(good)).toBe(true);
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(
        new RegExp(
          `^cached model .*maskhead-v1\\.${RQ}\\.onnx: sha256 .* differs from the one recorded .*; rebuilding it$`,
        ),
      );
      await prepareMaskHeadModel(src, cacheDir); // now intact: no second notice
      expect(notices).toHaveLength(1);
    } finally {
      onPreparedCacheNotice(() => {});
    }
  });

  test('names the model file when it has no logits', async () => {
    const dir = tmpDir();
    const bad = path.join(dir, 'no-logits.onnx');
    fs.writeFileSync(bad, tinyModel('identity', 'y'));
    await expect(prepareMaskHeadModel(bad, path.join(dir, 'cache'))).rejects.toThrow(
      /no-logits\.onnx.*no "logits" output/,
    );
    expect(fs.existsSync(path.join(dir, 'cache'))).toBe(false);
  });
});

// The bundled RoBERTa (models/roberta-mini-imdb): a second tokenizer family and graph layout.
describe('rewriteForMaskHead on roberta-mini-imdb', () => {
  test('fp32: label_logits equal the original logits at the mask positions', async () => {
    const tok = loadTokenizer(ROBERTA_DIR);
    const labelIds = ['Ġgreat', 'Ġterrible', 'Ġgood', 'Ġbad'].map(tok.id);
    const { original, rewritten } = await compareModels(ROBERTA_DIR, 'model.onnx', labelIds);
    expect(maxAbsDiff(original, rewritten)).toBeLessThan(1e-4);
  });
});
