import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadExamples } from '../src/data/load';
import { parseLabeledTsv } from '../src/data/tsv';

describe('labeled TSV', () => {
  test('parses fields and labels', () => {
    const ex = parseLabeledTsv('sentence\tlabel\ngood film\t1\nbad\t0\n', 'f.tsv');
    expect(ex).toEqual([
      { fields: { sentence: 'good film' }, label: 1 },
      { fields: { sentence: 'bad' }, label: 0 },
    ]);
  });

  test.each([
    ['', /empty file/],
    ['sentence\tlabel\n', /no rows/],
    ['sentence\ttarget\nx\t1\n', /no 'label' column/],
    ['sentence\tlabel\nx\tpositive\n', /f.tsv:2: label 'positive' is not an integer/],
    ['sentence\tlabel\nx\t1\textra\n', /f.tsv:2: expected 2 tab-separated fields, found 3/],
  ])('rejects malformed input %#', (text, msg) => {
    expect(() => parseLabeledTsv(text, 'f.tsv')).toThrow(msg);
  });

  test('unknown label and missing text column', () => {
    expect(() => parseLabeledTsv('sentence\tlabel\nx\t5\n', 'f.tsv', { labels: [0, 1] })).toThrow(/unknown label 5/);
    expect(() => parseLabeledTsv('review\tlabel\nx\t1\n', 'f.tsv', { requiredColumns: ['sentence'] })).toThrow(
      /no 'sentence' column.*--text-column/,
    );
  });

  test('--data with a task checks labels against the task; without, infers the label count', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-'));
    const f = path.join(dir, 'd.tsv');
    fs.writeFileSync(f, 'text\tlabel\na\t0\nb\t2\n');
    expect(loadExamples({ file: f }, 'test').numLabels).toBe(3);
    expect(() => loadExamples({ file: f, task: 'sst-2' }, 'test')).toThrow(/unknown label 2/);
    expect(() => loadExamples({ file: path.join(dir, 'missing.tsv') }, 'test')).toThrow(/cannot read/);
  });
});

describe('bundled tasks', () => {
  test('every split of every task reads under the task text column (AG News test names it differently)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, after the suite's setup
    const { TASKS, loadTaskSplit } = require('../src/data/tasks') as typeof import('../src/data/tasks');
    for (const task of Object.values(TASKS)) {
      for (const split of ['train', 'dev', 'test'] as const) {
        const ex = loadTaskSplit(task.name, split, 13);
        expect(ex.length).toBeGreaterThan(0);
        expect(typeof ex[0].fields[task.textColumn]).toBe('string');
      }
    }
  });
});
