import type { Argv } from 'yargs';
import { readTable } from '../../data/read';
import { DATA_FORMATS, Table, toExamples, toFieldRows } from '../../data/table';
import { TASKS } from '../../data/tasks';
import { UserError } from '../../errors';
import { DTYPES, Dtype } from '../../model/modelFolder';
import { Prediction, loadPrompt } from '../../export/applyPrompt';
import { checkFlags } from '../common';
import { PromptFile, readPromptFile } from '../../export/promptFile';
import { parseTemplate } from '../../prompt/template';
import { writeFileAtomic } from '../../runner/atomic';

export const command = 'predict';
export const describe =
  'Classify texts with an exported prompt file (a data file with or without labels, or lines on stdin)';

const OUTPUT_FORMATS = ['jsonl', 'csv'] as const;

export function builder(y: Argv) {
  return y
    .option('prompt', {
      type: 'string',
      demandOption: true,
      describe: 'prompt file from `promptsearch export` (of an array: the first, best, prompt)',
    })
    .option('data', {
      type: 'string',
      describe:
        'inputs: .tsv/.csv with a header line, .jsonl (one object per line) or .json (array of objects); without it, one input per line is read from stdin (blank lines skipped)',
    })
    .option('data-format', {
      choices: DATA_FORMATS,
      describe: 'format of --data (default: by extension; other extensions read as TSV)',
    })
    .option('text-column', {
      type: 'string',
      describe: "the column {x} reads (default: the run's text column, 'sentence' or 'text')",
    })
    .option('label-column', {
      type: 'string',
      describe:
        "if --data has this column (label ids or the prompt's label names), accuracy is printed to stderr (default: the run's label column, else 'label')",
    })
    .option('format', {
      choices: OUTPUT_FORMATS,
      describe:
        'output: one row per input with text, label, score, labelId, scores (CSV: scores as a JSON list); default: by --out extension, else jsonl',
    })
    .option('top-k', {
      type: 'number',
      describe: "keep the K best labels in 'scores' (default: all), like the Hugging Face pipeline's top_k",
    })
    .option('out', { type: 'string', describe: 'write here instead of stdout' })
    .option('model', {
      type: 'string',
      describe:
        "override the prompt's model (name or folder); a different model is warned about (an error for soft prompts)",
    })
    .option('dtype', { choices: DTYPES, describe: "override the prompt's dtype" })
    .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: all cores)' })
    .option('force', {
      type: 'boolean',
      default: false,
      describe:
        "apply the prompt with a model whose tokenizer differs from the prompt's (its token ids then mean other words)",
    })
    .example(
      '$0 predict --prompt prompt.json --data datasets/examples/sst2-test.tsv',
      'labeled TSV: JSON lines on stdout, accuracy on stderr',
    )
    .example(
      '$0 predict --prompt prompt.json --data datasets/examples/sst2-test.csv --out predictions.csv',
      'a CSV (label names or ids, or no label column) to a CSV',
    )
    .example(
      '$0 predict --prompt prompt.json --data datasets/examples/sst2-test.jsonl --top-k 1',
      'JSON Lines in ({"sentence": ...} per line), only the best label in scores',
    )
    .example(
      '$0 predict --prompt prompt.json --data datasets/examples/sst2-test.json',
      'a JSON array of {"sentence": ...} objects',
    )
    .example(
      'echo "a gorgeous, witty film" | $0 predict --prompt prompt.json --format csv',
      'raw text lines from stdin',
    );
}

type Args = Awaited<ReturnType<typeof builder>['argv']>;

/** Inputs keyed by template field (`x` for `{x}`), and gold labels when the data has them. */
interface Inputs {
  rows: Record<string, string>[];
  labels?: number[];
  origin: string;
  /** Which columns of the data file were read, for one stderr line. */
  columns?: string;
}

export async function handler(argv: Args): Promise<void> {
  checkFlags(argv, { threads: 'positiveInt' });
  const prompt = readPromptFile(argv.prompt);
  const format = argv.format ?? (argv.out?.toLowerCase().endsWith('.csv') ? 'csv' : 'jsonl');
  if (argv['top-k'] !== undefined && (!Number.isInteger(argv['top-k']) || argv['top-k'] < 1))
    throw new UserError(`--top-k ${argv['top-k']}: expected a positive integer`);
  const input = argv.data
    ? readFileInputs(readTable(argv.data, argv['data-format']), prompt, argv['text-column'], argv['label-column'])
    : linesToInputs(await readStdin(), prompt);
  if (input.rows.length === 0) throw new UserError(`${input.origin}: no input to classify`);
  if (input.columns) process.stderr.write(`promptsearch: ${input.columns}\n`);
  const loaded = await loadPrompt(prompt, {
    model: argv.model,
    dtype: argv.dtype as Dtype | undefined,
    threads: argv.threads,
    force: argv.force,
    warn: (message) => process.stderr.write(`promptsearch: warning: ${message}\n`),
  });
  let predictions: Prediction[];
  try {
    predictions = await loaded.classify(input.rows, { topK: argv['top-k'] });
  } finally {
    await loaded.dispose();
  }
  const text = format === 'csv' ? toCsv(predictions) : toJsonl(predictions);
  if (argv.out) writeFileAtomic(argv.out, text);
  else process.stdout.write(text);
  if (input.labels) process.stderr.write(accuracyLine(predictions, input.labels, input.origin) + '\n');
}

