/**
 * Inputs-embeds rewrite: let a (mask-head rewritten) masked-LM graph take its word embeddings as
 * an input, so a derivative-free soft-prompt search (BBT, Sun et al. 2022) can feed continuous
 * prompt vectors while the rest of the graph — position and segment embeddings, the embedding
 * LayerNorm, the encoder, the mask head — stays exactly as exported.
 *
 * The word embedding is the `Gather(axis 0)` whose data is a [vocab, hidden] initializer and whose
 * indices are `input_ids` (possibly through Cast/Identity). Three storage forms are recognised:
 *
 *   - 'none':                   float32 table, Gather gives the float embeddings;
 *   - 'gather-then-dequantize': int8/uint8 table, Gather -> DequantizeLinear (onnxruntime's dynamic
 *                               quantization of the bundled int8 models does this);
 *   - 'dequantized-table':      DequantizeLinear(table) -> Gather.
 *
 * The float tensor the rest of the graph reads (the Gather output, or the DequantizeLinear output
 * in the second form) is replaced by a new graph input `inputs_embeds` float32 [batch, seq, hidden].
 * `readWordEmbeddings` returns exactly those float values for every vocabulary row (dequantized the
 * way DequantizeLinear does it), so feeding `inputs_embeds[b, s] = matrix[ids[b, s]]` reproduces
 * the original model.
 *
 * `input_ids` after the rewrite:
 *   - dropped when nothing else reads it, or when only Shape/Size nodes read it (BERT exports take
 *     the sequence length for the position ids from Shape(input_ids)): those nodes then read a
 *     [batch, seq] proxy, `Gather(inputs_embeds, 0, axis=2)`, which has the same shape;
 *   - KEPT as an input when anything else reads it. RoBERTa exports compute the position ids from
 *     the ids themselves (`create_position_ids_from_input_ids`: Equal(pad) -> Not -> CumSum): the
 *     caller must still feed `input_ids`, and only which entries equal the pad id matters there —
 *     at soft-prompt positions any non-pad id gives the right positions. `analyzeInputsEmbeds`
 *     reports which nodes keep it (`keepsInputIds`, `inputIdsUsers`).
 */
import { onnx } from 'onnx-proto';
import { REWRITE_VERSION as MASK_HEAD_VERSION, rewriteForMaskHead } from './maskHead';
import { cachedPreparation } from './preparedCache';
import {
  constTensor,
  consumersOf,
  dimsOf,
  DT,
  floatValues,
  GraphIndex,
  indexGraph,
  intAttr,
  intAttribute,
  modelLabel,
  Node,
  nodeInputs,
  nodeLabel,
  producerOf,
  pruneToOutputs,
  QUANT_TYPES,
  quantValues,
  sizeOf,
  subgraphReads,
  Tensor,
  tensorInts,
  tensorValueInfo,
  uniqueNamer,
} from './onnxGraph';

export const INPUT_IDS = 'input_ids';
export const INPUTS_EMBEDS = 'inputs_embeds';

// ---------------------------------------------------------------------------------------------
// Finding the word embedding
// ---------------------------------------------------------------------------------------------

export type EmbeddingStorage = 'none' | 'gather-then-dequantize' | 'dequantized-table';

export interface WordEmbeddingInfo {
  /** Name of the word-embedding Gather node. */
  gather: string;
  /** The [vocab, hidden] initializer it reads (float, or int8/uint8 when quantized). */
  table: string;
  /** How the table is stored; anything but 'none' means readWordEmbeddings dequantizes. */
  quantization: EmbeddingStorage;
  /** The float [batch, seq, hidden] tensor the rest of the graph reads; becomes `inputs_embeds`. */
  embeddings: string;
  vocab: number;
  hidden: number;
}

interface Found extends WordEmbeddingInfo {
  tableTensor: Tensor;
  /** The DequantizeLinear node, for the quantized forms. */
  dequantize?: Node;
}

/** Tensors equal to input_ids up to Cast / Identity (some exports cast the ids before the Gather). */
function idsAliases(idx: GraphIndex): Set<string> {
  const aliases = new Set([INPUT_IDS]);
  const stack = [INPUT_IDS];
  while (stack.length) {
    const from = stack.pop()!;
    for (const n of consumersOf(idx, from)) {
      const same =
        n.opType === 'Cast' ||
        n.opType === 'Identity' ||
        (n.opType === 'Reshape' && n.input?.[0] === from && isViewAsBatchSeq(idx, n, from));
      if (same && n.output?.[0] && !aliases.has(n.output[0])) {
        aliases.add(n.output[0]);
        stack.push(n.output[0]);
      }
    }
  }
  return aliases;
}

