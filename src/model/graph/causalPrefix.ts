/**
 * Causal prefix rewrite: split a GPT-2-style causal LM graph (no past key/value inputs or outputs)
 * into
 *
 *   - a prefix graph: `input_ids`, `attention_mask` [B, P] -> `present_key_<l>`, `present_value_<l>`
 *     [B, heads, P, head_dim] for every attention layer l (no logits: the head never runs there);
 *   - a suffix graph: the suffix tokens `input_ids` [B, S] with `position_ids` [B, S] (where each
 *     row's suffix starts), `attention_bias` [B, 1, S, P + S] (0 = may attend, lowest float = may
 *     not) and `past_key_<l>`, `past_value_<l>` from the prefix graph -> the mask-head outputs
 *     (`label_logits` at `mask_index`, see maskHead.ts).
 *
 * So a prompt search computes each example's input once and scores every candidate on its own
 * suffix tokens only. The pattern is found generically, and anything else is an error naming what
 * is missing:
 *
 *   - attention: every Softmax reads `MatMul(Q, K^T)` through Mul/Div by constants and exactly one
 *     Add of a mask bias, and its probabilities (through Cast/Identity) are the left operand of
 *     `MatMul(P, V)`. K^T is [B, heads, head_dim, S] and V [B, heads, S, head_dim] (rank-4 MatMul);
 *     the suffix graph concatenates the cached prefix in front of them and replaces the bias;
 *   - positions: the one Gather from a constant rank-2 table whose indices do not depend on the
 *     values of `input_ids` (they come from shapes, or from `attention_mask`); the suffix graph
 *     reads `position_ids` there instead.
 *
 * After the rewrite nothing but Shape/Size may read `attention_mask` in the suffix graph: a mask
 * entering the model some other way is not handled, and that is an error too.
 */
import { onnx } from 'onnx-proto';
import { MaskHeadOptions, rewriteForMaskHead, REWRITE_VERSION as MASK_HEAD_VERSION } from './maskHead';
import { cachedPreparation } from './preparedCache';
import {
  DT,
  Graph,
  GraphIndex,
  indexGraph,
  IntLike,
  modelLabel,
  Node,
  nodeInputs,
  nodeLabel,
  pruneToOutputs,
  tensorValueInfo,
  toNum,
  uniqueNamer,
  attr,
  constTensor,
  dimsOf,
  topoSort,
} from './onnxGraph';

const INPUT_IDS = 'input_ids';
const ATTENTION_MASK = 'attention_mask';
const LOGITS = 'logits';
export const POSITION_IDS = 'position_ids';
export const ATTENTION_BIAS = 'attention_bias';
export const pastKey = (l: number) => `past_key_${l}`;
export const pastValue = (l: number) => `past_value_${l}`;
export const presentKey = (l: number) => `present_key_${l}`;
export const presentValue = (l: number) => `present_value_${l}`;
/** What `attention_bias` holds where a query may not attend (float32's lowest value, as HF exports use). */
export const MASKED_BIAS = -3.4028234663852886e38;

export interface AttentionLayer {
  softmax: Node;
  /** MatMul(Q, K^T): its input 1 is K^T [B, heads, head_dim, S]. */
  scores: Node;
  /** MatMul(P, V): its input 1 is V [B, heads, S, head_dim]. */
  values: Node;
  /** The Add of the mask bias, and which of its inputs is the bias. */
  biasAdd: Node;
  biasInput: number;
}

export interface CausalPattern {
  layers: AttentionLayer[];
  /** The position-embedding lookup; its input 1 (the indices) becomes `position_ids`. */
  positionGather: Node;
}

const isConstName = (idx: GraphIndex, consts: Set<string>, t: string) => consts.has(t) || idx.initializers.has(t);

/** Tensors fixed at export time (initializers, Constants and nodes fed only by those). */
function constantTensors(graph: Graph, idx: GraphIndex): Set<string> {
  const consts = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  for (const n of idx.nodes) {
    if (nodeInputs(n).every((t) => consts.has(t))) (n.output ?? []).forEach((o) => o && consts.add(o));
  }
  return consts;
}

/** Tensors whose values (not only shapes) depend on `input`'s values: Shape/Size cut the dependence. */
function valueDependents(idx: GraphIndex, input: string): Set<string> {
  const dep = new Set([input]);
  for (const n of idx.nodes) {
    if (['Shape', 'Size'].includes(n.opType ?? '')) continue;
    if (nodeInputs(n).some((t) => dep.has(t))) (n.output ?? []).forEach((o) => o && dep.add(o));
  }
  return dep;
}

