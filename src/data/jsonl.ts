import { UserError } from '../errors';
import { Table, TableRow } from './table';

/** One JSON object per line (JSON Lines); blank lines skipped. Columns: every key seen, in first-seen order. */
export function parseJsonlTable(text: string, file: string): Table {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const rows: TableRow[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v))
      throw new UserError(`${where}: expected a JSON object per line`);
    rows.push({ where, cells: v as Record<string, unknown> });
  });
  if (rows.length === 0) throw new UserError(`${file}: empty file (expected one JSON object per line)`);
  return { file, format: 'jsonl', columns: columnsOf(rows), rows };
}

export function columnsOf(rows: TableRow[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.cells)) seen.add(k);
  return [...seen];
}
