import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'csv-parse/sync';
import { loadExamples } from '../src/data/load';
import { parseTable, readTable } from '../src/data/read';
import { toExamples } from '../src/data/table';
import { loadTaskSplit } from '../src/data/tasks';
import { modelLabelNames, resolveModel } from '../src/model/modelFolder';
import { shapePrediction } from '../src/export/prediction';
import { CLI, ROOT } from './helpers';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-formats-'));
const cli = (args: string[], input?: string) =>
  spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
const NAMES = ['negative', 'positive'];

/** RFC 4180 writing, independent of the reader under test. */
const csvCell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The same rows as .tsv (integer labels), .csv and .jsonl and .json (label names). */
function writeAllFormats(
  dir: string,
  base: string,
  rows: { text: string; label: number }[],
): Record<'tsv' | 'csv' | 'jsonl' | 'json', string> {
  const f = (ext: string) => path.join(dir, `${base}.${ext}`);
  fs.writeFileSync(f('tsv'), 'sentence\tlabel\n' + rows.map((r) => `${r.text}\t${r.label}\n`).join(''));
  fs.writeFileSync(
    f('csv'),
    'label,sentence\r\n' + rows.map((r) => `${NAMES[r.label]},${csvCell(r.text)}\r\n`).join(''),
  );
  fs.writeFileSync(
    f('jsonl'),
    rows.map((r) => JSON.stringify({ sentence: r.text, label: NAMES[r.label] }) + '\n').join(''),
  );
  fs.writeFileSync(f('json'), JSON.stringify(rows.map((r) => ({ sentence: r.text, label: NAMES[r.label] }))));
  return { tsv: f('tsv'), csv: f('csv'), jsonl: f('jsonl'), json: f('json') };
}

