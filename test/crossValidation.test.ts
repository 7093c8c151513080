/** K-fold cross-validation of an ensemble's fitted parts (prompt/crossValidation.ts) on toy sets with known answers. */
import seedrandom from 'seedrandom';
import {
  chooseReadout,
  crossValidate,
  EnsembleData,
  estimateOf,
  fitEnsemble,
  readoutLogProbs,
  runFolds,
  stratifiedFolds,
} from '../src/prompt/crossValidation';
import { chooseResult, BaselineResult, ResultEstimate } from '../src/runner/ensemble';

const balanced = (n: number, labels: number) => Array.from({ length: n }, (_, i) => i % labels);

describe('stratifiedFolds', () => {
  test('every example in exactly one fold, each class spread evenly, the same for a seed', () => {
    const golds = [...balanced(30, 3), 0, 0];
    const folds = stratifiedFolds(golds, 5, 13);
    expect(folds.flat().sort((a, b) => a - b)).toEqual(golds.map((_, i) => i));
    for (const f of folds)
      for (const l of [0, 1, 2]) expect(f.filter((i) => golds[i] === l).length).toBeGreaterThanOrEqual(2);
    expect(stratifiedFolds(golds, 5, 13)).toEqual(folds);
    expect(stratifiedFolds(golds, 5, 21)).not.toEqual(folds);
  });
});

describe('crossValidate', () => {
  test('a member that knows every label: held-out accuracy 1', () => {
    const golds = balanced(40, 2);
    const data: EnsembleData = {
      golds,
      numLabels: 2,
      members: [{ logProbs: golds.map((g) => (g === 0 ? [-0.1, -2.4] : [-2.4, -0.1])), offsets: { refit: true } }],
      readouts: [],
      fitMembers: true,
    };
    const e = crossValidate(data, { topWords: 0, shrinkage: 0 }, runFolds(data, 5, 13));
    expect(e).toMatchObject({ accuracy: 1, std: 0, folds: 5 });
  });

  test('a member that says the same for every input: exactly the held-out share of the class it picks', () => {
    const golds = balanced(40, 2);
    const data: EnsembleData = {
      golds,
      numLabels: 2,
      members: [{ logProbs: golds.map(() => [-0.5, -0.9]), offsets: { fixed: undefined } }],
      readouts: [],
      fitMembers: false,
    };
    expect(crossValidate(data, { topWords: 0, shrinkage: 0 }, runFolds(data, 5, 13)).accuracy).toBe(0.5);
  });

  test('a readout fitted on noise: right on the examples it was fitted on, near chance on the ones held out', () => {
    const rng = seedrandom('noise');
    const golds = balanced(40, 2);
    const logits = golds.map(() => Float32Array.from({ length: 30 }, () => rng() * 4));
    const data: EnsembleData = {
      golds,
      numLabels: 2,
      members: [],
      readouts: [{ logits, offsets: { fixed: undefined } }],
      fitMembers: false,
    };
    const settings = { topWords: 30, shrinkage: 0 };
    const fitted = fitEnsemble(
      data,
      settings,
      golds.map((_, i) => i),
    );
    const inSample =
      logits.filter((row, i) => {
        const lp = readoutLogProbs(row, fitted.readouts[0]);
        return lp.indexOf(Math.max(...lp)) === golds[i];
      }).length / golds.length;
    expect(inSample).toBeGreaterThan(0.85);
    expect(crossValidate(data, settings, runFolds(data, 5, 13)).accuracy).toBeLessThan(0.7);
  });

  test('the readout setting is chosen on held-out log-loss, and the nested estimate does not exceed the best plain one', () => {
    const rng = seedrandom('signal');
    const golds = balanced(60, 3);
    // Word 0 says the label (3 words per label carry it), the rest is noise: heavy shrinkage and few words win.
    const logits = golds.map((g) =>
      Float32Array.from({ length: 40 }, (_, k) => (k < 9 && Math.floor(k / 3) === g ? 2 : 0) + rng() * 3),
    );
    const data: EnsembleData = {
      golds,
      numLabels: 3,
      members: [],
      readouts: [{ logits, offsets: { refit: true } }],
      fitMembers: true,
    };
    const grid = [
      { topWords: 40, shrinkage: 0 },
      { topWords: 9, shrinkage: 0.9 },
    ];
    const chosen = chooseReadout(data, grid, 5, 13);
    expect(chosen.settings).toEqual({ topWords: 9, shrinkage: 0.9 });
    expect(chosen.tried[1].estimate.logLoss).toBeLessThan(chosen.tried[0].estimate.logLoss);
    const nested = estimateOf(data, grid, 5, 13);
    expect(nested.accuracy).toBeLessThanOrEqual(Math.max(...chosen.tried.map((t) => t.estimate.accuracy)) + 1e-12);
    expect(nested.accuracy).toBeGreaterThan(0.6);
  });
});

describe('chooseResult: never worse than the hand-written prompt by the estimate', () => {
  const est = (accuracy: number): ResultEstimate => ({ accuracy, std: 0, folds: 5, logLoss: 0.5, method: 'test' });
  const baseline = (accuracy: number | null) =>
    ({ estimate: accuracy === null ? null : est(accuracy) }) as BaselineResult;
  test('the baseline when its held-out estimate is higher, the search otherwise (ties: the search)', () => {
    expect(chooseResult(est(0.7), baseline(0.75))).toMatchObject({ baseline: true });
    expect(chooseResult(est(0.7), baseline(0.75)).line).toMatch(
      /^result: the hand-written prompt, which the search did not beat \(cross-validated on train \+ dev: search 70\.0 %, hand-written prompt 75\.0 %\)$/,
    );
    expect(chooseResult(est(0.75), baseline(0.75))).toMatchObject({ baseline: false });
    expect(chooseResult(est(0.8), baseline(0.75)).line).toMatch(/^result: the search's ensemble/);
    expect(chooseResult(null, baseline(0.75))).toMatchObject({ baseline: false });
    expect(chooseResult(est(0.7), undefined)).toEqual({ baseline: false, line: '' });
  });
});
