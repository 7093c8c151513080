/** The label-expansion tuning protocol (tuning/labelExpansion.ts) reads train and dev only, and its choice rule. */
import { loadExamples } from '../src/data/load';
import { loadModel, LoadedModel } from '../src/model/load';
import { chooseExpansion, expansionProtocol } from '../src/tuning/labelExpansion';

describe('the label-expansion protocol', () => {
  let model: LoadedModel;
  beforeAll(async () => {
    model = await loadModel({ model: 'bert-mini-imdb-uncased', dtype: 'fp32', threads: 1 });
  });
  afterAll(async () => model.dispose());

  test('asks for train and dev only, never test, and scores every grid point on them', async () => {
    const asked: string[] = [];
    const r = await expansionProtocol({
      tasks: ['sst-2'],
      seeds: [13],
      grid: [
        { words: 0, minCosine: 1 },
        { words: 10, minCosine: 0.5 },
      ],
      load: (task, seed, split) => {
        asked.push(split);
        if ((split as string) === 'test') throw new Error('the protocol read test');
        return loadExamples({ task, seed }, split);
      },
      model,
    });
    expect(asked.sort()).toEqual(['dev', 'train']);
    expect(r.cells).toHaveLength(1);
    expect(r.cells[0].points).toHaveLength(2);
    for (const p of r.cells[0].points) {
      // 64 labelled examples: accuracy in steps of 1/64.
      expect(Number.isInteger(p.accuracy * 64)).toBe(true);
      expect(p.crossEntropy).toBeGreaterThan(0);
    }
  }, 120_000);
});

describe('chooseExpansion', () => {
  const grid = [
    { words: 0, minCosine: 1 },
    { words: 5, minCosine: 0.5 },
    { words: 10, minCosine: 0.5 },
    { words: 10, minCosine: 0.6 },
  ];
  test('the best mean accuracy wins', () => {
    const means = [0.7, 0.72, 0.75, 0.74].map((accuracy) => ({ accuracy, crossEntropy: 0.6 }));
    expect(chooseExpansion(grid, means)).toEqual({ words: 10, minCosine: 0.5 });
  });
  test('within 0.1 point: lower cross-entropy, then fewer words, then a higher floor', () => {
    expect(
      chooseExpansion(grid, [
        { accuracy: 0.7, crossEntropy: 0.6 },
        { accuracy: 0.7004, crossEntropy: 0.59 },
        { accuracy: 0.7, crossEntropy: 0.58 },
        { accuracy: 0.6, crossEntropy: 0.5 },
      ]),
    ).toEqual({ words: 10, minCosine: 0.5 });
    const same = grid.map(() => ({ accuracy: 0.7, crossEntropy: 0.6 }));
    expect(chooseExpansion(grid, same)).toEqual({ words: 0, minCosine: 1 });
    expect(chooseExpansion(grid.slice(2), same.slice(2))).toEqual({ words: 10, minCosine: 0.6 });
  });
});
