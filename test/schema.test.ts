import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SCHEMA_FILE, schemaText } from '../src/cli/writeSchema';
import { readSuite } from '../src/runner/leaderboard';
import { validatePromptFile } from '../src/export/promptFile';
import { DTYPES, SCORERS, STRATEGY_NAMES, parseSearchConfig } from '../src/runner/schema';
import { CLI } from './helpers';

const base = { task: 'sst-2', template: '{x} <A:2> [MASK] .', verbalizer: 'terrible,great', strategy: 'beam' };
const bad = (extra: Record<string, unknown>) => () => parseSearchConfig({ ...base, ...extra }, 'searches/x.json');

describe('search config schema', () => {
  test('defaults are filled, strategy params kept', () => {
    const c = parseSearchConfig({ ...base, strategyParams: { width: 2 } }, 'searches/x.json');
    expect(c).toMatchObject({
      name: 'x',
      model: 'bert-mini-imdb-uncased',
      dtype: 'int8',
      seed: 13,
      budget: 50000,
      selectTopK: 5,
      scorer: 'mask-head',
      objective: 'ce',
      calibration: 'inputs',
      selection: 'dev',
      ensemble: 1,
    });
    expect(c.candidates).toEqual({ topK: 64, allowLabelWords: false });
    expect(c.earlyRejection).toEqual({ fraction: 0, topK: 16, z: 0 });
    // Every parameter explicit: the strategy's defaults for the ones the config leaves out.
    expect(c.strategyParams).toEqual({ width: 2, candidatesPerPosition: 8, restarts: true });
  });

  test.each([
    [
      { strategyParams: { widht: 4 } },
      /^searches\/x\.json: strategyParams: unknown field 'widht' \(allowed: width, candidatesPerPosition, restarts\)$/,
    ],
    [{ strategyParams: { width: 0 } }, /^searches\/x\.json: strategyParams\.width: expected a positive integer$/],
    [
      { strategy: 'genetic', strategyParams: { population: 4, eliteCount: 4 } },
      /strategyParams\.eliteCount: expected < population \(4\)/,
    ],
    [
      { strategy: 'genetic', strategyParams: { mutationRate: 2 } },
      /strategyParams\.mutationRate: expected a number in \[0, 1\]/,
    ],
    [
      { strategy: 'random', strategyParams: { width: 4 } },
      /strategyParams: unknown field 'width' \(allowed: batchSize\)/,
    ],
    [{ refine: { dim: 0 } }, /refine\.dim: expected a positive integer/],
    [{ refine: { sigma0: -1 } }, /refine\.sigma0: expected a number > 0/],
    [{ racing: { fraction: 1 } }, /racing\.fraction: expected a number in \[0, 1\)/],
    [{ dtype: 'fp16' }, /dtype: expected one of fp32, int8$/],
    [{ scorer: 'fast' }, /scorer: expected one of mask-head, full$/],
    [{ data: { train: 'a.tsv' } }, /data: missing field 'dev'/],
    // A union's branch that the value's type picks names the field inside it.
    [
      { searchVerbalizer: { context: { A: 3 } } },
      /^searches\/x\.json: searchVerbalizer\.context\.A: expected a non-empty string$/,
    ],
    [
      {
        templates: ['{x} <A:2> [MASK] .', '<A:1> [MASK] : {x}'],
        searchVerbalizer: { method: 'data', context: [{ A: 'so' }, { A: 3 }] },
      },
      /^searches\/x\.json: searchVerbalizer\.context\[1\]\.A: expected a non-empty string$/,
    ],
    [
      { searchVerbalizer: { context: 'it was' } },
      /^searches\/x\.json: searchVerbalizer\.context: expected an object of slot fills, or a list of them \(one per template\)$/,
    ],
    [
      { searchVerbalizer: { method: 'data', wordz: 3 } },
      /^searches\/x\.json: searchVerbalizer: unknown field 'wordz' \(allowed: method, candidates, context, wordsPerLabel\)$/,
    ],
    [
      { searchVerbalizer: 3 },
      /^searches\/x\.json: searchVerbalizer: expected true, false or \{method, candidates, context, wordsPerLabel\}$/,
    ],
    [{ expandLabelWords: { minCosine: 0.5 } }, /^searches\/x\.json: expandLabelWords: missing field 'words'$/],
    [{ labels: ['negative', 3] }, /^searches\/x\.json: labels\[1\]: expected a name$/],
    [{ verbalizer: ['terrible', 3] }, /^searches\/x\.json: verbalizer\[1\]: expected a word$/],
    [
      { verbalizer: { 0: 'terrible', 1: 7 } },
      /^searches\/x\.json: verbalizer\.1: expected "word,word" or a list of words$/,
    ],
    [
      {
        templates: ['{x} <A:2> [MASK] .', '<A:1> [MASK] : {x}'],
        searchVerbalizer: { method: 'data', context: [{ A: 'so' }] },
      },
      /^searches\/x\.json: searchVerbalizer\.context: a list gives one context per template: 1 for 2 template\(s\)$/,
    ],
    [
      { searchVerbalizer: { method: 'data', context: [] } },
      /^searches\/x\.json: searchVerbalizer\.context: expected at least one context$/,
    ],
    [
      { searchVerbalizer: { method: 'guess' } },
      /^searches\/x\.json: searchVerbalizer\.method: expected one of joint, data$/,
    ],
    [
      { searchVerbalizer: { method: 'data' }, expandLabelWords: 10 },
      /^searches\/x\.json: expandLabelWords: expands the given label words, not found ones; set it to 0 with searchVerbalizer$/,
    ],
    [{ strategy: undefined, version: 1 }, /missing field 'strategy' \(one of random, beam, genetic, reinforce\)/],
  ])('rejects %j with one line naming the file and field', (extra, msg) => {
    expect(bad(extra)).toThrow(msg);
  });

  test('the published JSON Schema is in sync with the code (npm run schema)', () => {
    expect(fs.readFileSync(SCHEMA_FILE, 'utf8')).toBe(schemaText());
    const schema = JSON.parse(schemaText());
    // One branch per strategy, each rejecting unknown fields.
    expect(
      schema.oneOf.map((b: { properties: { strategy: { const: string } } }) => b.properties.strategy.const),
    ).toEqual([...STRATEGY_NAMES]);
    for (const b of schema.oneOf) expect(b.additionalProperties).toBe(false);
  });

  test('CLI choices come from the schema lists', () => {
    const help = spawnSync(process.execPath, [CLI, 'search', '--help'], { encoding: 'utf8' }).stdout;
    expect(help).toContain(`[choices: ${STRATEGY_NAMES.map((s) => `"${s}"`).join(', ')}]`);
    expect(help).toContain(`[choices: ${DTYPES.map((s) => `"${s}"`).join(', ')}]`);
    const evalHelp = spawnSync(process.execPath, [CLI, 'eval', '--help'], { encoding: 'utf8' }).stdout;
    expect(evalHelp).toContain(`"${SCORERS[0]}", "${SCORERS[1]}"`);
  });
});

