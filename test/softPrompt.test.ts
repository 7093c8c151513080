import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { loadExamples } from '../src/data/load';
import { isUserError } from '../src/errors';
import { readWordEmbeddings } from '../src/model/graph/embedsInput';
import { resolveModel } from '../src/model/modelFolder';
import { loadPrompt } from '../src/export/applyPrompt';
import { PromptFile, promptFileFromRun, readPromptFile, validatePromptFile } from '../src/export/promptFile';
import { project, randomProjection, std } from '../src/refine/projection';
import { RefineResult, SoftPromptData, runRefine } from '../src/refine/refine';
import { BestResult } from '../src/runner/run';
import { CLI, tinySearchRun } from './helpers';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-soft-'));
const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of a run directory (before it is refined). */
function copyRun(from: string): string {
  const to = path.join(tmp(), 'run');
  fs.cpSync(from, to, { recursive: true });
  return to;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('projection (BBT building blocks)', () => {
  test('randomProjection: deterministic per seed, entries N(0, (scale/√dim)²)', () => {
    const a = randomProjection(2001, 50, 0.3, 7); // odd length: the last Box–Muller pair is half used
    expect(randomProjection(2001, 50, 0.3, 7)).toEqual(a);
    expect(randomProjection(2001, 50, 0.3, 8)).not.toEqual(a);
    expect(a).toHaveLength(2001 * 50);
    expect(a.every((x) => Number.isFinite(x))).toBe(true);
    const expected = 0.3 / Math.sqrt(50);
    expect(Math.abs(std(a) - expected) / expected).toBeLessThan(0.05);
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.05 * expected);
  });

  test('project = p0 + A z (A row-major), p0 left alone', () => {
    const p0 = Float32Array.from([1, 2]);
    const a = Float32Array.from([1, 2, 3, 4]); // [[1, 2], [3, 4]]
    const out = project(p0, a, [0.5, -1]);
    expect(Array.from(out)).toEqual([1 + 0.5 - 2, 2 + 1.5 - 4]);
    expect(Array.from(p0)).toEqual([1, 2]);
    expect(Array.from(project(p0, a, [0, 0]))).toEqual([1, 2]);
  });
});

