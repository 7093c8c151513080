import * as path from 'path';
import { DataSource, parseLabelList } from '../data/load';
import { readJsonFile } from '../util/jsonFile';
import { SearchConfig, parseSearchConfig } from './schema';

/**
 * A search experiment, as written in `searches/*.json` (schema: src/runner/schema.ts, published
 * as searches/search-config.schema.json, documented in docs/configuration.md). Only the data
 * (`task` or `data`) is required; the rest defaults to the recommended engine (version 2).
 */
export type { SearchConfig } from './schema';

/** Validates a parsed config object and fills defaults. `where` names the file in errors; `notes` collects what the user should be told. */
export function validateConfig(raw: unknown, where: string, notes?: string[]): SearchConfig {
  return parseSearchConfig(raw, where, notes);
}

/**
 * Reads a search config file; a run directory's config.json is accepted as it is (its `resolved`
 * record is set aside). Its data paths (`data.train`, `data.dev`, `data.test`) resolve against the
 * config file's own folder, not the current one, and are made absolute here (so a run's
 * config.json records where the files were).
 */
export function readConfig(file: string, notes?: string[]): SearchConfig {
  let raw = readJsonFile(file, 'search config');
  if (raw && typeof raw === 'object' && !Array.isArray(raw) && 'resolved' in raw) {
    const { resolved: _resolved, ...config } = raw as Record<string, unknown>;
    raw = config;
  }
  return resolveDataPaths(validateConfig(raw, file, notes), path.dirname(path.resolve(file)));
}

/** The config with its data files made absolute against `dir` (absolute ones kept). */
export function resolveDataPaths(c: SearchConfig, dir: string): SearchConfig {
  const d = c.data;
  if (!d) return c;
  return {
    ...c,
    data: {
      ...d,
      train: path.resolve(dir, d.train),
      dev: path.resolve(dir, d.dev),
      ...(d.test !== undefined ? { test: path.resolve(dir, d.test) } : {}),
    },
  };
}

/** Where a config's split comes from (`modelLabels`: the model's id2label names, see DataSource). */
export function configDataSource(c: SearchConfig, split: 'train' | 'dev' | 'test', modelLabels?: string[]): DataSource {
  const common = {
    task: c.task,
    labels: c.labels === undefined ? undefined : parseLabelList(c.labels, 'labels'),
    modelLabels,
  };
  if (c.data)
    return {
      ...common,
      file: c.data[split],
      format: c.data.format,
      textColumn: c.data.textColumn,
      labelColumn: c.data.labelColumn,
    };
  return { ...common, seed: c.seed };
}
