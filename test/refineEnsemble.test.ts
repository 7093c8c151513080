/**
 * `promptsearch refine` on an ensemble run: over two templates (readout members and member fits,
 * as the recommended default has them), and over one template with `ensemble` > 1. The run's
 * result is refined member by member; the refined ensemble exports as a version 6 prompt file
 * (members with their own soft prompts) that `predict` applies with refine's test accuracy.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { isUserError } from '../src/errors';
import { loadPrompt } from '../src/export/applyPrompt';
import {
  EnsembleMemberFile,
  PROMPT_VERSION_SOFT_MEMBERS,
  promptFileFromRun,
  readPromptFile,
  validatePromptFile,
} from '../src/export/promptFile';
import { RefineResult, SoftPromptData, refineTarget, runRefine } from '../src/refine/refine';
import { validateConfig } from '../src/runner/config';
import { BestResult, runSearch } from '../src/runner/run';
import { CLI } from './helpers';
import { upgradeBest } from '../src/runner/runDir';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-refens-'));
const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;
// Refine settings chosen so that a member's soft prompt raises the ensemble's dev on these tiny runs
// (measured on x86-64: two templates 0.6875 → 0.71875, member 2 and its readout member soft; one
// template 0.71875 → 0.78125). Other seeds keep the discrete members, which the tests allow.
const REFINE_SEED = 1;
const REFINE_BUDGET = 1500;
const SINGLE_SEED = 2;
const SINGLE_BUDGET = 1200;
// The bundled SST-2 seed-13 train and dev (what the search and refine choose on), and the first 200
// rows of its test split (scored for the report only): a test pass is 200 rows, not 1,821.
const SST2 = path.join(__dirname, '..', 'datasets', '16-shot', 'sst-2');
const TEST_FILE = path.join(tmp(), 'test200.tsv');
fs.writeFileSync(
  TEST_FILE,
  fs.readFileSync(path.join(SST2, 'test.tsv'), 'utf8').split('\n').slice(0, 201).join('\n') + '\n',
);
const DATA = {
  train: path.join(SST2, '16-13', 'train.tsv'),
  dev: path.join(SST2, '16-13', 'dev.tsv'),
  test: TEST_FILE,
};

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `predict` on the runs' test file: its accuracy as a fraction (correct / total). */
function predictAccuracy(promptFile: string): number {
  const r = cli([
    'predict',
    '--prompt',
    promptFile,
    '--data',
    TEST_FILE,
    '--threads',
    '1',
    '--out',
    path.join(tmp(), 'p.jsonl'),
  ]);
  expect(r.code).toBe(0);
  const m = /accuracy [\d.]+ \((\d+)\/(\d+) correct/.exec(r.stderr);
  expect(m).not.toBeNull();
  return Number(m![1]) / Number(m![2]);
}

const base = {
  data: DATA,
  seed: 13,
  verbalizer: 'terrible,great',
  dtype: 'fp32',
  strategy: 'random',
  candidates: { topK: 8 },
  selectTopK: 2,
  workers: 1,
  threadsPerWorker: 1,
};

describe('refine a run over two templates (readout members, member fits)', () => {
  let runDir: string;
  let best: BestResult;
  let result: RefineResult;
  let exported: string;

  beforeAll(async () => {
    runDir = path.join(tmp(), 'run');
    const config = validateConfig(
      {
        ...base,
        name: 'm',
        templates: ['{x} <A:1> [MASK] .', '<A:1> [MASK] : {x}'],
        // Fixed readout settings (not chosen by cross-validation): the refine seed below is chosen for this ensemble.
        readoutMembers: { method: 'discriminant', topWords: 16, shrinkage: 0.9 },
        fitMembers: true,
        budget: 800,
      },
      'x',
    );
    best = await runSearch(config, { runDir });
    const r = cli([
      'refine',
      runDir,
      '--budget',
      String(REFINE_BUDGET),
      '--dim',
      '8',
      '--pop',
      '4',
      '--sigma',
      '1',
      '--seed',
      String(REFINE_SEED),
      '--threads',
      '1',
      '--json',
    ]);
    expect(r.code).toBe(0);
    result = JSON.parse(r.stdout) as RefineResult;
    const e = cli(['export', runDir, '--soft']);
    expect(e.stderr).toBe('');
    expect(e.code).toBe(0);
    exported = path.join(runDir, 'prompt.soft.json');
  }, 1_200_000);

  test("the discrete numbers are the run's result (its ensemble's), and refined dev is not below them", () => {
    expect(best.members!).toHaveLength(4);
    expect(result.of).toBe('ensemble');
    expect(result.discrete.dev).toBe(best.devAccuracy);
    expect(result.discrete.test).toBe(best.testAccuracy);
    expect(result.refined.dev).toBeGreaterThanOrEqual(result.discrete.dev);
    expect(result.evaluations).toBeLessThanOrEqual(REFINE_BUDGET);
    // The two prompt members, refined in turn, each with its share of the budget.
    expect(result.members!.map((m) => m.member)).toEqual([0, 1]);
    expect(result.members!.map((m) => m.prompt)).toEqual(best.members!.slice(0, 2).map((m) => m.prompt));
    expect(result.members![0].devBefore).toBe(result.discrete.dev);
    expect(result.members![1].devAfter).toBe(result.refined.dev);
    for (const m of result.members!) expect(m.devAfter).toBeGreaterThanOrEqual(m.devBefore);
    expect(result.members!.reduce((s, m) => s + m.budget, 0)).toBeLessThanOrEqual(REFINE_BUDGET);
    // This run and seed are chosen so that a member's soft prompt raises the ensemble's dev.
    expect(result.improvedDev).toBe(true);
    expect(result.refined.dev).toBeGreaterThan(result.discrete.dev);
  });

  test('soft.json: one entry per ensemble member, vectors for the soft ones with their own template and slots', () => {
    const soft = readJson<SoftPromptData>(path.join(runDir, 'refine', 'soft.json'));
    expect(soft.members).toHaveLength(4);
    soft.members!.forEach((sm, k) => {
      const m = best.members![k];
      if (!sm) return;
      expect(sm.slotTokens.map((t) => t.id)).toEqual(m.slots.A.ids);
      expect(sm.vectors).toHaveLength(m.slots.A.ids.length);
      expect(sm.vectors.every((v) => v.length === soft.hidden)).toBe(true);
      expect(sm.fit!.bias).toHaveLength(2);
    });
    const kept = result.members!.filter((m) => m.kept === 'soft');
    expect(soft.members!.map((sm, k) => (sm ? k : -1)).filter((k) => k >= 0)).toEqual(
      kept.flatMap((m) => [m.member, ...m.readoutMembers]).sort(),
    );
  });

  test("export --soft: a version 6 prompt file of the refined ensemble; predict reproduces refine's test accuracy exactly", () => {
    const p = readPromptFile(exported);
    expect(p.version).toBe(PROMPT_VERSION_SOFT_MEMBERS);
    expect(p.ensemble!.members).toHaveLength(4);
    expect(p.ensemble!.members.map((m) => m.template)).toEqual(best.members!.map((m) => m.template));
    expect(p.ensemble!.members.some((m) => m.soft)).toBe(true);
    expect(p.scores).toEqual(result.refined);
    expect(p.refine).toMatchObject({
      of: 'ensemble',
      discrete: result.discrete,
      refined: result.refined,
      members: result.members,
    });
    expect(predictAccuracy(exported)).toBe(result.refined.test);
  }, 600_000);

  test("the plain export is still the run's discrete ensemble, with best.json's numbers", () => {
    const plain = promptFileFromRun(runDir, { ensemble: true });
    expect(plain.ensemble!.members.some((m) => m.soft)).toBe(false);
    expect(plain.version).toBe(5);
    expect(plain.scores.test).toBe(best.testAccuracy);
  });

  test('reading checks soft members: version 6, one vector per slot token, one model', () => {
    const p = readPromptFile(exported);
    const k = p.ensemble!.members.findIndex((m) => m.soft);
    const withMember =
      (f: (m: EnsembleMemberFile) => object, version = p.version) =>
      () =>
        validatePromptFile(
          {
            ...p,
            version,
            ensemble: { members: p.ensemble!.members.map((m, j) => (j === k ? { ...m, ...f(m) } : m)) },
          },
          'f.json',
        );
    expect(withMember(() => ({}))).not.toThrow();
    expect(withMember(() => ({}), 5)).toThrow(new RegExp(`'ensemble.members\\[${k}\\].soft' needs version 6 or later`));
    expect(withMember((m) => ({ soft: { ...m.soft!, vectors: [...m.soft!.vectors, m.soft!.vectors[0]] } }))).toThrow(
      new RegExp(`'ensemble.members\\[${k}\\].soft.vectors' must list 1 vector\\(s\\)`),
    );
    expect(withMember((m) => ({ soft: { ...m.soft!, modelSha256: 'abc' } }))).toThrow(/soft.modelSha256/);
    expect(() => validatePromptFile({ ...p, soft: p.ensemble!.members[k].soft }, 'f.json')).toThrow(
      /'ensemble' cannot be combined with soft/,
    );
  });

  test('refine --budget 10: refused with one line, exit 2', () => {
    const r = cli(['refine', runDir, '--budget', '10', '--dim', '8', '--pop', '4']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^promptsearch: refine: a budget of 10 example evaluations cannot pay for one generation for each of the 2 prompt members .*; give --budget \d+ or more\n$/,
    );
  });

  test('export --soft --no-ensemble of a refined ensemble: refused', () => {
    const r = cli(['export', runDir, '--soft', '--no-ensemble']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refinement is of its ensemble/);
  });
});

describe('refine a run over one template with an ensemble of 2', () => {
  let runDir: string;
  let best: BestResult;
  let result: RefineResult;

  beforeAll(async () => {
    runDir = path.join(tmp(), 'run');
    const config = validateConfig(
      { ...base, name: 's', template: '{x} <A:2> [MASK] .', ensemble: 2, selectTopK: 3, budget: 600 },
      'x',
    );
    best = await runSearch(config, { runDir });
    result = await runRefine(runDir, {
      budget: SINGLE_BUDGET,
      dim: 8,
      popSize: 4,
      sigma0: 1,
      seed: SINGLE_SEED,
      threads: 1,
    });
  }, 1_200_000);

  test("the run's result is its ensemble: discrete = best.json's ensemble, both members refined, dev not below", () => {
    expect(refineTarget(best).of).toBe('ensemble');
    expect(result.discrete.dev).toBe(best.devAccuracy);
    expect(result.discrete.test).toBe(best.testAccuracy);
    expect(result.members!.map((m) => m.member)).toEqual([0, 1]);
    expect(result.refined.dev).toBeGreaterThanOrEqual(result.discrete.dev);
  });

  test("export --soft and predict reproduce refine's test accuracy exactly", async () => {
    const e = cli(['export', runDir, '--soft']);
    expect(e.code).toBe(0);
    const file = path.join(runDir, 'prompt.soft.json');
    expect(predictAccuracy(file)).toBe(result.refined.test);
    // loadPrompt (the library) agrees.
    const loaded = await loadPrompt(file, { threads: 1 });
    try {
      const lines = fs.readFileSync(TEST_FILE, 'utf8').trim().split('\n').slice(1, 41);
      const preds = await loaded.classify(lines.map((l) => l.split('\t')[0]));
      expect(preds).toHaveLength(40);
    } finally {
      await loaded.dispose();
    }
  }, 600_000);

  test('a run with no dev split cannot be refined (refine chooses on dev)', async () => {
    const e = await runRefine({
      dir: runDir,
      config: validateConfig({ ...base, name: 's', template: '{x} <A:2> [MASK] .', budget: 600 }, 'x'),
      best: { ...best, result: 'prompt', members: undefined, devAccuracy: null },
    }).catch((x: Error) => x);
    expect(isUserError(e)).toBe(true);
    expect((e as Error).message).toMatch(/no dev accuracy/);
  });
});

describe('refineTarget: what refine reads of best.json', () => {
  const sel = {
    template: '{x} <A:1> [MASK] .',
    prompt: '{x} so [MASK] .',
    slots: { A: { ids: [5], tokens: ['so'], text: 'so' } },
    labelWords: [['bad'], ['good']],
    labelIds: [[1], [2]],
  };
  const member = { ...sel, offsets: [0.1, -0.1], trainAccuracy: 0.7, devAccuracy: 0.6 };
  const readoutMember = {
    ...member,
    labelScore: 'discriminant',
    readout: { weights: [[1], [1]], bias: [0, 0] },
    fit: { scale: 1, bias: [0, 0] },
  };

  test('best.json version 1 (read as version 2): the ensemble when there is one, its numbers; else the selected prompt', () => {
    const one = upgradeBest({
      ...sel,
      calibration: { mode: 'inputs', offsets: [0.2, -0.2] },
      trainAccuracy: 0.75,
      devAccuracy: 0.7,
      testAccuracy: 0.72,
    });
    expect(refineTarget(one)).toMatchObject({
      of: 'prompt',
      train: 0.75,
      dev: 0.7,
      test: 0.72,
      members: [{ template: sel.template, offsets: [0.2, -0.2], readout: false }],
    });
    const ens = upgradeBest({
      ...sel,
      calibration: { mode: 'inputs', offsets: [0.2, -0.2] },
      trainAccuracy: 0.75,
      devAccuracy: 0.7,
      testAccuracy: 0.72,
      ensemble: {
        members: [member, { ...readoutMember, template: '<A:1> [MASK] : {x}' }],
        devAccuracy: 0.8,
        testAccuracy: 0.79,
      },
    });
    const t = refineTarget(ens);
    expect(t).toMatchObject({ of: 'ensemble', train: null, dev: 0.8, test: 0.79 });
    expect(t.members.map((m) => [m.template, m.readout, m.fit !== undefined])).toEqual([
      [sel.template, false, false],
      ['<A:1> [MASK] : {x}', true, true],
    ]);
    expect(t.members[1].reading).toEqual({
      labelIds: [[1], [2]],
      labelScore: 'discriminant',
      readout: readoutMember.readout,
    });
  });

  test('best.json version 2: the result at the top, its members, the selected prompt', () => {
    const v2 = {
      version: 2,
      result: 'ensemble',
      prompt: 'ensemble of 2 members',
      trainAccuracy: null,
      devAccuracy: 0.8,
      testAccuracy: 0.79,
      members: [member, readoutMember],
      selected: { ...sel, calibration: { mode: 'inputs', offsets: [0, 0] } },
    };
    expect(refineTarget(v2 as unknown as BestResult)).toMatchObject({
      of: 'ensemble',
      train: null,
      dev: 0.8,
      test: 0.79,
      members: [{ readout: false }, { readout: true }],
    });
    const p = { ...v2, result: 'prompt', members: undefined, trainAccuracy: 0.75 };
    expect(refineTarget(p as unknown as BestResult)).toMatchObject({
      of: 'prompt',
      train: 0.75,
      dev: 0.8,
      members: [{ prompt: sel.prompt, offsets: [0, 0] }],
    });
  });
});
