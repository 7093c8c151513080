/**
 * The machine's measured fp32 matrix-multiply peak through onnxruntime-node: a one-node ONNX
 * graph (A[n×k] · B[k×m], B a constant initializer like a model weight, so onnxruntime may
 * pre-pack it the same way) built in memory, run repeatedly, best run reported.
 */
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';

export interface MatmulPeak {
  /** Best run, in GFLOP/s (2·n·k·m FLOPs per run). */
  gflops: number;
  /** Median run, in GFLOP/s. */
  medianGflops: number;
  shape: [number, number, number];
  threads: number;
  runs: number;
}

/** A one-MatMul model: input A [n×k] times initializer B [k×m] → C [n×m]. */
export function matmulModel(n: number, k: number, m: number): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const b = new Float32Array(k * m);
  for (let i = 0; i < b.length; i++) b[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  const vi = (name: string, dims: number[]): onnx.IValueInfoProto => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'matmul_peak',
      node: [{ opType: 'MatMul', input: ['A', 'B'], output: ['C'] }],
      input: [vi('A', [n, k])],
      output: [vi('C', [n, m])],
      initializer: [{ name: 'B', dims: [k, m], dataType: FLOAT, rawData: new Uint8Array(b.buffer) }],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

export async function measureMatmulPeak(opts: { size?: number; runs?: number; warmup?: number; threads: number }): Promise<MatmulPeak> {
  const n = opts.size ?? 1024;
  const runs = opts.runs ?? 10;
  const session = await ort.InferenceSession.create(matmulModel(n, n, n), {
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  try {
    const a = new Float32Array(n * n);
    for (let i = 0; i < a.length; i++) a[i] = ((i * 104729) % 1000) / 1000 - 0.5;
    const feeds = { A: new ort.Tensor('float32', a, [n, n]) };
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
    return { gflops: flops / times[0] / 1e9, medianGflops: flops / times[Math.floor(times.length / 2)] / 1e9, shape: [n, n, n], threads: opts.threads, runs };
  } finally {
    await session.release();
  }
}
