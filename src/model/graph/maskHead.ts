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
import { createHash } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';

type Node = onnx.INodeProto;
type Graph = onnx.IGraphProto;
type IntLike = number | { toNumber(): number };

const LOGITS = 'logits';
const MASK_INDEX = 'mask_index';
const LABEL_IDS = 'label_ids';
const LABEL_LOGITS = 'label_logits';
const INT64 = onnx.TensorProto.DataType.INT64;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

const toNum = (v: IntLike | null | undefined): number => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());

// ---------------------------------------------------------------------------------------------
// Graph indexing
// ---------------------------------------------------------------------------------------------

/** Names a subgraph (If/Loop/Scan body) reads; over-approximated as all inputs of its nodes. */
function subgraphReads(node: Node): string[] {
  const out: string[] = [];
  const visit = (g: Graph | null | undefined) => {
    for (const n of g?.node ?? []) out.push(...nodeInputs(n));
  };
  for (const a of node.attribute ?? []) {
    visit(a.g);
    (a.graphs ?? []).forEach(visit);
  }
  return out;
}

/** Non-empty explicit inputs plus the outer-scope names read by subgraphs. */
function nodeInputs(node: Node): string[] {
  return [...(node.input ?? []).filter((n) => n !== ''), ...subgraphReads(node)];
}

