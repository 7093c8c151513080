/**
 * Mask-head rewrite: make a masked-LM ONNX graph run its output head (and, where it is safe,
 * the tail of the last encoder layer) only at the [MASK] position of each row, and return only
 * the logits of the label words.
 *
 * The encoder has to run on every position (attention mixes them), but everything after the last
 * position-mixing op acts on each position independently. We find that boundary generically:
 *
 *   1. analysis (pure, read-only): the dominator chain of `logits` in the tensor graph, walked
 *      back as long as every node between the candidate and `logits` is position-wise;
 *   2. surgery: `Flatten(X, axis=2)` -> `Gather(axis=0, mask_index)` feeds the head instead of X,
 *      and `Gather(logits, label_ids, axis=1)` becomes the single output `label_logits`.
 *
 * Layout assumption (standard for HF exports): `logits` is [batch, seq, vocab]; every op we let
 * into the head keeps the leading dims, so X is [batch, seq, ...] too.
 */
import { onnx } from 'onnx-proto';
import { ActivationQuant, cachedPreparation } from './preparedCache';
import {
  attr,
  DT,
  dimsOf,
  Graph,
  GraphIndex,
  indexGraph,
  intAttr,
  intAttribute,
  IntLike,
  modelLabel,
  Node,
  nodeInputs,
  nodeLabel,
  pruneToOutputs,
  tensorInts,
  tensorValueInfo,
  toNum,
  topoSort,
  uniqueNamer,
} from './onnxGraph';

const LOGITS = 'logits';
const MASK_INDEX = 'mask_index';
const LABEL_IDS = 'label_ids';
const LABEL_LOGITS = 'label_logits';
/** Optional second output (`logSumExp`): log-sum-exp of the logits over the vocabulary, per row. */
export const LABEL_LOGSUMEXP = 'label_logsumexp';

// ---------------------------------------------------------------------------------------------
// Graph indexing
// ---------------------------------------------------------------------------------------------

/** Shape and (small) int contents of a tensor whose value is fixed at export time. */
interface ConstInfo {
  shape?: number[];
  ints?: number[];
}

/** `indexGraph(graph, true)` (nodes topologically sorted) plus the constants. */
interface AnalysisIndex extends GraphIndex {
  /** Tensors fixed at export time: initializers, Constant outputs, and nodes fed only by those. */
  consts: Map<string, ConstInfo>;
}

function constantNodeInfo(node: Node): ConstInfo {
  const a = (node.attribute ?? [])[0];
  if (!a) return {};
  switch (a.name) {
    case 'value':
      return a.t ? { shape: dimsOf(a.t), ints: tensorInts(a.t) } : {};
    case 'value_float':
      return { shape: [] };
    case 'value_int':
      return { shape: [], ints: [toNum(a.i as IntLike)] };
    case 'value_floats':
      return { shape: [(a.floats ?? []).length] };
    case 'value_ints':
      return { shape: [(a.ints ?? []).length], ints: (a.ints ?? []).map((v) => toNum(v as IntLike)) };
    default:
      return {};
  }
}

/**
 * What we can still say about a constant computed from constants: the shape through ops that keep
 * or permute it (DequantizeLinear of int8 weights, Transpose of tied embeddings); nothing otherwise.
 */
function derivedConstInfo(node: Node, first: ConstInfo | undefined): ConstInfo {
  const op = node.opType ?? '';
  if (op === 'Constant') return constantNodeInfo(node);
  const shape = first?.shape;
  if (!shape) return {};
  if (['Cast', 'Identity', 'DequantizeLinear', 'QuantizeLinear'].includes(op)) return { shape };
  if (op === 'Transpose') {
    const perm = attr(node, 'perm')?.ints?.map((v) => toNum(v as IntLike)) ?? shape.map((_, i) => shape.length - 1 - i);
    return { shape: perm.map((p) => shape[p]) };
  }
  return {};
}

/** The topologically sorted index, plus what is known about the tensors fixed at export time. */
function analysisIndex(graph: Graph): AnalysisIndex {
  const idx = indexGraph(graph, true);
  const consts = new Map<string, ConstInfo>();
  for (const t of graph.initializer ?? []) consts.set(t.name ?? '', { shape: dimsOf(t), ints: tensorInts(t) });
  // An input that is also an initializer (old IR style) is a weight with a default: it stays constant.
  for (const n of idx.nodes) {
    const ins = nodeInputs(n);
    if (!ins.every((t) => consts.has(t))) continue;
    (n.output ?? []).forEach((o) => o && consts.set(o, derivedConstInfo(n, consts.get(ins[0]))));
  }
  return { ...idx, consts };
}

