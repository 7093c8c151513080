import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Suite, baselineSetting, cellConfig, readSuite, runLeaderboard } from '../src/runner/leaderboard';
import { Cell, aggregate, publishedRows, toMarkdown } from '../src/reports/leaderboardTable';
import { meanStd } from '../src/reports/stats';
import { toHtml } from '../src/reports/leaderboardHtml';
import { CLI, ROOT } from './helpers';
import { testIf } from './setup/requires';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-lb-'));
const cell = (method: string, task: string, seed: number, acc: number): Cell => ({
  method,
  task,
  seed,
  testAccuracy: acc,
  devAccuracy: null,
  trainAccuracy: null,
  prompt: '',
  labelWords: [],
  evaluations: 0,
  seconds: 0,
});

describe('leaderboard tables', () => {
  test('mean and sample std over seeds; average over tasks; best per column in bold', () => {
    expect(meanStd([0.7, 0.8, 0.9])).toEqual({ mean: expect.closeTo(0.8, 10), std: expect.closeTo(0.1, 10), n: 3 });
    const cells = [
      cell('a', 't1', 1, 0.7),
      cell('a', 't1', 2, 0.9),
      cell('a', 't2', 1, 0.5),
      cell('b', 't1', 1, 0.6),
      cell('b', 't2', 1, 0.6),
    ];
    const rows = aggregate(cells, ['a', 'b'], ['t1', 't2']);
    expect(rows[0].tasks.t1.mean).toBeCloseTo(0.8, 10);
    expect(rows[0].average).toBeCloseTo(0.65, 10);
    const md = toMarkdown([...rows, ...publishedRows({ Paper: { t1: 95, t2: null } }, ['t1', 't2'])], ['t1', 't2']);
    expect(md).toContain('| a | **80.0 ± 14.1** | 50.0 ± 0.0 | **65.0** |');
    expect(md).toContain('| b | 60.0 ± 0.0 | **60.0 ± 0.0** | 60.0 |');
    expect(md).toContain('| Paper (published, RoBERTa-large) | 95.0 | – | – |'); // never bold: not run here
  });

  test('chart: every seed a dot, axis fitted to the numbers, full method names, reference lines', () => {
    const long = 'beam search with a very long descriptive method name';
    const cells = [
      cell(long, 't', 13, 0.743),
      cell(long, 't', 21, 0.764),
      cell('genetic', 't', 13, 0.75),
      cell('manual', 't', 13, 0.7),
      cell('linear probe', 't', 13, 0.81),
    ];
    const rows = [
      ...aggregate(cells, [long, 'genetic', 'manual', 'linear probe'], ['t']),
      ...publishedRows({ Paper: { t: 95 } }, ['t']),
    ];
    const html = toHtml('x', rows, ['t'], '', { cells, references: { manual: 'manual', 'linear probe': 'probe' } });
    expect(html).toContain(`>${long}</text>`);
    expect(html.match(/<circle class="seed"/g)).toHaveLength(3); // references are lines, not methods
    for (const [m, kind] of [
      ['manual', 'manual'],
      ['linear probe', 'probe'],
      ['Paper', 'published'],
    ])
      expect(html).toMatch(new RegExp(`<line class="ref" data-method="${m}" data-task="t" data-kind="${kind}"`));
    const ticks = [...html.matchAll(/font-size="11">(\d+\.\d)<\/text>/g)].map((m) => Number(m[1]));
    expect(Math.min(...ticks)).toBeGreaterThanOrEqual(60); // not from 0: 74.3 vs 76.4 stays readable
    expect(Math.min(...ticks)).toBeLessThanOrEqual(70);
    expect(Math.max(...ticks)).toBeLessThan(95); // the published 95 sits at the edge, marked ▸
    expect(html).toContain('Paper 95.0 ▸');
  });

  test('suite errors: unknown task, unknown method', () => {
    const dir = tmp();
    const write = (s: object) => {
      const f = path.join(dir, 's.json');
      fs.writeFileSync(f, JSON.stringify(s));
      return f;
    };
    const ok = {
      name: 'x',
      tasks: ['sst-2'],
      seeds: [13],
      base: { template: '{x} <A:1> [MASK] .', verbalizer: 'terrible,great' },
      methods: [{ name: 'm', manual: true }],
    };
    expect(() => readSuite(write({ ...ok, tasks: ['imdb'] }))).toThrow(/unknown task 'imdb'/);
    expect(() => readSuite(write({ ...ok, methods: [{ name: 'sa', strategy: 'annealing' }] }))).toThrow(
      /method 'sa' has unknown strategy 'annealing'/,
    );
    const r = spawnSync(process.execPath, [CLI, 'leaderboard', write({ ...ok, tasks: ['imdb'] })], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  test("a method's config fields reach its cells; a method field given too wins", () => {
    const suite = readSuite(path.join(ROOT, 'searches', 'sst2-table.json'));
    const method = (name: string) => suite.methods.find((m) => m.name === name)!;
    const data = cellConfig(
      suite,
      { ...method('beam'), config: { ...method('beam').config, findLabelWords: { method: 'fromData' } } },
      'sst-2',
      13,
      'x',
    );
    expect(data.findLabelWords).toEqual({ method: 'fromData' });
    const joint = cellConfig(suite, method('beam + label-word search (3 words per label)'), 'sst-2', 13, 'x');
    expect(joint.findLabelWords).toMatchObject({ wordsPerLabel: 3 });
    expect(cellConfig(suite, method('beam'), 'sst-2', 13, 'x').findLabelWords).toBe(false);
    const both = {
      ...method('beam'),
      searchVerbalizer: true,
      config: { searchVerbalizer: { method: 'data' as const } },
    };
    expect(cellConfig(suite, both, 'sst-2', 13, 'x').findLabelWords).toBe(true);
  });

  test('shipped suites are valid', () => {
    for (const f of [
      'leaderboard-mini.json',
      'leaderboard-default.json',
      'leaderboard-default-history.json',
      'leaderboard-roberta-large.json',
      'sst2-table.json',
      'sst2-refine.json',
      'sst2-strategies.json',
    ]) {
      const file = path.join(ROOT, 'searches', f);
      if (f === 'leaderboard-roberta-large.json') {
        // Needs a user-supplied RoBERTa-large export: only the suite's shape is checked.
        const s = JSON.parse(fs.readFileSync(file, 'utf8'));
        expect(s.base.model).toMatch(/roberta-large/);
        continue;
      }
      expect(readSuite(file).methods.length).toBeGreaterThan(1);
    }
  });
});

describe('leaderboard run', () => {
  const suite: Suite = {
    name: 'tiny',
    tasks: ['sst-2'],
    seeds: [13],
    base: {
      template: '{x} <A:2> [MASK] .',
      verbalizer: 'terrible,great',
      budget: 700,
      selectTopK: 2,
      candidates: { topK: 8 },
      workers: 1,
      threadsPerWorker: 1,
    },
    methods: [
      { name: 'random', strategy: 'random' },
      { name: 'beam', strategy: 'beam' },
    ],
    published: true,
  };
  const out = tmp();

  test('an interrupted suite resumes without redoing finished cells', async () => {
    // Ctrl-C in the middle of the second cell's search.
    // (Once the second cell has recorded candidates: the pool polls stopRequested on a timer too.)
    const secondCandidates = path.join(out, 'runs', 'beam', 'sst-2-s13', 'candidates.jsonl');
    const first = await runLeaderboard(suite, {
      outDir: out,
      stopRequested: () => fs.existsSync(secondCandidates) && fs.readFileSync(secondCandidates, 'utf8').trim() !== '',
    });
    expect(first.complete).toBe(false);
    const doneFirst = first.cells.length;
    expect(doneFirst).toBe(1);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'runs', 'beam', 'sst-2-s13', 'state.json'), 'utf8')).status).toBe(
      'interrupted',
    );
    const mtimes = first.cells.map(
      (c) => fs.statSync(path.join(out, 'runs', c.method, `${c.task}-s${c.seed}`, 'cell.json')).mtimeMs,
    );
    const log2: string[] = [];
    // The unfinished cell's method is renamed (its folder moved along) before the suite goes on:
    // the cell resumes under the new name although its run was started under the old one.
    const renamed = path.join(out, 'runs', 'beam search');
    fs.renameSync(path.join(out, 'runs', 'beam'), renamed);
    const second = await runLeaderboard(
      { ...suite, methods: [suite.methods[0], { name: 'beam search', strategy: 'beam' }] },
      { outDir: out, log: (l) => log2.push(l) },
    );
    fs.renameSync(renamed, path.join(out, 'runs', 'beam'));
    expect(second.complete).toBe(true);
    expect(second.cells).toHaveLength(2);
    expect(log2.filter((l) => l.startsWith('['))).toHaveLength(2 - doneFirst); // finished cells skipped
    expect(log2.some((l) => /^resuming .*scored candidates replayed/.test(l))).toBe(true);
    // Back under the suite's names for the tests below (nothing left to compute).
    expect((await runLeaderboard(suite, { outDir: out })).complete).toBe(true);
    first.cells.forEach((c, i) =>
      expect(fs.statSync(path.join(out, 'runs', c.method, `${c.task}-s${c.seed}`, 'cell.json')).mtimeMs).toBe(
        mtimes[i],
      ),
    );
    const json = JSON.parse(fs.readFileSync(path.join(out, 'leaderboard.json'), 'utf8'));
    expect(json.cells).toHaveLength(2);
    expect(fs.readFileSync(path.join(out, 'leaderboard.md'), 'utf8')).toMatch(/\| random \| .* \|/);
  }, 300_000);

  test('a finished cell computed for another setup is refused, not reported under the changed method', async () => {
    // `out` holds the complete suite of the test above.
    const cellFile = path.join(out, 'runs', 'random', 'sst-2-s13', 'cell.json');
    const report = path.join(out, 'leaderboard.json');
    const before = [fs.readFileSync(cellFile, 'utf8'), fs.readFileSync(report, 'utf8')];
    const changedMethod: Suite = {
      ...suite,
      methods: [{ name: 'random', strategy: 'random', config: { objective: 'accuracy' } }, suite.methods[1]],
    };
    await expect(runLeaderboard(changedMethod, { outDir: out })).rejects.toThrow(
      /runs\/random\/sst-2-s13: this entry was computed for another setup of method 'random' than the suite asks for now: objective "accuracy" \(run: "ce"\); delete that folder/,
    );
    const changedBase: Suite = { ...suite, base: { ...suite.base, verbalizer: 'bad,good' } };
    await expect(runLeaderboard(changedBase, { outDir: out })).rejects.toThrow(
      /verbalizer "bad,good" \(run: "terrible,great"\)/,
    );
    // The speed-only fields may change, and a method may be renamed (its folder moved along).
    const faster: Suite = { ...suite, base: { ...suite.base, threadsPerWorker: 2 } };
    expect((await runLeaderboard(faster, { outDir: out })).complete).toBe(true);
    expect(fs.readFileSync(cellFile, 'utf8')).toBe(before[0]);
    const renamed = path.join(out, 'runs', 'random search');
    fs.renameSync(path.join(out, 'runs', 'random'), renamed);
    try {
      const r = await runLeaderboard(
        { ...suite, methods: [{ name: 'random search', strategy: 'random' }, suite.methods[1]] },
        { outDir: out },
      );
      expect(r.cells.map((c) => c.testAccuracy)).toEqual(JSON.parse(before[1]).cells.map((c: Cell) => c.testAccuracy));
      // Reported under its new name, with its run where its folder is now (cell.json keeps the old ones).
      expect(r.cells[0].method).toBe('random search');
      expect(r.cells[0].runDir).toBe(path.join('runs', 'random search', path.basename(path.dirname(cellFile))));
      const rows = JSON.parse(fs.readFileSync(report, 'utf8')).rows;
      expect(rows[0]).toEqual({ ...JSON.parse(before[1]).rows[0], method: 'random search' });
    } finally {
      fs.renameSync(renamed, path.join(out, 'runs', 'random'));
    }
    // A cell written before cells kept their setup is checked against its run's config.json.
    const { setup, ...legacy } = JSON.parse(before[0]);
    expect(setup.objective).toBe('ce');
    fs.writeFileSync(cellFile, JSON.stringify(legacy));
    await expect(runLeaderboard(changedMethod, { outDir: out })).rejects.toThrow(/objective "accuracy" \(run: "ce"\)/);
    expect((await runLeaderboard(suite, { outDir: out })).complete).toBe(true);
    expect(JSON.parse(fs.readFileSync(report, 'utf8')).rows).toEqual(JSON.parse(before[1]).rows);
  }, 120_000);

  test("a manual row runs the task's hand-written prompt, not the suite's search template with slots", async () => {
    const manual: Suite = {
      ...suite,
      name: 'manual',
      base: { ...suite.base, dtype: 'fp32' },
      methods: [{ name: 'manual', manual: true }],
    };
    const dir = tmp();
    const r = await runLeaderboard(manual, { outDir: dir });
    expect(r.complete).toBe(true);
    expect(r.cells[0].prompt).toBe('{x} it was [MASK] .');
    expect(r.cells[0].testAccuracy).toBeCloseTo(0.6282, 4); // the fp32 raw pin of the manual prompt
    // Its cell keeps what it computed: another label pair is refused, not reported under the same name.
    const other: Suite = {
      ...manual,
      methods: [{ name: 'manual', manual: true, config: { verbalizer: 'awful,wonderful' } }],
    };
    await expect(runLeaderboard(other, { outDir: dir })).rejects.toThrow(
      /runs\/manual\/sst-2-s13: .*verbalizer "awful,wonderful" \(run: "terrible,great"\)/,
    );
  }, 120_000);

  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
  testIf(chromium ? undefined : 'no chromium')(
    'the HTML report renders in headless Chromium: table numbers equal leaderboard.json, chart drawn',
    () => {
      const html = path.join(out, 'leaderboard.html');
      expect(fs.existsSync(html)).toBe(true);
      const flags = [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${tmp()}`,
      ];
      const dom = execFileSync(chromium!, [...flags, '--dump-dom', `file://${html}`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 60_000,
      });
      const json = JSON.parse(fs.readFileSync(path.join(out, 'leaderboard.json'), 'utf8'));
      for (const row of json.rows) {
        for (const task of json.tasks) {
          const mean = row.tasks[task].mean;
          if (mean === null) continue; // NaN serialises as null: a cell with no number
          expect(dom).toContain(`data-task="${task}" data-mean="${mean}"`);
        }
      }
      // Every seed is a dot at its leaderboard.json accuracy; each method's mean is drawn; published rows are reference lines.
      const dots = [
        ...dom.matchAll(
          /<circle class="seed" data-method="([^"]*)" data-task="([^"]*)" data-seed="(\d+)" data-acc="([^"]*)"/g,
        ),
      ].map((m) => [m[1], m[2], Number(m[3]), Number(m[4])]);
      expect(dots).toHaveLength(json.cells.length);
      for (const c of json.cells) expect(dots).toContainEqual([c.method, c.task, c.seed, c.testAccuracy]);
      for (const row of json.rows) {
        const kind = row.published ? 'ref' : 'mean';
        expect(dom).toMatch(
          new RegExp(
            `<line class="${kind}" data-method="${row.method.replace(/[()]/g, '\\$&')}" data-task="sst-2"( data-kind="published")? data-mean="${row.tasks['sst-2'].mean}"`,
          ),
        );
      }
      const png = path.join(tmp(), 'shot.png');
      execFileSync(chromium!, [...flags, `--screenshot=${png}`, '--window-size=1000,800', `file://${html}`], {
        stdio: 'ignore',
        timeout: 60_000,
      });
      const buf = fs.readFileSync(png);
      expect(buf.subarray(1, 4).toString()).toBe('PNG');
      expect(buf.length).toBeGreaterThan(10_000); // a blank page compresses to a few hundred bytes
    },
  );
});

