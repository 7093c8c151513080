/**
 * Config format version 2: the recommended engine is what a minimal config gets, old configs keep
 * their meaning, old field names keep reading with a note, and a search needs no config file.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readConfig } from '../src/runner/config';
import { parseSearchConfig } from '../src/runner/schema';
import { CLI, ROOT } from './helpers';

/** searches/sst2-beam.json as it was written before version 2: every field of the recommended engine spelled out. */
const SST2_BEAM_V1 = {
  name: 'sst2-beam',
  task: 'sst-2',
  seed: 13,
  templates: ['{x} <A:2> [MASK] .', '<A:2> [MASK] : {x}', '{x} . <A:1> [MASK] <B:1> .'],
  verbalizer: 'terrible,great',
  expandLabelWords: 10,
  dataLabelWords: { words: 200, labelScore: 'discriminant' },
  fitMembers: true,
  candidates: { topK: 32 },
  strategy: 'beam',
  strategyParams: { width: 4, candidatesPerPosition: 8 },
  budget: 50000,
};

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-config-'));
const cli = (args: string[], cwd = ROOT) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, env: { ...process.env } });
const without = <T extends object>(o: T, ...keys: string[]) =>
  Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

describe('config version 2', () => {
  test('a config of the task and its label words is the recommended engine, field for field', () => {
    const minimal = parseSearchConfig({ task: 'sst-2', verbalizer: 'terrible,great' }, 'searches/sst2-beam.json');
    // Version 1 fixed the discriminant's words (its shrinkage was a constant) and had no baseline;
    // version 2 chooses both settings per run by cross-validation and compares with the hand-written
    // prompt, and expands by the words and floor the train + dev protocol chose.
    const explicit = {
      ...parseSearchConfig(SST2_BEAM_V1, 'searches/sst2-beam.json'),
      readoutMembers: { method: 'discriminant' },
      baseline: true,
      expandLabelWords: { words: 5, minCosine: 0.4 },
    };
    expect(parseSearchConfig(SST2_BEAM_V1, 'x').expandLabelWords).toEqual({ words: 10, minCosine: 0.5 });
    expect(minimal).toEqual(explicit);
    expect(without(readConfig(path.join(ROOT, 'searches', 'sst2-beam.json')), 'description', '$schema')).toEqual(
      explicit,
    );
    expect(minimal).toMatchObject({
      version: 2,
      templates: SST2_BEAM_V1.templates,
      candidates: { topK: 32 },
      expandLabelWords: { words: 5, minCosine: 0.4 },
      readoutMembers: { method: 'discriminant' },
      fitMemberWeights: true,
      baseline: true,
      findLabelWords: false,
      strategy: 'beam',
      strategyParams: { width: 4, candidatesPerPosition: 8 },
      budget: 50000,
    });
  });

  test("without label words, they are found in the data, read after each default template's own context", () => {
    const c = parseSearchConfig({ task: 'sst-2' }, 'x.json');
    expect(c.findLabelWords).toEqual({
      method: 'fromData',
      context: [{ A: 'it was' }, { A: 'it was' }, { A: 'very', B: '!' }],
    });
    expect(c.expandLabelWords).toBe(0);
    // One template of one's own: no context, no readout members or member weights (they need several templates).
    const one = parseSearchConfig({ task: 'sst-2', template: '{x} <A:1> [MASK] .', verbalizer: 'bad,good' }, 'x.json');
    expect(one).toMatchObject({
      readoutMembers: false,
      fitMemberWeights: false,
      expandLabelWords: { words: 5, minCosine: 0.4 },
      candidates: { topK: 32 },
    });
    expect(one.templates).toBeUndefined();
  });

  test('a config with strategy and no version keeps its version 1 meaning, and says so once', () => {
    const notes: string[] = [];
    const old = parseSearchConfig(
      { task: 'sst-2', template: '{x} <A:1> [MASK] .', verbalizer: 'bad,good', strategy: 'random' },
      'old.json',
      notes,
    );
    expect(old).toMatchObject({
      version: 2,
      candidates: { topK: 64 },
      expandLabelWords: 0,
      readoutMembers: false,
      fitMemberWeights: false,
      findLabelWords: false,
    });
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/^old\.json: read as a version 1 config .*add "version": 2/);
    // Parsed, the config is explicit: read again as version 2 it means the same.
    expect(parseSearchConfig(JSON.parse(JSON.stringify(old)), 'again.json')).toEqual({ ...old, name: old.name });
    expect(() => parseSearchConfig({ task: 'sst-2', verbalizer: 'bad,good', version: 1 }, 'v1.json')).toThrow(
      "v1.json: missing field 'strategy'",
    );
    expect(() => parseSearchConfig({ task: 'sst-2', verbalizer: 'bad,good', version: 3 }, 'v3.json')).toThrow(
      'v3.json: version: expected 1 or 2',
    );
  });

  test('old field names read as the new ones, each with a note naming the new name', () => {
    const notes: string[] = [];
    const c = parseSearchConfig(
      {
        version: 2,
        task: 'sst-2',
        verbalizer: 'bad,good',
        dataLabelWords: { words: 8, labelScore: 'mean' },
        fitMembers: false,
        racing: { fraction: 0.25 },
      },
      'x.json',
      notes,
    );
    expect(c).toMatchObject({
      readoutMembers: { method: 'mean', wordsPerLabel: 8 },
      fitMemberWeights: false,
      earlyRejection: { fraction: 0.25 },
    });
    expect(notes.map((n) => n.match(/'(\w+)' is now called '(\w+)'/)!.slice(1))).toEqual([
      ['dataLabelWords', 'readoutMembers'],
      ['fitMembers', 'fitMemberWeights'],
      ['racing', 'earlyRejection'],
    ]);
    expect(
      parseSearchConfig({ task: 'sst-2', searchVerbalizer: { method: 'joint' } }, 'y.json').findLabelWords,
    ).toEqual({ method: 'withSlots' });
    expect(() =>
      parseSearchConfig({ task: 'sst-2', verbalizer: 'a,b', fitMembers: true, fitMemberWeights: true }, 'z.json'),
    ).toThrow("z.json: fitMembers: is the old name of 'fitMemberWeights'");
    expect(() => parseSearchConfig({ task: 'sst-2', verbalizer: 'a,b', dataLabelWords: 'many' }, 'w.json')).toThrow(
      /^w\.json: dataLabelWords: expected an integer >= 0/,
    );
    expect(() =>
      parseSearchConfig(
        { task: 'sst-2', verbalizer: 'a,b', readoutMembers: { method: 'discriminant', wordsPerLabel: 3 } },
        'r.json',
      ),
    ).toThrow(
      "r.json: readoutMembers.wordsPerLabel: the discriminant reads the 'topWords' likeliest words at the mask",
    );
  });

  test('the shipped search configs are version 2', () => {
    for (const f of fs.readdirSync(path.join(ROOT, 'searches')).filter((f) => f.startsWith('sst2-'))) {
      const raw = JSON.parse(fs.readFileSync(path.join(ROOT, 'searches', f), 'utf8'));
      if (raw.tasks) continue; // a leaderboard suite
      expect([f, raw.version]).toEqual([f, 2]);
      const notes: string[] = [];
      readConfig(path.join(ROOT, 'searches', f), notes);
      expect(notes).toEqual([]);
    }
  });
});