// ---------------------------------------------------------------------------------------------
// Dominators: the tensors every input->logits path goes through
// ---------------------------------------------------------------------------------------------

const ROOT = '\u0000root';

/**
 * Immediate dominator of every non-constant tensor, in the DAG whose edges run from a node's
 * non-constant inputs to its outputs, rooted at a virtual node feeding all graph inputs.
 * Cooper–Harvey–Kennedy intersection; a DAG in topological order needs a single pass.
 */
function immediateDominators(
  graph: Graph,
  idx: AnalysisIndex,
): { idom: Map<string, string>; order: Map<string, number> } {
  const idom = new Map<string, string>();
  const order = new Map<string, number>([[ROOT, -1]]);
  for (const vi of graph.input ?? []) {
    const name = vi.name ?? '';
    if (idx.consts.has(name)) continue;
    order.set(name, order.size);
    idom.set(name, ROOT);
  }
  const intersect = (a: string, b: string): string => {
    while (a !== b) {
      while (order.get(a)! > order.get(b)!) a = idom.get(a)!;
      while (order.get(b)! > order.get(a)!) b = idom.get(b)!;
    }
    return a;
  };
  for (const n of idx.nodes) {
    const preds = nodeInputs(n).filter((t) => idom.has(t));
    if (preds.length === 0) continue; // constant (or fed by unknown names)
    const d = preds.reduce(intersect);
    for (const o of n.output ?? []) {
      if (!o) continue;
      order.set(o, order.size);
      idom.set(o, d);
    }
  }
  return { idom, order };
}

// ---------------------------------------------------------------------------------------------
// Position-wise analysis
// ---------------------------------------------------------------------------------------------

/**
 * 'rows': indexed by [batch, seq, ...] and computed per position;
 * 'scalar': a global scalar (scale / zero point of DynamicQuantizeLinear).
 */
type Kind = 'rows' | 'scalar';
type Operand = { is: 'absent' } | { is: 'const'; info: ConstInfo } | { is: Kind };

const isConst = (o: Operand): o is { is: 'const'; info: ConstInfo } => o.is === 'const';
const isAbsentOrConst = (o: Operand | undefined) => !o || o.is === 'absent' || o.is === 'const';
const constRank = (o: Operand, rank: number) => isConst(o) && o.info.shape?.length === rank;
/** A constant that broadcasts the same against [B,S,H] and [B,H]: scalar, [H] or [1,H]. */
const isSmallConst = (o: Operand) =>
  isConst(o) && !!o.info.shape && o.info.shape.length <= 2 && o.info.shape.slice(0, -1).every((d) => d === 1);
const isScalarLike = (o: Operand | undefined) =>
  !o ||
  o.is === 'absent' ||
  o.is === 'scalar' ||
  (isConst(o) && !!o.info.shape && o.info.shape.length <= 1 && o.info.shape.every((d) => d === 1));

/** Elementwise op: rows with rows / scalars / small constants stay rows. */
function elementwise(ops: Operand[]): Kind | null {
  if (!ops.every((o) => o.is === 'rows' || isScalarLike(o) || isSmallConst(o))) return null;
  if (ops.some((o) => o.is === 'rows')) return 'rows';
  return ops.every(isScalarLike) ? 'scalar' : null;
}

