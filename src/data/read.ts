import * as path from 'path';
import { parseCsvTable } from './csv';
import { parseJsonTable } from './json';
import { parseJsonlTable } from './jsonl';
import { DataFormat, Table, formatOf, readText } from './table';
import { parseTsvTable } from './tsv';

const PARSERS: Record<DataFormat, (text: string, file: string) => Table> = {
  tsv: parseTsvTable,
  csv: parseCsvTable,
  jsonl: parseJsonlTable,
  json: parseJsonTable,
};

/**
 * Reads a data file in `format` (default: by extension, see formatOf). The table (and so every
 * error about its rows) names the file by its absolute path: a relative one does not say where.
 */
export function readTable(file: string, format?: string): Table {
  const abs = path.resolve(file);
  return parseTable(readText(abs), abs, formatOf(abs, format));
}

export function parseTable(text: string, file: string, format: DataFormat): Table {
  return PARSERS[format](text, file);
}
