/** Issue 31: bad prompt inputs (mistyped slots, empty or special fills, label words, prompt files, suite names) get one line, exit 2, nothing written. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { validatePromptFile } from '../src/export/promptFile';
import { parseFillArgs, tokenizeFill } from '../src/prompt/fill';
import { parseTemplate } from '../src/prompt/template';
import { buildVerbalizer } from '../src/prompt/verbalizer';
import { readSuite } from '../src/runner/leaderboard';
import { parseSearchConfig } from '../src/runner/schema';
import { CLI, bertTokenizer, robertaTokenizer } from './helpers';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-input-'));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, cwd: root });
  return { status: r.status, stderr: r.stderr };
}

describe('a mistyped slot is refused, naming the syntax', () => {
  test.each(['<A: 2>', '<A:x>', '<A 2>', '< A:2>', '<A:2', '<:2>', '<A:2.5>', '<A:-1>'])('%s', (slot) => {
    expect(() => parseTemplate(`{x} ${slot} [MASK] .`)).toThrow(
      /is not a slot; write a slot as <NAME:LENGTH>, e\.g\. <A:2>/,
    );
  });
  test.each(['{x} a < b [MASK] .', '{x} <3 [MASK] .', '{x} </b> [MASK] .', '{x} 1<2 [MASK] .'])(
    'literal text %s is kept',
    (t) => {
      expect(parseTemplate(t).slots).toEqual([]);
    },
  );
  test('a config names its file and the templates entry', () => {
    const base = { task: 'sst-2', verbalizer: 'terrible,great' };
    expect(() => parseSearchConfig({ ...base, template: '{x} <A: 2> [MASK] .' }, '/x/c.json')).toThrow(
      /^\/x\/c\.json: template '\{x\} <A: 2> \[MASK\] \.': '<A: 2>' is not a slot/,
    );
    expect(() =>
      parseSearchConfig({ ...base, templates: ['{x} <A:2> [MASK] .', '[MASK] <B:x> {x}'] }, '/x/c.json'),
    ).toThrow(/^\/x\/c\.json: templates\[1\]: template .*'<B:x>' is not a slot/);
  });
  test('search: one line, exit 2, no run directory', () => {
    const config = path.join(root, 'typo.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        version: 2,
        task: 'sst-2',
        template: '{x} <A: 2> [MASK] .',
        verbalizer: 'terrible,great',
        budget: 200,
        workers: 1,
      }),
    );
    const out = path.join(root, 'typo-run');
    const r = cli(['search', config, '--out', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^promptsearch: .*typo\.json: template .*'<A: 2>' is not a slot; write a slot as <NAME:LENGTH>.*\n$/,
    );
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('slot fills', () => {
  const tok = bertTokenizer();
  const t = parseTemplate('{x} <A:1> [MASK] .');
  test('an empty fill is refused', () => {
    expect(() => tokenizeFill(t, tok, { A: '' })).toThrow('--fill A=: empty; slot <A:1> needs 1 token');
    expect(() => tokenizeFill(parseTemplate('{x} <A:2> [MASK] .'), tok, { A: ' ' })).toThrow(
      '--fill A= : empty; slot <A:2> needs 1 to 2 tokens',
    );
  });
  test.each(['[MASK]', '[CLS] it', '[SEP]', '[PAD]', '[UNK]'])('a fill with a special token: %s', (fill) => {
    expect(() => tokenizeFill(t, tok, { A: fill })).toThrow(/is a special token of the model; a fill is words/);
  });
  test('eval --fill A=: one line, exit 2', () => {
    const r = cli([
      'eval',
      '--task',
      'sst-2',
      '--template',
      '{x} <A:1> [MASK] .',
      '--fill',
      'A=',
      '--verbalizer',
      'terrible,great',
      '--calibration',
      'none',
    ]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('promptsearch: --fill A=: empty; slot <A:1> needs 1 token\n');
  });
});

describe('label words', () => {
  const tok = bertTokenizer();
  test('a special token is not a label word, and says so', () => {
    expect(() => buildVerbalizer([['[SEP]'], ['great']], tok)).toThrow(
      "label word '[SEP]' is a special token of the model ('[SEP]'), which cannot be a label word",
    );
    expect(() => buildVerbalizer([['terrible'], ['[MASK]']], tok)).toThrow(/'\[MASK\]' is a special token/);
  });
  test('two words of two labels on one token are refused as such', () => {
    expect(() => buildVerbalizer([['great'], ['Great']], tok)).toThrow(
      "verbalizer: 'great' (label 0) and 'Great' (label 1) are the same token 'great' for this tokenizer",
    );
  });
});

test('a causal model with text after [MASK]: one line, exit 2, no run directory (checked before any worker starts)', () => {
  const config = path.join(root, 'causal.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      version: 2,
      task: 'sst-2',
      model: 'gpt-mini-imdb',
      template: '{x} <A:1> [MASK] .',
      verbalizer: 'terrible,great',
      expandLabelWords: 0,
      budget: 200,
    }),
  );
  const out = path.join(root, 'causal-run');
  const r = cli(['search', config, '--out', out]);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(
    /^promptsearch: template '\{x\} <A:1> \[MASK\] \.': a causal model reads the label word as the next token, so \[MASK\] must be the last thing in the template \(found '\.' after it\)\n$/,
  );
  expect(fs.existsSync(out)).toBe(false);
});

test('a prompt file with two labels on one token id is refused, naming the file', () => {
  const ok = {
    schema: 'promptsearch/prompt',
    version: 2,
    template: '{x} <A:1> [MASK] .',
    slots: { A: { ids: [5], tokens: ['it'], text: 'it' } },
    labels: [
      { id: 0, name: 'negative', words: ['bad'], ids: [1] },
      { id: 1, name: 'positive', words: ['good', 'bad'], ids: [2, 1] },
    ],
    calibration: { mode: 'none', offsets: null },
    model: {
      name: 'bert-mini-imdb-uncased',
      dtype: 'int8',
      onnxSha256: 'a'.repeat(64),
      tokenizerSha256: 'b'.repeat(64),
    },
    scores: { train: 0.5, dev: null, test: null },
  };
  expect(() => validatePromptFile(ok, '/p/prompt.json')).toThrow(
    "prompt file /p/prompt.json: 'labels[1].ids' holds token id 1, which labels[0] holds too: two labels on one token cannot be told apart",
  );
  const fine = { ...ok, labels: [ok.labels[0], { ...ok.labels[1], ids: [2] }] };
  expect(() => validatePromptFile(fine, '/p/prompt.json')).not.toThrow();
  // A fill for a slot the template lacks (a hand-edited template) would be dropped silently.
  expect(() => validatePromptFile({ ...fine, template: '{x} [MASK] .' }, '/p/prompt.json')).toThrow(
    "prompt file /p/prompt.json: 'slots.A' names no slot of the template '{x} [MASK] .'",
  );
});

test("a suite's name that leaves the output folder is refused before anything runs", () => {
  const file = path.join(root, 'suite.json');
  const suite = {
    version: 2,
    name: '../../evil',
    tasks: ['sst-2'],
    seeds: [13],
    base: { template: '{x} <A:1> [MASK] .', verbalizer: 'terrible,great', budget: 200 },
    methods: [{ name: 'manual', manual: true }],
  };
  fs.writeFileSync(file, JSON.stringify(suite));
  expect(() => readSuite(file)).toThrow(
    `${file}: name: suite name '../../evil' is used as a folder name: no '/', '\\' or '..'`,
  );
  const r = cli(['leaderboard', file]);
  expect(r.status).toBe(2);
  expect(fs.readdirSync(root).filter((f) => !/\.json$/.test(f) && !/-run$/.test(f))).toEqual([]);
  expect(fs.existsSync(path.join(root, 'evil'))).toBe(false);
});

test("a manual method's mistyped template is refused when the suite is read, before any entry runs", () => {
  const file = path.join(root, 'manual-suite.json');
  const suite = {
    version: 2,
    name: 'm',
    tasks: ['sst-2'],
    seeds: [13],
    base: { verbalizer: 'terrible,great', budget: 200 },
    methods: [{ name: 'manual', manual: true, config: { template: '{x} <A: 2> [MASK] .' } }],
  };
  fs.writeFileSync(file, JSON.stringify(suite));
  expect(() => readSuite(file)).toThrow(
    `${file}: method 'manual', task 'sst-2': template '{x} <A: 2> [MASK] .': '<A: 2>' is not a slot`,
  );
});

describe('fills and prompt-file slots (second reading)', () => {
  const t2 = parseTemplate('{x} <A:2> [MASK] .');

  test.each(['<mask>', '</s>', '<s>', '<pad>'])('a RoBERTa fill holding %s is refused', (text) => {
    expect(() => tokenizeFill(t2, robertaTokenizer(), { A: text })).toThrow(/is a special token of the model/);
  });

  test('a slot filled twice is refused', () => {
    expect(() => parseFillArgs(['A=good', 'A=bad'])).toThrow("--fill: slot A is filled twice ('good' and 'bad')");
    expect(() => parseFillArgs([' =x'])).toThrow(/expected NAME=TEXT/);
    expect(parseFillArgs(['A=good', 'B=x=y'])).toEqual({ A: 'good', B: 'x=y' });
  });

  test('a prompt file whose slot holds the mask token is refused when applied; a version 1 file applies', async () => {
    const { loadPrompt } = await import('../src/export/applyPrompt');
    const { readPromptFile } = await import('../src/export/promptFile');
    const tokenizer = bertTokenizer();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ps-pf-')), 'p.json');
    const prompt = (slot: number) => ({
      schema: 'promptsearch/prompt',
      version: 1,
      template: '{x} <A:1> [MASK] .',
      slots: { A: { ids: [slot] } },
      labels: [
        { id: 0, name: 'negative', words: ['bad'], ids: [tokenizer.labelWordId('bad')] },
        { id: 1, name: 'positive', words: ['good'], ids: [tokenizer.labelWordId('good')] },
      ],
      model: {
        name: 'bert-mini-imdb-uncased',
        dtype: 'int8',
        onnxSha256: 'a'.repeat(64),
        tokenizerSha256: 'b'.repeat(64),
      },
      scores: { train: 0.5, dev: null, test: null },
    });
    fs.writeFileSync(file, JSON.stringify(prompt(tokenizer.special.mask)));
    await expect(loadPrompt(file, { force: true, warn: () => {} })).rejects.toThrow(
      `prompt file ${file}: slot <A> holds the special token '[MASK]' (id ${tokenizer.special.mask}) of this model`,
    );
    // predict reads the file, then applies the object it read: a version 1 file passes both checks.
    fs.writeFileSync(file, JSON.stringify(prompt(tokenizer.labelWordId('it'))));
    const loaded = await loadPrompt(readPromptFile(file), { force: true, warn: () => {} });
    await loaded.dispose();
  });
});
