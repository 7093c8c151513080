/**
 * The run's choices and estimate read only train and dev (issue 32): a run whose test split is
 * corrupted (labels flipped, texts shuffled among examples) makes every choice the same (the
 * discriminant's settings, the estimate, the baseline's estimate, which of the two is the result,
 * every fitted weight) and reports a different test accuracy; and the result is exported and
 * applied whichever it is.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import seedrandom from 'seedrandom';
import { loadPrompt } from '../src/export/applyPrompt';
import { promptFileFromRun } from '../src/export/promptFile';
import { validateConfig } from '../src/runner/config';
import { BestResult, runSearch } from '../src/runner/run';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-honest-'));
const SST2 = path.join(__dirname, '..', 'datasets', '16-shot', 'sst-2');
const dir = tmp();
const testRows = fs.readFileSync(path.join(SST2, 'test.tsv'), 'utf8').trimEnd().split('\n').slice(0, 121);
const TEST = path.join(dir, 'test.tsv');
fs.writeFileSync(TEST, testRows.join('\n') + '\n');
// The same test file corrupted: every label flipped, the sentences shuffled among the rows.
const CORRUPT = path.join(dir, 'test-corrupt.tsv');
{
  const rng = seedrandom('corrupt');
  const body = testRows.slice(1).map((r) => r.split('\t'));
  const texts = body.map((r) => r[0]).sort(() => rng() - 0.5);
  fs.writeFileSync(CORRUPT, [testRows[0], ...body.map((r, i) => `${texts[i]}\t${1 - Number(r[1])}`)].join('\n') + '\n');
}

async function run(
  test: string,
  fields: Record<string, unknown> = {},
  runDir = path.join(tmp(), 'run'),
): Promise<BestResult> {
  const config = validateConfig(
    {
      version: 2,
      name: 'honest',
      data: { train: path.join(SST2, '16-13', 'train.tsv'), dev: path.join(SST2, '16-13', 'dev.tsv'), test },
      verbalizer: 'terrible,great',
      dtype: 'fp32',
      templates: ['{x} <A:1> [MASK] .', '<A:1> [MASK] : {x}'],
      strategy: 'random',
      candidates: { topK: 8 },
      selectTopK: 2,
      budget: 600,
      workers: 1,
      threadsPerWorker: 1,
      ...fields,
    },
    'x',
  );
  return runSearch(config, { runDir });
}

describe('the choices and the estimate read only train and dev', () => {
  let clean: BestResult;
  let corrupt: BestResult;
  beforeAll(async () => {
    clean = await run(TEST);
    corrupt = await run(CORRUPT);
  }, 600_000);

  test('the readout settings chosen, every setting tried, the estimate and the fitted members are the same', () => {
    expect(clean.readoutChoice?.chosenBy).toBe('cross-validation');
    expect(clean.readoutChoice!.tried).toHaveLength(15);
    expect(corrupt.readoutChoice).toEqual(clean.readoutChoice);
    expect(clean.estimate).toMatchObject({ folds: 5 });
    expect(corrupt.estimate).toEqual(clean.estimate);
    expect(corrupt.members).toEqual(clean.members);
  });

  test('the baseline, its estimate and the choice between it and the search are the same', () => {
    expect(clean.baseline?.prompt).toBe('{x} it was [MASK] .');
    expect(corrupt.baseline!.estimate).toEqual(clean.baseline!.estimate);
    expect(corrupt.choice).toBe(clean.choice);
    expect(clean.choice).toMatch(
      /^result: the (search's ensemble|hand-written prompt, which the search did not beat) \(/,
    );
  });

  test('test was read, for the report only: the corrupted split scores differently', () => {
    expect(corrupt.testAccuracy).not.toBe(clean.testAccuracy);
    expect(corrupt.baseline!.testAccuracy).not.toBe(clean.baseline!.testAccuracy);
  });
});

describe('never worse than the hand-written prompt, by the estimate', () => {
  test('a search too weak to beat it (2 tokens per slot, no readouts or fits): the result is the hand-written prompt, exported and applied as such', async () => {
    const runDir = path.join(tmp(), 'weak');
    const best = await run(
      TEST,
      {
        templates: ['{x} <A:1> [MASK]', '[MASK] <A:1> {x}'],
        candidates: { topK: 2 },
        selectTopK: 1,
        readoutMembers: false,
        fitMemberWeights: false,
        budget: 300,
      },
      runDir,
    );
    expect(best.baseline!.estimate!.accuracy).toBeGreaterThan(best.searched!.estimate!.accuracy);
    expect(best.choice).toMatch(/^result: the hand-written prompt, which the search did not beat/);
    expect(best.prompt).toBe('the hand-written prompt {x} it was [MASK] .');
    expect(best.members).toHaveLength(1);
    expect(best.members![0]).toMatchObject({
      template: '{x} it was [MASK] .',
      slots: {},
      labelWords: [['terrible'], ['great']],
    });
    expect(best.testAccuracy).toBe(best.baseline!.testAccuracy);
    expect(best.estimate).toEqual(best.baseline!.estimate);
    // The searched ensemble is kept beside it.
    expect(best.searched!.members.length).toBeGreaterThan(1);
    // Exported and applied, it gives the baseline's test accuracy.
    const loaded = await loadPrompt(promptFileFromRun(runDir, { ensemble: true }), { threads: 1 });
    try {
      const rows = testRows.slice(1).map((r) => r.split('\t'));
      const preds = await loaded.classify(rows.map((r) => r[0]));
      const right = preds.filter((p, i) => p.labelId === Number(rows[i][1])).length;
      expect(right / rows.length).toBeCloseTo(best.testAccuracy!, 10);
    } finally {
      await loaded.dispose();
    }
  }, 600_000);
});