const UNARY = new Set([
  'Identity',
  'Cast',
  'Sqrt',
  'Erf',
  'Tanh',
  'Relu',
  'Sigmoid',
  'Gelu',
  'Neg',
  'Abs',
  'Exp',
  'Log',
  'Reciprocal',
  'Softplus',
  'LeakyRelu',
  'Elu',
]);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow']);
const MATMUL_LIKE = new Set(['MatMul', 'Gemm', 'MatMulInteger', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat']);
const LAYER_NORMS = new Set([
  'LayerNormalization',
  'SimplifiedLayerNormalization',
  'SkipLayerNormalization',
  'SkipSimplifiedLayerNormalization',
]);

/**
 * Output kinds of `node` when it only combines values of the same position, or null when it
 * may mix positions (or we cannot tell). `ops` are its explicit inputs, by slot.
 */
function positionwiseRule(node: Node, ops: Operand[]): Kind[] | null {
  const op = node.opType ?? '';
  const nOut = (node.output ?? []).length;
  const all = (k: Kind) => Array<Kind>(nOut).fill(k);
  const [x, ...rest] = ops;
  if (!['', 'ai.onnx', 'com.microsoft'].includes(node.domain ?? '')) return null;
  if ((node.attribute ?? []).some((a) => a.g || a.graphs?.length)) return null;

  if (UNARY.has(op)) return ops.length === 1 && x.is !== 'absent' && !isConst(x) ? all(x.is as Kind) : null;
  if (BINARY.has(op)) {
    const k = elementwise(ops);
    return k ? all(k) : null;
  }
  if (op === 'FastGelu')
    return x.is === 'rows' && rest.every((o) => o.is === 'absent' || isSmallConst(o)) ? all('rows') : null;
  if (LAYER_NORMS.has(op)) {
    // Normalises over the last axis only; the residual "skip" input is another row tensor.
    if (intAttr(node, 'axis', -1) !== -1 || x.is !== 'rows') return null;
    const skipOk = !op.startsWith('Skip') || rest[0]?.is === 'rows';
    const paramsOk = (op.startsWith('Skip') ? rest.slice(1) : rest).every((o) => o.is === 'absent' || constRank(o, 1));
    return skipOk && paramsOk ? all('rows') : null;
  }
  if (op === 'ReduceMean') {
    // Only a mean over the last axis, keeping it, is per position (and keeps the leading dims).
    const axisOp = rest[0];
    const axes = attr(node, 'axes')
      ? (attr(node, 'axes')!.ints ?? []).map((v) => toNum(v as IntLike))
      : axisOp && isConst(axisOp)
        ? axisOp.info.ints
        : undefined;
    return x.is === 'rows' && intAttr(node, 'keepdims', 1) === 1 && axes?.length === 1 && axes[0] === -1
      ? all('rows')
      : null;
  }
  if (MATMUL_LIKE.has(op)) {
    // Activation on the left, constant [K, N] weight on the right: row r of the output only reads row r.
    if (x.is !== 'rows' || !constRank(ops[1], 2)) return null;
    if (op === 'Gemm' && intAttr(node, 'transA', 0) !== 0) return null;
    // MatMulInteger's a_zero_point / MatMulIntegerToFloat's a_scale, a_zero_point come from DynamicQuantizeLinear.
    const activationQuantParams = op === 'MatMulInteger' ? [2] : op === 'MatMulIntegerToFloat' ? [2, 4] : [];
    const restOk = ops
      .slice(2)
      .every((o, i) => (activationQuantParams.includes(i + 2) ? isScalarLike(o) : isAbsentOrConst(o)));
    return restOk ? all('rows') : null;
  }
  if (op === 'DequantizeLinear' || op === 'QuantizeLinear') {
    // Per-tensor (scalar) parameters, or per-channel along the last axis.
    if (x.is !== 'rows' && x.is !== 'scalar') return null;
    if (intAttr(node, 'block_size', 0) !== 0) return null;
    const perTensor = rest.every(isScalarLike);
    const perLastAxis = intAttr(node, 'axis', 1) === -1 && rest.every((o) => o.is === 'absent' || constRank(o, 1));
    return perTensor || perLastAxis ? all(x.is) : null;
  }
  if (op === 'DynamicQuantizeLinear') {
    // Not strictly per position: its scale / zero point are computed over the whole tensor, so
    // after the cut they are computed over the mask rows only (small numeric change, accepted).
    return x.is === 'rows' ? (['rows', 'scalar', 'scalar'].slice(0, nOut) as Kind[]) : null;
  }
  return null;
}

function operandOf(name: string, idx: AnalysisIndex, kinds: Map<string, Kind>): Operand | undefined {
  if (name === '') return { is: 'absent' };
  const c = idx.consts.get(name);
  if (c) return { is: 'const', info: c };
  const k = kinds.get(name);
  return k ? { is: k } : undefined;
}

/** Node indices (topological) on some path from `from` to `to`. */
function nodesBetween(idx: AnalysisIndex, from: string, ancestorsOfTarget: Set<number>): number[] {
  const seen = new Set<number>();
  const stack = [from];
  while (stack.length) {
    const t = stack.pop()!;
    for (const i of idx.consumers.get(t) ?? []) {
      if (seen.has(i) || !ancestorsOfTarget.has(i)) continue;
      seen.add(i);
      stack.push(...(idx.nodes[i].output ?? []));
    }
  }
  return [...seen].sort((a, b) => a - b);
}

function ancestorNodes(idx: AnalysisIndex, target: string): Set<number> {
  const seen = new Set<number>();
  const stack = [target];
  while (stack.length) {
    const p = idx.producer.get(stack.pop()!);
    if (p === undefined || seen.has(p)) continue;
    seen.add(p);
    stack.push(...nodeInputs(idx.nodes[p]).filter((t) => !idx.consts.has(t)));
  }
  return seen;
}

/** Kinds of every tensor in `region` when cutting at `cut`, or the first node that is not position-wise. */
function checkRegion(
  idx: AnalysisIndex,
  cut: string,
  region: number[],
): { ok: true; usesDynamicQuant: boolean } | { ok: false; blocker: Node } {
  const kinds = new Map<string, Kind>([[cut, 'rows']]);
  let usesDynamicQuant = false;
  for (const i of region) {
    const node = idx.nodes[i];
    const ops = (node.input ?? []).map((t) => operandOf(t, idx, kinds));
    const out = ops.every((o): o is Operand => !!o) ? positionwiseRule(node, ops) : null;
    if (!out) return { ok: false, blocker: node };
    (node.output ?? []).forEach((o, j) => o && kinds.set(o, out[j]));
    usesDynamicQuant ||= node.opType === 'DynamicQuantizeLinear';
  }
  return { ok: true, usesDynamicQuant };
}

export interface MaskHeadCut {
  /** The tensor X the head is cut at (gathered to the mask rows). */
  cut: string;
  /** Nodes between X and `logits`, now run on B rows instead of B*S. */
  headNodes: Node[];
  /** True when the head contains DynamicQuantizeLinear, whose scale is no longer computed over all positions. */
  usesDynamicQuant: boolean;
}

/**
 * The earliest tensor X that dominates `logits` and from which every node down to `logits`
 * is position-wise. Walks the dominator chain back from `logits`; the set of nodes between
 * grows as X moves back, so the walk stops at the first candidate that fails.
 */
export function findMaskHeadCut(model: onnx.IModelProto, name?: string): MaskHeadCut {
  const graph = model.graph ?? {};
  const label = modelLabel(model, name);
  if (!(graph.output ?? []).some((o) => o.name === LOGITS))
    throw new Error(
      `${label}: no "${LOGITS}" output to rewrite (outputs: ${(graph.output ?? []).map((o) => o.name).join(', ') || 'none'})`,
    );
  const idx = analysisIndex(graph);
  const { idom } = immediateDominators(graph, idx);
  if (!idom.has(LOGITS)) throw new Error(`${label}: "${LOGITS}" does not depend on any graph input`);
  const ancestors = ancestorNodes(idx, LOGITS);

  let best: MaskHeadCut | undefined;
  let blocker: Node | undefined;
  for (let d = idom.get(LOGITS)!; d !== ROOT; d = idom.get(d)!) {
    const region = nodesBetween(idx, d, ancestors);
    const check = checkRegion(idx, d, region);
    if (!check.ok) {
      blocker = check.blocker;
      break;
    }
    best = { cut: d, headNodes: region.map((i) => idx.nodes[i]), usesDynamicQuant: check.usesDynamicQuant };
  }
  if (!best) {
    const why = blocker ? `: ${nodeLabel(blocker)} may mix sequence positions` : '';
    throw new Error(`${label}: no position-wise cut before "${LOGITS}"${why}`);
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Surgery
// ---------------------------------------------------------------------------------------------

export interface MaskHeadOptions {
  /**
   * Also output `label_logsumexp` [B], log-sum-exp over the vocabulary of the logits at each
   * row's mask: label log-probabilities are `label_logits` minus it (multi-token label words of
   * causal models). Off by default: masked LMs never need it.
   */
  logSumExp?: boolean;
}

/**
 * Rewrites the model bytes. New inputs: all original inputs + `mask_index` int64 [B] (flat index
 * b*S + position of the mask in row b) + `label_ids` int64 [K]. Output `label_logits`
 * float32 [B, K] = original logits[b, pos_b, label_ids[k]] (and `label_logsumexp`, see options).
 */
export function rewriteForMaskHead(modelBytes: Uint8Array, name?: string, opts: MaskHeadOptions = {}): Uint8Array {
  const model = onnx.ModelProto.decode(modelBytes);
  const label = modelLabel(model, name);
  const graph = model.graph;
  if (!graph) throw new Error(`${label}: no graph`);
  const { cut, headNodes } = findMaskHeadCut(model, label);

  const logitsOut = graph.output!.find((o) => o.name === LOGITS)!;
  const logitsDims = logitsOut.type?.tensorType?.shape?.dim;
  if (logitsDims && logitsDims.length !== 3)
    throw new Error(`${label}: expected "${LOGITS}" of rank 3 [batch, seq, vocab], got rank ${logitsDims.length}`);
  const batchDim = logitsDims?.[0]?.dimParam || 'batch';
  for (const n of [MASK_INDEX, LABEL_IDS, LABEL_LOGITS]) {
    if ((graph.input ?? []).some((v) => v.name === n)) throw new Error(`${label}: already has an input named "${n}"`);
  }

  // Flatten(X) [B*S, H] -> Gather rows at mask_index [B, H], fed to the head nodes instead of X.
  const fresh = uniqueNamer(graph);
  const flat = fresh('mask_head/flat');
  const atMask = fresh('mask_head/at_mask');
  const gatherIn: Node[] = [
    {
      name: fresh('mask_head/Flatten'),
      opType: 'Flatten',
      input: [cut],
      output: [flat],
      attribute: [intAttribute('axis', 2)],
    },
    {
      name: fresh('mask_head/GatherMask'),
      opType: 'Gather',
      input: [flat, MASK_INDEX],
      output: [atMask],
      attribute: [intAttribute('axis', 0)],
    },
  ];
  const head = new Set(headNodes);
  for (const n of headNodes) n.input = (n.input ?? []).map((t) => (t === cut ? atMask : t));
  // logits is now [B, V]: keep the label-word columns only.
  const gatherOut: Node = {
    name: fresh('mask_head/GatherLabels'),
    opType: 'Gather',
    input: [LOGITS, LABEL_IDS],
    output: [LABEL_LOGITS],
    attribute: [intAttribute('axis', 1)],
  };

  const elemType = logitsOut.type?.tensorType?.elemType ?? DT.FLOAT;
  const tail = [gatherOut];
  if (opts.logSumExp) {
    // ReduceLogSumExp over the vocabulary (axis 1 of [B, V]): axes are an attribute before opset 18, an input from 18 on.
    const opset = toNum(
      ((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 13) as IntLike,
    );
    const reduce: Node = {
      name: fresh('mask_head/LogSumExp'),
      opType: 'ReduceLogSumExp',
      input: [LOGITS],
      output: [LABEL_LOGSUMEXP],
      attribute: [intAttribute('keepdims', 0)],
    };
    if (opset >= 18) {
      const axes = fresh('mask_head/vocab_axis');
      graph.initializer = [...(graph.initializer ?? []), { name: axes, dataType: DT.INT64, dims: [1], int64Data: [1] }];
      reduce.input!.push(axes);
    } else reduce.attribute!.push({ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [1] });
    tail.push(reduce);
  }

  const sorted = topoSort(graph);
  graph.node = [...sorted.filter((n) => !head.has(n)), ...gatherIn, ...sorted.filter((n) => head.has(n)), ...tail];
  graph.input = [
    ...(graph.input ?? []),
    tensorValueInfo(MASK_INDEX, DT.INT64, [batchDim]),
    tensorValueInfo(LABEL_IDS, DT.INT64, ['num_labels']),
  ];
  graph.output = [
    tensorValueInfo(LABEL_LOGITS, elemType, [batchDim, 'num_labels']),
    ...(opts.logSumExp ? [tensorValueInfo(LABEL_LOGSUMEXP, elemType, [batchDim])] : []),
  ];
  // Shapes recorded for the head's tensors still carry the seq dim: drop them.
  const headTensors = new Set(headNodes.flatMap((n) => n.output ?? []));
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !headTensors.has(v.name ?? ''));
  pruneToOutputs(graph);
  return onnx.ModelProto.encode(model).finish();
}

/** Version of the rewrite, part of the cache file name. */
export const REWRITE_VERSION = 1;

/**
 * Cached: returns the path of the prepared model, stored as `<cacheDir>/<sha256 of source file>.maskhead-v<REWRITE_VERSION>.onnx`
 * (bump REWRITE_VERSION when the rewrite changes, so stale prepared models are never reused),
 * writes atomically (tmp file + rename), reuses it when it exists.
 */
export function prepareMaskHeadModel(
  srcOnnxPath: string,
  cacheDir: string,
  opts: MaskHeadOptions = {},
  activations: ActivationQuant = 'per-row',
): Promise<string> {
  return cachedPreparation(
    srcOnnxPath,
    cacheDir,
    `maskhead-v${REWRITE_VERSION}${opts.logSumExp ? '.lse' : ''}`,
    (src) => rewriteForMaskHead(src, srcOnnxPath, opts),
    activations,
  );
}
