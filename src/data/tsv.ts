import * as fs from 'fs';
import { UserError } from '../errors';

/** One labeled example: the text fields by column name, and the integer label. */
export interface Example {
  fields: Record<string, string>;
  label: number;
}

export interface TsvOptions {
  /** Column holding the label; default `label`. */
  labelColumn?: string;
  /** Columns the template needs (e.g. `sentence`); each must exist. */
  requiredColumns?: string[];
  /** Allowed labels; a label outside this set is an error naming the line. */
  labels?: number[];
}

/** Parses a labeled TSV with a header line. Every problem is a UserError naming file and line. */
export function parseLabeledTsv(text: string, file: string, opts: TsvOptions = {}): Example[] {
  const labelColumn = opts.labelColumn ?? 'label';
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  if (lines.length === 0) throw new UserError(`${file}: empty file (expected a header line and rows)`);
  const header = lines[0].split('\t').map((h) => h.trim());
  const labelIdx = header.indexOf(labelColumn);
  if (labelIdx < 0) {
    throw new UserError(`${file}: no '${labelColumn}' column (columns: ${header.join(', ')}); set --label-column`);
  }
  for (const col of opts.requiredColumns ?? []) {
    if (!header.includes(col)) {
      throw new UserError(`${file}: no '${col}' column (columns: ${header.join(', ')}); set --text-column`);
    }
  }
  if (lines.length === 1) throw new UserError(`${file}: no rows after the header`);
  const allowed = opts.labels ? new Set(opts.labels) : undefined;
  const examples: Example[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const cells = line.split('\t');
    if (cells.length !== header.length) {
      throw new UserError(`${file}:${i + 1}: expected ${header.length} tab-separated fields, found ${cells.length}`);
    }
    const raw = cells[labelIdx].trim();
    if (!/^-?\d+$/.test(raw)) throw new UserError(`${file}:${i + 1}: label '${raw}' is not an integer`);
    const label = Number(raw);
    if (allowed && !allowed.has(label)) {
      throw new UserError(`${file}:${i + 1}: unknown label ${label} (expected one of ${[...allowed].join(', ')})`);
    }
    const fields: Record<string, string> = {};
    header.forEach((h, j) => {
      if (j !== labelIdx) fields[h] = cells[j];
    });
    examples.push({ fields, label });
  }
  return examples;
}

/**
 * A data file's text. A file that is not UTF-8 text (a NUL byte, or bytes that do not decode) is
 * a short error naming the file and the byte offset, never the bytes themselves.
 */
export function readTextFile(file: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new UserError(`${file}: not a text file (binary data at byte ${nul}); expected a TSV with a header line`);
  const text = bytes.toString('utf8');
  const bad = text.indexOf('\ufffd');
  if (bad >= 0 && !bytes.includes(Buffer.from('\ufffd'))) throw new UserError(`${file}: not UTF-8 text (undecodable bytes near character ${bad}); expected a TSV with a header line`);
  return text;
}

export function readLabeledTsv(file: string, opts: TsvOptions = {}): Example[] {
  return parseLabeledTsv(readTextFile(file), file, opts);
}

/** The header line's column names. Missing or empty file → UserError. */
export function readTsvHeader(file: string): string[] {
  const first = readTextFile(file).split(/\r?\n/, 1)[0];
  if (first.trim() === '') throw new UserError(`${file}: empty file (expected a header line and rows)`);
  return first.split('\t').map((h) => h.trim());
}

/** The LM-BFF files call the text column `sentence` or `text`: whichever the header has. */
export const TEXT_COLUMN_NAMES = ['sentence', 'text'];
export function findTextColumn(header: string[], preferred?: string): string | undefined {
  if (preferred && header.includes(preferred)) return preferred;
  return TEXT_COLUMN_NAMES.find((c) => header.includes(c));
}
