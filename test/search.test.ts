import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { readConfig, validateConfig } from '../src/runner/config';
import { BestResult, runSearch } from '../src/runner/run';
import { CLI, ROOT } from './helpers';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-search-'));
const base = {
  name: 'test-run',
  task: 'sst-2',
  seed: 13,
  template: '{x} <A:2> [MASK] .',
  verbalizer: 'terrible,great',
  strategy: 'genetic',
  strategyParams: { population: 8 },
  candidates: { topK: 16 },
  budget: 1400,
  selectTopK: 2,
};

describe('search config', () => {
  test.each([
    [{ ...base, colour: 'red' }, /unknown field 'colour'/],
    [{ ...base, template: undefined }, /missing field 'template'/],
    [{ ...base, strategy: 'annealing' }, /strategy: expected one of random, beam, genetic, reinforce/],
    [{ ...base, budget: '50k' }, /budget: expected a positive integer/],
    [{ ...base, verbalizer: undefined }, /missing field 'verbalizer'/],
    [{ ...base, candidates: { topk: 3 } }, /unknown field 'topk'/],
    [{ ...base, task: undefined }, /missing field 'task'/],
  ])('rejects bad config %#', (raw, msg) => {
    expect(() => validateConfig(JSON.parse(JSON.stringify(raw)), 'x.json')).toThrow(msg);
  });

  test('every shipped config is valid', () => {
    const dir = path.join(ROOT, 'searches');
    // Leaderboard suites (with `tasks`) live beside search configs; leaderboard.test.ts checks those.
    const files = fs
      .readdirSync(dir)
      .filter(
        (f) =>
          f.endsWith('.json') &&
          !f.endsWith('.schema.json') &&
          !('tasks' in JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))),
      );
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      const c = readConfig(path.join(dir, f));
      // SST-2: the bundled task, or its rows as your own files (datasets/examples, sst2-csv/-jsonl).
      if (c.task === undefined)
        expect(path.relative(ROOT, c.data!.train)).toMatch(/^datasets\/examples\/sst2-train\.\w+$/); // resolved against searches/
      else expect(c.task).toBe('sst-2');
    }
  });

  test('a budget too small for dev selection is refused', async () => {
    await expect(runSearch(validateConfig({ ...base, budget: 70 }, 'x'), { runDir: tmp() })).rejects.toThrow(
      /budget 70 is too small/,
    );
  });
});

// The runs: the bundled SST-2 seed-13 train and dev (what the search and the selection read), and
// the first 200 rows of its test split (scored once for the report): a test pass of 200 rows, not 1,821.
const SST2 = path.join(ROOT, 'datasets', '16-shot', 'sst-2');
const TEST_FILE = path.join(tmp(), 'test200.tsv');
fs.writeFileSync(
  TEST_FILE,
  fs.readFileSync(path.join(SST2, 'test.tsv'), 'utf8').split('\n').slice(0, 201).join('\n') + '\n',
);
const { task: _task, ...withoutTask } = base;
const runBase = {
  ...withoutTask,
  data: { train: path.join(SST2, '16-13', 'train.tsv'), dev: path.join(SST2, '16-13', 'dev.tsv'), test: TEST_FILE },
};

/**
 * A stop once `n` candidates are recorded in `dir` (stopRequested is polled by the pool on a
 * timer too, so counting its calls would stop at a time, not a point of the search).
 */
const afterCandidates = (dir: string, n: number) => () => {
  const f = path.join(dir, 'candidates.jsonl');
  return fs.existsSync(f) && fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).length >= n;
};

