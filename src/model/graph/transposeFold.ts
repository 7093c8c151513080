/**
 * Folds the last-two-axes part of a Transpose into the MatMul that reads it.
 *
 * Exported attention graphs transpose the keys with one Transpose, `[B, S, H, D] -> [B, H, D, S]`
 * (perm [0, 2, 3, 1]), and multiply the queries by the result. ONNX Runtime 1.30 runs that
 * permutation slowly with more than one intra-op thread (measured on a 2-core AMD EPYC, bert-mini,
 * batch 32 x 24: about 1 ms per call with 2 threads, 0.08 ms with 1; the other attention
 * Transposes, perm [0, 2, 1, 3], take 0.08 ms either way). Here such a MatMul(A, Transpose(x, p))
 * becomes FusedMatMul(A, Transpose(x, q), transB = 1), q being p with its last two entries
 * swapped (the Transpose is dropped when q is the identity): the same products summed in the same
 * order, so the outputs are bit-identical (test/transposeFold.test.ts), and the slow permutation
 * becomes the quick one. In-process with 2 threads the bundled model's int8 scorer ran 21 % faster
 * on batches of 32 x 24 tokens, fp32 13 %; with 1 thread (the pool's workers) it changes nothing.
 *
 * Only Transposes that put the innermost axis second to last (so that q keeps it innermost: the
 * copy moves whole rows) and whose every reader is a MatMul taking them as B (not A) are folded;
 * the rest of the graph is untouched (the value Transposes, perm [0, 2, 1, 3], stay as they are).
 */
import { onnx } from 'onnx-proto';
import { Node, attr, consumersOf, indexGraph, intAttribute, toNum } from './onnxGraph';

/** Version of the fold, part of every prepared model's cache tag (preparedCache.ts). */
export const TRANSPOSE_FOLD_VERSION = 1;

const isIdentity = (perm: number[]) => perm.every((p, i) => p === i);

/** Rewrites every foldable Transpose -> MatMul pair of the model (see the file comment); returns the bytes unchanged when there is none. */
export function foldTransposesIntoMatMul(modelBytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(modelBytes);
  const graph = model.graph;
  if (!graph) return modelBytes;
  const idx = indexGraph(graph);
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const dropped = new Set<Node>();
  const changed = new Set<string>();
  for (const t of idx.nodes) {
    if (t.opType !== 'Transpose' || t.domain) continue;
    const perm = (attr(t, 'perm')?.ints ?? []).map((v) => toNum(v));
    const out = t.output?.[0] ?? '';
    const r = perm.length;
    // Only where the fold keeps the innermost axis innermost: p moves it to the second-to-last place.
    if (r < 2 || perm[r - 2] !== r - 1 || outputs.has(out)) continue;
    const readers = consumersOf(idx, out);
    if (
      readers.length === 0 ||
      !readers.every((m) => m.opType === 'MatMul' && !m.domain && m.input?.[1] === out && m.input?.[0] !== out)
    )
      continue;
    const q = [...perm];
    [q[r - 2], q[r - 1]] = [q[r - 1], q[r - 2]];
    let b = out;
    if (isIdentity(q)) {
      dropped.add(t);
      b = t.input![0];
    } else {
      t.attribute = [
        ...(t.attribute ?? []).filter((a) => a.name !== 'perm'),
        { name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: q },
      ];
      changed.add(out);
    }
    for (const m of readers) {
      m.opType = 'FusedMatMul';
      m.domain = 'com.microsoft';
      m.input = [m.input![0], b];
      m.attribute = [intAttribute('transB', 1), { name: 'alpha', type: onnx.AttributeProto.AttributeType.FLOAT, f: 1 }];
    }
  }
  if (dropped.size === 0 && changed.size === 0) return modelBytes;
  graph.node = (graph.node ?? []).filter((n) => !dropped.has(n));
  // A changed Transpose's recorded shape is stale (its last two dimensions swapped).
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !changed.has(v.name ?? ''));
  if (!(model.opsetImport ?? []).some((o) => o.domain === 'com.microsoft'))
    model.opsetImport = [...(model.opsetImport ?? []), { domain: 'com.microsoft', version: 1 }];
  return onnx.ModelProto.encode(model).finish();
}
