import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { parse } from 'csv-parse/sync';
import { loadExamples } from '../src/data/load';
import { loadPrompt } from '../src/export/applyPrompt';
import { PromptFile, readPromptFile } from '../src/export/promptFile';
import { BestResult } from '../src/runner/run';
import { CLI, ROOT, tinySearchRun } from './helpers';

const TEST_TSV = path.join(ROOT, 'datasets', '16-shot', 'sst-2', 'test.tsv');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-export-'));

function cli(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of a run directory with best.json edited. */
function copyRun(from: string, edit: Partial<BestResult>): string {
  const to = path.join(tmp(), 'run');
  fs.cpSync(from, to, { recursive: true });
  const best = JSON.parse(fs.readFileSync(path.join(to, 'best.json'), 'utf8'));
  fs.writeFileSync(path.join(to, 'best.json'), JSON.stringify({ ...best, ...edit }));
  return to;
}

describe('export and predict', () => {
  let runDir: string;
  let best: BestResult;
  let promptPath: string;

  beforeAll(async () => {
    runDir = path.join(tmp(), 'run');
    best = await tinySearchRun(runDir);
    const r = cli(['export', runDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    promptPath = path.join(runDir, 'prompt.json');
  }, 600_000);

  test('the prompt file holds the run, in the documented schema', () => {
    const p = readPromptFile(promptPath);
    expect(p).toMatchObject({
      schema: 'promptsearch/prompt',
      version: 2,
      template: best.selected.template,
      slots: best.selected.slots,
      calibration: best.selected.calibration,
    });
    expect(p.labels).toEqual([
      { id: 0, name: 'negative', words: ['terrible'], ids: best.selected.labelIds[0] },
      { id: 1, name: 'positive', words: ['great'], ids: best.selected.labelIds[1] },
    ]);
    expect(p.model).toMatchObject({ name: 'bert-mini-imdb-uncased', dtype: 'int8' });
    expect(p.model.onnxSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(p.scores).toEqual({ train: best.trainAccuracy, dev: best.devAccuracy, test: best.testAccuracy });
    expect(p.search).not.toHaveProperty('resolved');
    expect(p.search).toMatchObject({ strategy: 'random', budget: 600 });
    expect(p.source).toEqual({ runDir: path.resolve(runDir), runId: 'run' });
  });

  test("the library API reproduces the run's test accuracy exactly", async () => {
    const test = loadExamples({ task: 'sst-2' }, 'test').examples;
    const warn = jest.fn();
    const loaded = await loadPrompt(promptPath, { threads: 1, warn });
    try {
      const preds = await loaded.classify(test.map((e) => e.fields.sentence));
      const correct = preds.filter((p, i) => p.labelId === test[i].label).length;
      expect(correct / test.length).toBe(best.testAccuracy);
      expect(preds[0].scores).toHaveLength(2);
      expect(preds[0].scores[0].score + preds[0].scores[1].score).toBeCloseTo(1, 6);
      expect(preds[0].label).toBe(['negative', 'positive'][preds[0].labelId]);
      expect(preds[0].text).toBe(test[0].fields.sentence);
    } finally {
      await loaded.dispose();
    }
    expect(warn).not.toHaveBeenCalled();
  });

  test('the CLI reproduces it too (accuracy on stderr, one JSON line per input)', () => {
    const r = cli(['predict', '--prompt', promptPath, '--data', TEST_TSV]);
    expect(r.code).toBe(0);
    const m = r.stderr.match(/^accuracy \d\.\d{4} \((\d+)\/(\d+) correct/m);
    expect(m).not.toBeNull();
    expect(Number(m![1]) / Number(m![2])).toBe(best.testAccuracy);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(Number(m![2]));
    expect(Object.keys(rows[5])).toEqual(['text', 'label', 'score', 'labelId', 'scores']);
    expect(rows[5].text).toBe(loadExamples({ task: 'sst-2' }, 'test').examples[5].fields.sentence);
  });

  test('stdin lines, CSV: the same predictions as the library', async () => {
    const texts = [
      'a gorgeous , witty , seductive movie .',
      'the plot is nothing but boilerplate clichés',
      'it is , by all means , a film',
    ];
    const r = cli(['predict', '--prompt', promptPath, '--format', 'csv'], texts.join('\n\n') + '\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [header, ...lines] = r.stdout.trim().split('\n');
    expect(header).toBe('text,label,score,labelId,scores');
    const loaded = await loadPrompt(promptPath, { threads: 1 });
    const preds = await loaded.classify(texts);
    await loaded.dispose();
    expect(lines).toHaveLength(texts.length);
    const records = parse(r.stdout, { columns: true }) as Record<string, string>[];
    expect(
      records.map((c) => ({
        text: c.text,
        label: c.label,
        score: Number(c.score),
        labelId: Number(c.labelId),
        scores: JSON.parse(c.scores),
      })),
    ).toEqual(preds);
  });

  test('another model: one warning, predictions still run', async () => {
    const warn = jest.fn();
    const loaded = await loadPrompt(promptPath, { dtype: 'fp32', threads: 1, warn });
    const preds = await loaded.classify(['a fine film']);
    await loaded.dispose();
    expect(preds).toHaveLength(1);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(
      /found with model bert-mini-imdb-uncased \(int8\).*differs: onnx sha256 .*will not match/,
    );
    expect(loaded.warnings).toEqual([]);
  });

  test('another model without a warn callback: the warning is kept on the loaded prompt, nothing is written to stderr', async () => {
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const loaded = await loadPrompt(promptPath, { dtype: 'fp32', threads: 1 });
      await loaded.dispose();
      expect(loaded.warnings).toHaveLength(1);
      expect(loaded.warnings[0]).toMatch(/found with model bert-mini-imdb-uncased \(int8\)/);
      expect(write).not.toHaveBeenCalled();
    } finally {
      write.mockRestore();
    }
  });

  test('a prompt file of another schema version: exit 2, one line', () => {
    const p = readPromptFile(promptPath);
    const file = path.join(tmp(), 'v7.json');
    fs.writeFileSync(file, JSON.stringify({ ...p, version: 7 }));
    const r = cli(['predict', '--prompt', file], 'x\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `promptsearch: prompt file ${file} has schema version 7; this promptsearch reads versions 1, 2, 3, 4, 5 and 6\n`,
    );
  });

  test('export errors: missing run dir, unfinished run, several runs without --out', () => {
    const missing = cli(['export', path.join(tmp(), 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^promptsearch: .*nope: no such run directory\n$/);
    const stopped = copyRun(runDir, { status: 'interrupted' });
    const r = cli(['export', stopped]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^promptsearch: .*stopped early .*--resume .*\n$/);
    expect(cli(['export', runDir, runDir]).stderr).toMatch(/give --out FILE\n$/);
  });

  test('several runs: the top K by dev accuracy, ties broken by train accuracy', () => {
    const dev = best.devAccuracy!;
    const betterDev = copyRun(runDir, { runId: 'better-dev', devAccuracy: dev + 0.1, trainAccuracy: 0 });
    const betterTrain = copyRun(runDir, { runId: 'better-train', trainAccuracy: best.trainAccuracy! + 0.1 });
    const out = path.join(tmp(), 'top.json');
    const r = cli(['export', runDir, betterTrain, betterDev, '--top', '2', '--out', out]);
    expect(r.code).toBe(0);
    const list = JSON.parse(fs.readFileSync(out, 'utf8')) as PromptFile[];
    expect(list.map((p) => p.source.runId)).toEqual(['better-dev', 'better-train']);
    expect(readPromptFile(out).source.runId).toBe('better-dev'); // an array reads as its best
  });
});