/**
 * `Reshape(ids, Concat([-1], Unsqueeze(Gather(Shape(ids), 1))))`: GPT-2's `input_ids.view(-1,
 * seq)`, which leaves a [batch, seq] tensor as it is.
 */
function isViewAsBatchSeq(idx: GraphIndex, reshape: Node, ids: string): boolean {
  const concat = producerOf(idx, reshape.input?.[1] ?? '');
  if (concat?.opType !== 'Concat' || concat.input?.length !== 2) return false;
  const minusOne = constTensor(idx, concat.input[0]);
  if (!minusOne || JSON.stringify(tensorInts(minusOne)) !== '[-1]') return false;
  const unsqueeze = producerOf(idx, concat.input[1]);
  const gather = unsqueeze?.opType === 'Unsqueeze' ? producerOf(idx, unsqueeze.input?.[0] ?? '') : undefined;
  const shape = gather?.opType === 'Gather' ? producerOf(idx, gather.input?.[0] ?? '') : undefined;
  const index = gather ? constTensor(idx, gather.input?.[1] ?? '') : undefined;
  const at = index ? tensorInts(index) : undefined;
  return (
    shape?.opType === 'Shape' && shape.input?.[0] === ids && !!at && at.length === 1 && (at[0] === 1 || at[0] === -1)
  );
}

/** Checks the DequantizeLinear parameters are constants: per tensor, or per channel along `channelAxis` of the table. */
function checkDequantize(dq: Node, idx: GraphIndex, label: string, okAxes: number[]): void {
  if (intAttr(dq, 'block_size', 0) !== 0)
    throw new Error(`${label}: ${nodeLabel(dq)} uses blocked quantization, which is not supported`);
  const scale = constTensor(idx, dq.input?.[1] ?? '');
  if (!scale) throw new Error(`${label}: ${nodeLabel(dq)} has no constant scale`);
  const zp = dq.input?.[2] ? constTensor(idx, dq.input[2]) : undefined;
  if (dq.input?.[2] && !zp) throw new Error(`${label}: ${nodeLabel(dq)} has no constant zero point`);
  if (sizeOf(scale) !== 1 && !okAxes.includes(intAttr(dq, 'axis', 1))) {
    throw new Error(
      `${label}: ${nodeLabel(dq)} is per-channel along axis ${intAttr(dq, 'axis', 1)}, not along the table's hidden or vocab axis`,
    );
  }
}

/**
 * The word-embedding lookup of the model. Throws, naming the model, when there is none (or more
 * than one candidate).
 */
