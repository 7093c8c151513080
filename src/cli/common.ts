import type { Argv } from 'yargs';
import { DataSource, parseLabelList } from '../data/load';
import { DATA_FORMATS } from '../data/table';
import { UserError } from '../errors';
import { DEFAULT_DTYPE, DEFAULT_MODEL } from '../model/modelFolder';
import { writeRunReport } from '../reports/runReport';
import { DTYPES, SCORERS } from '../runner/schema';

/** Options every command that loads a model shares. */
export function modelOptions<T>(y: Argv<T>) {
  return y
    .option('model', {
      type: 'string',
      default: DEFAULT_MODEL,
      describe: 'bundled model name, or a model folder (config.json, tokenizer.json, onnx/model*.onnx)',
    })
    .option('dtype', {
      choices: DTYPES,
      default: DEFAULT_DTYPE,
      describe: 'fp32 (onnx/model.onnx) or int8 (onnx/model_quantized.onnx)',
    })
    .option('scorer', {
      choices: SCORERS,
      default: 'mask-head' as const,
      describe:
        'mask-head: rewritten graph computing only the label logits at the mask (fast; causal models also reuse each input prefix); full: the model as exported',
    })
    .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: all cores)' });
}

/** Options that pick the data. */
export function dataOptions<T>(y: Argv<T>) {
  return y
    .option('task', { type: 'string', describe: 'bundled task: sst-2, sst-5, agnews, trec (datasets/16-shot/NAME/)' })
    .option('seed', { type: 'number', default: 13, describe: 'data split seed for train/dev (13, 21, 42, 87, 100)' })
    .option('data', {
      type: 'string',
      describe:
        'a labeled data file instead of --task: .tsv or .csv with a header line, .jsonl (one object per line) or .json (array of objects)',
    })
    .option('format', {
      choices: DATA_FORMATS,
      describe: 'format of --data (default: by extension; other extensions read as TSV)',
    })
    .option('text-column', { type: 'string', describe: "text column of --data (default: 'sentence' or 'text')" })
    .option('label-column', {
      type: 'string',
      default: 'label',
      describe: 'label column of --data: integers 0..L-1, or names (see --labels)',
    })
    .option('labels', {
      type: 'string',
      describe:
        "label names in label order, e.g. negative,positive: --data's labels may be these names (without it, --data's labels are integers 0..L-1; --task has its own names)",
    });
}

/** The data options as a DataSource. */
export function dataSourceFromArgs(a: {
  task?: string;
  seed?: number;
  data?: string;
  format?: string;
  'text-column'?: string;
  'label-column'?: string;
  labels?: string;
}): DataSource {
  return {
    task: a.task,
    seed: a.seed,
    file: a.data,
    format: a.format,
    textColumn: a['text-column'],
    labelColumn: a['label-column'],
    labels: a.labels !== undefined ? parseLabelList(a.labels) : undefined,
  };
}

/**
 * Runs `work` with graceful Ctrl-C (and SIGTERM): the first signal prints `message` and makes
 * `stopRequested()` true so long work stops at its next checkpoint and saves what it has; a
 * second signal exits at once (130).
 */
export async function withGracefulStop<T>(
  message: string,
  work: (stopRequested: () => boolean) => Promise<T>,
): Promise<T> {
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
const FLAG_TEXT: Record<FlagRule, string> = {
  positiveInt: 'expected a positive integer',
  int: 'expected an integer',
  positive: 'expected a number > 0',
};

/** Checks numeric flags before any work starts: `--threads -3: expected a positive integer`, exit 2. */
export function checkFlags(argv: Record<string, unknown>, rules: Record<string, FlagRule>): void {
  for (const [flag, rule] of Object.entries(rules)) {
    const v = argv[flag];
    if (v === undefined) continue;
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (rule === 'positive' ? v > 0 : Number.isInteger(v) && (rule === 'int' || v >= 1));
    // yargs reads `--budget abc` as NaN; the user never typed NaN.
    const given = typeof v === 'number' && Number.isNaN(v) ? `--${flag} (not a number)` : `--${flag} ${String(v)}`;
    if (!ok) throw new UserError(`${given}: ${FLAG_TEXT[rule]}`);
  }
}

/** Writes <runDir>/report.html; a failure is a warning (it must not lose the run's result). Returns the path, if written. */
export async function reportAfterRun(runDir: string, threads?: number): Promise<string | undefined> {
  try {
    return await writeRunReport([runDir], { threads });
  } catch (e) {
    process.stderr.write(
      `promptsearch: warning: no report.html (${(e as Error).message}); try: promptsearch report ${runDir}\n`,
    );
    return undefined;
  }
}