export function accuracyLine(predictions: Prediction[], labels: number[], origin: string): string {
  const correct = predictions.filter((p, i) => p.labelId === labels[i]).length;
  return `accuracy ${(correct / labels.length).toFixed(4)} (${correct}/${labels.length} correct, gold labels from ${origin})`;
}

function templateFields(prompt: PromptFile): string[] {
  return [...new Set(parseTemplate(prompt.template).inputs)];
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    process.stderr.write(
      'promptsearch: reading inputs from stdin, one per line (Ctrl-D to end; or give --data FILE)\n',
    );
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function linesToInputs(text: string, prompt: PromptFile): Inputs {
  const other = templateFields(prompt).filter((f) => f !== 'x');
  if (other.length)
    throw new UserError(
      `the template reads ${other.map((f) => `{${f}}`).join(', ')}: give --data FILE with those columns`,
    );
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  return { rows: lines.map((x) => ({ x })), origin: 'stdin' };
}

/** The run's label column (its config's `data.labelColumn`), from the prompt file's `search`; undefined when the run named none. */
export function runLabelColumn(prompt: PromptFile): string | undefined {
  const c = prompt.search?.data?.labelColumn;
  return typeof c === 'string' && c !== '' ? c : undefined;
}

/**
 * A data file whose label column is optional (ids or the prompt's label names); rows in file
 * order. The label column: `--label-column`, else the run's (the prompt file's `search.data`),
 * else `label`.
 */
function readFileInputs(
  table: Table,
  prompt: PromptFile,
  textColumn: string | undefined,
  givenLabelColumn: string | undefined,
): Inputs {
  const file = table.file;
  const runLabel = runLabelColumn(prompt);
  const labelColumn =
    givenLabelColumn ?? (runLabel !== undefined && table.columns.includes(runLabel) ? runLabel : 'label');
  const labelWhy =
    givenLabelColumn !== undefined
      ? '--label-column'
      : labelColumn === runLabel
        ? "the run's label column"
        : runLabel !== undefined
          ? `the run's '${runLabel}' is not in this file`
          : "the run's";
  const needsX = templateFields(prompt).includes('x');
  const col = needsX ? pickTextColumn(file, table.columns, prompt, textColumn, labelColumn) : undefined;
  const required = [...templateFields(prompt).filter((f) => f !== 'x'), ...(col ? [col] : [])];
  const labeled = table.columns.includes(labelColumn);
  const examples = labeled
    ? toExamples(table, { labelColumn, requiredColumns: required, labelNames: prompt.labels.map((l) => l.name) })
    : toFieldRows(table, required).map((fields) => ({ fields, label: -1 }));
  const rows = examples.map((e) => (col ? { ...e.fields, x: e.fields[col] } : e.fields));
  const runText =
    prompt.search?.data?.textColumn ?? (prompt.search?.task ? TASKS[prompt.search.task]?.textColumn : undefined);
  const textWhy = textColumn !== undefined ? ' (--text-column)' : col === runText ? " (the run's text column)" : '';
  const text = col ? `text from column '${col}'${textWhy}` : `columns ${required.map((c) => `'${c}'`).join(', ')}`;
  const missing = givenLabelColumn ?? runLabel ?? 'label';
  const labels = labeled
    ? `labels from column '${labelColumn}' (${labelWhy})`
    : `no label column '${missing}': no accuracy`;
  const columns = `${file}: ${text}, ${labels}`;
  if (!labeled) return { rows, origin: file, columns };
  return { rows, labels: examples.map((e) => e.label), origin: `the '${labelColumn}' column of ${file}`, columns };
}

/** --text-column, else the run's text column, 'sentence' or 'text', else the only non-label column. */
function pickTextColumn(
  file: string,
  header: string[],
  prompt: PromptFile,
  given: string | undefined,
  labelColumn: string,
): string {
  if (given !== undefined) {
    if (!header.includes(given)) throw new UserError(`${file}: no '${given}' column (columns: ${header.join(', ')})`);
    return given;
  }
  const s = prompt.search;
  const runColumn = s?.data?.textColumn ?? (s?.task ? TASKS[s.task]?.textColumn : undefined);
  const found = [runColumn, 'sentence', 'text'].find((c) => c !== undefined && header.includes(c));
  if (found) return found;
  const others = header.filter((h) => h !== labelColumn);
  if (others.length === 1) return others[0];
  throw new UserError(`${file}: which column is the text? (columns: ${header.join(', ')}); set --text-column`);
}

/** The fields of every output row, in this order, in both formats. */
export const PREDICTION_FIELDS = ['text', 'label', 'score', 'labelId', 'scores'] as const;

function toJsonl(predictions: Prediction[]): string {
  return predictions
    .map((p) => JSON.stringify(Object.fromEntries(PREDICTION_FIELDS.map((f) => [f, p[f]]))) + '\n')
    .join('');
}

/** RFC 4180 CSV with the JSONL field names; `scores` is its JSON list in one cell. */
function toCsv(predictions: Prediction[]): string {
  const lines = predictions.map((p) =>
    PREDICTION_FIELDS.map((f) => csvCell(typeof p[f] === 'object' ? JSON.stringify(p[f]) : p[f])).join(','),
  );
  return [PREDICTION_FIELDS.join(','), ...lines].join('\n') + '\n';
}

function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