function findWordEmbeddingIn(model: onnx.IModelProto, label: string): Found {
  const graph = model.graph ?? {};
  if (!(graph.input ?? []).some((v) => v.name === INPUT_IDS)) {
    throw new Error(
      `${label}: no "${INPUT_IDS}" input (inputs: ${(graph.input ?? []).map((v) => v.name).join(', ') || 'none'})`,
    );
  }
  const idx = indexGraph(graph);
  const ids = idsAliases(idx);
  const found: Found[] = [];
  const rejected: string[] = [];
  for (const n of graph.node ?? []) {
    if (n.opType !== 'Gather' || (n.domain ?? '') !== '' || !ids.has(n.input?.[1] ?? '')) continue;
    const reject = (why: string) => rejected.push(`${nodeLabel(n)}: ${why}`);
    if (intAttr(n, 'axis', 0) !== 0) {
      reject('gathers along an axis other than 0');
      continue;
    }
    const data = n.input?.[0] ?? '';
    const out = n.output?.[0] ?? '';
    const base = { gather: n.name || out };
    const init = idx.initializers.get(data);
    const producer = producerOf(idx, data);
    if (init) {
      const d = dimsOf(init);
      if (d.length !== 2) {
        reject(`data "${data}" has shape [${d}], not [vocab, hidden]`);
        continue;
      }
      if (init.dataType === DT.FLOAT) {
        found.push({
          ...base,
          table: data,
          tableTensor: init,
          quantization: 'none',
          embeddings: out,
          vocab: d[0],
          hidden: d[1],
        });
      } else if (QUANT_TYPES.has(init.dataType ?? 0)) {
        const users = consumersOf(idx, out);
        const dq = users[0];
        if (users.length !== 1 || dq.opType !== 'DequantizeLinear' || dq.input?.[0] !== out) {
          reject(`quantized data "${data}" is not followed by a single DequantizeLinear`);
          continue;
        }
        // After the Gather the hidden axis is axis 2 (or -1) of [batch, seq, hidden].
        checkDequantize(dq, idx, label, [2, -1]);
        found.push({
          ...base,
          table: data,
          tableTensor: init,
          quantization: 'gather-then-dequantize',
          dequantize: dq,
          embeddings: dq.output?.[0] ?? '',
          vocab: d[0],
          hidden: d[1],
        });
      } else {
        reject(`data "${data}" is ${DT[init.dataType ?? 0]}, not FLOAT / INT8 / UINT8`);
      }
    } else if (producer?.opType === 'DequantizeLinear' && idx.initializers.has(producer.input?.[0] ?? '')) {
      const q = idx.initializers.get(producer.input![0])!;
      const d = dimsOf(q);
      if (d.length !== 2 || !QUANT_TYPES.has(q.dataType ?? 0)) {
        reject(`dequantized data "${q.name}" is ${DT[q.dataType ?? 0]} [${d}], not INT8/UINT8 [vocab, hidden]`);
        continue;
      }
      checkDequantize(producer, idx, label, [0, 1, -1, -2]);
      found.push({
        ...base,
        table: q.name ?? '',
        tableTensor: q,
        quantization: 'dequantized-table',
        dequantize: producer,
        embeddings: out,
        vocab: d[0],
        hidden: d[1],
      });
    } else {
      reject(`data "${data}" is not a [vocab, hidden] initializer`);
    }
  }
  if (found.length === 1) return found[0];
  if (found.length > 1)
    throw new Error(
      `${label}: several word-embedding Gathers read "${INPUT_IDS}": ${found.map((f) => `"${f.gather}"`).join(', ')}`,
    );
  const fused = (graph.node ?? []).find((n) => n.opType === 'EmbedLayerNormalization');
  const why = fused
    ? `; the embeddings are fused into ${nodeLabel(fused)}, export the model without that optimization`
    : rejected.length
      ? ` (${rejected.join('; ')})`
      : ` (no Gather reads "${INPUT_IDS}")`;
  throw new Error(
    `${label}: no word-embedding Gather found — expected a Gather (axis 0) of a [vocab, hidden] initializer indexed by "${INPUT_IDS}"${why}`,
  );
}

/** Where the word embedding is and how it is stored, without changing anything. */
export function findWordEmbedding(modelBytes: Uint8Array, name?: string): WordEmbeddingInfo {
  const model = onnx.ModelProto.decode(modelBytes);
  const { gather, table, quantization, embeddings, vocab, hidden } = findWordEmbeddingIn(
    model,
    modelLabel(model, name),
  );
  return { gather, table, quantization, embeddings, vocab, hidden };
}

// ---------------------------------------------------------------------------------------------
// Reading the table
// ---------------------------------------------------------------------------------------------

export interface WordEmbeddings {
  /** Row-major [vocab, hidden]: row t is the float vector the graph uses for token t. */
  matrix: Float32Array;
  vocab: number;
  hidden: number;
}

/**
 * The float word-embedding table the graph actually uses, dequantized like DequantizeLinear
 * (`(q - zero_point) * scale` in float32) when stored as int8. Reads the model as exported or
 * mask-head rewritten (not the inputs-embeds model, where the lookup is gone).
 */
