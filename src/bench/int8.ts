/**
 * The int8 rows of `npm run bench`: whether a sentence's int8 scores depend on the sentences
 * batched with it, with the activations quantized per tensor (as exported: one scale per batch)
 * and per row (model/graph/rowQuant.ts, the default).
 */
import { Example } from '../data/tsv';
import { ActivationQuant } from '../model/graph/preparedCache';
import { loadModel } from '../model/load';
import { buildRow, compileTemplate, encodeExample } from '../prompt/encode';
import { parseTemplate } from '../prompt/template';
import { labelLogitsForRows } from '../scoring/scorer';

export interface BatchDependence {
  activations: ActivationQuant;
  n: number;
  /** Sentences whose label logits differ (bit for bit) scored alone vs in the batched run. */
  differAlone: number;
  /** ... of which the predicted label differs. */
  labelChanges: number;
}

/** Scores `examples` batched as every path does, then each alone, and counts the differences. */
export async function batchDependence(
  activations: ActivationQuant,
  template: string,
  labelWords: string[],
  examples: Example[],
  textColumn: string,
  threads: number,
): Promise<BatchDependence> {
  const model = await loadModel({ dtype: 'int8', activations, threads });
  try {
    const ids = labelWords.map((w) => model.tokenizer.labelWordId(w));
    const ct = compileTemplate(parseTemplate(template), model.tokenizer, textColumn, model.maxLength);
    const rows = examples.map((ex) => buildRow(ct, encodeExample(ct, model.tokenizer, ex), {}));
    const batched = await labelLogitsForRows(model.backend, rows, ids);
    const k = ids.length;
    const argmax = (v: ArrayLike<number>, off: number) =>
      Array.from({ length: k }, (_, j) => v[off + j]).reduce((b, x, j, a) => (x > a[b] ? j : b), 0);
    let differAlone = 0;
    let labelChanges = 0;
    for (let i = 0; i < rows.length; i++) {
      const alone = await model.backend.labelLogits([rows[i]], ids);
      if (Array.from(alone).some((v, j) => v !== batched[i * k + j])) differAlone++;
      if (argmax(alone, 0) !== argmax(batched, i * k)) labelChanges++;
    }
    return { activations, n: rows.length, differAlone, labelChanges };
  } finally {
    await model.dispose();
  }
}
