import * as ort from 'onnxruntime-node';
import { UserError } from '../errors';
import { EncodedRow } from '../prompt/encode';
import { MaskedLmBackend, padBatch } from './backend';

export interface SessionOptions {
  /** Threads onnxruntime uses inside one session (intra-op). Default 1 in workers, all cores alone. */
  threads?: number;
}

async function createSession(path: string, opts: SessionOptions): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(path, {
      intraOpNumThreads: opts.threads ?? 0,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
    });
  } catch (e) {
    throw new UserError(`${path}: onnxruntime cannot load this model (${(e as Error).message.split('\n')[0]})`);
  }
}

function feeds(session: ort.InferenceSession, rows: EncodedRow[], padId: number): { feeds: Record<string, ort.Tensor>; length: number } {
  const b = padBatch(rows, padId);
  const dims = [rows.length, b.length];
  const f: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', b.ids, dims),
    attention_mask: new ort.Tensor('int64', b.mask, dims),
  };
  // Only BERT-style models take segment ids; RoBERTa exports have no such input.
  if (session.inputNames.includes('token_type_ids')) f.token_type_ids = new ort.Tensor('int64', b.types, dims);
  return { feeds: f, length: b.length };
}

function checkInputs(session: ort.InferenceSession, path: string, extra: string[] = []): void {
  for (const name of ['input_ids', 'attention_mask', ...extra]) {
    if (!session.inputNames.includes(name)) throw new UserError(`${path}: the model has no '${name}' input (inputs: ${session.inputNames.join(', ')})`);
  }
}

/** The model as exported: full `[batch, seq, vocab]` logits, sliced in JS. The reference path. */
export class FullLogitsBackend implements MaskedLmBackend {
  readonly kind = 'full-logits';
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly maxLength: number,
    private readonly padId: number,
  ) {}

  static async load(onnxPath: string, maxLength: number, padId: number, opts: SessionOptions = {}): Promise<FullLogitsBackend> {
    const session = await createSession(onnxPath, opts);
    checkInputs(session, onnxPath);
    if (!session.outputNames.includes('logits')) {
      await session.release();
      throw new UserError(`${onnxPath}: the model has no 'logits' output (outputs: ${session.outputNames.join(', ')}); export it as a masked LM`);
    }
    return new FullLogitsBackend(session, maxLength, padId);
  }

  async labelLogits(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array> {
    const { feeds: f, length } = feeds(this.session, rows, this.padId);
    const out = await this.session.run(f, ['logits']);
    const logits = out.logits;
    const data = logits.data as Float32Array;
    const vocab = logits.dims[2];
    const res = new Float32Array(rows.length * labelIds.length);
    rows.forEach((r, i) => {
      const base = (i * length + r.maskPos) * vocab;
      labelIds.forEach((id, k) => (res[i * labelIds.length + k] = data[base + id]));
    });
    logits.dispose();
    return res;
  }

  /**
   * Full-vocabulary logits at chosen positions: `result[r][k]` is the logit vector at
   * `positions[r][k]` of row r (copied out, so it outlives the output tensor). Used to propose
   * candidate tokens, where every vocabulary entry matters.
   */
  async logitsAt(rows: EncodedRow[], positions: number[][]): Promise<Float32Array[][]> {
    if (positions.length !== rows.length) throw new Error(`logitsAt: ${rows.length} rows but ${positions.length} position lists`);
    positions.forEach((ps, i) => {
      const bad = ps.find((p) => !Number.isInteger(p) || p < 0 || p >= rows[i].ids.length);
      if (bad !== undefined) throw new Error(`logitsAt: position ${bad} is outside row ${i} (length ${rows[i].ids.length})`);
    });
    const { feeds: f, length } = feeds(this.session, rows, this.padId);
    const out = await this.session.run(f, ['logits']);
    const logits = out.logits;
    const data = logits.data as Float32Array;
    const vocab = logits.dims[2];
    const res = positions.map((ps, i) =>
      ps.map((p) => {
        const base = (i * length + p) * vocab;
        return data.slice(base, base + vocab);
      }),
    );
    logits.dispose();
    return res;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/**
 * A model rewritten by `prepareMaskHeadModel`: the output head runs only at the mask position and
 * only the label-word logits leave the graph.
 */
export class MaskHeadBackend implements MaskedLmBackend {
  readonly kind = 'mask-head';
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly maxLength: number,
    private readonly padId: number,
  ) {}

  static async load(preparedPath: string, maxLength: number, padId: number, opts: SessionOptions = {}): Promise<MaskHeadBackend> {
    const session = await createSession(preparedPath, opts);
    checkInputs(session, preparedPath, ['mask_index', 'label_ids']);
    return new MaskHeadBackend(session, maxLength, padId);
  }

  async labelLogits(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array> {
    const { feeds: f, length } = feeds(this.session, rows, this.padId);
    f.mask_index = new ort.Tensor('int64', BigInt64Array.from(rows.map((r, i) => BigInt(i * length + r.maskPos))), [rows.length]);
    f.label_ids = new ort.Tensor('int64', BigInt64Array.from(labelIds.map(BigInt)), [labelIds.length]);
    const out = await this.session.run(f, ['label_logits']);
    const data = Float32Array.from(out.label_logits.data as Float32Array);
    out.label_logits.dispose();
    return data;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
