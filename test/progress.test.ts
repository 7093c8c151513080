import { PassThrough } from 'stream';
import {
  ProgressBar,
  RateMeter,
  SearchProgress,
  formatSearchProgress,
  formatSeconds,
  searchProgressLegend,
} from '../src/runner/progress';

/** ESC[K: clear to the end of the line. */
const CLEAR = '\x1b[K';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d) => (text += d));
  return { stream, text: () => text };
}

/** A search's progress report: `own` of its `budget` with its best, `before` evaluations of earlier templates. */
function searchProgress(
  own: number,
  budget: number,
  best: number | null,
  template?: { index: number; count: number },
  before = 0,
  total = budget,
): SearchProgress {
  return {
    evaluations: before + own,
    budget: total,
    search: { evaluations: own, budget, bestTrainAccuracy: best },
    ...(template ? { template } : {}),
  };
}

describe('progress without a terminal', () => {
  afterEach(() => jest.useRealTimers());

  test('a plain line every few seconds (not on every update), with the caller ETA', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const out = capture();
    const bar = new ProgressBar(10, out.stream, false, 5);
    jest.setSystemTime(1_000_000 + 6_000);
    bar.update(1, 'cells done', 10, 90);
    for (let s = 7; s < 11; s++) {
      jest.setSystemTime(1_000_000 + s * 1000);
      bar.update(2, 'cells done', 10, 80); // within 5 s of the last line: silent
    }
    jest.setSystemTime(1_000_000 + 12_000);
    bar.update(3, 'cells done', 10, null);
    bar.done();
    expect(out.text()).toBe('progress: 1/10 cells done  ETA 1m30s\nprogress: 3/10 cells done  ETA --\n');
    // The last update, held back by the rate limit, is written when the bar is done.
    const again = capture();
    const bar2 = new ProgressBar(10, again.stream, false, 5);
    jest.setSystemTime(1_000_000 + 20_000);
    bar2.update(1, 'evals', 10, null);
    jest.setSystemTime(1_000_000 + 21_000);
    bar2.update(9, 'evals', 10, null);
    expect(again.text()).toBe('progress: 1/10 evals  ETA --\n');
    bar2.done();
    expect(again.text()).toBe('progress: 1/10 evals  ETA --\nprogress: 9/10 evals  ETA --\n');
  });

  test('on a terminal: one line redrawn in place; no ETA from the first update (its time is start-up)', () => {
    jest.useFakeTimers({ now: 0 });
    const out = capture();
    const bar = new ProgressBar(4, out.stream, true);
    jest.setSystemTime(1000);
    bar.update(2, 'evals');
    bar.done();
    expect(out.text()).toBe(`\r[${'#'.repeat(12)}${'.'.repeat(12)}] 2/4 evals  ETA -- ${CLEAR}\n`);
  });

  test('no ETA until a rate is known: not after a long start-up, then from the rate since the first update', () => {
    jest.useFakeTimers({ now: 0 });
    const out = capture();
    const bar = new ProgressBar(50_000, out.stream, false, 0, 3);
    // 60 s of start-up, then the first batch of 32: the old estimate said 60 s × 50,000 / 32 ≈ 26 h.
    jest.setSystemTime(60_000);
    bar.update(32, 'evals');
    jest.setSystemTime(61_000);
    bar.update(1_032, 'evals'); // 1 s after the first: too soon to believe a rate
    jest.setSystemTime(64_000);
    bar.update(4_032, 'evals'); // 4,000 in 4 s: 1,000/s, 45,968 to go
    bar.done();
    expect(out.text().split('\n').filter(Boolean)).toEqual([
      'progress: 32/50,000 evals  ETA --',
      'progress: 1,032/50,000 evals  ETA --',
      'progress: 4,032/50,000 evals  ETA 46s',
    ]);
  });

  test('a rate meter: none before minSeconds, restart keeps the last rate until a new one is measured', () => {
    const r = new RateMeter(2);
    r.observe(0, 100);
    expect(r.eta(1000)).toBeNull();
    r.observe(1000, 200);
    expect(r.eta(1000)).toBeNull();
    r.observe(2000, 300); // 200 in 2 s
    expect(r.eta(1000)).toBe(10);
    r.restart();
    r.observe(10_000, 300); // the new phase's start-up took 8 s: not counted
    expect(r.eta(1000)).toBe(10);
    r.observe(14_000, 1100); // 800 in 4 s
    expect(r.eta(1000)).toBe(5);
    expect(formatSeconds(119.7)).toBe('2m00s');
  });
});