describe('soft prompts: refine, export --soft, predict', () => {
  let runDir: string;
  let unrefinedDir: string;
  let smallDir: string;
  let best: BestResult;
  let result: RefineResult;
  let softPromptPath: string;

  beforeAll(async () => {
    runDir = path.join(tmp(), 'run');
    best = await tinySearchRun(runDir);
    unrefinedDir = copyRun(runDir);
    smallDir = copyRun(runDir);
    // Seed 4, σ0 1: on this tiny run refinement beats the discrete prompt on dev (0.78 vs 0.75 on
    // x86-64), so the soft vectors exported below are not just p0. (Seed 13, σ0 0.5 keeps p0.)
    result = await runRefine(runDir, { budget: 1500, dim: 16, seed: 4, sigma0: 1, threads: 1 });
    const r = cli(['export', runDir, '--soft']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    softPromptPath = path.join(runDir, 'prompt.soft.json');
  }, 600_000);

  test('refine improves on the discrete prompt: train accuracy of its candidates, and dev', () => {
    // Each generation's best candidate on train (3 generations of 12 on this budget).
    const lines = fs
      .readFileSync(path.join(runDir, 'refine', 'progress.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { trainAccuracy: number });
    expect(lines.length).toBe(result.generations);
    expect(Math.max(...lines.map((l) => l.trainAccuracy))).toBeGreaterThan(result.discrete.train);
    // This run is chosen so that refinement pays off on dev (see beforeAll): the soft prompt is
    // kept, and it is strictly better on dev than the discrete one.
    expect(result.improvedDev).toBe(true);
    expect(result.refined.dev).toBeGreaterThan(result.discrete.dev);
  });

  test('refine: dev never goes down; result.json and soft.json written', () => {
    expect(result.refined.dev).toBeGreaterThanOrEqual(result.discrete.dev);
    expect(result.generations).toBeGreaterThan(0);
    expect(result.evaluations).toBeLessThanOrEqual(1500);
    expect(readJson<RefineResult>(path.join(runDir, 'refine', 'result.json'))).toMatchObject({
      discrete: result.discrete,
      refined: result.refined,
      generations: result.generations,
    });
    const soft = readJson<SoftPromptData>(path.join(runDir, 'refine', 'soft.json'));
    expect(soft.slotTokens.map((t) => t.id)).toEqual(best.selected.slots.A.ids);
    expect(soft.vectors).toHaveLength(best.selected.slots.A.ids.length);
    expect(soft.vectors.every((v) => v.length === soft.hidden)).toBe(true);
    expect(soft.modelSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  test("export --soft: the schema's soft field, refined scores", () => {
    const p = readPromptFile(softPromptPath);
    const soft = readJson<SoftPromptData>(path.join(runDir, 'refine', 'soft.json'));
    expect(p).toMatchObject({
      schema: 'promptsearch/prompt',
      version: 2,
      template: best.selected.template,
      slots: best.selected.slots,
      calibration: soft.calibration,
    });
    expect(p.scores).toEqual(result.refined);
    expect(p.soft).toEqual({
      hidden: soft.hidden,
      vectors: soft.vectors,
      modelSha256: soft.modelSha256,
      refine: {
        discrete: result.discrete,
        refined: result.refined,
        improvedDev: result.improvedDev,
        evaluations: result.evaluations,
        budget: 1500,
        generations: result.generations,
        options: result.options,
        of: 'prompt',
      },
    });
    expect(p.soft!.modelSha256).toBe(p.model.onnxSha256);
    // The discrete prompt.json is not overwritten; plain export still gives the discrete prompt.
    expect(promptFileFromRun(runDir).soft).toBeUndefined();
  });

  test("loadPrompt of the soft prompt reproduces refine's test accuracy exactly", async () => {
    const test = loadExamples({ task: 'sst-2' }, 'test').examples;
    const warn = jest.fn();
    const loaded = await loadPrompt(softPromptPath, { threads: 1, warn });
    try {
      const preds = await loaded.classify(test.map((e) => e.fields.sentence));
      const correct = preds.filter((p, i) => p.labelId === test[i].label).length;
      expect(correct / test.length).toBe(result.refined.test);
      expect(preds[0].scores[0].score + preds[0].scores[1].score).toBeCloseTo(1, 6);
    } finally {
      await loaded.dispose();
    }
    expect(warn).not.toHaveBeenCalled();
  });

  test('the vectors are applied: other vectors, other scores; the discrete rows, the discrete scores', async () => {
    const p = readPromptFile(softPromptPath);
    const folder = resolveModel(best.model, best.dtype as 'int8');
    const emb = readWordEmbeddings(fs.readFileSync(folder.onnxPath), folder.onnxPath);
    const p0 = best.selected.slots.A.ids.map((id) =>
      Array.from(emb.matrix.subarray(id * emb.hidden, (id + 1) * emb.hidden)),
    );
    const noisy = p0.map((v) => v.map((x, j) => x + (j % 2 ? 0.5 : -0.5)));
    const texts = ['a gorgeous , witty , seductive movie .', 'the plot is nothing but boilerplate clichés'];
    const scoresOf = async (prompt: PromptFile) => {
      const loaded = await loadPrompt(prompt, { threads: 1 });
      try {
        // Log-odds negative : positive, i.e. the difference of the two label scores (logits).
        const prob = (x: { scores: { label: string; score: number }[] }, label: string) =>
          x.scores.find((s) => s.label === label)!.score;
        return (await loaded.classify(texts)).map((x) => [
          Math.log(prob(x, 'negative')) - Math.log(prob(x, 'positive')),
        ]);
      } finally {
        await loaded.dispose();
      }
    };
    const { soft: _s, ...discrete } = p;
    const discreteScores = await scoresOf(discrete as PromptFile);
    expect(await scoresOf({ ...p, soft: { ...p.soft!, vectors: p0 } })).toEqual(
      discreteScores.map((r) => r.map((x) => expect.closeTo(x, 4))),
    );
    const noisyScores = (await scoresOf({ ...p, soft: { ...p.soft!, vectors: noisy } })).flat();
    discreteScores.flat().forEach((x, i) => expect(Math.abs(noisyScores[i] - x)).toBeGreaterThan(1e-3));
  });

  test('vectors of another model: a UserError, not a warning', async () => {
    const p = readPromptFile(softPromptPath);
    const wrong: PromptFile = { ...p, soft: { ...p.soft!, modelSha256: '0'.repeat(64) } };
    const warn = jest.fn();
    const e = await rejection(loadPrompt(wrong, { threads: 1, warn }));
    expect(isUserError(e)).toBe(true);
    expect(e.message).toMatch(/vectors belong to another model/);
    // The same file with another model (fp32 instead of int8): also refused.
    const e2 = await rejection(loadPrompt(softPromptPath, { dtype: 'fp32', threads: 1, warn }));
    expect(isUserError(e2)).toBe(true);
    expect(e2.message).toMatch(/vectors belong to another model: .*model\.onnx/);
    expect(warn).not.toHaveBeenCalled();
  });

  test('reading validates soft: one finite vector of hidden numbers per slot token', () => {
    const p = readPromptFile(softPromptPath);
    const s = p.soft!;
    const check = (soft: unknown) => () => validatePromptFile({ ...p, soft }, 'f.json');
    expect(check(s)).not.toThrow();
    expect(check({ ...s, vectors: s.vectors.slice(1) })).toThrow(
      /'soft.vectors' must list 2 vector\(s\), one per slot token/,
    );
    expect(check({ ...s, vectors: [s.vectors[0], s.vectors[1].slice(1)] })).toThrow(
      /'soft.vectors\[1\]' must be a list of \d+ numbers/,
    );
    expect(check({ ...s, vectors: [s.vectors[0], [null, ...s.vectors[1].slice(1)]] })).toThrow(
      /'soft.vectors\[1\]' must hold finite numbers only/,
    );
    expect(check({ ...s, hidden: 0 })).toThrow(/'soft.hidden'/);
    expect(check({ ...s, modelSha256: 'abc' })).toThrow(/'soft.modelSha256'/);
    expect(check([s])).toThrow(/'soft' must be an object/);
  });

  test('export --soft of a run that was not refined: a clear error', () => {
    const r = cli(['export', unrefinedDir, '--soft']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `promptsearch: ${unrefinedDir}: the run has not been refined (no refine/soft.json); run \`promptsearch refine ${unrefinedDir}\` first\n`,
    );
    expect(() => promptFileFromRun(unrefinedDir, { soft: true })).toThrow(/has not been refined/);
  });

  test('a budget that cannot pay for one generation: refused with one line, nothing written', async () => {
    const e = await rejection(runRefine(smallDir, { budget: 32 + 32 + 1, dim: 16, threads: 1 }));
    expect(isUserError(e)).toBe(true);
    // 12 candidates of dim 16 on 32 train examples, plus the 32 dev ones; and the discrete scoring.
    expect(e.message).toBe(
      'refine: a budget of 65 example evaluations cannot pay for one generation (scoring the discrete prompt costs 64, a generation 416); give --budget 480 or more',
    );
    expect(fs.existsSync(path.join(smallDir, 'refine'))).toBe(false);
    const r = cli(['refine', smallDir, '--budget', '10', '--dim', '16']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^promptsearch: refine: a budget of 10 example evaluations cannot pay for one generation .* give --budget 480 or more\n$/,
    );
  });

  test("no generation beats the discrete prompt on dev: the refined result is the run's own, exported as the discrete prompt", async () => {
    // A step size so small that every candidate reads as the discrete prompt: ties keep it.
    const small = await runRefine(smallDir, { budget: 480, dim: 16, sigma0: 1e-6, threads: 1 });
    expect(small.generations).toBe(1);
    expect(small.improvedDev).toBe(false);
    expect(small.discrete).toEqual({ train: best.trainAccuracy, dev: best.devAccuracy, test: best.testAccuracy });
    expect(small.refined).toEqual(small.discrete);
    expect(small.discrete).toEqual(result.discrete);
    // The stored vectors are p0: the slot tokens' rows of the embedding table, exactly.
    const soft = readJson<SoftPromptData>(path.join(smallDir, 'refine', 'soft.json'));
    const folder = resolveModel(best.model, best.dtype as 'int8');
    const emb = readWordEmbeddings(fs.readFileSync(folder.onnxPath), folder.onnxPath);
    expect(soft.vectors).toEqual(
      best.selected.slots.A.ids.map((id) => Array.from(emb.matrix.subarray(id * emb.hidden, (id + 1) * emb.hidden))),
    );
    // export --soft: the run's discrete prompt (predict reproduces the run's numbers), with what refine did.
    const p = promptFileFromRun(smallDir, { soft: true });
    expect(p.soft).toBeUndefined();
    expect(p.scores).toEqual(small.discrete);
    expect(p.refine).toMatchObject({ of: 'prompt', improvedDev: false, generations: 1, discrete: small.discrete });
    const { refine: _r, createdAt: _c, ...rest } = p;
    const { createdAt: _c2, ...plain } = promptFileFromRun(smallDir);
    expect(rest).toEqual(plain);
  });
});
