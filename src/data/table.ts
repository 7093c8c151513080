import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';

/** One labeled example: the text fields by column name, and the integer label. */
export interface Example {
  fields: Record<string, string>;
  label: number;
}

/** The data file formats promptsearch reads (one reader module each: tsv.ts, csv.ts, jsonl.ts, json.ts). */
export const DATA_FORMATS = ['tsv', 'csv', 'jsonl', 'json'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

/** One row of a data file: its cells by column, and where it is (`file:line`) for error messages. */
export interface TableRow {
  where: string;
  cells: Record<string, unknown>;
}

/** A data file read into rows, whatever its format. */
export interface Table {
  file: string;
  format: DataFormat;
  columns: string[];
  rows: TableRow[];
}

/** The format of `file`: `given`, else its extension (.csv, .jsonl/.ndjson, .json); anything else reads as TSV. */
export function formatOf(file: string, given?: string): DataFormat {
  if (given !== undefined) {
    if (!(DATA_FORMATS as readonly string[]).includes(given))
      throw new UserError(`format '${given}': expected one of ${DATA_FORMATS.join(', ')}`);
    return given as DataFormat;
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.json') return 'json';
  return 'tsv';
}

/**
 * A data file's text. A file that is not UTF-8 text (a NUL byte, or bytes that do not decode) is
 * a short error naming the file and the byte offset, never the bytes themselves.
 */
export function readText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    // The absolute path: a relative one does not say where it was looked for.
    throw new UserError(`${path.resolve(file)}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0)
    throw new UserError(
      `${file}: not a text file (binary data at byte ${nul}); expected a data file (.tsv, .csv, .jsonl, .json)`,
    );
  const text = bytes.toString('utf8');
  const bad = text.indexOf('\ufffd');
  if (bad >= 0 && !bytes.includes(Buffer.from('\ufffd')))
    throw new UserError(
      `${file}: not UTF-8 text (undecodable bytes near character ${bad}); expected a data file (.tsv, .csv, .jsonl, .json)`,
    );
  return text;
}

export interface LabelOptions {
  /** Column holding the label; default `label`. */
  labelColumn?: string;
  /** Columns the template needs (e.g. `sentence`); each must exist. */
  requiredColumns?: string[];
  /** Allowed integer labels; a label outside this set is an error naming the line. */
  labels?: number[];
  /**
   * Label names in label order: a label cell may then be a name (its index is the label) or an
   * integer index into this list. Without it, labels must be integers.
   */
  labelNames?: string[];
}

/** The label of one cell: a name from `names` (first), or an integer. Errors name the row. */
export function parseLabel(value: unknown, where: string, opts: LabelOptions): number {
  if (value === undefined || value === null) throw new UserError(`${where}: missing label`);
  if (typeof value !== 'number' && typeof value !== 'string')
    throw new UserError(`${where}: label ${JSON.stringify(value)} is neither an integer nor a name`);
  const raw = String(value).trim();
  if (raw === '') throw new UserError(`${where}: missing label`);
  const names = opts.labelNames;
  if (names) {
    const byName = names.indexOf(raw);
    if (byName >= 0) return byName;
    if (/^-?\d+$/.test(raw)) {
      if (Number(raw) >= 0 && Number(raw) < names.length) return Number(raw);
      throw new UserError(
        `${where}: unknown label ${raw} (expected 0..${names.length - 1} or a name: ${names.join(', ')})`,
      );
    }
    throw new UserError(`${where}: unknown label '${raw}' (expected one of: ${names.join(', ')})`);
  }
  if (!/^-?\d+$/.test(raw)) {
    throw new UserError(
      `${where}: label '${raw}' is not an integer; name the labels in order with --labels (e.g. --labels ${raw},other) or "labels" in the search config`,
    );
  }
  const label = Number(raw);
  if (opts.labels && !opts.labels.includes(label))
    throw new UserError(`${where}: unknown label ${label} (expected one of ${opts.labels.join(', ')})`);
  return label;
}

/**
 * A header line's column names: each named once (a repeated name would let one column hide the
 * other). Unnamed columns may repeat: pandas writes its index column without a name.
 */
export function checkHeader(columns: string[], file: string): string[] {
  columns.forEach((c, i) => {
    if (c !== '' && columns.indexOf(c) !== i)
      throw new UserError(
        `${file}:1: the header names column '${c}' twice (columns ${columns.indexOf(c) + 1} and ${i + 1}); give each column its own name`,
      );
  });
  return columns;
}

/** A cell as text (JSON numbers and booleans become their string). */
export function cellText(value: unknown, where: string, column: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === undefined || value === null) throw new UserError(`${where}: no '${column}' value`);
  throw new UserError(`${where}: '${column}' is not text (found ${Array.isArray(value) ? 'a list' : 'an object'})`);
}

/** Rows → examples: the label column parsed, every other column kept as text. */
export function toExamples(table: Table, opts: LabelOptions = {}): Example[] {
  const labelColumn = opts.labelColumn ?? 'label';
  const { file, columns } = table;
  if (!columns.includes(labelColumn))
    throw new UserError(
      `${file}: no '${labelColumn}' column (columns: ${columns.join(', ')}); set data.labelColumn in a config (--label-column on the command line)`,
    );
  checkColumns(table, opts.requiredColumns ?? []);
  if (table.rows.length === 0) throw new UserError(`${file}: no rows after the header`);
  return table.rows.map((row) => {
    const fields: Record<string, string> = {};
    for (const c of columns)
      if (c !== labelColumn && row.cells[c] !== undefined && row.cells[c] !== null)
        fields[c] = cellText(row.cells[c], row.where, c);
    for (const c of opts.requiredColumns ?? [])
      if (fields[c] === undefined) throw new UserError(`${row.where}: no '${c}' value`);
    return { fields, label: parseLabel(row.cells[labelColumn], row.where, opts) };
  });
}

/** Rows → the text fields only (a file without labels, for predict). */
export function toFieldRows(table: Table, required: string[]): Record<string, string>[] {
  checkColumns(table, required);
  return table.rows.map((row) => {
    const fields: Record<string, string> = {};
    for (const c of table.columns)
      if (row.cells[c] !== undefined && row.cells[c] !== null) fields[c] = cellText(row.cells[c], row.where, c);
    for (const c of required) if (fields[c] === undefined) throw new UserError(`${row.where}: no '${c}' value`);
    return fields;
  });
}

function checkColumns(table: Table, required: string[]): void {
  for (const col of required) {
    if (!table.columns.includes(col))
      throw new UserError(
        `${table.file}: no '${col}' column (columns: ${table.columns.join(', ')}); set data.textColumn in a config (--text-column on the command line)`,
      );
  }
}

/** The LM-BFF files call the text column `sentence` or `text`: whichever the header has. */
export const TEXT_COLUMN_NAMES = ['sentence', 'text'];
export function findTextColumn(header: string[], preferred?: string): string | undefined {
  if (preferred && header.includes(preferred)) return preferred;
  return TEXT_COLUMN_NAMES.find((c) => header.includes(c));
}
