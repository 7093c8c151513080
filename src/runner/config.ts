import * as fs from 'fs';
import { DataSource, parseLabelList } from '../data/load';
import { UserError } from '../errors';
import { userIoProblem } from './atomic';
import { SearchConfig, parseSearchConfig } from './schema';

/**
 * A search experiment, as written in `searches/*.json` (schema: src/runner/schema.ts, published
 * as searches/search-config.schema.json). Every field but `template`, the data (`task` or
 * `data`), the strategy and the verbalizer (or `searchVerbalizer`) has a default.
 */
export type { SearchConfig } from './schema';

/** Validates a parsed config object and fills defaults. `where` names the file in errors. */
export function validateConfig(raw: unknown, where: string): SearchConfig {
  return parseSearchConfig(raw, where);
}

/** Reads a user-written JSON file: one-line errors naming the file, no raw bytes echoed. */
export function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read the ${what} (${userIoProblem(e) ?? (e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (!text.trim()) throw new UserError(`${file}: empty file (expected the ${what}, JSON)`);
  try {
    return JSON.parse(text);
  } catch (e) {
    const why = (e as Error).message.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
    throw new UserError(`${file}: not valid JSON (${why})`);
  }
}

export function readConfig(file: string): SearchConfig {
  return validateConfig(readJsonFile(file, 'search config'), file);
}

/** Where a config's split comes from (`modelLabels`: the model's id2label names, see DataSource). */
export function configDataSource(c: SearchConfig, split: 'train' | 'dev' | 'test', modelLabels?: string[]): DataSource {
  const common = { task: c.task, labels: c.labels === undefined ? undefined : parseLabelList(c.labels, 'labels'), modelLabels };
  if (c.data) return { ...common, file: c.data[split], format: c.data.format, textColumn: c.data.textColumn, labelColumn: c.data.labelColumn };
  return { ...common, seed: c.seed };
}
