import { UserError } from '../errors';
import { columnsOf } from './jsonl';
import { Table } from './table';

/** A JSON array of objects, e.g. `[{"text": "...", "label": "positive"}, ...]`. Rows are named by index. */
export function parseJsonTable(text: string, file: string): Table {
  let v: unknown;
  try {
    v = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(v))
    throw new UserError(`${file}: expected a JSON array of objects (or use .jsonl, one object per line)`);
  if (v.length === 0) throw new UserError(`${file}: empty array (expected objects with a text and a label)`);
  const rows = v.map((item, i) => {
    const where = `${file}: item ${i}`;
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw new UserError(`${where}: expected an object`);
    return { where, cells: item as Record<string, unknown> };
  });
  return { file, format: 'json', columns: columnsOf(rows), rows };
}
