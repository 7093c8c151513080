import type { Argv } from 'yargs';
import { DEFAULT_DTYPE, DEFAULT_MODEL, DTYPES } from '../model/modelFolder';

/** Options every command that loads a model shares. */
export function modelOptions<T>(y: Argv<T>) {
  return y
    .option('model', { type: 'string', default: DEFAULT_MODEL, describe: 'bundled model name, or a model folder (config.json, tokenizer.json, onnx/model*.onnx)' })
    .option('dtype', { choices: DTYPES, default: DEFAULT_DTYPE, describe: 'fp32 (onnx/model.onnx) or int8 (onnx/model_quantized.onnx)' })
    .option('scorer', { choices: ['mask-head', 'full'] as const, default: 'mask-head' as const, describe: 'mask-head: rewritten graph computing only the label logits at the mask (fast; causal models also reuse each input prefix); full: the model as exported' })
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

/**
 * Runs `work` with graceful Ctrl-C (and SIGTERM): the first signal prints `message` and makes
 * `stopRequested()` true so long work stops at its next checkpoint and saves what it has; a
 * second signal exits at once (130).
 */
export async function withGracefulStop<T>(message: string, work: (stopRequested: () => boolean) => Promise<T>): Promise<T> {
  let stop = false;
  const onSignal = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write(`\npromptsearch: ${message} (Ctrl-C again to abort)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(() => stop);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
