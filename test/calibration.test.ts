/**
 * Calibration end to end: eval's decision rule pinned on fp32, a search's offsets and ensemble in
 * best.json, and exported prompts (single, ensemble, version 1) reproducing the recorded numbers.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadExamples } from '../src/data/load';
import { calibrate, meanOffsets } from '../src/prompt/calibration';
import { loadPrompt } from '../src/export/applyPrompt';
import { promptFileFromRun, PromptFile } from '../src/export/promptFile';
import { validateConfig } from '../src/runner/config';
import { BestResult, runSearch } from '../src/runner/run';
import { evaluateTemplate } from '../src/scoring/evaluate';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-calib-'));

/** A prediction's log-probabilities in label order (its `scores` are probabilities, best first). */
const logProbsOf = (p: { scores: { label: string; score: number }[] }, names = ['negative', 'positive']) =>
  names.map((n) => Math.log(p.scores.find((s) => s.label === n)!.score));
const rel = (v: number[]) => v.map((x) => x - v[0]);
const relLogProbs = (p: { scores: { label: string; score: number }[] }) => rel(logProbsOf(p));

describe('eval: calibrated decision rule (fp32, SST-2 test, "{x} it was [MASK] ." terrible/great)', () => {
  const req = {
    dtype: 'fp32' as const,
    template: '{x} it was [MASK] .',
    verbalizer: 'terrible,great',
    data: { task: 'sst-2', seed: 13 },
    split: 'test' as const,
    threads: 1,
  };

  test("raw 0.6282, calibrated on the seed's train + dev inputs 0.7831, content-free 0.7754", async () => {
    const raw = await evaluateTemplate({ ...req, calibration: 'none' });
    const cal = await evaluateTemplate({ ...req, calibration: 'inputs' });
    const cf = await evaluateTemplate({ ...req, calibration: 'content-free' });
    expect(raw.accuracy).toBeCloseTo(0.6282, 4);
    expect(raw.calibration.offsets).toBeNull();
    expect(cal.accuracy).toBeCloseTo(0.7831, 4);
    expect(cf.accuracy).toBeCloseTo(0.7754, 4);
    // The offsets are the mean label log-probabilities over the 64 train + dev inputs.
    const ref = await evaluateTemplate({ ...req, split: 'train', calibration: 'none' });
    const refDev = await evaluateTemplate({ ...req, split: 'dev', calibration: 'none' });
    const expected = meanOffsets(
      [...ref.examples, ...refDev.examples].map((e) => e.labelScores),
      2,
    );
    cal.calibration.offsets!.forEach((o, l) => expect(o).toBeCloseTo(expected[l], 6));
    // Calibration shifts the decision towards the under-predicted class.
    expect(cal.perClassAccuracy[0]).toBeGreaterThan(raw.perClassAccuracy[0] + 0.3);
  }, 300_000);
});

