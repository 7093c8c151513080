import type { Argv } from 'yargs';
import { UserError } from '../errors';
import { DEFAULT_DTYPE, DEFAULT_MODEL } from '../model/modelFolder';
import { DTYPES, SCORERS } from '../runner/schema';

/** Options every command that loads a model shares. */
export function modelOptions<T>(y: Argv<T>) {
  return y
    .option('model', { type: 'string', default: DEFAULT_MODEL, describe: 'bundled model name, or a model folder (config.json, tokenizer.json, onnx/model*.onnx)' })
    .option('dtype', { choices: DTYPES, default: DEFAULT_DTYPE, describe: 'fp32 (onnx/model.onnx) or int8 (onnx/model_quantized.onnx)' })
    .option('scorer', { choices: SCORERS, default: 'mask-head' as const, describe: 'mask-head: rewritten graph computing only the label logits at the mask (fast; causal models also reuse each input prefix); full: the model as exported' })
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
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop) {
      // process.exit() would run native teardown while onnxruntime threads are busy (it can abort,
      // exit 134). Die of the signal itself instead, as a shell expects: exit status 128 + 2.
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
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

type FlagRule = 'positiveInt' | 'int' | 'positive';
const FLAG_TEXT: Record<FlagRule, string> = { positiveInt: 'expected a positive integer', int: 'expected an integer', positive: 'expected a number > 0' };

/** Checks numeric flags before any work starts: `--threads -3: expected a positive integer`, exit 2. */
export function checkFlags(argv: Record<string, unknown>, rules: Record<string, FlagRule>): void {
  for (const [flag, rule] of Object.entries(rules)) {
    const v = argv[flag];
    if (v === undefined) continue;
    const ok = typeof v === 'number' && Number.isFinite(v) && (rule === 'positive' ? v > 0 : Number.isInteger(v) && (rule === 'int' || v >= 1));
    if (!ok) throw new UserError(`--${flag} ${String(v)}: ${FLAG_TEXT[rule]}`);
  }
}
