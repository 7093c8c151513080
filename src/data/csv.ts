import { parse } from 'csv-parse/sync';
import { UserError } from '../errors';
import { Table, TableRow, checkHeader } from './table';

/**
 * Parses a CSV with a header line (RFC 4180: quoted fields may hold commas, quotes doubled as
 * `""`, and line breaks). csv-parse does the quoting rules; a hand-written splitter gets
 * embedded newlines and stray quotes wrong. Rows name their first line, as editors count.
 */
export function parseCsvTable(text: string, file: string): Table {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      info: true,
      skip_empty_lines: true,
      relax_column_count: false,
    }) as unknown as typeof records;
  } catch (e) {
    const err = e as Error & { lines?: number };
    const where = err.lines !== undefined ? `${file}:${err.lines}` : file;
    throw new UserError(
      `${where}: not valid CSV (${err.message.replace(/^Invalid Record Length: /, '').replace(/\s+/g, ' ')})`,
    );
  }
  if (records.length === 0) throw new UserError(`${file}: empty file (expected a header line and rows)`);
  const columns = checkHeader(
    records[0].record.map((h) => h.trim()),
    file,
  );
  const rows: TableRow[] = [];
  for (const { record, info } of records.slice(1)) {
    // info.lines is the line the record ends on; quoted line breaks put its first line earlier.
    const first = info.lines - record.reduce((n, cell) => n + (cell.match(/\n/g)?.length ?? 0), 0);
    rows.push({ where: `${file}:${first}`, cells: Object.fromEntries(columns.map((c, j) => [c, record[j]])) });
  }
  return { file, format: 'csv', columns, rows };
}
