import { PassThrough } from 'stream';
import { ProgressBar } from '../src/runner/progress';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d) => (text += d));
  return { stream, text: () => text };
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
  });

  test('on a terminal: one line redrawn in place', () => {
    jest.useFakeTimers({ now: 0 });
    const out = capture();
    const bar = new ProgressBar(4, out.stream, true);
    jest.setSystemTime(1000);
    bar.update(2, 'evals');
    bar.done();
    expect(out.text()).toMatch(/^\r\[#{12}\.{12}\] 2\/4 evals {2}ETA 1s \n$/);
  });
});
