import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';
import { DATASETS_DIR } from '../paths';
import { Example, findTextColumn, readLabeledTsv, readTsvHeader } from './tsv';

/** A bundled few-shot task (LM-BFF splits, see datasets/README.md). */
export interface TaskInfo {
  name: string;
  textColumn: string;
  labelNames: string[];
  /** The literature's manual prompt, in this engine's template syntax. */
  manualTemplate: string;
  manualLabelWords: string[];
}

export const TASKS: Record<string, TaskInfo> = {
  'sst-2': {
    name: 'sst-2',
    textColumn: 'sentence',
    labelNames: ['negative', 'positive'],
    manualTemplate: '{x} it was [MASK] .',
    manualLabelWords: ['terrible', 'great'],
  },
  'sst-5': {
    name: 'sst-5',
    textColumn: 'sentence',
    labelNames: ['very negative', 'negative', 'neutral', 'positive', 'very positive'],
    manualTemplate: '{x} it was [MASK] .',
    manualLabelWords: ['terrible', 'bad', 'okay', 'good', 'great'],
  },
  agnews: {
    name: 'agnews',
    textColumn: 'text',
    labelNames: ['World', 'Sports', 'Business', 'Sci/Tech'],
    manualTemplate: '[MASK] news : {x}',
    manualLabelWords: ['world', 'sports', 'business', 'tech'],
  },
  trec: {
    name: 'trec',
    textColumn: 'sentence',
    labelNames: ['Description', 'Entity', 'Abbreviation/Expression', 'Human', 'Location', 'Number'],
    manualTemplate: '[MASK] : {x}',
    manualLabelWords: ['description', 'entity', 'expression', 'human', 'location', 'number'],
  },
};

export const SEEDS = [13, 21, 42, 87, 100];
export type Split = 'train' | 'dev' | 'test';

export function getTask(name: string): TaskInfo {
  const t = TASKS[name];
  if (!t)
    throw new UserError(
      `unknown task '${name}' (bundled tasks: ${Object.keys(TASKS).join(', ')}); use --data FILE.tsv for your own`,
    );
  return t;
}

/** Path of a bundled split: train/dev depend on the seed, test is shared by all seeds. */
export function splitPath(task: string, split: Split, seed: number, root = DATASETS_DIR): string {
  getTask(task);
  if (!SEEDS.includes(seed)) throw new UserError(`unknown seed ${seed} (splits exist for ${SEEDS.join(', ')})`);
  const p =
    split === 'test'
      ? path.join(root, '16-shot', task, 'test.tsv')
      : path.join(root, '16-shot', task, `16-${seed}`, `${split}.tsv`);
  if (!fs.existsSync(p)) throw new UserError(`${p}: missing dataset file`);
  return p;
}

export function loadTaskSplit(task: string, split: Split, seed: number): Example[] {
  const info = getTask(task);
  const file = splitPath(task, split, seed);
  // The LM-BFF files name the text column inconsistently (AG News: `text` in train/dev,
  // `sentence` in test); every split is read under the task's own column name.
  const column = findTextColumn(readTsvHeader(file), info.textColumn) ?? info.textColumn;
  const examples = readLabeledTsv(file, { requiredColumns: [column], labels: info.labelNames.map((_, i) => i) });
  if (column === info.textColumn) return examples;
  return examples.map((ex) => {
    const { [column]: text, ...rest } = ex.fields;
    return { label: ex.label, fields: { ...rest, [info.textColumn]: text } };
  });
}
