/**
 * Searches over several templates (runner/templates.ts): the budget split, the config checks, and
 * a small end-to-end run whose ensemble (members with their own templates, readout members and fits)
 * reproduces its recorded test accuracy through loadPrompt, and resumes to the same result.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadExamples } from '../src/data/load';
import { loadPrompt } from '../src/export/applyPrompt';
import { promptFileFromRun, validatePromptFile } from '../src/export/promptFile';
import { validateConfig } from '../src/runner/config';
import { BestResult, runSearch } from '../src/runner/run';
import { RunDir, upgradeBest } from '../src/runner/runDir';
import { readoutOf, findLabelWordsOf, parseSearchConfig } from '../src/runner/schema';
import { membersOf, splitBudget, templateConfig } from '../src/runner/templates';
import { searchCellFrom } from '../src/runner/leaderboard';
import { formatBest } from '../src/cli/commands/search';
import { collectRunReport } from '../src/reports/runReport';
import { runReportHtml } from '../src/reports/runReportHtml';
import { esc } from '../src/reports/svg';
import { ScoringPool } from '../src/scoring/pool';
import { CLI } from './helpers';

const T = ['{x} <A:1> [MASK] .', '<A:1> [MASK] : {x}'];
const base = { task: 'sst-2', templates: T, verbalizer: 'terrible,great', strategy: 'beam' };

describe('several templates: pure parts', () => {
  test('the budget splits evenly, the remainder to the first templates, adding up exactly', () => {
    expect(splitBudget(10_000, 3)).toEqual([3334, 3333, 3333]);
    expect(splitBudget(9, 3)).toEqual([3, 3, 3]);
    expect(splitBudget(7, 1)).toEqual([7]);
  });

  test('a template sub-run: its template, its budget, its own name; no templates list', () => {
    const c = parseSearchConfig(base, 'searches/m.json');
    expect(c.template).toBe(T[0]);
    const sub = templateConfig(c, 1, 500);
    expect(sub).toMatchObject({ name: 'm-t2', template: T[1], budget: 500, verbalizer: 'terrible,great' });
    expect(sub.templates).toBeUndefined();
    // A template's own run has no readout members (they belong to the run's ensemble), so it stays valid alone.
    const withReadouts = templateConfig(parseSearchConfig({ ...base, dataLabelWords: 5 }, 'searches/m.json'), 0, 500);
    expect(withReadouts.readoutMembers).toBe(false);
    expect(() => parseSearchConfig({ ...withReadouts, name: undefined }, 'searches/m-t1.json')).not.toThrow();
    // A number K reads the readout members' words by log-sum-exp, as it did before labelScore existed.
    const spec = (d: unknown) => readoutOf(parseSearchConfig({ ...base, dataLabelWords: d }, 'searches/m.json'));
    expect(spec(5)).toEqual({ words: 5, labelScore: 'logsumexp' });
    expect(spec({ words: 5 })).toEqual({ words: 5, labelScore: 'logsumexp' });
    expect(spec({ words: 20, labelScore: 'mean' })).toEqual({ words: 20, labelScore: 'mean' });
    expect(spec({ words: 200, labelScore: 'discriminant' })).toEqual({ words: 200, labelScore: 'discriminant' });
  });

  test('a list of label-word contexts gives each template sub-run its own; one context serves them all', () => {
    const contexts = [{ A: 'so' }, { A: 'very' }];
    const c = parseSearchConfig(
      { ...base, verbalizer: undefined, searchVerbalizer: { method: 'data', context: contexts } },
      'searches/m.json',
    );
    expect(T.map((_, i) => templateConfig(c, i, 500).findLabelWords)).toEqual(
      contexts.map((context) => ({ method: 'fromData', context })),
    );
    // Each sub-run's config stands alone with its one context.
    expect(findLabelWordsOf(templateConfig(c, 1, 500))).toEqual({ method: 'fromData', context: { A: 'very' } });
    const shared = parseSearchConfig(
      { ...base, verbalizer: undefined, searchVerbalizer: { method: 'data', context: { A: 'so' } } },
      'searches/m.json',
    );
    expect(T.map((_, i) => findLabelWordsOf(templateConfig(shared, i, 500))!.context)).toEqual([
      { A: 'so' },
      { A: 'so' },
    ]);
    // One template: a list of one is its context.
    const one = parseSearchConfig(
      {
        ...base,
        templates: undefined,
        template: T[0],
        verbalizer: undefined,
        searchVerbalizer: { method: 'data', context: [{ A: 'so' }] },
      },
      'searches/m.json',
    );
    expect(findLabelWordsOf(one)!.context).toEqual({ A: 'so' });
  });

  test("a sub-run's members carry its template: its ensemble's, or its one prompt", () => {
    const one = {
      template: T[1],
      prompt: 'p',
      slots: {},
      labelWords: [['a'], ['b']],
      labelIds: [[1], [2]],
      calibration: { mode: 'inputs', offsets: [0, 1] },
      trainAccuracy: 0.5,
      devAccuracy: 0.75,
    };
    expect(membersOf(upgradeBest(one))).toEqual([
      {
        template: T[1],
        prompt: 'p',
        slots: {},
        labelWords: [['a'], ['b']],
        labelIds: [[1], [2]],
        offsets: [0, 1],
        trainAccuracy: 0.5,
        devAccuracy: 0.75,
      },
    ]);
    const m = { prompt: 'q', slots: {}, labelWords: [], labelIds: [], offsets: null, trainAccuracy: 1, devAccuracy: 1 };
    expect(
      membersOf(upgradeBest({ ...one, ensemble: { members: [m, m], devAccuracy: 1, testAccuracy: null } })),
    ).toEqual([
      { ...m, template: T[1] },
      { ...m, template: T[1] },
    ]);
  });

  test.each([
    [{ template: '{x} <B:1> [MASK] .' }, /^searches\/m\.json: template: give 'template' or 'templates', not both/],
    [{ templates: [] }, /^searches\/m\.json: templates: expected at least one template$/],
    [{ templates: [T[0], T[0]] }, /^searches\/m\.json: templates: a template is listed twice$/],
    [{ templates: undefined }, /^searches\/m\.json: missing field 'template' \(or 'templates', a list\)$/],
    [{ expandLabelWords: -1 }, /^searches\/m\.json: expandLabelWords: expected an integer >= 0$/],
    [
      { expandLabelWords: { words: 3, minCosine: 2 } },
      /^searches\/m\.json: expandLabelWords\.minCosine: expected a number in \[-1, 1\]$/,
    ],
    [{ expandLabelWords: { word: 3 } }, /^searches\/m\.json: expandLabelWords: /],
    [
      { templates: [T[0]], dataLabelWords: 3 },
      /^searches\/m\.json: dataLabelWords: adds members to the ensemble of several templates/,
    ],
    [{ dataLabelWords: -2 }, /^searches\/m\.json: dataLabelWords: expected an integer >= 0$/],
    [
      { dataLabelWords: { words: 20, labelScore: 'max' } },
      /^searches\/m\.json: dataLabelWords\.labelScore: expected one of logsumexp, mean, discriminant$/,
    ],
    [
      { templates: [T[0]], dataLabelWords: { words: 3, labelScore: 'mean' } },
      /^searches\/m\.json: dataLabelWords: adds members to the ensemble of several templates/,
    ],
    [
      { templates: [T[0]], fitMembers: true },
      /^searches\/m\.json: fitMembers: fits the members of the ensemble of several templates/,
    ],
    [{ fitMembers: 'yes' }, /^searches\/m\.json: fitMembers: expected true or false$/],
  ])('rejects %j with one line naming the field', (extra, msg) => {
    expect(() => parseSearchConfig({ ...base, ...extra }, 'searches/m.json')).toThrow(msg);
  });

  test('the CLI refuses a bad templates field with one line and exit status 2, before any model loads', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-tpl-'));
    const file = path.join(dir, 'm.json');
    fs.writeFileSync(file, JSON.stringify({ ...base, templates: [T[0], T[0]] }));
    const r = spawnSync(process.execPath, [CLI, 'search', file], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/templates: a template is listed twice/);
  });

  test('a search one template would refuse (label word, budget) is refused before the run directory is written', async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ps-tpl-')), 'run');
    const multiToken = validateConfig({ ...base, verbalizer: 'terrible,geopolitics', budget: 2000 }, 'm.json');
    await expect(runSearch(multiToken, { runDir: dir })).rejects.toThrow(
      /label word 'geopolitics' is not a single token/,
    );
    expect(fs.existsSync(dir)).toBe(false);
    // Each template gets half of 300: below dev selection (5 × 32) plus one candidate's 32 train rows.
    // The message quotes the budget the user gave and the total it must reach, not one template's share.
    const small = validateConfig({ ...base, budget: 300 }, 'm.json');
    await expect(runSearch(small, { runDir: dir })).rejects.toThrow(
      /^budget 300 is too small for 2 templates: .*share \(150\) and needs 192 .*give a budget of 384 or more/,
    );
    expect(fs.existsSync(dir)).toBe(false);
  });

  test("a prompt file member's own template is checked against its slots", () => {
    const ok = {
      schema: 'promptsearch/prompt',
      version: 2,
      template: T[0],
      slots: { A: { ids: [5] } },
      labels: [
        { id: 0, name: 'n', words: ['bad'], ids: [1] },
        { id: 1, name: 'p', words: ['good'], ids: [2] },
      ],
      calibration: { mode: 'none', offsets: null },
      model: { name: 'm', dtype: 'int8', onnxSha256: 'a'.repeat(64), tokenizerSha256: 'b'.repeat(64) },
      scores: { train: 0.5, dev: null, test: null },
    };
    const member = (template: string, slots: Record<string, { ids: number[] }>) => ({
      template,
      slots,
      labels: ok.labels,
      calibration: ok.calibration,
    });
    expect(() =>
      validatePromptFile(
        {
          ...ok,
          ensemble: { members: [member(T[0], ok.slots), member('{x} <B:2> [MASK] .', { B: { ids: [3, 4] } })] },
        },
        'p.json',
      ),
    ).not.toThrow();
    expect(() =>
      validatePromptFile(
        { ...ok, ensemble: { members: [member('{x} <B:2> [MASK] .', { A: { ids: [3] } })] } },
        'p.json',
      ),
    ).toThrow(/'ensemble\.members\[0\]\.slots\.B\.ids' must be a list of at most 2 token id/);
    expect(() =>
      validatePromptFile({ ...ok, ensemble: { members: [member('{x} no mask', ok.slots)] } }, 'p.json'),
    ).toThrow(/'ensemble\.members\[0\]\.template' is not a template/);
    // A member's fit needs version 3 (a version 2 reader would ignore it and decide otherwise).
    const fitted = { ...member(T[0], ok.slots), fit: { scale: 1.5, bias: [0.1, -0.1] } };
    expect(() => validatePromptFile({ ...ok, version: 3, ensemble: { members: [fitted] } }, 'p.json')).not.toThrow();
    expect(() => validatePromptFile({ ...ok, ensemble: { members: [fitted] } }, 'p.json')).toThrow(
      /^prompt file p\.json: 'ensemble\.members\[0\]\.fit' needs version 3 or later \(the file says 2\)$/,
    );
    expect(() =>
      validatePromptFile(
        { ...ok, version: 3, ensemble: { members: [{ ...fitted, fit: { scale: 1, bias: [0] } }] } },
        'p.json',
      ),
    ).toThrow(/'ensemble\.members\[0\]\.fit\.bias' must list 2 finite numbers/);
    expect(() =>
      validatePromptFile(
        { ...ok, version: 3, ensemble: { members: [{ ...fitted, fit: { scale: -1, bias: [0, 0] } }] } },
        'p.json',
      ),
    ).toThrow(/fit\.scale.*must be a finite number >= 0/);
    // A member's labelScore needs version 4 (a version 3 reader would read its words by log-sum-exp); fits are read in 4 too.
    const meanReadout = { ...fitted, labelScore: 'mean' };
    expect(() =>
      validatePromptFile({ ...ok, version: 4, ensemble: { members: [fitted, meanReadout] } }, 'p.json'),
    ).not.toThrow();
    expect(() =>
      validatePromptFile({ ...ok, version: 3, ensemble: { members: [fitted, meanReadout] } }, 'p.json'),
    ).toThrow(
      /^prompt file p\.json: 'ensemble\.members\[1\]\.labelScore' needs version 4 or later \(the file says 3\)$/,
    );
    // A discriminant member needs version 5 and its readout, one weight per word of each label and one bias per label.
    const readout = { weights: [[0.5], [-0.5]], bias: [0, 0.1] };
    const discReadout = { ...fitted, labelScore: 'discriminant', readout };
    expect(() =>
      validatePromptFile({ ...ok, version: 5, ensemble: { members: [fitted, meanReadout, discReadout] } }, 'p.json'),
    ).not.toThrow();
    expect(() =>
      validatePromptFile({ ...ok, version: 4, ensemble: { members: [fitted, discReadout] } }, 'p.json'),
    ).toThrow(
      /^prompt file p\.json: 'ensemble\.members\[1\]\.labelScore' needs version 5 or later \(the file says 4\)$/,
    );
    expect(() =>
      validatePromptFile(
        { ...ok, version: 5, ensemble: { members: [{ ...discReadout, readout: undefined }] } },
        'p.json',
      ),
    ).toThrow(/'ensemble\.members\[0\]\.readout' is needed with labelScore 'discriminant'$/);
    expect(() =>
      validatePromptFile({ ...ok, version: 5, ensemble: { members: [{ ...meanReadout, readout }] } }, 'p.json'),
    ).toThrow(/'ensemble\.members\[0\]\.readout' is read only with labelScore 'discriminant'$/);
    expect(() =>
      validatePromptFile(
        {
          ...ok,
          version: 5,
          ensemble: { members: [{ ...discReadout, readout: { ...readout, weights: [[0.5, 1], [-0.5]] } }] },
        },
        'p.json',
      ),
    ).toThrow(/'ensemble\.members\[0\]\.readout\.weights\[0\]' must list 1 numbers, one per word of label 0$/);
    expect(() =>
      validatePromptFile(
        { ...ok, version: 5, ensemble: { members: [{ ...discReadout, readout: { ...readout, bias: [0] } }] } },
        'p.json',
      ),
    ).toThrow(/'ensemble\.members\[0\]\.readout\.bias' must list 2 finite numbers/);
    expect(() =>
      validatePromptFile(
        { ...ok, version: 5, ensemble: { members: [{ ...discReadout, readout: { ...readout, bias: [0, null] } }] } },
        'p.json',
      ),
    ).toThrow(/readout\.bias.*must hold finite numbers/);
    expect(() =>
      validatePromptFile({ ...ok, version: 4, ensemble: { members: [{ ...fitted, labelScore: 'max' }] } }, 'p.json'),
    ).toThrow(
      /^prompt file p\.json: ensemble\.members\[0\]\.labelScore: expected one of logsumexp, mean, discriminant$/,
    );
  });
});

describe('a search over two templates, end to end', () => {
  let runDir: string;
  let best: BestResult;
  // The bundled SST-2 seed-13 train and dev (what the searches choose on) and the first 200 rows of
  // its test split (scored for the report, and here by loadPrompt): 200 rows a pass, not 1,821.
  const sst2 = path.join(__dirname, '..', 'datasets', '16-shot', 'sst-2');
  const testFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ps-tpl-')), 'test200.tsv');
  fs.writeFileSync(
    testFile,
    fs.readFileSync(path.join(sst2, 'test.tsv'), 'utf8').split('\n').slice(0, 201).join('\n') + '\n',
  );
  const config = validateConfig(
    {
      name: 'm',
      data: { train: path.join(sst2, '16-13', 'train.tsv'), dev: path.join(sst2, '16-13', 'dev.tsv'), test: testFile },
      seed: 13,
      templates: T,
      verbalizer: 'terrible,great',
      expandLabelWords: 2,
      dataLabelWords: { words: 16, labelScore: 'discriminant' },
      fitMembers: true,
      strategy: 'random',
      candidates: { topK: 8 },
      budget: 800,
      selectTopK: 2,
      workers: 1,
      threadsPerWorker: 1,
    },
    'x',
  );
  const testSet = loadExamples({ file: testFile }, 'test').examples;
  const texts = testSet.map((e) => e.fields.sentence);

  let wall = 0;
  let poolStarts = 0;
  beforeAll(async () => {
    runDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ps-tpl-')), 'run');
    const start = jest.spyOn(ScoringPool, 'start');
    const t0 = Date.now();
    best = await runSearch(config, { runDir });
    wall = (Date.now() - t0) / 1000;
    poolStarts = start.mock.calls.length;
    start.mockRestore();
  }, 900_000);

  test("the templates' searches share one pool of scoring workers", () => {
    expect(poolStarts).toBe(1);
  });

  test('each template got its own run with its share of the budget; the ensemble holds one member per template and its readoutMember', () => {
    const subs = [0, 1].map((i) => new RunDir(runDir).templateRun(i).readFinished());
    expect(subs.map((s) => s.config.template)).toEqual(T);
    expect(subs.map((s) => s.config.budget)).toEqual([400, 400]);
    expect(best.evaluations).toBe(subs[0].best.evaluations + subs[1].best.evaluations);
    expect(best.evaluations).toBeLessThanOrEqual(800);
    // The run's time is its templates' plus the ensemble's, not counted twice.
    expect(best.seconds).toBeGreaterThanOrEqual(subs[0].best.seconds + subs[1].best.seconds);
    expect(best.seconds).toBeLessThanOrEqual(wall);
    expect(best.members!.map((m) => m.template)).toEqual([...T, ...T]);
    const selected = best.members!.slice(0, 2);
    const readoutMembers = best.members!.slice(2);
    // expandLabelWords: 2 more words per label, the given word first.
    for (const m of selected) {
      expect(m.labelWords.map((w) => w[0])).toEqual(['terrible', 'great']);
      expect(m.labelIds.map((ids) => ids.length)).toEqual([3, 3]);
    }
    // dataLabelWords {words: 16, labelScore: discriminant}: each selected prompt's readout member, the same
    // filled prompt read through the 16 likeliest words at the mask (the same list for each
    // label), weighted per label by a discriminant fitted on the labelled data, calibrated on its
    // own (the selected prompts keep log-sum-exp).
    expect(selected.map((m) => m.labelScore)).toEqual([undefined, undefined]);
    readoutMembers.forEach((t, i) => {
      expect(t.labelScore).toBe('discriminant');
      expect(t.prompt).toBe(selected[i].prompt);
      expect(t.slots).toEqual(selected[i].slots);
      expect(t.labelIds.map((ids) => ids.length)).toEqual([16, 16]);
      expect(t.labelIds[1]).toEqual(t.labelIds[0]);
      expect(new Set(t.labelIds[0]).size).toBe(16);
      expect(t.labelWords[0].every((w) => /^[a-z'-]+$/.test(w))).toBe(true);
      expect(t.readout!.weights.map((w) => w.length)).toEqual([16, 16]);
      expect(t.readout!.bias).toHaveLength(2);
      expect(t.offsets).toHaveLength(2);
      expect(t.offsets).not.toEqual(selected[i].offsets);
    });
    // fitMembers: every member has its scale and one bias per label; the template runs have none.
    for (const m of best.members!) {
      expect(m.fit!.scale).toBeGreaterThanOrEqual(0);
      expect(m.fit!.bias).toHaveLength(2);
      expect(m.fit!.bias.every(Number.isFinite)).toBe(true);
    }
    expect(best.members!.map((m) => m.fit!.scale)).not.toEqual([1, 1, 1, 1]);
    expect(subs.every((s) => s.best.members === undefined && s.config.fitMemberWeights === false)).toBe(true);
  });

  test('the exported ensemble reproduces its recorded test accuracy exactly through loadPrompt', async () => {
    const file = promptFileFromRun(runDir, { ensemble: true });
    expect(file.ensemble!.members.map((m) => m.template)).toEqual([...T, ...T]);
    // Fits and the readout members' discriminant readouts: version 5.
    expect(file.version).toBe(5);
    expect(file.ensemble!.members.map((m) => m.labelScore)).toEqual([
      undefined,
      undefined,
      'discriminant',
      'discriminant',
    ]);
    expect(file.ensemble!.members.map((m) => m.readout)).toEqual(best.members!.map((m) => m.readout));
    expect(file.ensemble!.members.map((m) => m.fit)).toEqual(best.members!.map((m) => m.fit));
    // The single prompt of the same run has no fit: version 2.
    expect(promptFileFromRun(runDir, { ensemble: false }).version).toBe(2);
    expect(file.scores.test).toBe(best.testAccuracy);
    const lp = await loadPrompt(file, { threads: 1 });
    try {
      const preds = await lp.classify(texts);
      expect(preds.filter((p, i) => p.labelId === testSet[i].label).length / testSet.length).toBe(best.testAccuracy);
      // The readout members read by log-sum-exp instead (what a reader ignoring labelScore and readout would do) decide otherwise.
      const lse = await loadPrompt(
        {
          ...file,
          version: 3,
          ensemble: { members: file.ensemble!.members.map(({ labelScore: _, readout: __, ...m }) => m) },
        },
        { threads: 1 },
      );
      try {
        const other = await lse.classify(texts);
        expect(other.some((p, i) => p.score !== preds[i].score)).toBe(true);
      } finally {
        await lse.dispose();
      }
    } finally {
      await lp.dispose();
    }
  }, 600_000);

  test('export writes the ensemble of a run over several templates by default (its result); --no-ensemble its best single prompt', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [CLI, 'export', runDir, ...args], { encoding: 'utf8' });
    const r = run();
    expect(r.status).toBe(0);
    const ens = JSON.parse(fs.readFileSync(path.join(runDir, 'prompt.ensemble.json'), 'utf8'));
    expect(ens.ensemble.members).toHaveLength(4);
    expect(ens.scores.test).toBe(best.testAccuracy);
    expect(r.stdout).toContain('prompt.ensemble.json');
    expect(fs.existsSync(path.join(runDir, 'prompt.json'))).toBe(false);
    expect(run('--no-ensemble').status).toBe(0);
    const single = JSON.parse(fs.readFileSync(path.join(runDir, 'prompt.json'), 'utf8'));
    expect(single.ensemble).toBeUndefined();
    expect(single.scores.test).toBe(best.selected.testAccuracy);
    for (const f of ['prompt.json', 'prompt.ensemble.json']) fs.rmSync(path.join(runDir, f));
  });

  test("the run's report shows its result: the ensemble's members and its confusion matrix on test, and each template's own run", async () => {
    const r = await collectRunReport(runDir);
    expect(r.test!.of).toBe('ensemble');
    expect(r.test!.accuracy).toBe(best.testAccuracy);
    expect(r.ensemble!.members.map((m) => m.template)).toEqual([...T, ...T]);
    expect(r.ensemble!.members.map((m) => m.scale)).toEqual(best.members!.map((m) => m.fit!.scale));
    expect(r.templates!.map((t) => t.template)).toEqual(T);
    for (const t of r.templates!) {
      expect(t.curve.length).toBeGreaterThan(0);
      expect(t.test).toBeUndefined(); // the templates' own prompts are not scored again
    }
    const html = runReportHtml('x', [r]);
    expect(html).toContain(`The ensemble on test (${testSet.length} examples)`);
    expect(html.match(/<tr class="member">/g)).toHaveLength(4);
    // The readout members read through a discriminant, and the page says so, showing each label's 4 words weighted most against the other label.
    expect(r.ensemble!.members.map((m) => m.labelScore)).toEqual([
      undefined,
      undefined,
      'discriminant',
      'discriminant',
    ]);
    expect(r.ensemble!.members.map((m) => m.wordsRead)).toEqual([undefined, undefined, 16, 16]);
    r.ensemble!.members.slice(2).forEach((m, i) => {
      const readoutMember = best.members![2 + i];
      // With two labels a word's weight for label 0 against the mean is half its difference to label 1.
      const diff = readoutMember.readout!.weights[0].map((w, k) => w - readoutMember.readout!.weights[1][k]);
      const top = diff.indexOf(Math.max(...diff));
      expect(m.labelWords.map((w) => w.length)).toEqual([4, 4]);
      expect(m.labelWords[0][0]).toBe(readoutMember.labelWords[0][top]);
    });
    expect(
      html.match(
        /<span class="discriminant-read">\(discriminant over 16 words; each label's most weighted against the others\)<\/span>/g,
      ),
    ).toHaveLength(2);
    expect(html.match(/<polyline class="curve"/g)).toHaveLength(2);
    for (const t of T) expect(html).toContain(esc(t));
  });

  test('a run stopped after its first template resumes to the same result', async () => {
    const run = new RunDir(runDir);
    fs.rmSync(run.templateRun(1).dir, { recursive: true });
    fs.rmSync(run.file('best'));
    run.writeState({ status: 'interrupted' });
    const again = await runSearch(config, { runDir, resume: true });
    expect(again.members).toEqual(best.members);
    expect(again.testAccuracy).toBe(best.testAccuracy);
    expect(again.evaluations).toBe(best.evaluations);
  }, 900_000);
});

describe('a leaderboard entry of a search over several templates', () => {
  test("reports the run's result (the ensemble of the templates), not the one prompt", () => {
    const config = parseSearchConfig(base, 'searches/m.json');
    // An old (version 1) best.json: the top level was the selected prompt, the ensemble nested.
    const best = upgradeBest({
      status: 'done',
      template: T[0],
      testAccuracy: 0.7,
      devAccuracy: 0.6,
      trainAccuracy: 0.9,
      prompt: 'p',
      labelWords: [['a'], ['b']],
      evaluations: 10,
      seconds: 1,
      ensemble: { members: [{ prompt: 'p' }, { prompt: 'q' }], devAccuracy: 0.65, testAccuracy: 0.8 },
    });
    expect(best).toMatchObject({
      result: 'ensemble',
      prompt: 'ensemble of 2 members',
      devAccuracy: 0.65,
      testAccuracy: 0.8,
      selected: { prompt: 'p', testAccuracy: 0.7 },
    });
    const cell = searchCellFrom({ name: 'm', strategy: 'beam' }, 'sst-2', 13, config, best, undefined, 'r');
    expect(cell).toMatchObject({ testAccuracy: 0.8, devAccuracy: 0.65, prompt: 'ensemble of 2 members: p | q' });
  });
});

describe('the search command prints one headline', () => {
  test("the run's result, its members, and the next commands with this run's paths", () => {
    const r = upgradeBest({
      status: 'done',
      template: T[0],
      prompt: 'p',
      labelWords: [['a'], ['b']],
      trainAccuracy: 1,
      devAccuracy: 0.5,
      testAccuracy: 0.25,
      evaluations: 10,
      budget: 10,
      candidatesScored: 1,
      seconds: 1,
      ensemble: {
        members: [
          { template: T[0], prompt: 'p' },
          { template: T[1], prompt: 'q' },
          { template: T[1], prompt: 'q', readout: {} },
        ],
        devAccuracy: 0.75,
        testAccuracy: 0.8,
      },
    });
    const text = formatBest(r, 'results/run 1');
    expect(text).toContain('result       ensemble of 3 members over 2 templates\n');
    expect(text).toContain('accuracy     train –  dev 0.7500  test 0.8000\n');
    expect(text).not.toContain('0.2500');
    expect(text).toContain('  member     q (readout member)\n');
    expect(text).toContain("promptsearch export 'results/run 1'");
    expect(text).toContain("promptsearch predict --prompt 'results/run 1/prompt.ensemble.json' --data FILE");
    const single = formatBest(
      upgradeBest({
        ...r,
        version: undefined,
        ensemble: undefined,
        template: T[0],
        prompt: 'p',
        labelWords: [['a'], ['b']],
        trainAccuracy: 1,
        devAccuracy: 0.5,
        testAccuracy: 0.25,
      } as never),
      'run',
    );
    expect(single).toContain('result       p\n');
    expect(single).toContain('accuracy     train 1.0000  dev 0.5000  test 0.2500\n');
    expect(single).toContain('promptsearch predict --prompt run/prompt.json');
  });
});

describe('a scoring pool serves several templates', () => {
  test('a task naming another template scores exactly as a pool started for that template', async () => {
    const dev = loadExamples({ task: 'sst-2', seed: 13 }, 'dev');
    const init = {
      model: path.join(__dirname, '..', 'models', 'bert-mini-imdb-uncased'),
      dtype: 'fp32' as const,
      scorer: 'mask-head' as const,
      textColumn: dev.textColumn,
      splits: { dev: dev.examples },
      batch: {},
    };
    const [a, b] = await Promise.all([
      ScoringPool.start({ ...init, template: T[0] }, { workers: 1, threadsPerWorker: 1 }),
      ScoringPool.start({ ...init, template: T[1] }, { workers: 1, threadsPerWorker: 1 }),
    ]);
    try {
      const task = {
        split: 'dev' as const,
        slots: { A: [244] },
        labelIds: [[1544], [516]],
        start: 0,
        end: dev.examples.length,
      };
      const own = await b.score(task);
      const shared = await a.score({ ...task, template: T[1] });
      expect(shared.logProbs).toEqual(own.logProbs);
      // And the pool's own template is still its default.
      expect((await a.score({ ...task, template: T[0] })).logProbs).toEqual((await a.score(task)).logProbs);
      expect(shared.logProbs).not.toEqual((await a.score(task)).logProbs);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 120_000);
});
