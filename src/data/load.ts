import { UserError } from '../errors';
import { readTable } from './read';
import { Example, Table, findTextColumn, toExamples } from './table';
import { SEEDS, Split, getTask, loadTaskSplit } from './tasks';

/** Where examples come from: a bundled task split, or the user's own file. */
export interface DataSource {
  task?: string;
  seed?: number;
  /** A labeled data file (.tsv, .csv, .jsonl, .json); overrides task/seed for this split. */
  file?: string;
  /** tsv, csv, jsonl or json; default: by the file's extension. */
  format?: string;
  textColumn?: string;
  labelColumn?: string;
  /** Label names in label order (`--labels`, the config's `labels`); labels in the file may be these names. */
  labels?: string[];
  /**
   * The model folder's config.json `id2label` names: used for a file with label names when no
   * other list is given and every name in the file is among them.
   */
  modelLabels?: string[];
}

export interface LoadedData {
  examples: Example[];
  textColumn: string;
  numLabels: number;
  labelNames: string[];
  /** Human-readable origin, for reports. */
  origin: string;
  /** The data file, absolute (undefined for a bundled split). */
  file?: string;
  /** The text columns every example has (all the file's columns but the label column). */
  columns: string[];
  /** Where each example is (`file:line`), for errors about one row; undefined for a bundled split. */
  where?: string[];
}

export function loadExamples(src: DataSource, split: Split): LoadedData {
  if (src.file) {
    const table = readTable(src.file, src.format);
    const labelColumn = src.labelColumn ?? 'label';
    const textColumn = src.textColumn ?? guessTextColumn(table, labelColumn);
    const info = src.task ? getTask(src.task) : undefined;
    const names = src.labels ?? info?.labelNames ?? fittingModelLabels(table, labelColumn, src.modelLabels);
    const examples = toExamples(table, { labelColumn, requiredColumns: [textColumn], labelNames: names });
    const negative = examples.find((e) => e.label < 0);
    if (negative) throw new UserError(`${table.file}: label ${negative.label} is negative (labels are 0, 1, ...)`);
    const maxLabel = examples.reduce((m, e) => Math.max(m, e.label), 0);
    const numLabels = names ? names.length : maxLabel + 1;
    const labelNames = names ?? Array.from({ length: numLabels }, (_, i) => String(i));
    const columns = table.columns.filter((c) => c !== labelColumn);
    return {
      examples,
      textColumn,
      numLabels,
      labelNames,
      origin: src.file,
      file: table.file,
      columns,
      where: table.rows.map((r) => r.where),
    };
  }
  if (!src.task) throw new UserError('no data: give --task NAME (bundled) or --data FILE (.tsv, .csv, .jsonl, .json)');
  const info = getTask(src.task);
  const seed = src.seed ?? SEEDS[0];
  const examples = loadTaskSplit(src.task, split, seed);
  return {
    examples,
    columns: Object.keys(examples[0]?.fields ?? {}),
    textColumn: info.textColumn,
    numLabels: info.labelNames.length,
    labelNames: info.labelNames,
    origin: split === 'test' ? `${src.task}/test` : `${src.task}/16-${seed}/${split}`,
  };
}

/** `--labels a,b,c` (or a list) → names; blanks and duplicates are errors. */
export function parseLabelList(spec: string | string[], where = '--labels'): string[] {
  const names = (Array.isArray(spec) ? spec : spec.split(',')).map((s) => s.trim());
  if (names.length < 2 || names.some((n) => n === ''))
    throw new UserError(`${where}: expected at least 2 label names, comma-separated (e.g. negative,positive)`);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new UserError(`${where}: label '${dup}' is listed twice`);
  return names;
}

/** The model's id2label names, when the file's labels are names and all of them are among these. */
function fittingModelLabels(
  table: Table,
  labelColumn: string,
  modelLabels: string[] | undefined,
): string[] | undefined {
  if (!modelLabels || modelLabels.length < 2) return undefined;
  const values = new Set(
    table.rows
      .map((r) => r.cells[labelColumn])
      .filter((v) => typeof v === 'string')
      .map((v) => (v as string).trim()),
  );
  const named = [...values].filter((v) => !/^-?\d+$/.test(v));
  if (named.length === 0) return undefined;
  return named.every((v) => modelLabels.includes(v)) ? modelLabels : undefined;
}

/** `sentence` or `text`, whichever the header has (the LM-BFF files use both). */
function guessTextColumn(table: Table, labelColumn: string): string {
  const found = findTextColumn(table.columns);
  if (found) return found;
  const others = table.columns.filter((h) => h !== labelColumn);
  throw new UserError(
    `${table.file}: no 'sentence' or 'text' column (columns: ${table.columns.join(', ')}); set data.textColumn in a config (--text-column on the command line) to one of ${others.join(', ')}`,
  );
}
