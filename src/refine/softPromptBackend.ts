import * as ort from 'onnxruntime-node';
import { MaskedLmBackend } from '../model/backend';
import { WordEmbeddings } from '../model/graph/embedsInput';
import { checkInputs, createSession, maskHeadFeeds, runLabelLogits, SessionBackend } from '../model/onnxBackend';
import { EncodedRow } from '../prompt/encode';

/**
 * Scores rows through the inputs-embeds model (`prepareEmbedsModel`): every token is looked up
 * in the word-embedding table except the slot tokens, whose vectors come from the soft prompt.
 * Implements MaskedLmBackend, so scorePrompt (batching, metrics) is reused unchanged.
 */
export class SoftPromptBackend extends SessionBackend implements MaskedLmBackend {
  readonly kind = 'soft-prompt';
  /** Row-major [slot tokens × hidden]; null scores the discrete tokens (the table's rows). */
  soft: Float32Array | null = null;

  private constructor(
    session: ort.InferenceSession,
    maxLength: number,
    padId: number,
    private readonly emb: WordEmbeddings,
  ) {
    super(session, maxLength, padId);
  }

  static async load(
    embedsModelPath: string,
    emb: WordEmbeddings,
    maxLength: number,
    padId: number,
    threads?: number,
  ): Promise<SoftPromptBackend> {
    const session = await createSession(embedsModelPath, { threads });
    checkInputs(
      session,
      embedsModelPath,
      ['inputs_embeds', 'attention_mask', 'mask_index', 'label_ids'],
      'the prepared soft-prompt model',
    );
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
        if (pos.length * h !== this.soft.length)
          throw new Error(`soft prompt has ${this.soft.length / h} vectors, the row has ${pos.length} slot tokens`);
        pos.forEach((p, k) => out.set(this.soft!.subarray(k * h, (k + 1) * h), (b * length + p) * h));
      }
    });
    return out;
  }

  async labelLogits(rows: EncodedRow[], labelIds: number[]): Promise<Float32Array> {
    // input_ids too where the rewrite kept it: RoBERTa derives position ids from it (padding).
    const { feeds, length } = maskHeadFeeds(this.session, rows, this.padId, labelIds);
    feeds.inputs_embeds = new ort.Tensor('float32', this.embed(rows, length), [rows.length, length, this.emb.hidden]);
    return runLabelLogits(this.session, feeds);
  }
}
