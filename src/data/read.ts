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

/** Reads a data file in `format` (default: by extension, see formatOf). */
export function readTable(file: string, format?: string): Table {
  return parseTable(readText(file), file, formatOf(file, format));
}

export function parseTable(text: string, file: string, format: DataFormat): Table {
  return PARSERS[format](text, file);
}
