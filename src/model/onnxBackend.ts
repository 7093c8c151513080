import * as os from 'os';
import * as ort from 'onnxruntime-node';
import { UserError } from '../errors';
import { EncodedRow } from '../prompt/encode';
import { MaskedLmBackend, padBatch } from './backend';

/** Inputs every token-id model (as exported, or mask-head rewritten) takes. */
const TOKEN_INPUTS = ['input_ids', 'attention_mask'];

export interface SessionOptions {
  /** Threads onnxruntime uses inside one session (intra-op). Default: all cores (the pool's workers pass their own, 1 each by default). */
  threads?: number;
}

/**
 * The intra-op threads a session gets: `opts.threads`, else every core the process may use.
 * Not onnxruntime's own default (0): on this project's 2-core AMD EPYC it ran one thread, 1,117
 * sentences/s against 1,329 with 2 (int8, SST-2 test), and the scores are bit-identical either way
 * (fp32 and per-row int8, all 1,821 SST-2 test rows).
 */
export function intraOpThreads(opts: SessionOptions = {}): number {
  return opts.threads ?? os.availableParallelism();
}

/**
 * Opens `path` with the options every backend uses (intra-op threads from `opts`, one inter-op
 * thread, all graph optimizations, sequential execution); a model onnxruntime cannot load is a
 * UserError naming the file.
 */
export async function createSession(path: string, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(path, {
      intraOpNumThreads: intraOpThreads(opts),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
    });
  } catch (e) {
    throw new UserError(`${path}: onnxruntime cannot load this model (${(e as Error).message.split('\n')[0]})`);
  }
}

/** UserError naming the first of `names` the session does not take as an input. */
export function checkInputs(session: ort.InferenceSession, path: string, names: string[], what = 'the model'): void {
  for (const name of names) {
    if (!session.inputNames.includes(name))
      throw new UserError(`${path}: ${what} has no '${name}' input (inputs: ${session.inputNames.join(', ')})`);
  }
}

/**
 * The rows padded to one `length`, as int64 [rows, length] feeds: `attention_mask`, plus `input_ids`
 * and `token_type_ids` when the session takes them (only BERT-style models take segment ids; the
 * inputs-embeds model keeps `input_ids` only where the graph still reads it).
 */
export function tokenFeeds(
  session: ort.InferenceSession,
  rows: EncodedRow[],
  padId: number,
): { feeds: Record<string, ort.Tensor>; length: number } {
  const b = padBatch(rows, padId);
  const dims = [rows.length, b.length];
  const f: Record<string, ort.Tensor> = {};
  if (session.inputNames.includes('input_ids')) f.input_ids = new ort.Tensor('int64', b.ids, dims);
  f.attention_mask = new ort.Tensor('int64', b.mask, dims);
  if (session.inputNames.includes('token_type_ids')) f.token_type_ids = new ort.Tensor('int64', b.types, dims);
  return { feeds: f, length: b.length };
}

/**
 * `tokenFeeds` plus the inputs of a mask-head rewritten model: `mask_index` (flat index
 * `row * length + maskPos` of each row's mask) and `label_ids`.
 */
export function maskHeadFeeds(
  session: ort.InferenceSession,
  rows: EncodedRow[],
  padId: number,
  labelIds: number[],
): { feeds: Record<string, ort.Tensor>; length: number } {
  const { feeds: f, length } = tokenFeeds(session, rows, padId);
  f.mask_index = new ort.Tensor('int64', BigInt64Array.from(rows.map((r, i) => BigInt(i * length + r.maskPos))), [
    rows.length,
  ]);
  f.label_ids = new ort.Tensor('int64', BigInt64Array.from(labelIds.map(BigInt)), [labelIds.length]);
  return { feeds: f, length };
}

/** Runs a mask-head rewritten model: its `label_logits` [rows × labels], copied out of the output tensor. */
export async function runLabelLogits(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
): Promise<Float32Array> {
  const out = await session.run(feeds, ['label_logits']);
  const data = Float32Array.from(out.label_logits.data as Float32Array);
  out.label_logits.dispose();
  return data;
}

/**
 * Runs a mask-head model rewritten with `logSumExp`: label log-probabilities, `label_logits`
 * minus each row's `label_logsumexp` [rows × labels].
 */
export async function runLabelLogProbs(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
): Promise<Float32Array> {
  const out = await session.run(feeds, ['label_logits', 'label_logsumexp']);
  const data = Float32Array.from(out.label_logits.data as Float32Array);
  const lse = out.label_logsumexp.data as Float32Array;
  const k = data.length / lse.length;
  for (let i = 0; i < data.length; i++) data[i] -= lse[Math.floor(i / k)];
  out.label_logits.dispose();
  out.label_logsumexp.dispose();
  return data;
}

/**
 * A session opened on first use from a path prepared on first use (the log-probability graphs:
 * only multi-token label words need them). `release` closes it if it was opened.
 */
export class LazySession {
  private session?: Promise<ort.InferenceSession>;

  constructor(
    private readonly prepare: () => Promise<string>,
    private readonly opts: SessionOptions,
    private readonly inputs: string[],
    private readonly what: string,
  ) {}