describe('suite schema', () => {
  const write = (s: unknown) => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ps-suite-')), 'suite.json');
    fs.writeFileSync(f, JSON.stringify(s));
    return f;
  };
  const ok = {
    name: 's',
    tasks: ['sst-2'],
    seeds: [13],
    base: { template: '{x} <A:1> [MASK] .', verbalizer: 'terrible,great' },
    methods: [{ name: 'beam', strategy: 'beam' }],
  };

  test.each([
    [{ ...ok, colour: 1 }, /suite\.json: unknown field 'colour' \(allowed: version, name, description, tasks/],
    [{ ...ok, seeds: [13.5] }, /suite\.json: seeds\[0\]: expected an integer/],
    [
      { ...ok, methods: [{ name: 'beam', strategy: 'beam', strategyParams: { widht: 4 } }] },
      /method 'beam', task 'sst-2': strategyParams: unknown field 'widht'/,
    ],
    [{ ...ok, methods: [{ name: 'm', manual: true, colour: 1 }] }, /methods\[0\]: unknown field 'colour'/],
    [{ ...ok, name: undefined }, /suite\.json: missing field 'name'/],
  ])('rejects bad suite %#', (suite, msg) => {
    expect(() => readSuite(write(suite))).toThrow(msg);
  });
});

