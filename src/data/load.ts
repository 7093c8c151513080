import { UserError } from '../errors';
import { SEEDS, Split, getTask, loadTaskSplit } from './tasks';
import { Example, findTextColumn, readLabeledTsv, readTsvHeader } from './tsv';

/** Where examples come from: a bundled task split, or the user's own TSV. */
export interface DataSource {
  task?: string;
  seed?: number;
  /** A labeled TSV; overrides task/seed for this split. */
  file?: string;
  textColumn?: string;
  labelColumn?: string;
}

export interface LoadedData {
  examples: Example[];
  textColumn: string;
  numLabels: number;
  labelNames: string[];
  /** Human-readable origin, for reports. */
  origin: string;
}

export function loadExamples(src: DataSource, split: Split): LoadedData {
  if (src.file) {
    const textColumn = src.textColumn ?? guessTextColumn(src.file, src.labelColumn);
    const examples = readLabeledTsv(src.file, { labelColumn: src.labelColumn, requiredColumns: [textColumn] });
    const info = src.task ? getTask(src.task) : undefined;
    const maxLabel = examples.reduce((m, e) => Math.max(m, e.label), 0);
    const negative = examples.find((e) => e.label < 0);
    if (negative) throw new UserError(`${src.file}: label ${negative.label} is negative (labels are 0, 1, ...)`);
    const numLabels = info ? info.labelNames.length : maxLabel + 1;
    if (maxLabel >= numLabels) throw new UserError(`${src.file}: unknown label ${maxLabel} (task ${info!.name} has labels 0..${numLabels - 1})`);
    const labelNames = info ? info.labelNames : Array.from({ length: numLabels }, (_, i) => String(i));
    return { examples, textColumn, numLabels, labelNames, origin: src.file };
  }
  if (!src.task) throw new UserError('no data: give --task NAME (bundled) or --data FILE.tsv');
  const info = getTask(src.task);
  const seed = src.seed ?? SEEDS[0];
  return {
    examples: loadTaskSplit(src.task, split, seed),
    textColumn: info.textColumn,
    numLabels: info.labelNames.length,
    labelNames: info.labelNames,
    origin: split === 'test' ? `${src.task}/test` : `${src.task}/16-${seed}/${split}`,
  };
}

/** `sentence` or `text`, whichever the header has (the LM-BFF files use both). */
function guessTextColumn(file: string, labelColumn = 'label'): string {
  const header = readTsvHeader(file);
  const found = findTextColumn(header);
  if (found) return found;
  const others = header.filter((h) => h !== labelColumn);
  throw new UserError(`${file}: no 'sentence' or 'text' column (columns: ${header.join(', ')}); set --text-column to one of ${others.join(', ')}`);
}