describe('leaderboards on your own data', () => {
  const EXAMPLES = path.join(ROOT, 'datasets', 'examples');
  const cli = (args: string[], cwd = ROOT) =>
    spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, maxBuffer: 64 << 20 });
  /** `eval` of the manual row's prompt, raw, on a labelled test file (what a manual entry must report). */
  const rawManual = (file: string) =>
    cli([
      'eval',
      '--data',
      file,
      '--labels',
      'negative,positive',
      '--template',
      '{x} it was [MASK] .',
      '--verbalizer',
      'terrible,great',
      '--calibration',
      'none',
      '--json',
    ]);
  const search = {
    template: '{x} <A:2> [MASK] .',
    budget: 600,
    selectTopK: 2,
    candidates: { topK: 8 },
    workers: 1,
    threadsPerWorker: 1,
  };
  /** A suite file in its own folder, its data copied beside it (paths relative to the suite's folder). */
  function project(suite: Record<string, unknown>): { dir: string; file: string } {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'data'));
    for (const split of ['train', 'dev', 'test'])
      fs.copyFileSync(path.join(EXAMPLES, `sst2-${split}.csv`), path.join(dir, 'data', `${split}.csv`));
    const file = path.join(dir, 'suite.json');
    fs.writeFileSync(file, JSON.stringify(suite));
    return { dir, file };
  }
  const reviews = {
    name: 'reviews',
    train: 'data/train.csv',
    dev: 'data/dev.csv',
    test: 'data/test.csv',
    labels: 'negative,positive',
    verbalizer: 'terrible,great',
  };

  test("a data object task runs on those files: its manual row is `eval`'s accuracy of that prompt on the test file", () => {
    const { dir, file } = project({
      name: 'own',
      tasks: [reviews],
      seeds: [13, 21],
      base: search,
      methods: [
        { name: 'manual', manual: true },
        { name: 'manual + calibration', manual: true, calibration: 'inputs' },
        { name: 'linear probe', probe: true },
        { name: 'random', strategy: 'random' },
      ],
    });
    // Run from another folder: the suite's paths are its own folder's.
    const out = path.join(tmp(), 'board');
    const r = cli(['leaderboard', file, '--out', out], tmp());
    expect(r.stderr).not.toMatch(/cannot read|Error/);
    expect(r.status).toBe(0);
    const board = JSON.parse(fs.readFileSync(path.join(out, 'leaderboard.json'), 'utf8'));
    expect(board.tasks).toEqual(['reviews']);
    expect(board.cells).toHaveLength(8);
    const cellOf = (method: string, seed: number) =>
      board.cells.find((c: Cell) => c.method === method && c.seed === seed) as Cell;
    const manual = cellOf('manual', 13);
    expect(manual.prompt).toBe('{x} it was [MASK] .');
    const ev = rawManual(path.join(dir, 'data', 'test.csv'));
    expect(ev.status).toBe(0);
    const evOut = JSON.parse(ev.stdout);
    expect(evOut.n).toBe(200);
    expect(manual.testAccuracy).toBe(evOut.accuracy);
    // The same files for every seed: the raw manual prompt's numbers do not move; the seed seeds the search only.
    expect(cellOf('manual', 21).testAccuracy).toBe(manual.testAccuracy);
    expect(cellOf('manual', 21).devAccuracy).toBe(manual.devAccuracy);
    for (const m of ['manual + calibration', 'linear probe', 'random'])
      for (const seed of [13, 21]) expect(cellOf(m, seed).testAccuracy).toBeGreaterThan(0.4);
    // The search cells read the user's files (their config.json names them, absolute).
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'runs', 'random', 'reviews-s21', 'config.json'), 'utf8'));
    expect(cfg.data.test).toBe(path.join(dir, 'data', 'test.csv'));
    expect(cfg.task).toBeUndefined();
    expect(cfg.seed).toBe(21);
    // The tables name the task.
    expect(fs.readFileSync(path.join(out, 'leaderboard.md'), 'utf8')).toMatch(/\| reviews \|/);
    // Rerun: every cell is found finished (the files' contents, not their paths, decide).
    const again = cli(['leaderboard', file, '--out', out], tmp());
    expect(again.status).toBe(0);
    expect(again.stderr).not.toMatch(/^\[\d+\/8\]/m);
  }, 300_000);

  test('a folder in the bundled layout is a task named by the folder', async () => {
    const dir = tmp();
    const task = path.join(dir, 'my-reviews');
    fs.mkdirSync(path.join(task, '16-13'), { recursive: true });
    fs.copyFileSync(path.join(EXAMPLES, 'sst2-train.csv'), path.join(task, '16-13', 'train.csv'));
    fs.copyFileSync(path.join(EXAMPLES, 'sst2-dev.jsonl'), path.join(task, '16-13', 'dev.jsonl'));
    fs.copyFileSync(path.join(EXAMPLES, 'sst2-test.tsv'), path.join(task, 'test.tsv'));
    const file = path.join(dir, 'suite.json');
    const suiteJson = {
      name: 'folder',
      tasks: ['my-reviews'],
      seeds: [13],
      base: { labels: 'negative,positive', verbalizer: 'terrible,great' },
      methods: [
        { name: 'manual', manual: true },
        { name: 'linear probe', probe: true },
      ],
    };
    fs.writeFileSync(file, JSON.stringify(suiteJson));
    const suite = readSuite(file);
    expect(suite.tasks).toEqual(['my-reviews']);
    expect(suite.userTasks!['my-reviews'].test).toBe(path.join(task, 'test.tsv'));
    const out = tmp();
    const r = await runLeaderboard(suite, { outDir: out });
    expect(r.complete).toBe(true);
    // The TSV test file holds the same 200 rows as the CSV: the same accuracy as `eval` on it.
    const ev = rawManual(path.join(EXAMPLES, 'sst2-test.csv'));
    expect(r.cells.find((c) => c.method === 'manual')!.testAccuracy).toBe(JSON.parse(ev.stdout).accuracy);
    expect(fs.existsSync(path.join(out, 'runs', 'linear probe', 'my-reviews-s13', 'cell.json'))).toBe(true);
    // A seed without its split folder is refused up front, naming the folder.
    fs.writeFileSync(file, JSON.stringify({ ...suiteJson, seeds: [13, 21] }));
    expect(() => readSuite(file)).toThrow(new RegExp(`tasks\\[0\\]: ${path.join(task, '16-21')} has no train`));
  }, 300_000);

  test("a queued manual cell of a user task: the worker reads the job's copies of the files", async () => {
    const { runJob } = await import('../src/distributed/runJob');
    const { modelRef } = await import('../src/distributed/submit');
    const { sha256Text } = await import('../src/distributed/queue');
    const { packageVersions } = await import('../src/runner/versions');
    const { manualCell } = await import('../src/runner/baselines');
    const { DEFAULT_DTYPE, DEFAULT_MODEL } = await import('../src/model/modelFolder');
    const { file } = project({ name: 'q', tasks: [reviews], seeds: [13], methods: [{ name: 'manual', manual: true }] });
    const suite = readSuite(file);
    const setting = baselineSetting(suite, suite.methods[0], 'reviews', 13);
    const ref = (f: string) => {
      const content = fs.readFileSync(f, 'utf8');
      return { sha256: sha256Text(content), file: { name: path.basename(f), content } };
    };
    // As submitLeaderboard queues it: the submitter's paths mean nothing on the worker.
    const d = setting.data!;
    const payload = {
      v: 1 as const,
      kind: 'manual' as const,
      method: 'manual',
      task: 'reviews',
      seed: 13,
      base: JSON.parse(
        JSON.stringify({
          ...setting,
          data: { ...d, train: '/gone/train.csv', dev: '/gone/dev.csv', test: '/gone/test.csv' },
        }),
      ),
      model: modelRef(DEFAULT_MODEL, DEFAULT_DTYPE),
      data: { train: ref(d.train), dev: ref(d.dev), test: ref(d.test) },
      version: packageVersions().promptsearch,
    };
    const r = await runJob(payload, {}, () => false);
    const local = await manualCell('manual', 'reviews', 13, setting, 'none');
    expect(r.cell!.testAccuracy).toBe(local.testAccuracy);
    expect(r.cell!.devAccuracy).toBe(local.devAccuracy);
  }, 120_000);

  test('an entry its search would refuse (the budget) stops the suite before any entry runs or a folder is made', () => {
    const { dir, file } = project({});
    fs.writeFileSync(
      file,
      JSON.stringify({
        version: 2,
        name: 'x',
        tasks: [reviews],
        seeds: [13],
        methods: [
          { name: 'manual', manual: true },
          { name: 'tiny', strategy: 'beam', config: { budget: 10 } },
        ],
      }),
    );
    const out = path.join(dir, 'out');
    const r = cli(['leaderboard', file, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^promptsearch: method 'tiny', task 'reviews', seed 13: budget 10 is too small for 3 templates: .*give a budget of \d+ or more/,
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('bad suites are refused with one line: base.data, perTask keys, method names, missing files, label words', () => {
    const { dir, file } = project({});
    const ok = { name: 'x', tasks: [reviews], seeds: [13], base: {}, methods: [{ name: 'manual', manual: true }] };
    const write = (s: object) => {
      fs.writeFileSync(file, JSON.stringify(s));
      return file;
    };
    expect(readSuite(write(ok)).userTasks!.reviews.train).toBe(path.join(dir, 'data', 'train.csv'));
    const cases: [object, RegExp][] = [
      [
        { ...ok, tasks: ['sst-2'], base: { data: { train: 'a.csv', dev: 'b.csv' } } },
        /base\.data: a suite's data are its 'tasks'/,
      ],
      [{ ...ok, base: { task: 'sst-2' } }, /base\.task: a suite's data are its 'tasks'/],
      [
        { ...ok, methods: [{ name: 'b', strategy: 'beam', config: { data: {} } }] },
        /methods\[0\]\.config\.data: a suite's data are its 'tasks'/,
      ],
      [{ ...ok, perTask: { 'sst-2': { budget: 10 } } }, /perTask\.sst-2: not one of the suite's tasks \(reviews\)/],
      [
        { ...ok, methods: [{ name: '../../evil', manual: true }] },
        /methods\[0\]: method name '\.\.\/\.\.\/evil' is used as a folder name/,
      ],
      [{ ...ok, methods: [{ name: 'a/b', manual: true }] }, /method name 'a\/b' is used as a folder name/],
      [
        {
          ...ok,
          methods: [
            { name: 'm', manual: true },
            { name: 'm', probe: true },
          ],
        },
        /methods\[1\]: method 'm' is listed twice/,
      ],
      [{ ...ok, tasks: [{ ...reviews, name: '../up' }] }, /task name '\.\.\/up' is used as a folder name/],
      [{ ...ok, tasks: [reviews, reviews] }, /task 'reviews' is listed twice/],
      [
        { ...ok, tasks: [{ ...reviews, test: 'data/nope.csv' }] },
        new RegExp(`tasks\\[0\\] 'reviews': test: no file ${path.join(dir, 'data', 'nope.csv')}`),
      ],
      [{ ...ok, tasks: [{ ...reviews, dev: undefined }] }, /missing field 'dev'/],
      [
        { ...ok, tasks: [{ ...reviews, verbalizer: undefined }] },
        /method 'manual', task 'reviews': the manual prompt needs label words/,
      ],
      [{ ...ok, tasks: ['no-such-folder'] }, /unknown task 'no-such-folder' .*or a folder in the bundled layout/],
      [{ ...ok, seeds: [13, 21, 13] }, /seeds\[2\]: seed 13 is listed twice/],
    ];
    for (const [s, pattern] of cases) expect(() => readSuite(write(s))).toThrow(pattern);
    // Through the CLI: one line, exit 2, naming the field.
    const r = cli(['leaderboard', write(cases[0][0])]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^promptsearch: .*suite\.json: base\.data: /);
    // A task's own manual prompt and label words.
    const own = readSuite(
      write({ ...ok, tasks: [{ ...reviews, manual: { template: 'review : {x} . [MASK]', verbalizer: 'bad,good' } }] }),
    );
    expect(baselineSetting(own, own.methods[0], 'reviews', 13)).toMatchObject({
      template: 'review : {x} . [MASK]',
      verbalizer: 'bad,good',
    });
  });
});
