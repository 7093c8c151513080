import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadTaskSplit } from '../src/data/tasks';
import { axisTo, fitRange } from '../src/reports/svg';
import { RunReportData, collectRunReport, learningCurve } from '../src/reports/runReport';
import { runReportHtml } from '../src/reports/runReportHtml';
import { CLI, tinySearchRun } from './helpers';
import { testIf } from './setup/requires';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-report-'));
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
const jsonl = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
const json = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const dumpDom = (html: string) =>
  execFileSync(chromium!, [...FLAGS, `--user-data-dir=${tmp()}`, '--dump-dom', `file://${html}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 60_000,
  });

/** The `data-points` of every `<polyline class="cls" ... data-run="run">`, as [x, y] pairs. */
function polylinePoints(dom: string, cls: string, run: string): [number, number][][] {
  const out: [number, number][][] = [];
  for (const m of dom.matchAll(/<polyline ([^>]*)>/g)) {
    const a = m[1];
    if (!a.includes(`class="${cls}"`) || !a.includes(`data-run="${run}"`)) continue;
    const pts = /data-points="([^"]*)"/.exec(a)![1];
    out.push(pts.split(' ').map((p) => p.split(':').map(Number) as [number, number]));
  }
  return out;
}
const attrOf = (dom: string, re: RegExp) => [...dom.matchAll(re)].map((m) => m.slice(1));
/** The learning curve's x-axis end (`data-x-max` of its svg). */
const xMaxOf = (dom: string) => Number(/<svg id="learning-curve"[^>]* data-x-max="([\d.]+)"/.exec(dom)![1]);
function expectNonDecreasing(points: [number, number][]) {
  for (let i = 1; i < points.length; i++) {
    expect(points[i][0]).toBeGreaterThanOrEqual(points[i - 1][0]);
    expect(points[i][1]).toBeGreaterThanOrEqual(points[i - 1][1]);
  }
}

describe('fitted axes', () => {
  test('the range hugs the data (not from 0), stays in [0, 1], ticks cover it', () => {
    const r = fitRange([0.743, 0.764], { lo: 0, hi: 1 });
    expect(r.min).toBeGreaterThan(0.6);
    expect(r.max).toBeLessThan(0.9);
    expect(r.min).toBeLessThanOrEqual(0.743);
    expect(r.max).toBeGreaterThanOrEqual(0.764);
    expect(r.ticks[0]).toBeCloseTo(r.min, 10);
    expect(fitRange([0.99, 1], { lo: 0, hi: 1 }).max).toBe(1);
  });
});

describe('run report', () => {
  const root = tmp();
  const runA = path.join(root, 'random-run');
  const runB = path.join(root, 'beam-refined');
  let searchB: ReturnType<typeof cli>;

  beforeAll(async () => {
    await tinySearchRun(runA);
    // A search from the CLI on a CSV with label names, refined: report.html is written at the end.
    const dir = path.join(root, 'data');
    fs.mkdirSync(dir);
    const names = ['negative', 'positive'];
    const csv = (rows: { fields: Record<string, string>; label: number }[]) =>
      'sentence,label\n' + rows.map((e) => `"${e.fields.sentence.replace(/"/g, '""')}",${names[e.label]}\n`).join('');
    for (const s of ['train', 'dev'] as const)
      fs.writeFileSync(path.join(dir, `${s}.csv`), csv(loadTaskSplit('sst-2', s, 21)));
    fs.writeFileSync(path.join(dir, 'test.csv'), csv(loadTaskSplit('sst-2', 'test', 21).slice(0, 150)));
    const config = path.join(dir, 'search.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        name: 'b',
        data: { train: path.join(dir, 'train.csv'), dev: path.join(dir, 'dev.csv'), test: path.join(dir, 'test.csv') },
        labels: names,
        template: '{x} <A:1> [MASK] .',
        verbalizer: 'terrible,great',
        strategy: 'beam',
        candidates: { topK: 6 },
        budget: 64 + 8 * 32,
        selectTopK: 2,
        workers: 1,
        threadsPerWorker: 1,
        refine: { budget: 3 * (4 * 32 + 32), dim: 8, popSize: 4 },
      }),
    );
    searchB = cli(['search', config, '--out', runB]);
  }, 600_000);

  test('a search writes report.html and report.json itself; report overlays several runs', () => {
    expect(searchB.status).toBe(0);
    expect(searchB.stdout).toContain(`report       ${path.join(runB, 'report.html')}`);
    expect(fs.existsSync(path.join(runB, 'report.html'))).toBe(true);
    const r = cli(['report', runA, '--no-test']); // the overlay below scores run A's winner on test
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(path.join(runA, 'report.html'));
    const o = cli(['report', runA, runB, '--out', path.join(root, 'overlay.html')]);
    expect(o.status).toBe(0);
    expect(json(path.join(root, 'overlay.json'))).toHaveLength(2);
    const bad = cli(['report', path.join(root, 'nope')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^promptsearch: .*nope: no such run directory\n$/);
  });

  testIf(chromium ? undefined : 'no chromium')(
    'renders in headless Chromium: curves, histogram, confusion matrix and refinement equal the run files',
    () => {
      // The overlay page holds both runs (curves in one chart, then a section per run); run B's own page too.
      const overlay = dumpDom(path.join(root, 'overlay.html'));
      const ownB = dumpDom(path.join(runB, 'report.html'));
      const section = (dom: string, id: string) => {
        const start = dom.indexOf(`<section class="run" data-run="${id}">`);
        expect(start).toBeGreaterThan(0);
        return dom.slice(start, dom.indexOf('</section>', start));
      };
      for (const [dom, run] of [
        [overlay, runA],
        [overlay, runB],
        [ownB, runB],
      ]) {
        const id = path.basename(run);
        const sec = section(dom, id);
        const best = json(path.join(run, 'best.json'));
        // Learning curve: the highest train accuracy so far over candidates.jsonl (never falling); it ends where progress.jsonl's last train line is.
        const candidates = jsonl(path.join(run, 'candidates.jsonl'));
        const curve = polylinePoints(dom, 'curve', id);
        expect(curve).toHaveLength(1);
        expect(curve[0].length).toBeGreaterThan(1);
        let spent = 0;
        let bestAcc = -1;
        const want: [number, number][] = [];
        for (const c of candidates) {
          spent += c.cost;
          if (c.score.partialExamples === undefined && c.score.accuracy > bestAcc) {
            bestAcc = c.score.accuracy;
            want.push([spent, c.score.accuracy]);
          }
        }
        if (want[want.length - 1][0] < spent) want.push([spent, want[want.length - 1][1]]);
        expect(curve[0]).toEqual(want);
        expectNonDecreasing(curve[0]);
        const lastTrain = jsonl(path.join(run, 'progress.jsonl'))
          .filter((p) => p.bestTrainAccuracy !== undefined)
          .pop();
        expect(curve[0][curve[0].length - 1][0]).toBe(lastTrain.evaluations);
        expect(
          attrOf(
            dom,
            new RegExp(`class="dev" data-run="${id}" data-evaluations="(\\d+)" data-accuracy="([\\d.]+)"`, 'g'),
          ).map(([, a]) => Number(a)),
        ).toEqual([best.devAccuracy]);
        // Histogram: candidates by train accuracy, counted here from candidates.jsonl.
        const counts = new Map<number, number>();
        for (const c of jsonl(path.join(run, 'candidates.jsonl')))
          if (c.score.partialExamples === undefined)
            counts.set(c.score.accuracy, (counts.get(c.score.accuracy) ?? 0) + 1);
        const bars = attrOf(sec, /class="hist" data-accuracy="([\d.]+)" data-count="(\d+)"/g).map(([a, n]) => [
          Number(a),
          Number(n),
        ]);
        expect(bars).toEqual([...counts.entries()].sort((a, b) => a[0] - b[0]));
        // The winner on test: the confusion matrix's accuracy is the run's test accuracy.
        expect(attrOf(sec, /class="test-accuracy" data-accuracy="([\d.]+)"/g)).toEqual([[String(best.testAccuracy)]]);
        const cm = attrOf(sec, /data-gold="(\d+)" data-pred="(\d+)" data-count="(\d+)"/g).map((m) => m.map(Number));
        expect(cm).toHaveLength(4);
        const n = cm.reduce((a, [, , c]) => a + c, 0);
        expect(n).toBe(json(path.join(run, 'config.json')).resolved.testExamples);
        expect(cm.filter(([g, p]) => g === p).reduce((a, [, , c]) => a + c, 0) / n).toBe(best.testAccuracy);
        const report =
          dom === ownB
            ? json(path.join(run, 'report.json'))
            : json(path.join(root, 'overlay.json'))[id === 'random-run' ? 0 : 1];
        expect(
          attrOf(sec, /class="per-class" data-label="[^"]*" data-accuracy="([\d.]*)"/g).map(([a]) => Number(a)),
        ).toEqual(report.test.perClass);
        expect(sec).toContain(
          `<code>${best.prompt.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</code>`,
        );
      }
      // Refinement curve and result (run B only).
      const dom = ownB;
      const gens = jsonl(path.join(runB, 'refine', 'progress.jsonl'));
      expect(gens.length).toBeGreaterThan(0);
      expect(polylinePoints(dom, 'refine-best-dev', 'beam-refined')).toEqual([
        gens.map((g) => [g.evaluations, g.bestDevAccuracy]),
      ]);
      const refined = json(path.join(runB, 'refine', 'result.json')).refined;
      expect(dom).toContain(`data-test="${refined.test}"`);
      expect(polylinePoints(overlay, 'refine-best-dev', 'random-run')).toEqual([]);
      expect(polylinePoints(overlay, 'refine-best-dev', 'beam-refined')).toEqual([
        gens.map((g) => [g.evaluations, g.bestDevAccuracy]),
      ]);
      // Overlay: both runs' curves, one colour and one marker shape per run; the x-axis ends at the larger budget; a table of the runs.
      const strokes = ['random-run', 'beam-refined'].map((id) =>
        new RegExp(`<polyline class="curve" data-run="${id}" data-strategy="(\\w+)"[^>]* stroke="(#[0-9a-f]{6})"`)
          .exec(overlay)!
          .slice(1),
      );
      expect(strokes.map((s) => s[0])).toEqual(['random', 'beam']);
      expect(strokes[0][1]).not.toBe(strokes[1][1]);
      const shapes = attrOf(overlay, /class="dev" data-run="([^"]+)"[^>]* data-shape="([\w-]+)"/g);
      expect(shapes.map(([run]) => run)).toEqual(['random-run', 'beam-refined']);
      expect(shapes[0][1]).not.toBe(shapes[1][1]);
      const budgets = [runA, runB].map((r) => json(path.join(r, 'best.json')).budget as number);
      expect(xMaxOf(overlay)).toBe(Math.max(...budgets));
      expect(xMaxOf(ownB)).toBe(budgets[1]);
      const rows = attrOf(
        overlay,
        /class="run-row" data-run="([^"]+)" data-dev="([\d.]*)" data-test="([\d.]*)" data-evaluations="(\d*)"/g,
      );
      expect(rows).toEqual(
        [runA, runB].map((r) => {
          const b = json(path.join(r, 'best.json'));
          return [path.basename(r), String(b.devAccuracy), String(b.testAccuracy), String(b.evaluations)];
        }),
      );
      expect(ownB).not.toContain('class="run-row"');
      // A picture, not a blank page.
      const png = path.join(tmp(), 'shot.png');
      execFileSync(
        chromium!,
        [
          ...FLAGS,
          `--user-data-dir=${tmp()}`,
          `--screenshot=${png}`,
          '--window-size=1000,1400',
          `file://${path.join(root, 'overlay.html')}`,
        ],
        {
          stdio: 'ignore',
          timeout: 60_000,
        },
      );
      expect(fs.readFileSync(png).length).toBeGreaterThan(20_000);
    },
  );

  test("the confusion matrix is the search's recorded test predictions; without them the prompt file is scored again, to the same matrix", async () => {
    const best = json(path.join(runA, 'best.json'));
    const file = path.join(runA, 'test-predictions.json');
    const recorded = json(file);
    expect(recorded.of).toBe('prompt');
    expect(recorded.predicted).toHaveLength(json(path.join(runA, 'config.json')).resolved.testExamples);
    const fromFile = await collectRunReport(runA);
    expect(fromFile.test!.of).toBe('prompt');
    expect(fromFile.test!.accuracy).toBe(best.testAccuracy);
    fs.renameSync(file, file + '.bak');
    try {
      const scored = await collectRunReport(runA);
      expect(scored.test!.confusion).toEqual(fromFile.test!.confusion);
    } finally {
      fs.renameSync(file + '.bak', file);
    }
    // A damaged file is an error naming it, not a wrong matrix.
    const saved = fs.readFileSync(file, 'utf8');
    try {
      fs.writeFileSync(file, JSON.stringify({ of: 'prompt', predicted: recorded.predicted.slice(1) }));
      await expect(collectRunReport(runA)).rejects.toThrow(
        /test-predictions\.json: \d+ predictions .* but the test split has \d+ examples and 2 labels/,
      );
      fs.writeFileSync(file, JSON.stringify({ of: 'prompt', predicted: 'x' }));
      await expect(collectRunReport(runA)).rejects.toThrow(/test-predictions\.json: not test predictions/);
    } finally {
      fs.writeFileSync(file, saved);
    }
  }, 120_000);

  test('a run without best.json yet: the curve so far, no winner', () => {
    const copy = path.join(tmp(), 'running');
    fs.cpSync(runA, copy, { recursive: true });
    fs.rmSync(path.join(copy, 'best.json'));
    expect(cli(['report', copy]).status).toBe(0);
    const html = fs.readFileSync(path.join(copy, 'report.html'), 'utf8');
    expect(html).toContain('No best.json yet');
    expect(polylinePoints(html, 'curve', 'running')[0].length).toBeGreaterThan(1);
  });

  test('calibration offsets in best.json are shown when present', () => {
    const copy = path.join(tmp(), 'calibrated');
    fs.cpSync(runA, copy, { recursive: true });
    const best = json(path.join(copy, 'best.json'));
    // best.json version 2: the selected prompt's decision rule.
    fs.writeFileSync(
      path.join(copy, 'best.json'),
      JSON.stringify({
        ...best,
        selected: { ...best.selected, calibration: { mode: 'inputs', offsets: [0.125, -0.5] } },
      }),
    );
    const r = cli(['report', copy, '--no-test']);
    expect(r.status).toBe(0);
    const html = fs.readFileSync(path.join(copy, 'report.html'), 'utf8');
    expect(html).toContain('data-label="0" data-offset="0.125"');
    expect(html).toContain('data-label="1" data-offset="-0.5"');
    expect(html).not.toContain('class="test-accuracy"');
  });
});

