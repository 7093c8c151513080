import { DataSource, parseLabelList } from '../data/load';
import { readJsonFile } from '../util/jsonFile';
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

export function readConfig(file: string): SearchConfig {
  return validateConfig(readJsonFile(file, 'search config'), file);
}

/** Where a config's split comes from (`modelLabels`: the model's id2label names, see DataSource). */
export function configDataSource(c: SearchConfig, split: 'train' | 'dev' | 'test', modelLabels?: string[]): DataSource {
  const common = { task: c.task, labels: c.labels === undefined ? undefined : parseLabelList(c.labels, 'labels'), modelLabels };
  if (c.data) return { ...common, file: c.data[split], format: c.data.format, textColumn: c.data.textColumn, labelColumn: c.data.labelColumn };
  return { ...common, seed: c.seed };
}
