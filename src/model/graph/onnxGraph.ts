/**
 * Small ONNX graph helpers shared by the graph rewrites (maskHead.ts, embedsInput.ts): labels for
 * error messages, node inputs and attributes, a graph index, topological order, pruning, fresh
 * names, value infos, and readers of constant tensors.
 */
import { onnx } from 'onnx-proto';

export type Node = onnx.INodeProto;
export type Graph = onnx.IGraphProto;
export type Tensor = onnx.ITensorProto;
export type IntLike = number | { toNumber(): number };

export const DT = onnx.TensorProto.DataType;

/** An int64 field as decoded (number or Long) as a number; 0 when absent. */
export const toNum = (v: IntLike | null | undefined): number =>
  v == null ? 0 : typeof v === 'number' ? v : v.toNumber();

/** How errors name a model: the given name (usually its path), else `model "<graph name>"`. */
export function modelLabel(model: onnx.IModelProto, name?: string): string {
  return name ?? `model "${model.graph?.name || 'unnamed'}"`;
}

/** `"name" (OpType)`, the name falling back to the first output. */
export const nodeLabel = (n: Node): string => `"${n.name || n.output?.[0]}" (${n.opType})`;

// ---------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------

/** Names a node's subgraphs (If/Loop/Scan bodies) read; over-approximated as all inputs of their nodes. */
export function subgraphReads(node: Node): string[] {
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

/** Non-empty explicit inputs, then the outer-scope names read by subgraphs. */
export function nodeInputs(node: Node): string[] {
  return [...(node.input ?? []).filter((n) => n !== ''), ...subgraphReads(node)];
}

export function attr(node: Node, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

/** Integer attribute `name`, or `dflt` when the node has none. */
export function intAttr(node: Node, name: string, dflt: number): number {
  const a = attr(node, name);
  return a ? toNum(a.i as IntLike) : dflt;
}

/** An INT attribute, for new nodes. */
export const intAttribute = (name: string, i: number): onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i,
});

// ---------------------------------------------------------------------------------------------
// Graph index
// ---------------------------------------------------------------------------------------------

/** Kahn's algorithm over tensor availability (ONNX requires sorted nodes; we don't rely on it). */
export function topoSort(graph: Graph): Node[] {
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

export interface GraphIndex {
  /** The graph's nodes: in graph order, or topologically sorted (`indexGraph(graph, true)`). */
  nodes: Node[];
  /** Position in `nodes` of the node producing each tensor. */
  producer: Map<string, number>;
  /** Positions in `nodes` (ascending) of the nodes reading each tensor, subgraph reads included, once per node. */
  consumers: Map<string, number[]>;
  initializers: Map<string, Tensor>;
}

/** Producers and consumers of every tensor; `sorted` puts the nodes in topological order first (throws on a cycle). */
export function indexGraph(graph: Graph, sorted = false): GraphIndex {
  const nodes = sorted ? topoSort(graph) : (graph.node ?? []);
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    (n.output ?? []).forEach((o) => o && producer.set(o, i));
    for (const t of new Set(nodeInputs(n))) consumers.set(t, [...(consumers.get(t) ?? []), i]);
  });
  return { nodes, producer, consumers, initializers: new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t])) };
}

export function producerOf(idx: GraphIndex, name: string): Node | undefined {
  const i = idx.producer.get(name);
  return i === undefined ? undefined : idx.nodes[i];
}

export const consumersOf = (idx: GraphIndex, name: string): Node[] =>
  (idx.consumers.get(name) ?? []).map((i) => idx.nodes[i]);