describe('data readers', () => {
  test('CSV: RFC 4180 quoting (commas, doubled quotes, line breaks in a field), names the line of a bad row', () => {
    const text = 'text,label\n"a, b",positive\n"she said ""wow""",negative\n"two\nlines",1\n\nplain,0\n';
    const t = parseTable(text, 'f.csv', 'csv');
    expect(t.columns).toEqual(['text', 'label']);
    expect(t.rows.map((r) => r.cells.text)).toEqual(['a, b', 'she said "wow"', 'two\nlines', 'plain']);
    expect(t.rows.map((r) => r.where)).toEqual(['f.csv:2', 'f.csv:3', 'f.csv:4', 'f.csv:7']);
    expect(toExamples(t, { labelNames: NAMES }).map((e) => e.label)).toEqual([1, 0, 1, 0]);
    expect(() => parseTable('text,label\nx,1\ny,1,extra\n', 'f.csv', 'csv')).toThrow(/^f\.csv:3: not valid CSV/);
    expect(() => parseTable('text,label\n"open,1\n', 'f.csv', 'csv')).toThrow(/^f\.csv(:\d+)?: not valid CSV/);
  });

  test('JSONL and JSON: objects, numbers as text, errors name the line / item', () => {
    const t = parseTable('{"text": "a", "label": 1}\n\n{"text": 7, "label": "0", "id": 3}\n', 'f.jsonl', 'jsonl');
    expect(t.columns).toEqual(['text', 'label', 'id']);
    expect(toExamples(t)).toEqual([
      { fields: { text: 'a' }, label: 1 },
      { fields: { text: '7', id: '3' }, label: 0 },
    ]);
    expect(() => parseTable('{"text": "a"}\n{oops\n', 'f.jsonl', 'jsonl')).toThrow(/^f\.jsonl:2: not valid JSON/);
    expect(() => parseTable('[1]\n', 'f.jsonl', 'jsonl')).toThrow(/^f\.jsonl:1: expected a JSON object per line/);
    expect(() => toExamples(parseTable('{"label": 1}\n', 'f.jsonl', 'jsonl'), { requiredColumns: ['text'] })).toThrow(
      /no 'text' column/,
    );
    expect(() =>
      toExamples(parseTable('{"text": "a", "label": 1}\n{"label": 0}\n', 'f.jsonl', 'jsonl'), {
        requiredColumns: ['text'],
      }),
    ).toThrow(/^f\.jsonl:2: no 'text' value/);
    expect(
      toExamples(parseTable('[{"text": "a", "label": "positive"}]', 'f.json', 'json'), { labelNames: NAMES }),
    ).toEqual([{ fields: { text: 'a' }, label: 1 }]);
    expect(() => parseTable('{"text": "a"}', 'f.json', 'json')).toThrow(/expected a JSON array of objects/);
    expect(() => toExamples(parseTable('[{"text": "a", "label": true}]', 'f.json', 'json'))).toThrow(
      'f.json: item 0: label true is neither an integer nor a name',
    );
    expect(() => toExamples(parseTable('[{"text": "a"}, {"text": "b", "label": 1}]', 'f.json', 'json'))).toThrow(
      'f.json: item 0: missing label',
    );
    expect(() =>
      toExamples(parseTable('[{"text": "a", "label": "meh"}]', 'f.json', 'json'), { labelNames: NAMES }),
    ).toThrow("f.json: item 0: unknown label 'meh' (expected one of: negative, positive)");
  });

  test('labels: names or ids with a list; names without a list say how to give one', () => {
    const t = parseTable('text\tlabel\na\tpositive\nb\t0\nc\tnegative\n', 'f.tsv', 'tsv');
    expect(toExamples(t, { labelNames: NAMES }).map((e) => e.label)).toEqual([1, 0, 0]);
    expect(() => toExamples(t)).toThrow(
      /f\.tsv:2: label 'positive' is not an integer; name the labels in order with --labels/,
    );
    expect(() => toExamples(parseTable('text\tlabel\na\t2\n', 'f.tsv', 'tsv'), { labelNames: NAMES })).toThrow(
      /f\.tsv:2: unknown label 2 \(expected 0\.\.1 or a name: negative, positive\)/,
    );
  });

  test('by extension or --format; bundled TSV fields that begin with a quote are read verbatim', () => {
    const dir = tmp();
    const data = writeAllFormats(dir, 'd', [
      { text: 'a "quoted", text', label: 1 },
      { text: 'b', label: 0 },
    ]);
    const as = (file: string, format?: string) => loadExamples({ file, format, labels: NAMES }, 'test').examples;
    const want = as(data.tsv);
    expect(want).toEqual([
      { fields: { sentence: 'a "quoted", text' }, label: 1 },
      { fields: { sentence: 'b' }, label: 0 },
    ]);
    for (const f of [data.csv, data.jsonl, data.json]) expect(as(f)).toEqual(want);
    const odd = path.join(dir, 'data.txt');
    fs.copyFileSync(data.csv, odd);
    expect(as(odd, 'csv')).toEqual(want);
    // Other extensions read as TSV; a CSV among them is said to be one.
    expect(() => readTable(odd)).toThrow(
      `${odd}: the header has one column 'label,sentence' (no tab) — is this a CSV file?`,
    );
    const txt = path.join(dir, 'tabs.txt');
    fs.copyFileSync(data.tsv, txt);
    expect(readTable(txt).format).toBe('tsv');
    // AG News test has fields like `"Open Letter ... a ""Music Manifesto"" campaign` (not CSV quoting).
    const raw = fs.readFileSync(path.join(ROOT, 'datasets', '16-shot', 'agnews', 'test.tsv'), 'utf8').split('\n');
    const i = raw.findIndex((l) => l.startsWith('"'));
    expect(i).toBeGreaterThan(0);
    expect(loadTaskSplit('agnews', 'test', 13)[i - 1].fields.text).toBe(raw[i].split('\t')[0]);
  });

  test("label order from the model's config.json id2label, where every name in the file is among them", () => {
    const dir = tmp();
    const bert = resolveModel('bert-mini-imdb-uncased', 'int8');
    fs.cpSync(bert.dir, dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({ ...bert.config, id2label: { 0: 'NEG', 1: 'POS' } }),
    );
    expect(modelLabelNames(resolveModel(dir, 'int8'))).toEqual(['NEG', 'POS']);
    expect(modelLabelNames(bert)).toBeUndefined();
    const f = path.join(dir, 'd.csv');
    fs.writeFileSync(f, 'text,label\na,POS\nb,NEG\n');
    expect(loadExamples({ file: f, modelLabels: ['NEG', 'POS'] }, 'test')).toMatchObject({
      labelNames: ['NEG', 'POS'],
      numLabels: 2,
    });
    expect(loadExamples({ file: f, modelLabels: ['NEG', 'POS'] }, 'test').examples.map((e) => e.label)).toEqual([1, 0]);
    expect(() => loadExamples({ file: f, modelLabels: ['negative', 'positive'] }, 'test')).toThrow(
      /label 'POS' is not an integer/,
    );
    // The CLI reads it from --model.
    const r = cli([
      'eval',
      '--model',
      dir,
      '--data',
      f,
      '--template',
      '{x} it was [MASK] .',
      '--verbalizer',
      'bad,good',
      '--json',
      '--threads',
      '1',
    ]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).labelNames).toEqual(['NEG', 'POS']);
  });
});