/** A run's report numbers, made up: `curve` as [evaluations, best train] pairs. */
function fakeRun(runId: string, o: Partial<RunReportData> & { points?: [number, number][] } = {}): RunReportData {
  const { points = [], ...rest } = o;
  return {
    dir: `/runs/${runId}`,
    runId,
    name: runId,
    strategy: 'beam',
    template: '{x} <A:2> [MASK] .',
    data: 'sst-2 (seed 13)',
    model: 'm',
    dtype: 'int8',
    budget: 1000,
    objective: 'ce',
    status: 'done',
    curve: points.map(([evaluations, bestTrain]) => ({ evaluations, bestTrain })),
    histogram: [],
    raced: 0,
    ...rest,
  };
}
const result = (dev: number, test: number, evaluations: number, of: 'prompt' | 'ensemble' = 'prompt') => ({
  of,
  prompt: of === 'prompt' ? '{x} so [MASK] .' : 'ensemble of 3 members over 3 templates',
  dev,
  test,
  evaluations,
  seconds: 12.5,
});
const curveOf = (dom: string) =>
  [...dom.matchAll(/<polyline class="curve"([^>]*)>/g)].map((m) => ({
    attrs: m[1],
    points: /data-points="([^"]*)"/
      .exec(m[1])![1]
      .split(' ')
      .map((p) => p.split(':').map(Number) as [number, number]),
  }));

