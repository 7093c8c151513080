import type { Argv } from 'yargs';
import { TASKS } from '../../data/tasks';
import { parseLabeledTsv, readTextFile } from '../../data/tsv';
import { UserError } from '../../errors';
import { DTYPES, Dtype } from '../../model/modelFolder';
import { Prediction, loadPrompt } from '../../prompt/applyPrompt';
import { checkFlags } from '../common';
import { PromptFile, readPromptFile } from '../../prompt/promptFile';
import { parseTemplate } from '../../prompt/template';
import { writeFileAtomic } from '../../runner/atomic';

export const command = 'predict';
export const describe = 'Classify texts with an exported prompt file (TSV with or without labels, or lines on stdin)';

export function builder(y: Argv) {
  return y
    .option('prompt', { type: 'string', demandOption: true, describe: 'prompt file from `promptsearch export` (of an array: the first, best, prompt)' })
    .option('data', { type: 'string', describe: 'TSV with a header line; without it, one input per line is read from stdin (blank lines skipped)' })
    .option('text-column', { type: 'string', describe: "the TSV column {x} reads (default: the run's text column, 'sentence' or 'text')" })
    .option('label-column', { type: 'string', default: 'label', describe: 'if the TSV has this column, accuracy is printed to stderr' })
    .option('format', { choices: ['jsonl', 'csv'] as const, default: 'jsonl' as const, describe: 'one row per input: index, label, label name, per-label scores and probabilities' })
    .option('out', { type: 'string', describe: 'write here instead of stdout' })
    .option('model', { type: 'string', describe: "override the prompt's model (name or folder); a different model is warned about (an error for soft prompts)" })
    .option('dtype', { choices: DTYPES, describe: "override the prompt's dtype" })
    .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: all cores)' })
    .option('force', { type: 'boolean', default: false, describe: "apply the prompt with a model whose tokenizer differs from the prompt's (its token ids then mean other words)" })
    .example('$0 predict --prompt prompt.json --data datasets/16-shot/sst-2/test.tsv', 'labeled TSV: predictions on stdout, accuracy on stderr')
    .example('echo "a gorgeous, witty film" | $0 predict --prompt prompt.json --format csv', 'raw text lines from stdin');
}

type Args = Awaited<ReturnType<typeof builder>['argv']>;

/** Inputs keyed by template field (`x` for `{x}`), and gold labels when the data has them. */
interface Inputs {
  rows: Record<string, string>[];
  labels?: number[];
  origin: string;
}

export async function handler(argv: Args): Promise<void> {
  checkFlags(argv, { threads: 'positiveInt' });
  const prompt = readPromptFile(argv.prompt);
  const input = argv.data ? readTsvInputs(argv.data, prompt, argv['text-column'], argv['label-column']) : linesToInputs(await readStdin(), prompt);
  if (input.rows.length === 0) throw new UserError(`${input.origin}: no input to classify`);
  const loaded = await loadPrompt(prompt, { model: argv.model, dtype: argv.dtype as Dtype | undefined, threads: argv.threads, force: argv.force });
  let predictions: Prediction[];
  try {
    predictions = await loaded.classify(input.rows);
  } finally {
    await loaded.dispose();
  }
  const text = argv.format === 'csv' ? toCsv(predictions, prompt) : toJsonl(predictions);
  if (argv.out) writeFileAtomic(argv.out, text);
  else process.stdout.write(text);
  if (input.labels) process.stderr.write(accuracyLine(predictions, input.labels, input.origin) + '\n');
}

export function accuracyLine(predictions: Prediction[], labels: number[], origin: string): string {
  const correct = predictions.filter((p, i) => p.label === labels[i]).length;
  return `accuracy ${(correct / labels.length).toFixed(4)} (${correct}/${labels.length} correct, gold labels from ${origin})`;
}

function templateFields(prompt: PromptFile): string[] {
  return [...new Set(parseTemplate(prompt.template).inputs)];
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('promptsearch: reading inputs from stdin, one per line (Ctrl-D to end; or give --data FILE.tsv)\n');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function linesToInputs(text: string, prompt: PromptFile): Inputs {
  const other = templateFields(prompt).filter((f) => f !== 'x');
  if (other.length) throw new UserError(`the template reads ${other.map((f) => `{${f}}`).join(', ')}: give --data FILE.tsv with those columns`);
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  return { rows: lines.map((x) => ({ x })), origin: 'stdin' };
}

/** Reads a TSV whose label column is optional; rows in file order (the order the run scored them). */
function readTsvInputs(file: string, prompt: PromptFile, textColumn: string | undefined, labelColumn: string): Inputs {
  const text = readTextFile(file);
  const header = text.split(/\r?\n/, 1)[0].split('\t').map((h) => h.trim());
  const needsX = templateFields(prompt).includes('x');
  const col = needsX ? pickTextColumn(file, header, prompt, textColumn, labelColumn) : undefined;
  const required = [...templateFields(prompt).filter((f) => f !== 'x'), ...(col ? [col] : [])];
  const examples = header.includes(labelColumn)
    ? parseLabeledTsv(text, file, { labelColumn, requiredColumns: required, labels: prompt.labels.map((l) => l.id) })
    : parseUnlabeledTsv(text, file, required).map((fields) => ({ fields, label: -1 }));
  const rows = examples.map((e) => (col ? { ...e.fields, x: e.fields[col] } : e.fields));
  if (!header.includes(labelColumn)) return { rows, origin: file };
  return { rows, labels: examples.map((e) => e.label), origin: `the '${labelColumn}' column of ${file}` };
}

/** --text-column, else the run's text column, 'sentence' or 'text', else the only non-label column. */
function pickTextColumn(file: string, header: string[], prompt: PromptFile, given: string | undefined, labelColumn: string): string {
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

/** Same rules as parseLabeledTsv (blank lines skipped, one cell per header column), no label. */
function parseUnlabeledTsv(text: string, file: string, required: string[]): Record<string, string>[] {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  const header = (lines[0] ?? '').split('\t').map((h) => h.trim());
  for (const c of required) if (!header.includes(c)) throw new UserError(`${file}: no '${c}' column (columns: ${header.join(', ')}); set --text-column`);
  const rows: Record<string, string>[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const cells = lines[i].split('\t');
    if (cells.length !== header.length) throw new UserError(`${file}:${i + 1}: expected ${header.length} tab-separated fields, found ${cells.length}`);
    rows.push(Object.fromEntries(header.map((h, j) => [h, cells[j]])));
  }
  return rows;
}

function toJsonl(predictions: Prediction[]): string {
  return predictions.map((p, index) => JSON.stringify({ index, label: p.label, labelName: p.labelName, scores: p.scores, probabilities: p.probabilities }) + '\n').join('');
}

function toCsv(predictions: Prediction[], prompt: PromptFile): string {
  const names = prompt.labels.map((l) => l.name);
  const header = ['index', 'label', 'label_name', ...names.map((n) => `score_${n}`), ...names.map((n) => `prob_${n}`)];
  const lines = predictions.map((p, i) => [i, p.label, p.labelName, ...p.scores, ...p.probabilities].map(csvCell).join(','));
  return [header.map(csvCell).join(','), ...lines].join('\n') + '\n';
}

function csvCell(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