describe('prompt file schema', () => {
  const ok = {
    schema: 'promptsearch/prompt',
    version: 1,
    template: '{x} <A:1> [MASK] .',
    slots: { A: { ids: [5], tokens: ['it'], text: 'it' } },
    labels: [
      { id: 0, name: 'negative', words: ['bad'], ids: [1] },
      { id: 1, name: 'positive', words: ['good'], ids: [2] },
    ],
    model: {
      name: 'bert-mini-imdb-uncased',
      dtype: 'int8',
      onnxSha256: 'a'.repeat(64),
      tokenizerSha256: 'b'.repeat(64),
    },
    scores: { train: 0.5, dev: null, test: null },
  };
  const check = (edit: Record<string, unknown>) => () => validatePromptFile({ ...ok, ...edit }, 'p.json');

  test('a complete prompt object passes', () => expect(check({})).not.toThrow());
  test("a causal model's multi-token label word is a list of ids in its word's place", () => {
    expect(
      check({ labels: [ok.labels[0], { ...ok.labels[1], words: ['good', 'a masterpiece'], ids: [2, [7, 8]] }] }),
    ).not.toThrow();
    expect(check({ labels: [ok.labels[0], { ...ok.labels[1], ids: [2, []] }] })).toThrow(/labels\[1\]\.ids/);
    expect(check({ labels: [ok.labels[0], { ...ok.labels[1], ids: [2, [7, -1]] }] })).toThrow(/labels\[1\]\.ids/);
  });
  test.each([
    [
      { model: { ...ok.model, tokenizerSha256: 'abc' } },
      /^prompt file p\.json: model\.tokenizerSha256: must be a sha256 \(64 hex digits\)$/,
    ],
    [{ model: { ...ok.model, dtype: 'fp16' } }, /model\.dtype: expected one of fp32, int8/],
    [{ labels: [ok.labels[0]] }, /labels: must list at least 2 labels/],
    [{ labels: [ok.labels[0], { ...ok.labels[1], id: 0 }] }, /'labels\[1\]\.id' must be 1/],
    [{ labels: [ok.labels[0], { ...ok.labels[1], ids: [] }] }, /labels\[1\]\.ids: must list at least one token id/],
    [{ slots: { A: { ids: [5, 6] } } }, /'slots\.A\.ids' must be a list of at most 1 token id/],
    [{ scores: undefined }, /p\.json: missing field 'scores'/],
    [
      { labels: [ok.labels[0], { ...ok.labels[1], ids: [2, [7, 1.5]] }] },
      /^prompt file p\.json: labels\[1\]\.ids\[1\]\[1\]: must be a token id \(an integer >= 0\)$/,
    ],
    [
      { labels: [ok.labels[0], { ...ok.labels[1], ids: [2, 'x'] }] },
      /^prompt file p\.json: labels\[1\]\.ids\[1\]: must be a token id or a list of token ids$/,
    ],
  ])('rejects %j with one line naming the field', (edit, msg) => {
    expect(check(edit)).toThrow(msg);
  });
});

describe('search config schema: decision-rule fields', () => {
  const base = { task: 'sst-2', template: '{x} <A:1> [MASK] .', verbalizer: 'bad,good', strategy: 'beam' };
  test('calibration, selection, ensemble and wordsPerLabel are checked, one line naming the field', () => {
    expect(() => parseSearchConfig({ ...base, calibration: 'sometimes' }, 'x.json')).toThrow(
      'x.json: calibration: expected one of inputs, content-free, none',
    );
    expect(() => parseSearchConfig({ ...base, selection: 'test' }, 'x.json')).toThrow(
      'x.json: selection: expected one of dev, train+dev',
    );
    expect(() => parseSearchConfig({ ...base, ensemble: 0 }, 'x.json')).toThrow(
      'x.json: ensemble: expected a positive integer',
    );
    expect(() => parseSearchConfig({ ...base, ensemble: 6 }, 'x.json')).toThrow(
      /ensemble: 6 members need selectTopK >= 6/,
    );
    expect(() => parseSearchConfig({ ...base, searchVerbalizer: { wordsPerLabel: 0 } }, 'x.json')).toThrow(
      'x.json: searchVerbalizer.wordsPerLabel: expected a positive integer',
    );
    expect(
      parseSearchConfig({ ...base, ensemble: 3, calibration: 'none', objective: 'margin' }, 'x.json'),
    ).toMatchObject({ ensemble: 3, calibration: 'none', objective: 'margin' });
  });
});