  get(): Promise<ort.InferenceSession> {
    this.session ??= (async () => {
      const path = await this.prepare();
      const s = await createSession(path, this.opts);
      checkInputs(s, path, this.inputs, this.what);
      if (!s.outputNames.includes('label_logsumexp'))
        throw new UserError(`${path}: ${this.what} has no 'label_logsumexp' output`);
      return s;
    })();
    return this.session;
  }

  async release(): Promise<void> {
    if (this.session) await (await this.session.catch(() => undefined))?.release();
  }
}

/** What every onnxruntime backend holds: the session (released by `dispose`), the length limit and the pad id. */
export abstract class SessionBackend {
  protected constructor(
    protected readonly session: ort.InferenceSession,
    readonly maxLength: number,
    protected readonly padId: number,
  ) {}

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** The model as exported: full `[batch, seq, vocab]` logits, sliced in JS. The reference path. */
export class FullLogitsBackend extends SessionBackend implements MaskedLmBackend {
  readonly kind = 'full-logits';

  static async load(
    onnxPath: string,
    maxLength: number,
    padId: number,
    opts: SessionOptions = {},
  ): Promise<FullLogitsBackend> {
    const session = await createSession(onnxPath, opts);
    checkInputs(session, onnxPath, TOKEN_INPUTS);
    if (!session.outputNames.includes('logits')) {
      await session.release();
      throw new UserError(
        `${onnxPath}: the model has no 'logits' output (outputs: ${session.outputNames.join(', ')}); export it as a masked LM`,
      );
    }
    return new FullLogitsBackend(session, maxLength, padId);
  }

  async labelLogits(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array> {
    return this.atReadPositions(rows, labelIds, () => 0);
  }

  /** Log-softmax over the vocabulary at each row's read position, of the label ids (computed in JS, float64 sums). */
  async labelLogProbs(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array> {
    return this.atReadPositions(rows, labelIds, (data, base, vocab) => {
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) max = Math.max(max, data[base + v]);
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp(data[base + v] - max);
      return max + Math.log(sum);
    });
  }

  /** The label ids' logits at each row's read position, minus `shift` of that position's vocabulary row. */
  private async atReadPositions(
    rows: EncodedRow[],
    labelIds: number[],
    shift: (data: Float32Array, base: number, vocab: number) => number,
  ): Promise<Float32Array> {
    const { feeds: f, length } = tokenFeeds(this.session, rows, this.padId);
    const out = await this.session.run(f, ['logits']);
    const logits = out.logits;
    const data = logits.data as Float32Array;
    const vocab = logits.dims[2];
    const res = new Float32Array(rows.length * labelIds.length);
    rows.forEach((r, i) => {
      const base = (i * length + r.maskPos) * vocab;
      const s = shift(data, base, vocab);
      labelIds.forEach((id, k) => (res[i * labelIds.length + k] = data[base + id] - s));
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
    if (positions.length !== rows.length)
      throw new Error(`logitsAt: ${rows.length} rows but ${positions.length} position lists`);
    positions.forEach((ps, i) => {
      const bad = ps.find((p) => !Number.isInteger(p) || p < 0 || p >= rows[i].ids.length);
      if (bad !== undefined)
        throw new Error(`logitsAt: position ${bad} is outside row ${i} (length ${rows[i].ids.length})`);
    });
    const { feeds: f, length } = tokenFeeds(this.session, rows, this.padId);
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
}

/**
 * A model rewritten by `prepareMaskHeadModel`: the output head runs only at the mask position and
 * only the label-word logits leave the graph.
 */
export class MaskHeadBackend extends SessionBackend implements MaskedLmBackend {
  readonly kind = 'mask-head';

  /** The same rewrite with the log-sum-exp output (causal models: multi-token label words). */
  private logProbSession?: LazySession;

  /** `opts.logProbs`: prepares the log-probability variant of the graph, on first use. */
  static async load(
    preparedPath: string,
    maxLength: number,
    padId: number,
    opts: SessionOptions & { logProbs?: () => Promise<string> } = {},
  ): Promise<MaskHeadBackend> {
    const session = await createSession(preparedPath, opts);
    checkInputs(session, preparedPath, [...TOKEN_INPUTS, 'mask_index', 'label_ids']);
    const b = new MaskHeadBackend(session, maxLength, padId);
    if (opts.logProbs)
      b.logProbSession = new LazySession(
        opts.logProbs,
        opts,
        [...TOKEN_INPUTS, 'mask_index', 'label_ids'],
        'the log-probability mask-head model',
      );
    return b;
  }

  async dispose(): Promise<void> {
    await this.logProbSession?.release();
    await super.dispose();
  }

  async labelLogits(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array> {
    return runLabelLogits(this.session, maskHeadFeeds(this.session, rows, this.padId, labelIds).feeds);
  }

  /** Causal models: label log-probabilities, through the graph variant with the log-sum-exp output. */
  async labelLogProbs(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array> {
    if (!this.logProbSession)
      throw new UserError('multi-token label words need log-probabilities, which only a causal model gives');
    const session = await this.logProbSession.get();
    return runLabelLogProbs(session, maskHeadFeeds(session, rows, this.padId, labelIds).feeds);
  }
}