describe('search run', () => {
  const runs: Record<string, { best: BestResult; candidates: string }> = {};
  const read = (dir: string) => ({
    best: JSON.parse(fs.readFileSync(path.join(dir, 'best.json'), 'utf8')),
    candidates: fs.readFileSync(path.join(dir, 'candidates.jsonl'), 'utf8'),
  });

  beforeAll(async () => {
    for (const workers of [1, 2]) {
      const dir = tmp();
      await runSearch(validateConfig({ ...runBase, workers, threadsPerWorker: 1 }, 'x'), { runDir: dir });
      runs[workers] = read(dir);
    }
  });

  test('writes the run files and respects the budget exactly', () => {
    const { best, candidates } = runs[1];
    expect(best).toMatchObject({
      version: 2,
      status: 'done',
      result: 'prompt',
      selected: { template: base.template, labelWords: [['terrible'], ['great']] },
    });
    for (const k of ['prompt', 'trainAccuracy', 'devAccuracy', 'testAccuracy', 'evaluations', 'seconds'])
      expect(best).toHaveProperty(k);
    // One prompt: the headline is the selected prompt's.
    expect([best.prompt, best.trainAccuracy, best.devAccuracy, best.testAccuracy]).toEqual([
      best.selected.prompt,
      best.selected.trainAccuracy,
      best.selected.devAccuracy,
      best.selected.testAccuracy,
    ]);
    const lines = candidates
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const trainCost = lines.reduce((s, l) => s + l.cost, 0);
    expect(best.evaluations).toBe(trainCost + 2 * 32);
    expect(best.evaluations as number).toBeLessThanOrEqual(base.budget);
    expect(best.evaluations as number).toBeGreaterThan(base.budget - 32);
    expect(new Set(lines.map((l) => l.key)).size).toBe(lines.length); // nothing scored twice
    // `<A:2>` is exactly two tokens: the genetic strategy must not shorten (or lengthen) the slot.
    for (const l of lines) expect(l.key.split(',')).toHaveLength(2);
  });

  test('same seed, 1 or 2 workers: the same candidates, scores and best prompt', () => {
    expect(runs[2].candidates).toBe(runs[1].candidates);
    const strip = (b: BestResult) => ({ ...b, seconds: 0, runId: '' });
    expect(strip(runs[2].best)).toEqual(strip(runs[1].best));
  });

  test('a stopped run resumes to the result it would have reached uninterrupted', async () => {
    const dir = tmp();
    const config = validateConfig({ ...runBase, workers: 2, threadsPerWorker: 1 }, 'x');
    const first = await runSearch(config, { runDir: dir, stopRequested: afterCandidates(dir, 40) });
    expect(first.status).toBe('interrupted');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')).status).toBe('interrupted');
    // Simulate a crash mid-append: a torn last line must not break the resume.
    fs.appendFileSync(path.join(dir, 'candidates.jsonl'), '{"i": 99, "key": "torn');
    const resumed = await runSearch(config, { runDir: dir, resume: true });
    expect({ ...resumed, seconds: 0 }).toEqual({ ...runs[1].best, seconds: 0, runId: path.basename(dir) });
    expect(read(dir).candidates).toBe(runs[1].candidates);
  });
});