describe('a search over several templates', () => {
  afterEach(() => jest.useRealTimers());

  test("each template's own count, budget and best; then the run's count", () => {
    expect(formatSearchProgress(searchProgress(5_123, 16_667, 0.8125))).toBe(
      '5,123/16,667 evals, best train accuracy 0.8125',
    );
    expect(formatSearchProgress(searchProgress(0, 16_667, null))).toBe('0/16,667 evals, best train accuracy –');
    expect(formatSearchProgress(searchProgress(5_123, 16_667, 0.8125, { index: 1, count: 3 }, 16_650, 50_000))).toBe(
      'template 2 of 3: 5,123/16,667 evals, best train accuracy 0.8125 (this template); run 21,773/50,000',
    );
    expect(searchProgressLegend('ce', 3)).toMatch(
      /each template's own .*highest train accuracy .* in that template .*never decreases.*ranks candidates by its objective on train, ce \(minus the cross-entropy of the calibrated label scores\)/,
    );
  });

  test('the bar fills per template; the ETA is measured afresh in each template, the start-up excluded', () => {
    jest.useFakeTimers({ now: 0 });
    const out = capture();
    const bar = new ProgressBar(3_000, out.stream, false, 0, 3);
    const at = (t: number, p: SearchProgress) => {
      jest.setSystemTime(t);
      bar.updateSearch(p);
    };
    at(30_000, searchProgress(32, 1_000, 0.5938, { index: 0, count: 3 }, 0, 3_000));
    at(34_000, searchProgress(432, 1_000, 0.75, { index: 0, count: 3 }, 0, 3_000)); // 100/s
    at(50_000, searchProgress(32, 1_000, 0.6875, { index: 1, count: 3 }, 1_000, 3_000)); // the new template's start-up: the last rate still stands
    at(51_000, searchProgress(232, 1_000, 0.6875, { index: 1, count: 3 }, 1_000, 3_000));
    at(55_000, searchProgress(1_032, 1_000, 0.7188, { index: 1, count: 3 }, 1_000, 3_000)); // 1,000 in 5 s: 200/s
    expect(out.text().split('\n').filter(Boolean)).toEqual([
      'progress: template 1 of 3: 32/1,000 evals, best train accuracy 0.5938 (this template); run 32/3,000  ETA --',
      'progress: template 1 of 3: 432/1,000 evals, best train accuracy 0.7500 (this template); run 432/3,000  ETA 26s',
      'progress: template 2 of 3: 32/1,000 evals, best train accuracy 0.6875 (this template); run 1,032/3,000  ETA 20s',
      'progress: template 2 of 3: 232/1,000 evals, best train accuracy 0.6875 (this template); run 1,232/3,000  ETA 18s',
      'progress: template 2 of 3: 1,032/1,000 evals, best train accuracy 0.7188 (this template); run 2,032/3,000  ETA 5s',
    ]);
  });

  test("a template's last line, held back by the rate limit, is written before the next template's", () => {
    jest.useFakeTimers({ now: 0 });
    const out = capture();
    const bar = new ProgressBar(2_000, out.stream, false, 5);
    const at = (t: number, p: SearchProgress) => {
      jest.setSystemTime(t);
      bar.updateSearch(p);
    };
    at(10_000, searchProgress(32, 1_000, 0.5, { index: 0, count: 2 }, 0, 2_000));
    at(11_000, searchProgress(992, 1_000, 0.8125, { index: 0, count: 2 }, 0, 2_000)); // within 5 s: held back
    at(12_000, searchProgress(32, 1_000, 0.75, { index: 1, count: 2 }, 1_000, 2_000));
    bar.done();
    expect(
      out
        .text()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/ {2}ETA .*/, '')),
    ).toEqual([
      'progress: template 1 of 2: 32/1,000 evals, best train accuracy 0.5000 (this template); run 32/2,000',
      'progress: template 1 of 2: 992/1,000 evals, best train accuracy 0.8125 (this template); run 992/2,000',
      'progress: template 2 of 2: 32/1,000 evals, best train accuracy 0.7500 (this template); run 1,032/2,000',
    ]);
  });

  test("on a terminal: the bar is the template's share; a line wider than the terminal is cut (its ETA kept), not wrapped", () => {
    jest.useFakeTimers({ now: 0 });
    const out = capture();
    const stream = Object.assign(out.stream, { columns: 60 });
    const bar = new ProgressBar(3_000, stream, true);
    jest.setSystemTime(1000);
    bar.updateSearch(searchProgress(500, 1_000, 0.75, { index: 2, count: 3 }, 2_000, 3_000));
    expect(out.text()).toBe(`\r[${'#'.repeat(12)}${'.'.repeat(12)}] template 3 of 3: 500/1…  ETA -- ${CLEAR}`);
    expect(out.text().length).toBe(1 + 59 + 3);
    // A log line takes the bar's place; done() then ends no line of its own.
    bar.clear();
    out.stream.write('promptsearch: template 3 of 3 done\n');
    bar.done();
    expect(out.text().endsWith('\r\x1b[Kpromptsearch: template 3 of 3 done\n')).toBe(true);
  });
});