describe('report pictures (made-up runs)', () => {
  test('best so far never falls: the highest train accuracy, not the accuracy of the best by objective', () => {
    const c = (objective: number, accuracy: number, cost = 32, partial?: number) => ({
      i: 0,
      prompt: 'p',
      labelWords: [],
      score: { objective, accuracy, ...(partial ? { partialExamples: partial } : {}) } as never,
      cost,
    });
    // The second candidate has the better objective but a lower accuracy; the third is raced (part of train only).
    const curve = learningCurve([c(-0.7, 0.75), c(-0.5, 0.6875), c(-0.4, 0.9, 8, 8), c(-0.45, 0.8125), c(-0.6, 0.5)]);
    expect(curve).toEqual([
      { evaluations: 32, bestTrain: 0.75 },
      { evaluations: 104, bestTrain: 0.8125 },
      { evaluations: 136, bestTrain: 0.8125 },
    ]);
  });

  test('an axis to the budget ends at the budget, its round ticks below it', () => {
    expect(axisTo(16_667)).toEqual({ min: 0, max: 16_667, ticks: [0, 5000, 10_000, 15_000, 16_667] });
    expect(axisTo(600).ticks).toEqual([0, 100, 200, 300, 400, 500, 600]);
    expect(axisTo(1050).ticks).toEqual([0, 200, 400, 600, 800, 1050]); // 1000 is too close to 1,050 to read apart
  });

  test("one run over three templates: a curve per template, never falling, the axis ending at a template's budget, markers of three shapes", () => {
    const budgets = [16_667, 16_667, 16_666];
    const templates = budgets.map((budget, i) =>
      fakeRun(`t${i + 1}`, {
        budget,
        template: `T${i + 1} {x} [MASK]`,
        points: [
          [32, 0.6 + i / 20],
          [5000, 0.75],
          [16_000, 0.8125],
        ],
        selection: { evaluations: budget, candidates: [] },
        result: result(0.7 + i / 50, 0.7, budget),
      }),
    );
    const dom = runReportHtml('r', [
      fakeRun('run', { budget: 50_000, templates, result: result(0.8, 0.79, 50_000, 'ensemble') }),
    ]);
    const curves = curveOf(dom);
    expect(curves).toHaveLength(3);
    for (const c of curves) {
      expectNonDecreasing(c.points);
      expect(Math.max(...c.points.map((p) => p[0]))).toBeLessThanOrEqual(16_667);
    }
    expect(xMaxOf(dom)).toBe(16_667);
    const ticks = attrOf(dom, /class="x-tick" data-x="([\d.]+)"/g).map(([t]) => Number(t));
    expect(ticks[ticks.length - 1]).toBe(16_667);
    const markers = attrOf(
      dom,
      /class="dev" data-run="([^"]+)"[^>]*data-accuracy="([\d.]+)"[^>]* data-shape="([\w-]+)"[^>]* stroke="(#[0-9a-f]{6})"/g,
    );
    expect(markers.map((m) => m[0])).toEqual(['t1', 't2', 't3']);
    expect(markers.map((m) => Number(m[1]))).toEqual([0.7, 0.72, 0.74]);
    expect(new Set(markers.map((m) => m[2])).size).toBe(3);
    expect(new Set(markers.map((m) => m[3])).size).toBe(3);
    // The legend names each template with its line and marker.
    for (let i = 1; i <= 3; i++) expect(dom).toContain(`template ${i}: T${i} {x} [MASK]`);
    expect(dom).not.toContain('class="run-row"');
  });

  test('several runs: one colour and one marker per run (two of the same strategy too), the axis ending at the largest budget, a table of the runs', () => {
    const templates = [0, 1].map((i) =>
      fakeRun(`t${i + 1}`, {
        budget: 1500,
        points: [
          [32, 0.7 + i / 10],
          [1400, 0.8],
        ],
        result: result(0.7, 0.7, 1500),
      }),
    );
    const runs = [
      fakeRun('beam-a', {
        points: [
          [32, 0.6],
          [900, 0.7],
        ],
        selection: { evaluations: 1000, candidates: [] },
        result: result(0.75, 0.74, 1000),
      }),
      fakeRun('beam-b', { budget: 3000, templates, result: result(0.8, 0.79, 3000, 'ensemble') }),
      fakeRun('random-c', { strategy: 'random', budget: 2000, points: [[32, 0.5]], status: 'interrupted' }),
    ];
    const dom = runReportHtml('r', runs);
    const curves = curveOf(dom);
    // beam-b's two templates one after the other: the second starts where the first ended.
    expect(curves.map((c) => /data-run="([^"]+)"/.exec(c.attrs)![1])).toEqual([
      'beam-a',
      'beam-b',
      'beam-b',
      'random-c',
    ]);
    expect(curves[2].points[0][0]).toBe(1500 + 32);
    for (const c of curves) expectNonDecreasing(c.points);
    const colour = (c: { attrs: string }) => /stroke="(#[0-9a-f]{6})"/.exec(c.attrs)![1];
    expect(colour(curves[1])).toBe(colour(curves[2]));
    expect(new Set([curves[0], curves[1], curves[3]].map(colour)).size).toBe(3);
    expect(xMaxOf(dom)).toBe(3000);
    const markers = attrOf(
      dom,
      /class="dev" data-run="([^"]+)" data-evaluations="(\d+)"[^>]* data-of="(\w+)" data-shape="([\w-]+)"/g,
    );
    expect(markers).toEqual([
      ['beam-a', '1000', 'prompt', 'circle'],
      ['beam-b', '3000', 'ensemble', 'square'],
    ]);
    const rows = attrOf(
      dom,
      /<tr class="run-row" data-run="([^"]+)" data-dev="([\d.]*)" data-test="([\d.]*)" data-evaluations="(\d*)" data-seconds="([\d.]*)">(.*?)<\/tr>/g,
    );
    expect(rows.map((r) => r.slice(0, 5))).toEqual([
      ['beam-a', '0.75', '0.74', '1000', '12.5'],
      ['beam-b', '0.8', '0.79', '3000', '12.5'],
      ['random-c', '', '', '', ''],
    ]);
    expect(rows[1][5]).toContain('ensemble of 3 members over 3 templates');
    expect(rows[1][5]).toContain('beam over 2 templates');
    expect(rows[2][5]).toContain('interrupted');
  });
});