describe('label words from the data (searchVerbalizer method data)', () => {
  const config = validateConfig(
    {
      ...runBase,
      verbalizer: undefined,
      searchVerbalizer: { method: 'data', wordsPerLabel: 3 },
      workers: 1,
      threadsPerWorker: 1,
    },
    'x',
  );
  let dir: string;
  let best: BestResult;

  beforeAll(async () => {
    dir = tmp();
    best = await runSearch(config, { runDir: dir });
  });

  test('chosen before the search, recorded in space.json, read by every candidate and the result', () => {
    const space = JSON.parse(fs.readFileSync(path.join(dir, 'space.json'), 'utf8'));
    expect(space.labelIds).toEqual(best.selected.labelIds);
    expect(best.selected.labelWords.map((ws) => ws.length)).toEqual([3, 3]);
    expect(best.selected.labelWords[0].filter((w) => best.selected.labelWords[1].includes(w))).toEqual([]);
    // Only the slot is searched: one group, and every candidate reads the same words.
    expect(space.groups.map((g: { name: string }) => g.name)).toEqual(['A']);
    const lines = fs
      .readFileSync(path.join(dir, 'candidates.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(new Set(lines.map((l) => l.labelWords.join('|')))).toEqual(
      new Set([best.selected.labelWords.map((ws) => ws.join('/')).join('|')]),
    );
    // No slot proposes a chosen label word.
    const chosen = new Set(best.selected.labelIds.flat());
    expect(space.groups[0].pools.flat().some((id: number) => chosen.has(id))).toBe(false);
  });

  test("a context that does not fit one of the templates is refused before any template's search runs", async () => {
    const dir = path.join(tmp(), 'run');
    const both = validateConfig(
      {
        ...runBase,
        verbalizer: undefined,
        template: undefined,
        templates: ['{x} <A:2> [MASK] .', '{x} . <A:1> [MASK] .'],
        searchVerbalizer: { method: 'data', context: { A: 'it was' } },
      },
      'x',
    );
    await expect(runSearch(both, { runDir: dir })).rejects.toThrow(
      "findLabelWords.context for template '{x} . <A:1> [MASK] .': slot <A:1> holds at most 1 token(s); 'it was' is 2",
    );
    expect(fs.existsSync(dir)).toBe(false);
    // Too short for a later template's slot: refused before the first template's search too.
    const short = validateConfig(
      {
        ...runBase,
        verbalizer: undefined,
        template: undefined,
        templates: ['{x} <A:2> [MASK] .', '<A:2> [MASK] : {x}'],
        searchVerbalizer: { method: 'data', context: [{ A: 'it was' }, { A: 'so' }] },
      },
      'x',
    );
    await expect(runSearch(short, { runDir: dir })).rejects.toThrow(
      "findLabelWords.context for template '<A:2> [MASK] : {x}': slot <A:2> needs 2 token(s) while proposing label words, got 1",
    );
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('a list of contexts gives each template its own: each reads its words where a search of that template alone with that context does', async () => {
    const templates = ['{x} <A:2> [MASK] .', '{x} . <A:1> [MASK] .'];
    const contexts = [{ A: 'it was' }, { A: 'so' }];
    const dir = path.join(tmp(), 'run');
    const multi = validateConfig(
      {
        ...runBase,
        verbalizer: undefined,
        template: undefined,
        templates,
        budget: 600,
        searchVerbalizer: { method: 'data', wordsPerLabel: 3, context: contexts },
        workers: 1,
        threadsPerWorker: 1,
      },
      'x',
    );
    await runSearch(multi, { runDir: dir });
    const words = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'space.json'), 'utf8')).labelIds;
    for (let i = 0; i < templates.length; i++) {
      const alone = tmp();
      const single = validateConfig(
        {
          ...runBase,
          verbalizer: undefined,
          template: templates[i],
          budget: 300,
          searchVerbalizer: { method: 'data', wordsPerLabel: 3, context: contexts[i] },
          workers: 1,
          threadsPerWorker: 1,
        },
        'x',
      );
      // The words are chosen before the search: a run stopped early has recorded them.
      await runSearch(single, { runDir: alone, stopRequested: afterCandidates(alone, 1) });
      expect(words(path.join(dir, `t${i + 1}`))).toEqual(words(alone));
    }
    // The two contexts choose different words (one shared context could not fill both templates).
    expect(words(path.join(dir, 't1'))).not.toEqual(words(path.join(dir, 't2')));
  });

  test('a resumed run reads the recorded words, not new ones; without them it refuses', async () => {
    const stopped = tmp();
    expect((await runSearch(config, { runDir: stopped, stopRequested: afterCandidates(stopped, 10) })).status).toBe(
      'interrupted',
    );
    const spaceFile = path.join(stopped, 'space.json');
    const space = JSON.parse(fs.readFileSync(spaceFile, 'utf8'));
    expect(space.labelIds).toEqual(best.selected.labelIds);
    // The recorded words are the run's: swap the labels' words and the resumed run reads them swapped.
    const swapped = [space.labelIds[1], space.labelIds[0]];
    fs.writeFileSync(spaceFile, JSON.stringify({ ...space, labelIds: swapped }));
    const resumed = (await runSearch(config, { runDir: stopped, resume: true })) as unknown as typeof best;
    expect(resumed.selected.labelIds).toEqual(swapped);
    const noWords = tmp();
    await runSearch(config, { runDir: noWords, stopRequested: afterCandidates(noWords, 10) });
    const { labelIds: _dropped, ...rest } = JSON.parse(fs.readFileSync(path.join(noWords, 'space.json'), 'utf8'));
    fs.writeFileSync(path.join(noWords, 'space.json'), JSON.stringify(rest));
    await expect(runSearch(config, { runDir: noWords, resume: true })).rejects.toThrow(
      /space\.json: no labelIds; this run's label words come from the data/,
    );
    fs.writeFileSync(path.join(noWords, 'space.json'), JSON.stringify({ ...rest, labelIds: [[1, 2], [-5]] }));
    await expect(runSearch(config, { runDir: noWords, resume: true })).rejects.toThrow(
      /space\.json: labelIds: expected 2 lists of token ids, one per label/,
    );
  });
});

describe('search CLI', () => {
  test('Ctrl-C stops cleanly with the best so far, --resume finishes the run', async () => {
    const dir = path.join(tmp(), 'run');
    const cfg = path.join(tmp(), 'cfg.json');
    fs.writeFileSync(cfg, JSON.stringify({ ...runBase, budget: 4000, workers: 1 }));
    const child = spawn(process.execPath, [CLI, 'search', cfg, '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    // Interrupt once the search has scored something.
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        const f = path.join(dir, 'candidates.jsonl');
        if (fs.existsSync(f) && fs.readFileSync(f, 'utf8').split('\n').length > 3) {
          clearInterval(t);
          child.kill('SIGINT');
          resolve();
        }
      }, 100);
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(out).toMatch(/stopping \(what is scored is kept\)/);
    expect(code).toBe(130);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'best.json'), 'utf8')).status).toBe('interrupted');
    const again = spawn(process.execPath, [CLI, 'search', '--resume', dir, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let json = '';
    again.stdout.on('data', (d) => (json += d));
    expect(await new Promise((resolve) => again.on('exit', resolve))).toBe(0);
    const best = JSON.parse(json);
    expect(best.status).toBe('done');
    expect(best.testAccuracy).toBeGreaterThan(0);
  });
});