export function readWordEmbeddings(modelBytes: Uint8Array, name?: string): WordEmbeddings {
  const model = onnx.ModelProto.decode(modelBytes);
  const label = modelLabel(model, name);
  const f = findWordEmbeddingIn(model, label);
  const { vocab, hidden } = f;
  if (f.quantization === 'none') return { matrix: floatValues(f.tableTensor, label), vocab, hidden };

  const idx = indexGraph(model.graph ?? {});
  const dq = f.dequantize!;
  const q = quantValues(f.tableTensor, label);
  const scale = floatValues(constTensor(idx, dq.input![1])!, label);
  const zpTensor = dq.input?.[2] ? constTensor(idx, dq.input[2]) : undefined;
  const zp = zpTensor ? quantValues(zpTensor, label) : new Int32Array(scale.length);
  if (zp.length !== scale.length)
    throw new Error(`${label}: ${nodeLabel(dq)} has ${scale.length} scales but ${zp.length} zero points`);
  // Per-channel: along hidden (the Gather-then-Dequantize form's axis 2 / -1, or the table's axis 1 / -1), or along vocab (table axis 0 / -2).
  const axis = intAttr(dq, 'axis', 1);
  const alongVocab = scale.length > 1 && f.quantization === 'dequantized-table' && (axis === 0 || axis === -2);
  const channels = alongVocab ? vocab : hidden;
  if (scale.length !== 1 && scale.length !== channels)
    throw new Error(`${label}: ${nodeLabel(dq)} has ${scale.length} scales for ${channels} channels`);
  const matrix = new Float32Array(vocab * hidden);
  for (let i = 0; i < matrix.length; i++) {
    const c = scale.length === 1 ? 0 : alongVocab ? Math.floor(i / hidden) : i % hidden;
    // (q - zp) is a small integer and scale a float32: the double product is exact, so fround
    // gives the same float32 as DequantizeLinear's float multiply.
    matrix[i] = Math.fround((q[i] - zp[c]) * scale[c]);
  }
  return { matrix, vocab, hidden };
}

/**
 * Looks up `ids` (row-major [batch, seq], as fed to `input_ids`) in the table: the
 * `inputs_embeds` data [batch, seq, hidden] that reproduces the original model.
 */