const producer = (idx: GraphIndex, t: string): Node | undefined => {
  const i = idx.producer.get(t);
  return i === undefined ? undefined : idx.nodes[i];
};

/** The attention pattern of one Softmax, or a reason it does not fit. */
function attentionAt(idx: GraphIndex, consts: Set<string>, softmax: Node): AttentionLayer | string {
  const axis = attr(softmax, 'axis') ? toNum(attr(softmax, 'axis')!.i as IntLike) : -1;
  if (axis !== -1 && axis !== 3) return `${nodeLabel(softmax)} is not over the last axis`;
  const isScoreMatMul = (n: Node | undefined) =>
    n?.opType === 'MatMul' && (n.input ?? []).every((t) => !isConstName(idx, consts, t));
  /** Follows t back through Mul/Div by constants and Casts to MatMul(Q, K^T). */
  const scoresFrom = (t: string): Node | undefined => {
    for (let steps = 0; steps < 6; steps++) {
      const n = producer(idx, t);
      if (isScoreMatMul(n)) return n;
      if (!n) return undefined;
      if (n.opType === 'Cast' || n.opType === 'Identity') t = n.input![0];
      else if ((n.opType === 'Mul' || n.opType === 'Div') && isConstName(idx, consts, n.input![1])) t = n.input![0];
      else if (n.opType === 'Mul' && isConstName(idx, consts, n.input![0])) t = n.input![1];
      else return undefined;
    }
    return undefined;
  };
  let t = softmax.input![0];
  let biasAdd: Node | undefined;
  let biasInput = -1;
  let scores: Node | undefined;
  for (let steps = 0; steps < 6 && !scores; steps++) {
    const n = producer(idx, t);
    if (!n) break;
    if (n.opType === 'Add' && !biasAdd) {
      const which = [0, 1].find(
        (i) => scoresFrom(n.input![i]) !== undefined && !isConstName(idx, consts, n.input![1 - i]),
      );
      if (which === undefined) break;
      biasAdd = n;
      biasInput = 1 - which;
      t = n.input![which];
      continue;
    }
    scores = isScoreMatMul(n) ? n : undefined;
    if (scores) break;
    if (n.opType === 'Cast' || n.opType === 'Identity') t = n.input![0];
    else if ((n.opType === 'Mul' || n.opType === 'Div') && isConstName(idx, consts, n.input![1])) t = n.input![0];
    else if (n.opType === 'Mul' && isConstName(idx, consts, n.input![0])) t = n.input![1];
    else break;
  }
  if (!scores) return `the input of ${nodeLabel(softmax)} is not MatMul(Q, K^T) scaled by constants`;
  if (!biasAdd) return `no additive attention mask before ${nodeLabel(softmax)}`;
  // Probabilities -> (Cast/Identity) -> MatMul(P, V).
  let probs = softmax.output![0];
  for (let steps = 0; steps < 3; steps++) {
    const users = (idx.consumers.get(probs) ?? []).map((i) => idx.nodes[i]);
    const mm = users.find((u) => u.opType === 'MatMul' && u.input![0] === probs);
    if (mm) {
      if (users.length !== 1) return `the probabilities of ${nodeLabel(softmax)} have other readers than MatMul(P, V)`;
      const kRank = rankOf(idx, scores.input![1]);
      const vRank = rankOf(idx, mm.input![1]);
      if (kRank !== undefined && kRank !== 4)
        return `keys of ${nodeLabel(scores)} have rank ${kRank}, expected [batch, heads, head_dim, seq]`;
      if (vRank !== undefined && vRank !== 4)
        return `values of ${nodeLabel(mm)} have rank ${vRank}, expected [batch, heads, seq, head_dim]`;
      return { softmax, scores, values: mm, biasAdd, biasInput };
    }
    const pass = users.length === 1 && ['Cast', 'Identity'].includes(users[0].opType ?? '') ? users[0] : undefined;
    if (!pass) break;
    probs = pass.output![0];
  }
  return `the probabilities of ${nodeLabel(softmax)} do not feed MatMul(P, V)`;
}

/** Rank of a tensor made by Transpose (its perm) or Reshape (a constant shape), when that tells. */
function rankOf(idx: GraphIndex, t: string): number | undefined {
  const n = producer(idx, t);
  if (n?.opType === 'Transpose') return attr(n, 'perm')?.ints?.length || undefined;
  if (n?.opType === 'Reshape') {
    const shape = constTensor(idx, n.input![1]);
    return shape ? dimsOf(shape)[0] : undefined;
  }
  return undefined;
}

