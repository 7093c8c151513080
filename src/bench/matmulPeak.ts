/**
 * The machine's measured matrix-multiply peaks through onnxruntime-node: a one-node ONNX graph
 * (A[n×k] · B[k×m], B a constant initializer like a model weight, so onnxruntime may pre-pack it
 * the same way) built in memory, run repeatedly, best run reported. fp32: MatMul; int8:
 * MatMulInteger with uint8 activations and int8 weights, the kernel the int8 models run on.
 */
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';

export type PeakKind = 'fp32' | 'int8';

export interface MatmulPeak {
  kind: PeakKind;
  /** Best run, in GFLOP/s (2·n·k·m FLOPs per run; integer operations for int8). */
  gflops: number;
  /** Median run, in GFLOP/s. */
  medianGflops: number;
  shape: [number, number, number];
  threads: number;
  runs: number;
}

/** A one-MatMul model: input A [n×k] times initializer B [k×m] → C [n×m] (int8: MatMulInteger, A uint8, B int8, C int32). */
export function matmulModel(n: number, k: number, m: number, kind: PeakKind = 'fp32'): Uint8Array {
  const DT = onnx.TensorProto.DataType;
  const int8 = kind === 'int8';
  const b = int8
    ? Int8Array.from({ length: k * m }, (_, i) => ((i * 7919) % 255) - 127)
    : Float32Array.from({ length: k * m }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const vi = (name: string, elemType: number, dims: number[]): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  });
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'matmul_peak',
      node: [{ opType: int8 ? 'MatMulInteger' : 'MatMul', input: ['A', 'B'], output: ['C'] }],
      input: [vi('A', int8 ? DT.UINT8 : DT.FLOAT, [n, k])],
      output: [vi('C', int8 ? DT.INT32 : DT.FLOAT, [n, m])],
      initializer: [
        { name: 'B', dims: [k, m], dataType: int8 ? DT.INT8 : DT.FLOAT, rawData: new Uint8Array(b.buffer) },
      ],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

export async function measureMatmulPeak(opts: {
  size?: number;
  runs?: number;
  warmup?: number;
  threads: number;
  kind?: PeakKind;
}): Promise<MatmulPeak> {
  const n = opts.size ?? 1024;
  const runs = opts.runs ?? 10;
  const kind = opts.kind ?? 'fp32';
  const session = await ort.InferenceSession.create(matmulModel(n, n, n, kind), {
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  try {
    const feeds = {
      A:
        kind === 'int8'
          ? new ort.Tensor(
              'uint8',
              Uint8Array.from({ length: n * n }, (_, i) => (i * 104729) % 256),
              [n, n],
            )
          : new ort.Tensor(
              'float32',
              Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5),
              [n, n],
            ),
    };
    const times: number[] = [];
    for (let i = 0; i < (opts.warmup ?? 2) + runs; i++) {
      const t0 = process.hrtime.bigint();
      const out = await session.run(feeds);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      out.C.dispose();
      if (i >= (opts.warmup ?? 2)) times.push(s);
    }
    times.sort((x, y) => x - y);
    const flops = 2 * n * n * n;
    return {
      kind,
      gflops: flops / times[0] / 1e9,
      medianGflops: flops / times[Math.floor(times.length / 2)] / 1e9,
      shape: [n, n, n],
      threads: opts.threads,
      runs,
    };
  } finally {
    await session.release();
  }
}