export function embedIds(emb: WordEmbeddings, ids: ArrayLike<number | bigint>): Float32Array {
  const out = new Float32Array(ids.length * emb.hidden);
  for (let i = 0; i < ids.length; i++) {
    const t = Number(ids[i]);
    if (!Number.isInteger(t) || t < 0 || t >= emb.vocab)
      throw new Error(`embedIds: id ${ids[i]} is outside the vocabulary (0..${emb.vocab - 1})`);
    out.set(emb.matrix.subarray(t * emb.hidden, (t + 1) * emb.hidden), i * emb.hidden);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rewrite
// ---------------------------------------------------------------------------------------------

export interface EmbedsRewriteInfo extends WordEmbeddingInfo {
  /** True when something besides Shape/Size still reads input_ids (RoBERTa's position ids). */
  keepsInputIds: boolean;
  /** The nodes that keep input_ids, as `"name" (OpType)`; empty when it is dropped. */
  inputIdsUsers: string[];
}

const SHAPE_ONLY = new Set(['Shape', 'Size']);

function rewriteModel(model: onnx.IModelProto, label: string): EmbedsRewriteInfo {
  const graph = model.graph;
  if (!graph) throw new Error(`${label}: no graph`);
  if ((graph.input ?? []).some((v) => v.name === INPUTS_EMBEDS))
    throw new Error(`${label}: already has an input named "${INPUTS_EMBEDS}"`);
  const f = findWordEmbeddingIn(model, label);
  const idsInfo = (graph.input ?? []).find((v) => v.name === INPUT_IDS)!;
  const idsDims = idsInfo.type?.tensorType?.shape?.dim ?? [];
  const dim = (i: number, dflt: string) => {
    const d = idsDims[i];
    return d?.dimParam ? { dimParam: d.dimParam } : d?.dimValue ? { dimValue: d.dimValue } : { dimParam: dflt };
  };
  const embedsInput = tensorValueInfo(INPUTS_EMBEDS, DT.FLOAT, [dim(0, 'batch'), dim(1, 'seq'), f.hidden]);

  // Every reader of the float embeddings reads the new input instead; the lookup becomes dead.
  for (const n of graph.node ?? []) {
    if (subgraphReads(n).includes(f.embeddings)) {
      throw new Error(
        `${label}: a subgraph of ${nodeLabel(n)} reads "${f.embeddings}", which this rewrite cannot redirect`,
      );
    }
    n.input = (n.input ?? []).map((t) => (t === f.embeddings ? INPUTS_EMBEDS : t));
  }
  if ((graph.output ?? []).some((o) => o.name === f.embeddings))
    throw new Error(`${label}: "${f.embeddings}" is a graph output`);
  pruneToOutputs(graph);

  // What still reads input_ids?
  const users = (graph.node ?? []).filter((n) => nodeInputs(n).includes(INPUT_IDS));
  const keep = users.some((n) => !SHAPE_ONLY.has(n.opType ?? '') || (n.domain ?? '') !== '');
  const inputs = graph.input ?? [];
  const at = inputs.findIndex((v) => v.name === INPUT_IDS);
  if (keep) {
    graph.input = [...inputs.slice(0, at + 1), embedsInput, ...inputs.slice(at + 1)];
  } else {
    if (users.length > 0) {
      // Shape/Size(input_ids) -> Shape/Size of a [batch, seq] slice of inputs_embeds.
      const fresh = uniqueNamer(graph);
      const zero = fresh('inputs_embeds/zero');
      const proxy = fresh('inputs_embeds/ids_shape');
      graph.initializer = [...(graph.initializer ?? []), { name: zero, dataType: DT.INT64, dims: [], int64Data: [0] }];
      const proxyNode: Node = {
        name: fresh('inputs_embeds/IdsShapeProxy'),
        opType: 'Gather',
        input: [INPUTS_EMBEDS, zero],
        output: [proxy],
        attribute: [intAttribute('axis', 2)],
      };
      for (const n of users) n.input = (n.input ?? []).map((t) => (t === INPUT_IDS ? proxy : t));
      graph.node = [proxyNode, ...(graph.node ?? [])];
    }
    graph.input = [...inputs.slice(0, at), embedsInput, ...inputs.slice(at + 1)];
  }
  const { gather, table, quantization, embeddings, vocab, hidden } = f;
  return {
    gather,
    table,
    quantization,
    embeddings,
    vocab,
    hidden,
    keepsInputIds: keep,
    inputIdsUsers: keep ? users.map(nodeLabel) : [],
  };
}

/** What `rewriteForInputsEmbeds` does to this model (it decodes and rewrites, then discards the result). */
export function analyzeInputsEmbeds(modelBytes: Uint8Array, name?: string): EmbedsRewriteInfo {
  const model = onnx.ModelProto.decode(modelBytes);
  return rewriteModel(model, modelLabel(model, name));
}

/**
 * Rewrites the model bytes (meant for a mask-head rewritten model, works on any model with the
 * lookup). New input `inputs_embeds` float32 [batch, seq, hidden] in place of `input_ids`, which
 * stays an input only when the graph needs it beyond its shape (see the file comment). All other
 * inputs and the outputs are unchanged.
 */
export function rewriteForInputsEmbeds(modelBytes: Uint8Array, name?: string): Uint8Array {
  const model = onnx.ModelProto.decode(modelBytes);
  rewriteModel(model, modelLabel(model, name));
  return onnx.ModelProto.encode(model).finish();
}

/** Version of this rewrite, part of the cache file name. */
export const EMBEDS_REWRITE_VERSION = 1;
/** maskHead's REWRITE_VERSION when EMBEDS_REWRITE_VERSION was last bumped. */
const BUILT_ON_MASK_HEAD_VERSION = 1;

/**
 * `embeds-v<EMBEDS_REWRITE_VERSION>`; the prepared file also depends on the mask-head rewrite, so a
 * newer mask-head version is added to the tag until EMBEDS_REWRITE_VERSION is bumped with it.
 */
export function embedsCacheTag(): string {
  const tag = `embeds-v${EMBEDS_REWRITE_VERSION}`;
  return MASK_HEAD_VERSION === BUILT_ON_MASK_HEAD_VERSION ? tag : `${tag}.maskhead-v${MASK_HEAD_VERSION}`;
}

/** Whether the model is already mask-head rewritten (has the `label_logits` output and `mask_index` input). */
function isMaskHeadModel(model: onnx.IModelProto): boolean {
  const g = model.graph ?? {};
  return (
    (g.output ?? []).some((o) => o.name === 'label_logits') && (g.input ?? []).some((i) => i.name === 'mask_index')
  );
}

/**
 * Cached: the soft-prompt scorer for `srcOnnxPath` — `rewriteForInputsEmbeds(rewriteForMaskHead(model))`,
 * or only the embeds rewrite when the source is already mask-head rewritten. Stored as
 * `<cacheDir>/<sha256 of the source file>.<embedsCacheTag()>.onnx` (`<sha>.embeds-v1.onnx`), written
 * atomically (tmp file + rename), reused when it exists. Bump EMBEDS_REWRITE_VERSION when this rewrite
 * changes; a mask-head version change changes the tag by itself.
 */
export function prepareEmbedsModel(srcOnnxPath: string, cacheDir: string): Promise<string> {
  return cachedPreparation(srcOnnxPath, cacheDir, embedsCacheTag(), (src) => {
    const maskHead = isMaskHeadModel(onnx.ModelProto.decode(src)) ? src : rewriteForMaskHead(src, srcOnnxPath);
    return rewriteForInputsEmbeds(maskHead, srcOnnxPath);
  });
}
