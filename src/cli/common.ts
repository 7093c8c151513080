import type { Argv } from 'yargs';
import { DEFAULT_DTYPE, DEFAULT_MODEL, DTYPES } from '../model/modelFolder';

/** Options every command that loads a model shares. */
export function modelOptions<T>(y: Argv<T>) {
  return y
    .option('model', { type: 'string', default: DEFAULT_MODEL, describe: 'bundled model name, or a model folder (config.json, tokenizer.json, onnx/model*.onnx)' })
    .option('dtype', { choices: DTYPES, default: DEFAULT_DTYPE, describe: 'fp32 (onnx/model.onnx) or int8 (onnx/model_quantized.onnx)' })
    .option('scorer', { choices: ['mask-head', 'full'] as const, default: 'mask-head' as const, describe: 'mask-head: rewritten graph computing only the label logits at the mask (fast); full: the model as exported' })
    .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: all cores)' });
}

/** Options that pick the data. */
export function dataOptions<T>(y: Argv<T>) {
  return y
    .option('task', { type: 'string', describe: 'bundled task: sst-2, sst-5, agnews, trec (datasets/16-shot/NAME/)' })
    .option('seed', { type: 'number', default: 13, describe: 'data split seed for train/dev (13, 21, 42, 87, 100)' })
    .option('data', { type: 'string', describe: 'a labeled TSV file with a header line (instead of --task)' })
    .option('text-column', { type: 'string', describe: "text column of --data (default: 'sentence' or 'text')" })
    .option('label-column', { type: 'string', default: 'label', describe: 'label column of --data (integer labels 0..L-1)' });
}