function attr(node: Node, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

function intAttr(node: Node, name: string, dflt: number): number {
  const a = attr(node, name);
  return a ? toNum(a.i as IntLike) : dflt;
}

/** Shape and (small) int contents of a tensor whose value is fixed at export time. */
interface ConstInfo {
  shape?: number[];
  ints?: number[];
}

interface GraphIndex {
  nodes: Node[]; // topologically sorted
  producer: Map<string, number>;
  consumers: Map<string, number[]>;
  /** Tensors fixed at export time: initializers, Constant outputs, and nodes fed only by those. */
  consts: Map<string, ConstInfo>;
}

function tensorInts(t: onnx.ITensorProto): number[] | undefined {
  if (t.dataType !== INT64 && t.dataType !== onnx.TensorProto.DataType.INT32) return undefined;
  if (t.int64Data?.length) return t.int64Data.map((v) => toNum(v as IntLike));
  if (t.int32Data?.length) return [...t.int32Data];
  const raw = t.rawData;
  if (raw && raw.length <= 8 * 64) {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const w = t.dataType === INT64 ? 8 : 4;
    return Array.from({ length: raw.length / w }, (_, i) => (w === 8 ? Number(dv.getBigInt64(i * w, true)) : dv.getInt32(i * w, true)));
  }
  return undefined;
}

function constantNodeInfo(node: Node): ConstInfo {
  const a = (node.attribute ?? [])[0];
  if (!a) return {};
  switch (a.name) {
    case 'value':
      return a.t ? { shape: (a.t.dims ?? []).map((d) => toNum(d as IntLike)), ints: tensorInts(a.t) } : {};
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

/** Kahn's algorithm over tensor availability (ONNX requires sorted nodes; we don't rely on it). */
function topoSort(graph: Graph): Node[] {
  const nodes = graph.node ?? [];
  const producerOf = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => o && producerOf.set(o, i)));
  const pending = nodes.map((n) => new Set(nodeInputs(n).filter((t) => producerOf.has(t))).size);
  const users = new Map<number, number[]>();
  nodes.forEach((n, i) => {
    for (const t of new Set(nodeInputs(n))) {
      const p = producerOf.get(t);
      if (p !== undefined) users.set(p, [...(users.get(p) ?? []), i]);
    }
  });
  const ready = nodes.map((_, i) => i).filter((i) => pending[i] === 0);
  const order: Node[] = [];
  for (let k = 0; k < ready.length; k++) {
    const i = ready[k];
    order.push(nodes[i]);
    for (const u of users.get(i) ?? []) if (--pending[u] === 0) ready.push(u);
  }
  if (order.length !== nodes.length) throw new Error('graph has a cycle');
  return order;
}

function indexGraph(graph: Graph): GraphIndex {
  const nodes = topoSort(graph);
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    (n.output ?? []).forEach((o) => o && producer.set(o, i));
    for (const t of new Set(nodeInputs(n))) consumers.set(t, [...(consumers.get(t) ?? []), i]);
  });

  const consts = new Map<string, ConstInfo>();
  for (const t of graph.initializer ?? []) {
    consts.set(t.name ?? '', { shape: (t.dims ?? []).map((d) => toNum(d as IntLike)), ints: tensorInts(t) });
  }
  // An input that is also an initializer (old IR style) is a weight with a default: it stays constant.
  for (const n of nodes) {
    const ins = nodeInputs(n);
    if (!ins.every((t) => consts.has(t))) continue;
    (n.output ?? []).forEach((o) => o && consts.set(o, derivedConstInfo(n, consts.get(ins[0]))));
  }
  return { nodes, producer, consumers, consts };
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
function immediateDominators(graph: Graph, idx: GraphIndex): { idom: Map<string, string>; order: Map<string, number> } {
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
const isSmallConst = (o: Operand) => isConst(o) && !!o.info.shape && o.info.shape.length <= 2 && o.info.shape.slice(0, -1).every((d) => d === 1);
const isScalarLike = (o: Operand | undefined) =>
  !o || o.is === 'absent' || o.is === 'scalar' || (isConst(o) && !!o.info.shape && o.info.shape.length <= 1 && o.info.shape.every((d) => d === 1));

/** Elementwise op: rows with rows / scalars / small constants stay rows. */
function elementwise(ops: Operand[]): Kind | null {
  if (!ops.every((o) => o.is === 'rows' || isScalarLike(o) || isSmallConst(o))) return null;
  if (ops.some((o) => o.is === 'rows')) return 'rows';
  return ops.every(isScalarLike) ? 'scalar' : null;
}

const UNARY = new Set(['Identity', 'Cast', 'Sqrt', 'Erf', 'Tanh', 'Relu', 'Sigmoid', 'Gelu', 'Neg', 'Abs', 'Exp', 'Log', 'Reciprocal', 'Softplus', 'LeakyRelu', 'Elu']);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow']);
const MATMUL_LIKE = new Set(['MatMul', 'Gemm', 'MatMulInteger', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat']);
const LAYER_NORMS = new Set(['LayerNormalization', 'SimplifiedLayerNormalization', 'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization']);

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
  if (op === 'FastGelu') return x.is === 'rows' && rest.every((o) => o.is === 'absent' || isSmallConst(o)) ? all('rows') : null;
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
    const axes = attr(node, 'axes') ? (attr(node, 'axes')!.ints ?? []).map((v) => toNum(v as IntLike)) : axisOp && isConst(axisOp) ? axisOp.info.ints : undefined;
    return x.is === 'rows' && intAttr(node, 'keepdims', 1) === 1 && axes?.length === 1 && axes[0] === -1 ? all('rows') : null;
  }
  if (MATMUL_LIKE.has(op)) {
    // Activation on the left, constant [K, N] weight on the right: row r of the output only reads row r.
    if (x.is !== 'rows' || !constRank(ops[1], 2)) return null;
    if (op === 'Gemm' && intAttr(node, 'transA', 0) !== 0) return null;
    // MatMulInteger's a_zero_point / MatMulIntegerToFloat's a_scale, a_zero_point come from DynamicQuantizeLinear.
    const activationQuantParams = op === 'MatMulInteger' ? [2] : op === 'MatMulIntegerToFloat' ? [2, 4] : [];
    const restOk = ops.slice(2).every((o, i) => (activationQuantParams.includes(i + 2) ? isScalarLike(o) : isAbsentOrConst(o)));
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
    return x.is === 'rows' ? ['rows', 'scalar', 'scalar'].slice(0, nOut) as Kind[] : null;
  }
  return null;
}

function operandOf(name: string, idx: GraphIndex, kinds: Map<string, Kind>): Operand | undefined {
  if (name === '') return { is: 'absent' };
  const c = idx.consts.get(name);
  if (c) return { is: 'const', info: c };
  const k = kinds.get(name);
  return k ? { is: k } : undefined;
}

/** Node indices (topological) on some path from `from` to `to`. */
function nodesBetween(idx: GraphIndex, from: string, ancestorsOfTarget: Set<number>): number[] {
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

function ancestorNodes(idx: GraphIndex, target: string): Set<number> {
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
function checkRegion(idx: GraphIndex, cut: string, region: number[]): { ok: true; usesDynamicQuant: boolean } | { ok: false; blocker: Node } {
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

function modelLabel(model: onnx.IModelProto, name?: string): string {
  return name ?? `model "${model.graph?.name || 'unnamed'}"`;
}

/**
 * The earliest tensor X that dominates `logits` and from which every node down to `logits`
 * is position-wise. Walks the dominator chain back from `logits`; the set of nodes between
 * grows as X moves back, so the walk stops at the first candidate that fails.
 */
export function findMaskHeadCut(model: onnx.IModelProto, name?: string): MaskHeadCut {
  const graph = model.graph ?? {};
  const label = modelLabel(model, name);
  if (!(graph.output ?? []).some((o) => o.name === LOGITS)) throw new Error(`${label}: no "${LOGITS}" output to rewrite (outputs: ${(graph.output ?? []).map((o) => o.name).join(', ') || 'none'})`);
  const idx = indexGraph(graph);
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
    const why = blocker ? `: "${blocker.name || blocker.output?.[0]}" (${blocker.opType}) may mix sequence positions` : '';
    throw new Error(`${label}: no position-wise cut before "${LOGITS}"${why}`);
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Surgery
// ---------------------------------------------------------------------------------------------

function uniqueNamer(graph: Graph): (base: string) => string {
  const used = new Set<string>();
  for (const n of graph.node ?? []) {
    used.add(n.name ?? '');
    (n.output ?? []).forEach((o) => used.add(o));
  }
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.initializer ?? [])]) used.add(v.name ?? '');
  return (base) => {
    let name = base;
    for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    return name;
  };
}

function tensorValueInfo(name: string, elemType: number, dims: (string | number)[]): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

const intAttribute = (name: string, i: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });

/** Drops nodes, initializers and value_info no longer needed for the graph outputs. */
function pruneToOutputs(graph: Graph): void {
  const needed = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const kept: Node[] = [];
  for (const n of [...(graph.node ?? [])].reverse()) {
    if (!(n.output ?? []).some((o) => needed.has(o))) continue;
    kept.push(n);
    nodeInputs(n).forEach((t) => needed.add(t));
  }
  graph.node = kept.reverse();
  graph.initializer = (graph.initializer ?? []).filter((t) => needed.has(t.name ?? ''));
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => needed.has(v.name ?? ''));
}