describe('a search without a config file', () => {
  const data = path.join(ROOT, 'datasets', 'examples');
  let runDir: string;
  let first: Record<string, unknown>;

  beforeAll(() => {
    const cwd = tmp();
    runDir = path.join(cwd, 'run');
    const r = cli(
      [
        'search',
        '--train',
        path.join(data, 'sst2-train.csv'),
        '--dev',
        path.join(data, 'sst2-dev.csv'),
        '--test',
        path.join(data, 'sst2-test.csv'),
        '--verbalizer',
        'terrible,great',
        '--labels',
        'negative,positive',
        '--budget',
        '900',
        // The search's ensemble, not the hand-written prompt it may not beat at this budget: the tests below refine it.
        '--baseline',
        'none',
        '--out',
        runDir,
        '--no-report',
      ],
      cwd,
    );
    expect(r.stderr).not.toMatch(/note:/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^result {7}ensemble of \d+ members over 3 templates$/m);
    expect(r.stdout).toContain(`promptsearch export ${runDir}`);
    first = JSON.parse(fs.readFileSync(path.join(runDir, 'best.json'), 'utf8'));
  }, 900_000);

  test('runs the recommended default on the files and records the config it used', () => {
    const saved = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
    expect(saved).toMatchObject({
      version: 2,
      name: 'examples',
      readoutMembers: { method: 'discriminant' },
      fitMemberWeights: true,
      budget: 900,
    });
    expect(saved.data.train).toBe(path.join(data, 'sst2-train.csv'));
    expect(first).toMatchObject({ version: 2, result: 'ensemble' });
    expect(first.members as unknown[]).toHaveLength(6);
  });

  test("the run's config.json is accepted by search as it is, and gives the same result", () => {
    const again = path.join(tmp(), 'again');
    const r = cli(['search', path.join(runDir, 'config.json'), '--out', again, '--no-report']);
    expect(r.stderr).not.toMatch(/note:/);
    expect(r.status).toBe(0);
    const second = JSON.parse(fs.readFileSync(path.join(again, 'best.json'), 'utf8'));
    const same = (b: Record<string, unknown>) => without(b, 'runId', 'seconds');
    expect(same(second)).toEqual(same(first));
  }, 900_000);

  /** predict's `(correct/n correct` count on a labelled file, from its stderr. */
  const predicted = (prompt: string) => {
    const r = cli(['predict', '--prompt', prompt, '--data', path.join(data, 'sst2-test.csv')]);
    expect(r.status).toBe(0);
    const m = r.stderr.match(/accuracy [0-9.]+ \((\d+)\/(\d+) correct/);
    expect(m).not.toBeNull();
    return Number(m![1]) / Number(m![2]);
  };

  test("best.json's headline test accuracy is what the exported prompt gives through predict", () => {
    const r = cli(['export', runDir]);
    expect(r.status).toBe(0);
    // The default's result is its ensemble: export writes it by default.
    expect(r.stdout).toContain(path.join(runDir, 'prompt.ensemble.json'));
    expect(predicted(path.join(runDir, 'prompt.ensemble.json'))).toBe(first.testAccuracy);
  }, 600_000);

  test("refine on the default run: dev never below the run's, and predict reproduces the refined test accuracy", () => {
    const r = cli(['refine', runDir, '--budget', '3000']);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.status).toBe(0);
    const result = JSON.parse(fs.readFileSync(path.join(runDir, 'refine', 'result.json'), 'utf8'));
    expect(result.of).toBe('ensemble');
    expect(result.discrete.dev).toBe(first.devAccuracy);
    expect(result.discrete.test).toBe(first.testAccuracy);
    expect(result.refined.dev).toBeGreaterThanOrEqual(first.devAccuracy as number);
    const soft = path.join(runDir, 'prompt.soft.json');
    expect(cli(['export', runDir, '--soft', '--out', soft]).status).toBe(0);
    expect(predicted(soft)).toBe(result.refined.test);
  }, 900_000);

  test('flags that describe a config-free search are refused with a config, one line, exit 2', () => {
    const r = cli(['search', 'searches/sst2-beam.json', '--train', 'x.csv']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      'promptsearch: give a config file or --train/--dev, not both (a config names its data in "data")',
    ]);
    const d = cli(['search', '--train', 'x.csv']);
    expect(d.status).toBe(2);
    expect(d.stderr).toMatch(/--train needs --dev FILE/);
    const v = cli(['search', '--verbalizer', 'a,b']);
    expect(v.status).toBe(2);
    expect(v.stderr).toMatch(/--verbalizer describes a search without a config file/);
  });
});