/** Finds the attention layers and the position lookup, or throws naming what does not fit. */
export function findCausalPattern(model: onnx.IModelProto, name?: string): CausalPattern {
  const label = modelLabel(model, name);
  const graph = model.graph ?? {};
  const inputs = (graph.input ?? []).map((v) => v.name);
  for (const need of [INPUT_IDS, ATTENTION_MASK])
    if (!inputs.includes(need)) throw new Error(`${label}: no '${need}' input (inputs: ${inputs.join(', ')})`);
  if (!(graph.output ?? []).some((o) => o.name === LOGITS)) throw new Error(`${label}: no '${LOGITS}' output`);
  for (const taken of [POSITION_IDS, ATTENTION_BIAS, pastKey(0)]) {
    if (inputs.includes(taken))
      throw new Error(
        `${label}: already has a '${taken}' input (a graph with past key/values or position inputs is not a plain GPT-2-style export)`,
      );
  }
  if (
    (graph.node ?? []).some(
      (n) => n.opType === 'Attention' || n.opType === 'MultiHeadAttention' || n.opType === 'GroupQueryAttention',
    )
  ) {
    throw new Error(`${label}: fused attention operators are not supported by the prefix rewrite`);
  }
  const idx = indexGraph(graph, true);
  const consts = constantTensors(graph, idx);
  const softmaxes = idx.nodes.filter((n) => n.opType === 'Softmax' && !n.domain);
  if (softmaxes.length === 0) throw new Error(`${label}: no Softmax, so no attention layer to split`);
  const layers: AttentionLayer[] = [];
  for (const s of softmaxes) {
    const a = attentionAt(idx, consts, s);
    if (typeof a === 'string') throw new Error(`${label}: not a GPT-2-style attention: ${a}`);
    layers.push(a);
  }
  const fromIds = valueDependents(idx, INPUT_IDS);
  const positionGathers = idx.nodes.filter((n) => {
    if (n.opType !== 'Gather' || (n.domain ?? '') !== '' || toNum(attr(n, 'axis')?.i as IntLike) !== 0) return false;
    const table = constTensor(idx, n.input![0]);
    return !!table && dimsOf(table).length === 2 && !consts.has(n.input![1]) && !fromIds.has(n.input![1]);
  });
  if (positionGathers.length !== 1) {
    throw new Error(
      `${label}: expected one position-embedding lookup (a Gather from a constant table with indices not computed from input_ids), found ${positionGathers.length}`,
    );
  }
  return { layers, positionGather: positionGathers[0] };
}

function decode(
  modelBytes: Uint8Array,
  name?: string,
): { model: onnx.IModelProto; graph: Graph; label: string; pattern: CausalPattern } {
  const model = onnx.ModelProto.decode(modelBytes);
  const label = modelLabel(model, name);
  if (!model.graph) throw new Error(`${label}: no graph`);
  return { model, graph: model.graph, label, pattern: findCausalPattern(model, label) };
}

const transposeLast2 = (name: string, input: string, output: string): Node => ({
  name,
  opType: 'Transpose',
  input: [input],
  output: [output],
  attribute: [{ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 1, 3, 2] }],
});

const kvDims = (seq: string) => ['batch', 'heads', seq, 'head_dim'];

/** The prefix graph: every layer's keys and values as outputs, no logits. */
export function rewriteForCausalPrefix(modelBytes: Uint8Array, name?: string): Uint8Array {
  const { model, graph, pattern } = decode(modelBytes, name);
  const fresh = uniqueNamer(graph);
  const extra: Node[] = [];
  pattern.layers.forEach((l, i) => {
    extra.push(transposeLast2(fresh(`causal_prefix/present_key_${i}`), l.scores.input![1], presentKey(i)));
    extra.push({
      name: fresh(`causal_prefix/present_value_${i}`),
      opType: 'Identity',
      input: [l.values.input![1]],
      output: [presentValue(i)],
    });
  });
  graph.node = [...(graph.node ?? []), ...extra];
  graph.output = pattern.layers.flatMap((_, i) => [
    tensorValueInfo(presentKey(i), DT.FLOAT, kvDims('seq')),
    tensorValueInfo(presentValue(i), DT.FLOAT, kvDims('seq')),
  ]);
  pruneToOutputs(graph);
  return onnx.ModelProto.encode(model).finish();
}