describe('shipped examples', () => {
  test('datasets/examples hold the same SST-2 rows in every format; the CSV/JSONL search configs are valid', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, after the suite's setup
    const { readConfig, configDataSource } = require('../src/runner/config') as typeof import('../src/runner/config');
    for (const split of ['train', 'dev', 'test'] as const) {
      const want = loadExamples({ file: path.join(ROOT, 'datasets', 'examples', `sst2-${split}.tsv`) }, split).examples;
      if (split !== 'test') expect(want).toEqual(loadTaskSplit('sst-2', split, 13));
      for (const fmt of ['csv', 'jsonl', ...(split === 'test' ? ['json'] : [])]) {
        expect(
          loadExamples({ file: path.join(ROOT, 'datasets', 'examples', `sst2-${split}.${fmt}`), labels: NAMES }, split)
            .examples,
        ).toEqual(want);
      }
      for (const fmt of ['csv', 'jsonl']) {
        const config = readConfig(path.join(ROOT, 'searches', `sst2-${fmt}.json`));
        expect(config.labels).toEqual(NAMES);
        expect(configDataSource(config, split).file).toBe(
          path.join(ROOT, 'datasets', 'examples', `sst2-${split}.${fmt}`),
        ); // against the config's folder
      }
    }
  });

  test('--help shows an example per format', () => {
    const help = (cmd: string) => cli([cmd, '--help']).stdout;
    const ev = help('eval');
    const pr = help('predict');
    for (const ext of ['tsv', 'csv', 'jsonl', 'json']) {
      expect(ev).toContain(`datasets/examples/sst2-test.${ext} `);
      expect(pr).toContain(`datasets/examples/sst2-test.${ext}`);
    }
    const se = help('search');
    for (const f of ['sst2-beam.json', 'sst2-csv.json', 'sst2-jsonl.json']) expect(se).toContain(f);
  });
});

describe('predictions in the Hugging Face pipeline shape', () => {
  test('label names, best first, top-k, labelId kept', () => {
    const p = shapePrediction({ x: 'hi', y: 'z' }, 2, [0.2, 0.3, 0.5], ['a', 'b', 'c']);
    expect(p).toEqual({
      text: 'hi',
      label: 'c',
      score: 0.5,
      labelId: 2,
      scores: [
        { label: 'c', score: 0.5 },
        { label: 'b', score: 0.3 },
        { label: 'a', score: 0.2 },
      ],
    });
    expect(shapePrediction('t', 0, [0.5, 0.5], ['a', 'b'], { topK: 1 }).scores).toEqual([{ label: 'a', score: 0.5 }]);
  });
});