/** A tensor fixed at export time: an initializer, or the value of a Constant node. */
export function constTensor(idx: GraphIndex, name: string): Tensor | undefined {
  const init = idx.initializers.get(name);
  if (init) return init;
  const p = producerOf(idx, name);
  if (p?.opType === 'Constant') return attr(p, 'value')?.t ?? undefined;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Editing
// ---------------------------------------------------------------------------------------------

/** Drops nodes, initializers and value_info no longer needed for the graph outputs. */
export function pruneToOutputs(graph: Graph): void {
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

/** Fresh names: `base`, else `base_1`, `base_2`, ... avoiding every node, tensor, input, output and initializer name. */
export function uniqueNamer(graph: Graph): (base: string) => string {
  const used = new Set<string>();
  for (const n of graph.node ?? []) {
    used.add(n.name ?? '');
    (n.output ?? []).forEach((o) => used.add(o));
  }
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.initializer ?? [])])
    used.add(v.name ?? '');
  return (base) => {
    let name = base;
    for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    return name;
  };
}

/** A dimension: a symbolic name (string), a size (number), or a dimension as stored. */
export type DimLike = string | number | onnx.TensorShapeProto.IDimension;

export function tensorValueInfo(name: string, elemType: number, dims: DimLike[]): onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : typeof d === 'number' ? { dimValue: d } : d));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

// ---------------------------------------------------------------------------------------------
// Tensor contents
// ---------------------------------------------------------------------------------------------

export const dimsOf = (t: Tensor): number[] => (t.dims ?? []).map((d) => toNum(d as IntLike));
export const sizeOf = (t: Tensor): number => dimsOf(t).reduce((a, b) => a * b, 1);

/** Contents of a small INT64 / INT32 tensor (up to 64 values in raw_data); undefined otherwise. */
export function tensorInts(t: Tensor): number[] | undefined {
  if (t.dataType !== DT.INT64 && t.dataType !== DT.INT32) return undefined;
  if (t.int64Data?.length) return t.int64Data.map((v) => toNum(v as IntLike));
  if (t.int32Data?.length) return [...t.int32Data];
  const raw = t.rawData;
  if (raw && raw.length <= 8 * 64) {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const w = t.dataType === DT.INT64 ? 8 : 4;
    return Array.from({ length: raw.length / w }, (_, i) =>
      w === 8 ? Number(dv.getBigInt64(i * w, true)) : dv.getInt32(i * w, true),
    );
  }
  return undefined;
}

function checkInline(t: Tensor, label: string): void {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData ?? []).length > 0) {
    throw new Error(`${label}: tensor "${t.name}" is stored as external data, which is not supported`);
  }
}

/** float32 contents (raw_data is little-endian, as on every platform Node runs on here). */
export function floatValues(t: Tensor, label: string): Float32Array {
  checkInline(t, label);
  if (t.dataType !== DT.FLOAT)
    throw new Error(`${label}: tensor "${t.name}" is ${DT[t.dataType ?? 0]}, expected FLOAT`);
  const n = sizeOf(t);
  const raw = t.rawData;
  const out =
    raw && raw.length > 0
      ? new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))
      : Float32Array.from(t.floatData ?? []);
  if (out.length !== n)
    throw new Error(`${label}: tensor "${t.name}" holds ${out.length} values for shape [${dimsOf(t)}]`);
  return out;
}

/** The 8-bit quantized element types `quantValues` reads. */
export const QUANT_TYPES = new Set<number>([DT.INT8, DT.UINT8]);

/** int8 / uint8 contents as plain integers (raw_data, or int32_data as the spec stores small ints). */
export function quantValues(t: Tensor, label: string): Int32Array {
  checkInline(t, label);
  if (!QUANT_TYPES.has(t.dataType ?? 0))
    throw new Error(`${label}: tensor "${t.name}" is ${DT[t.dataType ?? 0]}, expected INT8 or UINT8`);
  const n = sizeOf(t);
  const raw = t.rawData;
  let out: Int32Array;
  if (raw && raw.length > 0) {
    const view =
      t.dataType === DT.INT8
        ? new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength)
        : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    out = Int32Array.from(view);
  } else {
    out = Int32Array.from(t.int32Data ?? []);
    if (t.dataType === DT.INT8) out = out.map((v) => (v << 24) >> 24);
  }
  if (out.length !== n)
    throw new Error(`${label}: tensor "${t.name}" holds ${out.length} values for shape [${dimsOf(t)}]`);
  return out;
}
