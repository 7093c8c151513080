import * as fs from 'fs';
import * as path from 'path';
import {
  encoderMatmulParams,
  encoderShape,
  flopsPerTokenPerLayer,
  sentenceFlops,
  totalFlops,
} from '../src/bench/flops';

const config = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'models', 'bert-mini-imdb-uncased', 'config.json'), 'utf8'),
);

describe('necessary FLOPs (bundled bert-mini config)', () => {
  const s = encoderShape(config);

  test('shape from config.json', () => {
    expect(s).toEqual({ layers: 6, hidden: 256, intermediate: 1024 });
  });

  test('per-token count, by hand', () => {
    // 4·256² = 262,144; 2·256·1024 = 524,288; sum 786,432 weights per layer → ×6 = 4,718,592.
    expect(encoderMatmulParams(s)).toBe(4_718_592);
    // 2 × 786,432 = 1,572,864 per token per layer, plus attention 2·2·seq·256 = 1,024·seq.
    expect(flopsPerTokenPerLayer(s, 0)).toBe(1_572_864);
    expect(flopsPerTokenPerLayer(s, 10)).toBe(1_572_864 + 10_240);
    // A 10-token sentence: 6 layers × 10 tokens × 1,583,104 = 94,986,240.
    expect(sentenceFlops(s, 10)).toBe(94_986_240);
  });

  test('totals add sentences; padding is not counted', () => {
    expect(totalFlops(s, [10, 10])).toBe(2 * 94_986_240);
    expect(totalFlops(s, [])).toBe(0);
    // 2 × params × tokens is the matmul part.
    expect(totalFlops(s, [1])).toBe(2 * 4_718_592 + 6 * 1024);
  });
});