describe('a calibrated search with an ensemble; exported prompts reproduce its numbers', () => {
  let runDir: string;
  let best: BestResult;
  const testSet = loadExamples({ task: 'sst-2' }, 'test').examples;
  const texts = testSet.map((e) => e.fields.sentence);
  const accuracyOf = (labels: number[]) => labels.filter((l, i) => l === testSet[i].label).length / testSet.length;

  beforeAll(async () => {
    runDir = path.join(tmp(), 'run');
    const config = validateConfig(
      {
        name: 't',
        task: 'sst-2',
        seed: 13,
        template: '{x} <A:1> [MASK] .',
        verbalizer: 'terrible,great',
        strategy: 'random',
        candidates: { topK: 8 },
        budget: 600,
        selectTopK: 3,
        ensemble: 3,
        workers: 1,
        threadsPerWorker: 1,
      },
      'x',
    );
    best = await runSearch(config, { runDir });
  }, 600_000);

  test('best.json records the decision rule and the ensemble', () => {
    expect(best.selected.calibration.mode).toBe('inputs');
    expect(best.selected.calibration.offsets).toHaveLength(2);
    expect(best.selected.objective.name).toBe('ce');
    expect(best.members!).toHaveLength(3);
    expect(best.members![0].prompt).toBe(best.selected.prompt);
    expect(best.result).toBe('ensemble');
    expect(new Set(best.members!.map((m) => m.prompt)).size).toBe(3);
  });

  test('the single prompt and the ensemble reproduce their recorded test accuracy exactly through loadPrompt', async () => {
    const single = await loadPrompt(promptFileFromRun(runDir, { ensemble: false }), { threads: 1 });
    const ens = await loadPrompt(promptFileFromRun(runDir, { ensemble: true }), { threads: 1 });
    try {
      const s = await single.classify(texts);
      const e = await ens.classify(texts);
      expect(accuracyOf(s.map((p) => p.labelId))).toBe(best.selected.testAccuracy);
      expect(accuracyOf(e.map((p) => p.labelId))).toBe(best.testAccuracy);
      // The ensemble's scores are the mean of its members' calibrated log-probabilities.
      const members = await Promise.all(
        promptFileFromRun(runDir, { ensemble: true }).ensemble!.members.map(async (m) => {
          const file: PromptFile = {
            ...promptFileFromRun(runDir, { ensemble: false }),
            slots: m.slots,
            labels: m.labels,
            calibration: m.calibration,
          };
          const lp = await loadPrompt(file, { threads: 1 });
          try {
            // The same rows in the same batches as the ensemble's (int8 quantizes per batch).
            return (await lp.classify(texts)).slice(0, 20).map((p) => relLogProbs(p));
          } finally {
            await lp.dispose();
          }
        }),
      );
      // (Compared as log-odds against label 0: predictions carry probabilities, softmax of the scores.)
      for (let i = 0; i < 20; i++)
        relLogProbs(e[i]).forEach((v, l) =>
          expect(v).toBeCloseTo(members.reduce((a, m) => a + m[i][l], 0) / members.length, 8),
        );
    } finally {
      await single.dispose();
      await ens.dispose();
    }
  }, 600_000);

  test('a version 1 prompt file (no calibration) still loads and applies raw scores', async () => {
    const v2 = promptFileFromRun(runDir, { ensemble: false });
    const { calibration: _c, ...rest } = v2;
    const v1 = { ...rest, version: 1 } as unknown as PromptFile;
    const raw = { ...v2, calibration: { mode: 'none' as const, offsets: null } };
    const a = await loadPrompt(v1, { threads: 1 });
    const b = await loadPrompt(raw, { threads: 1 });
    try {
      const pa = await a.classify(texts.slice(0, 200));
      const pb = await b.classify(texts.slice(0, 200));
      expect(pa).toEqual(pb);
      // and the calibrated file decides differently on some inputs, by its stored offsets
      const cal = await loadPrompt(v2, { threads: 1 });
      try {
        const pc = await cal.classify(texts.slice(0, 200));
        pc.forEach((p, i) =>
          relLogProbs(p).forEach((v, l) =>
            expect(v).toBeCloseTo(rel(calibrate(logProbsOf(pb[i]), v2.calibration.offsets!))[l], 6),
          ),
        );
        expect(pc.some((p, i) => p.labelId !== pb[i].labelId)).toBe(true);
      } finally {
        await cal.dispose();
      }
    } finally {
      await a.dispose();
      await b.dispose();
    }
  }, 600_000);

  test('prompt files with bad calibration fields are refused with the field named', async () => {
    const v2 = promptFileFromRun(runDir, { ensemble: false });
    await expect(loadPrompt({ ...v2, calibration: { mode: 'inputs', offsets: [1] } })).rejects.toThrow(
      /'calibration.offsets' must list 2 finite numbers/,
    );
    await expect(
      loadPrompt({ ...v2, calibration: { mode: 'bogus', offsets: null } } as unknown as PromptFile),
    ).rejects.toThrow(/calibration.mode: expected one of inputs, content-free, none/);
    // --soft of a run that was not refined says so first (an ensemble's refinement exports as an ensemble).
    expect(() => promptFileFromRun(runDir, { ensemble: true, soft: true })).toThrow(/has not been refined/);
  });
});