describe('CSV and JSONL with string labels through eval, search, export and predict', () => {
  const dir = tmp();
  const split = (s: 'train' | 'dev') =>
    loadTaskSplit('sst-2', s, 13).map((e) => ({ text: e.fields.sentence, label: e.label }));
  // 120 test rows keep the run short; sentences with commas and quotes exercise CSV quoting.
  const testRows = loadTaskSplit('sst-2', 'test', 13)
    .slice(0, 120)
    .map((e) => ({ text: e.fields.sentence, label: e.label }));
  testRows.push({ text: 'a "so-called" comedy, without jokes', label: 0 });
  const files = {
    train: writeAllFormats(dir, 'train', split('train')),
    dev: writeAllFormats(dir, 'dev', split('dev')),
    test: writeAllFormats(dir, 'test', testRows),
  };
  const FORMATS = ['tsv', 'csv', 'jsonl'] as const;

  test('eval: the same accuracy from every format (names mapped by --labels)', () => {
    const acc = (file: string) => {
      const r = cli([
        'eval',
        '--data',
        file,
        '--labels',
        'negative,positive',
        '--template',
        '{x} it was [MASK] .',
        '--verbalizer',
        'terrible,great',
        '--json',
        '--threads',
        '1',
      ]);
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout) as { accuracy: number; n: number; labelNames: string[] };
    };
    const tsv = acc(files.test.tsv);
    expect(tsv.n).toBe(testRows.length);
    expect(tsv.labelNames).toEqual(NAMES);
    for (const f of [files.test.csv, files.test.jsonl])
      expect(acc(f)).toMatchObject({ accuracy: tsv.accuracy, n: tsv.n });
    const noLabels = cli([
      'eval',
      '--data',
      files.test.csv,
      '--template',
      '{x} it was [MASK] .',
      '--verbalizer',
      'terrible,great',
    ]);
    expect(noLabels.status).toBe(2);
    expect(noLabels.stderr).toMatch(
      /^promptsearch: .*test\.csv:2: label '(negative|positive)' is not an integer; name the labels in order with --labels/,
    );
    const unknown = cli([
      'eval',
      '--data',
      files.test.csv,
      '--labels',
      'neg,pos',
      '--template',
      '{x} it was [MASK] .',
      '--verbalizer',
      'terrible,great',
    ]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/test\.csv:2: unknown label '(negative|positive)' \(expected one of: neg, pos\)/);
  });

  test('search → export → predict: the same prompt and accuracy; predict output has the pipeline shape in JSONL and CSV', () => {
    const runs: Record<
      string,
      { best: { testAccuracy: number; prompt: string; devAccuracy: number }; prompt: string }
    > = {};
    for (const fmt of FORMATS) {
      const config = path.join(dir, `search-${fmt}.json`);
      fs.writeFileSync(
        config,
        JSON.stringify({
          name: `f-${fmt}`,
          data: { train: files.train[fmt], dev: files.dev[fmt], test: files.test[fmt] },
          labels: fmt === 'tsv' ? 'negative,positive' : NAMES,
          template: '{x} <A:1> [MASK] .',
          verbalizer: 'terrible,great',
          strategy: 'random',
          candidates: { topK: 6 },
          budget: 64 + 5 * 32,
          selectTopK: 2,
          workers: 1,
          threadsPerWorker: 1,
        }),
      );
      const runDir = path.join(dir, `run-${fmt}`);
      const s = cli(['search', config, '--out', runDir, '--json', '--no-report']);
      expect(s.status).toBe(0);
      const ex = cli(['export', runDir]);
      expect(ex.status).toBe(0);
      runs[fmt] = { best: JSON.parse(s.stdout), prompt: path.join(runDir, 'prompt.json') };
      const pf = JSON.parse(fs.readFileSync(runs[fmt].prompt, 'utf8'));
      expect(pf.labels.map((l: { name: string }) => l.name)).toEqual(NAMES);
    }
    for (const fmt of FORMATS) {
      expect(runs[fmt].best.prompt).toBe(runs.tsv.best.prompt);
      expect(runs[fmt].best.testAccuracy).toBe(runs.tsv.best.testAccuracy);
      expect(runs[fmt].best.devAccuracy).toBe(runs.tsv.best.devAccuracy);
    }
    // predict with each input format, gold labels as names: accuracy equals the run's test accuracy.
    const outputs: Record<string, Record<string, unknown>[]> = {};
    for (const fmt of FORMATS) {
      const out = path.join(dir, `pred-${fmt}.jsonl`);
      const r = cli([
        'predict',
        '--prompt',
        runs.csv.prompt,
        '--data',
        files.test[fmt],
        '--out',
        out,
        '--threads',
        '1',
      ]);
      expect(r.status).toBe(0);
      const m = r.stderr.match(/^accuracy \d\.\d{4} \((\d+)\/(\d+) correct/m);
      expect(Number(m![1]) / Number(m![2])).toBe(runs.tsv.best.testAccuracy);
      outputs[fmt] = fs
        .readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
    }
    for (const fmt of ['csv', 'jsonl']) expect(outputs[fmt]).toEqual(outputs.tsv);
    const rows = outputs.jsonl as {
      text: string;
      label: string;
      score: number;
      labelId: number;
      scores: { label: string; score: number }[];
    }[];
    expect(rows.map((r) => r.text)).toEqual(testRows.map((t) => t.text));
    for (const row of rows) {
      expect(Object.keys(row)).toEqual(['text', 'label', 'score', 'labelId', 'scores']);
      expect(row.label).toBe(NAMES[row.labelId]);
      expect(row.scores[0]).toEqual({ label: row.label, score: row.score });
      expect(row.scores[0].score + row.scores[1].score).toBeCloseTo(1, 6);
    }
    const badK = cli(['predict', '--prompt', runs.csv.prompt, '--data', files.test.csv, '--top-k', '0']);
    expect(badK.status).toBe(2);
    expect(badK.stderr).toBe('promptsearch: --top-k 0: expected a positive integer\n');
    // CSV output: the same field names and values (scores as a JSON list), --top-k like the pipeline's.
    const csvOut = path.join(dir, 'pred.csv');
    const r = cli([
      'predict',
      '--prompt',
      runs.csv.prompt,
      '--data',
      files.test.jsonl,
      '--out',
      csvOut,
      '--top-k',
      '1',
      '--threads',
      '1',
    ]);
    expect(r.status).toBe(0);
    const records = parse(fs.readFileSync(csvOut, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(Object.keys(records[0])).toEqual(['text', 'label', 'score', 'labelId', 'scores']);
    expect(
      records.map((c) => ({
        text: c.text,
        label: c.label,
        score: Number(c.score),
        labelId: Number(c.labelId),
        scores: JSON.parse(c.scores),
      })),
    ).toEqual(rows.map((p) => ({ ...p, scores: p.scores.slice(0, 1) })));
  });
});