/**
 * The suffix graph, then the mask-head rewrite on it: inputs `input_ids`, `attention_mask`
 * (kept for the shared feeding code; nothing reads its values), `position_ids`, `attention_bias`,
 * `past_key_<l>`, `past_value_<l>`, `mask_index`, `label_ids`; output `label_logits` (and
 * `label_logsumexp` with `opts.logSumExp`: log-probabilities of multi-token label words).
 */
export function rewriteForCausalSuffix(modelBytes: Uint8Array, name?: string, opts: MaskHeadOptions = {}): Uint8Array {
  const { model, graph, label, pattern } = decode(modelBytes, name);
  const fresh = uniqueNamer(graph);
  const extra: Node[] = [];
  pattern.layers.forEach((l, i) => {
    const pastKeyT = fresh(`causal_suffix/past_key_t_${i}`);
    const keys = fresh(`causal_suffix/keys_${i}`);
    const values = fresh(`causal_suffix/values_${i}`);
    extra.push(transposeLast2(fresh(`causal_suffix/PastKeyT_${i}`), pastKey(i), pastKeyT));
    extra.push({
      name: fresh(`causal_suffix/ConcatKeys_${i}`),
      opType: 'Concat',
      input: [pastKeyT, l.scores.input![1]],
      output: [keys],
      attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 3 }],
    });
    extra.push({
      name: fresh(`causal_suffix/ConcatValues_${i}`),
      opType: 'Concat',
      input: [pastValue(i), l.values.input![1]],
      output: [values],
      attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 2 }],
    });
    l.scores.input![1] = keys;
    l.values.input![1] = values;
    l.biasAdd.input![l.biasInput] = ATTENTION_BIAS;
  });
  pattern.positionGather.input![1] = POSITION_IDS;
  graph.node = [...extra, ...(graph.node ?? [])];
  graph.node = topoSort(graph);
  graph.input = [
    ...(graph.input ?? []),
    tensorValueInfo(POSITION_IDS, DT.INT64, ['batch', 'seq']),
    tensorValueInfo(ATTENTION_BIAS, DT.FLOAT, ['batch', 1, 'seq', 'total']),
    ...pattern.layers.flatMap((_, i) => [
      tensorValueInfo(pastKey(i), DT.FLOAT, kvDims('past')),
      tensorValueInfo(pastValue(i), DT.FLOAT, kvDims('past')),
    ]),
  ];
  // Shapes recorded for tensors that now span past + suffix are stale.
  graph.valueInfo = [];
  pruneToOutputs(graph);
  const maskReaders = (graph.node ?? []).filter(
    (n) => nodeInputs(n).includes(ATTENTION_MASK) && !['Shape', 'Size'].includes(n.opType ?? ''),
  );
  if (maskReaders.length > 0) {
    throw new Error(
      `${label}: '${ATTENTION_MASK}' still reaches the model outside the attention bias (${maskReaders.map(nodeLabel).join(', ')}), which the prefix rewrite does not handle`,
    );
  }
  return rewriteForMaskHead(onnx.ModelProto.encode(model).finish(), label, opts);
}

/** Version of this rewrite, part of the cache file names. */
export const CAUSAL_PREFIX_VERSION = 1;

/**
 * Cached by source sha256 (preparedCache.ts): `<sha>.causal-prefix-v1.onnx` and
 * `<sha>.causal-suffix-v1.maskhead-v1.onnx` (`.lse.onnx` with `opts.logSumExp`). Throws (a plain Error naming the model) when the
 * graph is not a GPT-2-style causal LM.
 */
export async function prepareCausalPrefixModels(
  srcOnnxPath: string,
  cacheDir: string,
): Promise<{ prefix: string; suffix: string }> {
  const prefix = await cachedPreparation(srcOnnxPath, cacheDir, `causal-prefix-v${CAUSAL_PREFIX_VERSION}`, (src) =>
    rewriteForCausalPrefix(src, srcOnnxPath),
  );
  const suffix = await prepareCausalSuffixModel(srcOnnxPath, cacheDir);
  return { prefix, suffix };
}

/** The suffix graph alone, cached like the others (with `logSumExp`: the multi-token word variant). */
export function prepareCausalSuffixModel(
  srcOnnxPath: string,
  cacheDir: string,
  opts: MaskHeadOptions = {},
): Promise<string> {
  const tag = `causal-suffix-v${CAUSAL_PREFIX_VERSION}.maskhead-v${MASK_HEAD_VERSION}${opts.logSumExp ? '.lse' : ''}`;
  return cachedPreparation(srcOnnxPath, cacheDir, tag, (src) => rewriteForCausalSuffix(src, srcOnnxPath, opts));
}
