import * as ort from 'onnxruntime-node';
import { UserError } from '../errors';
import { MaskedLmBackend, padBatch } from '../model/backend';
import { WordEmbeddings } from '../model/graph/embedsInput';
import { EncodedRow } from '../prompt/encode';

/**
 * Scores rows through the inputs-embeds model (`prepareEmbedsModel`): every token is looked up
 * in the word-embedding table except the slot tokens, whose vectors come from the soft prompt.
 * Implements MaskedLmBackend, so scorePrompt (batching, metrics) is reused unchanged.
 */
export class SoftPromptBackend implements MaskedLmBackend {
  readonly kind = 'soft-prompt';
  /** Row-major [slot tokens × hidden]; null scores the discrete tokens (the table's rows). */
  soft: Float32Array | null = null;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly maxLength: number,
    private readonly padId: number,
    private readonly emb: WordEmbeddings,
  ) {}

  static async load(embedsModelPath: string, emb: WordEmbeddings, maxLength: number, padId: number, threads?: number): Promise<SoftPromptBackend> {
    const session = await ort.InferenceSession.create(embedsModelPath, { intraOpNumThreads: threads ?? 0, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    for (const name of ['inputs_embeds', 'attention_mask', 'mask_index', 'label_ids']) {
      if (!session.inputNames.includes(name)) throw new UserError(`${embedsModelPath}: the prepared soft-prompt model has no '${name}' input`);
    }
    return new SoftPromptBackend(session, maxLength, padId, emb);
  }

  /** [rows × seq × hidden] embeddings, slot positions taken from `soft`. Pure given its inputs. */
  embed(rows: EncodedRow[], length: number): Float32Array {
    const h = this.emb.hidden;
    const out = new Float32Array(rows.length * length * h);
    const row = (t: number) => this.emb.matrix.subarray(t * h, (t + 1) * h);
    rows.forEach((r, b) => {
      for (let j = 0; j < length; j++) out.set(row(j < r.ids.length ? r.ids[j] : this.padId), (b * length + j) * h);
      if (this.soft) {
        const pos = r.slotPos ?? [];
        if (pos.length * h !== this.soft.length) throw new Error(`soft prompt has ${this.soft.length / h} vectors, the row has ${pos.length} slot tokens`);
        pos.forEach((p, k) => out.set(this.soft!.subarray(k * h, (k + 1) * h), (b * length + p) * h));
      }
    });
    return out;
  }

  async labelLogits(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array> {
    const b = padBatch(rows, this.padId);
    const dims = [rows.length, b.length];
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: new ort.Tensor('float32', this.embed(rows, b.length), [...dims, this.emb.hidden]),
      attention_mask: new ort.Tensor('int64', b.mask, dims),
      mask_index: new ort.Tensor('int64', BigInt64Array.from(rows.map((r, i) => BigInt(i * b.length + r.maskPos))), [rows.length]),
      label_ids: new ort.Tensor('int64', BigInt64Array.from(labelIds.map(BigInt)), [labelIds.length]),
    };
    // RoBERTa derives position ids from input_ids (padding), so the rewrite keeps that input there.
    if (this.session.inputNames.includes('input_ids')) feeds.input_ids = new ort.Tensor('int64', b.ids, dims);
    if (this.session.inputNames.includes('token_type_ids')) feeds.token_type_ids = new ort.Tensor('int64', b.types, dims);
    const out = await this.session.run(feeds, ['label_logits']);
    const data = Float32Array.from(out.label_logits.data as Float32Array);
    out.label_logits.dispose();
    return data;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
