import { UserError } from '../errors';
import { Example, LabelOptions, Table, TableRow, checkHeader, readText, toExamples } from './table';

export { TEXT_COLUMN_NAMES, findTextColumn } from './table';
export type { Example } from './table';
export type TsvOptions = LabelOptions;

/**
 * Parses a TSV with a header line: cells split on tabs, nothing else. No quoting, on purpose:
 * the bundled LM-BFF files have fields that begin with a quote character (`" the movie ...`),
 * which a CSV-style reader would take for a quoted field. Blank lines are skipped.
 */
export function parseTsvTable(text: string, file: string): Table {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  if (lines.length === 0) throw new UserError(`${file}: empty file (expected a header line and rows)`);
  const columns = lines[0].split('\t').map((h) => h.trim());
  // A CSV read as TSV has one column named like `sentence,label`: say so, not "columns: sentence,label".
  if (columns.length === 1 && columns[0].includes(','))
    throw new UserError(
      `${file}: the header has one column '${columns[0]}' (no tab) — is this a CSV file? rename it .csv, or read it as CSV (eval --format csv, predict --data-format csv, "format": "csv" in a config's data)`,
    );
  checkHeader(columns, file);
  const rows: TableRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const cells = line.split('\t');
    if (cells.length !== columns.length) {
      throw new UserError(`${file}:${i + 1}: expected ${columns.length} tab-separated fields, found ${cells.length}`);
    }
    rows.push({ where: `${file}:${i + 1}`, cells: Object.fromEntries(columns.map((c, j) => [c, cells[j]])) });
  }
  return { file, format: 'tsv', columns, rows };
}

/** Parses a labeled TSV with a header line. Every problem is a UserError naming file and line. */
export function parseLabeledTsv(text: string, file: string, opts: TsvOptions = {}): Example[] {
  return toExamples(parseTsvTable(text, file), opts);
}

export function readLabeledTsv(file: string, opts: TsvOptions = {}): Example[] {
  return parseLabeledTsv(readText(file), file, opts);
}

/** The header line's column names. Missing or empty file → UserError. */
export function readTsvHeader(file: string): string[] {
  const first = readText(file).split(/\r?\n/, 1)[0];
  if (first.trim() === '') throw new UserError(`${file}: empty file (expected a header line and rows)`);
  return first
    .replace(/^\uFEFF/, '')
    .split('\t')
    .map((h) => h.trim());
}