/**
 * Rewrites the model bytes. New inputs: all original inputs + `mask_index` int64 [B] (flat index
 * b*S + position of the mask in row b) + `label_ids` int64 [K]. Single output `label_logits`
 * float32 [B, K] = original logits[b, pos_b, label_ids[k]].
 */
export function rewriteForMaskHead(modelBytes: Uint8Array, name?: string): Uint8Array {
  const model = onnx.ModelProto.decode(modelBytes);
  const label = modelLabel(model, name);
  const graph = model.graph;
  if (!graph) throw new Error(`${label}: no graph`);
  const { cut, headNodes } = findMaskHeadCut(model, label);

  const logitsOut = graph.output!.find((o) => o.name === LOGITS)!;
  const logitsDims = logitsOut.type?.tensorType?.shape?.dim;
  if (logitsDims && logitsDims.length !== 3) throw new Error(`${label}: expected "${LOGITS}" of rank 3 [batch, seq, vocab], got rank ${logitsDims.length}`);
  const batchDim = logitsDims?.[0]?.dimParam || 'batch';
  for (const n of [MASK_INDEX, LABEL_IDS, LABEL_LOGITS]) {
    if ((graph.input ?? []).some((v) => v.name === n)) throw new Error(`${label}: already has an input named "${n}"`);
  }

  // Flatten(X) [B*S, H] -> Gather rows at mask_index [B, H], fed to the head nodes instead of X.
  const fresh = uniqueNamer(graph);
  const flat = fresh('mask_head/flat');
  const atMask = fresh('mask_head/at_mask');
  const gatherIn: Node[] = [
    { name: fresh('mask_head/Flatten'), opType: 'Flatten', input: [cut], output: [flat], attribute: [intAttribute('axis', 2)] },
    { name: fresh('mask_head/GatherMask'), opType: 'Gather', input: [flat, MASK_INDEX], output: [atMask], attribute: [intAttribute('axis', 0)] },
  ];
  const head = new Set(headNodes);
  for (const n of headNodes) n.input = (n.input ?? []).map((t) => (t === cut ? atMask : t));
  // logits is now [B, V]: keep the label-word columns only.
  const gatherOut: Node = { name: fresh('mask_head/GatherLabels'), opType: 'Gather', input: [LOGITS, LABEL_IDS], output: [LABEL_LOGITS], attribute: [intAttribute('axis', 1)] };

  const sorted = indexGraph(graph).nodes;
  graph.node = [...sorted.filter((n) => !head.has(n)), ...gatherIn, ...sorted.filter((n) => head.has(n)), gatherOut];
  graph.input = [...(graph.input ?? []), tensorValueInfo(MASK_INDEX, INT64, [batchDim]), tensorValueInfo(LABEL_IDS, INT64, ['num_labels'])];
  graph.output = [tensorValueInfo(LABEL_LOGITS, logitsOut.type?.tensorType?.elemType ?? FLOAT, [batchDim, 'num_labels'])];
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
export async function prepareMaskHeadModel(srcOnnxPath: string, cacheDir: string): Promise<string> {
  const src = await fsp.readFile(srcOnnxPath);
  const hash = createHash('sha256').update(src).digest('hex');
  const target = path.join(cacheDir, `${hash}.maskhead-v${REWRITE_VERSION}.onnx`);
  try {
    await fsp.access(target);
    return target;
  } catch {
    // not cached yet
  }
  const rewritten = rewriteForMaskHead(src, srcOnnxPath);
  await fsp.mkdir(cacheDir, { recursive: true });
  const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await fsp.writeFile(tmp, rewritten);
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  return target;
}
