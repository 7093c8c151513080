import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { CLI, ROOT } from './helpers';

const run = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env } });
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-cli-'));
const tsv = (text: string) => {
  const f = path.join(tmp(), 'd.tsv');
  fs.writeFileSync(f, text);
  return f;
};
const evalArgs = (...extra: string[]) => [
  'eval',
  '--task',
  'sst-2',
  '--split',
  'dev',
  '--template',
  '{x} it was [MASK] .',
  '--verbalizer',
  'terrible,great',
  ...extra,
];

/** One line on stderr naming the problem, exit code 2, no stack trace. */
function expectUserError(r: ReturnType<typeof run>, pattern: RegExp): void {
  expect(r.status).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^promptsearch: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** A model folder whose ONNX has no `logits` output (a single Identity node). */
function modelWithoutLogits(): string {
  const dir = tmp();
  const bert = path.join(ROOT, 'models', 'bert-mini-imdb-uncased');
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
    fs.copyFileSync(path.join(bert, f), path.join(dir, f));
  fs.mkdirSync(path.join(dir, 'onnx'));
  const t = (name: string) => ({
    name,
    type: {
      tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: [{ dimParam: 'b' }, { dimParam: 's' }] } },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      input: [t('input_ids'), t('attention_mask')],
      output: [t('y')],
      node: [{ opType: 'Identity', input: ['input_ids'], output: ['y'] }],
    },
  });
  fs.writeFileSync(path.join(dir, 'onnx', 'model.onnx'), onnx.ModelProto.encode(model).finish());
  return dir;
}

describe('promptsearch eval', () => {
  test('--json prints one object with the documented fields', () => {
    const r = run(...evalArgs('--json'));
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      n: 32,
      model: 'bert-mini-imdb-uncased',
      dtype: 'int8',
      template: '{x} it was [MASK] .',
    });
    // 16 examples per class: accuracy is a whole number of 32nds and the mean of the per-class ones.
    expect(out.perClassAccuracy).toHaveLength(2);
    expect(Math.abs(out.accuracy * 32 - Math.round(out.accuracy * 32))).toBeLessThan(1e-9);
    expect(out.accuracy).toBeCloseTo((out.perClassAccuracy[0] + out.perClassAccuracy[1]) / 2, 12);
  });

  test('the known number: `{x} it was [MASK] .` awful/wonderful, fp32, SST-2 test = 1446 / 1821', () => {
    // Pinned (raw label-word decision, fp32 so no int8 kernel differences): a scoring, tokenizer
    // or data change that moves one test sentence shows up here.
    const r = run(
      'eval',
      '--task',
      'sst-2',
      '--split',
      'test',
      '--template',
      '{x} it was [MASK] .',
      '--verbalizer',
      'awful,wonderful',
      '--dtype',
      'fp32',
      '--calibration',
      'none',
      '--json',
    );
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.n).toBe(1821);
    expect(out.accuracy).toBe(1446 / 1821); // 0.7941
    expect(out.calibration).toEqual({ mode: 'none', offsets: null, reference: null });
  });

  test('readable summary and slots filled with --fill', () => {
    const r = run(
      'eval',
      '--task',
      'sst-2',
      '--split',
      'dev',
      '--template',
      '{x} <A:2> [MASK] .',
      '--fill',
      'A=it was',
      '--verbalizer',
      'terrible,great',
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/prompt\s+\{x\} it was \[MASK\] \./);
    expect(r.stdout).toMatch(/accuracy\s+0\.\d{4}/);
  });

  test('--help documents the flags', () => {
    const r = run('eval', '--help');
    for (const flag of [
      '--task',
      '--split',
      '--seed',
      '--data',
      '--text-column',
      '--label-column',
      '--template',
      '--verbalizer',
      '--fill',
      '--model',
      '--dtype',
      '--calibration',
      '--json',
    ])
      expect(r.stdout).toContain(flag);
  });

  test.each([
    [
      'missing TSV',
      ['eval', '--data', '/nonexistent/x.tsv', '--template', '{x} [MASK]', '--verbalizer', 'a,b'],
      /cannot read/,
    ],
    [
      'wrong column',
      ['eval', '--data', '@review\tlabel\ngood\t1\n', '--template', '{x} [MASK]', '--verbalizer', 'bad,good'],
      /no 'sentence' or 'text' column.*--text-column/,
    ],
    [
      'non-integer label',
      ['eval', '--data', '@sentence\tlabel\ngood\tpos\n', '--template', '{x} [MASK]', '--verbalizer', 'bad,good'],
      /label 'pos' is not an integer/,
    ],
    [
      'unknown label',
      [
        'eval',
        '--labels',
        'negative,positive',
        '--data',
        '@sentence\tlabel\ngood\t3\n',
        '--template',
        '{x} [MASK]',
        '--verbalizer',
        'bad,good',
      ],
      /unknown label 3/,
    ],
    ['empty file', ['eval', '--data', '@', '--template', '{x} [MASK]', '--verbalizer', 'bad,good'], /empty file/],
    ['no [MASK]', evalArgs().map((a) => (a === '{x} it was [MASK] .' ? '{x} it was .' : a)), /has no \[MASK\]/],
    ['two [MASK]s', evalArgs().map((a) => (a === '{x} it was [MASK] .' ? '{x} [MASK] [MASK]' : a)), /2 \[MASK\]s/],
    ['no input field', evalArgs().map((a) => (a === '{x} it was [MASK] .' ? 'it was [MASK] .' : a)), /no input field/],
    ['unknown slot', evalArgs('--fill', 'B=so'), /unknown slot 'B'/],
    [
      'unfilled slot',
      evalArgs().map((a) => (a === '{x} it was [MASK] .' ? '{x} <A:2> [MASK] .' : a)),
      /slot <A:2> is not filled/,
    ],
    [
      'label word not one token',
      evalArgs().map((a) => (a === 'terrible,great' ? 'terrible,greatt' : a)),
      /'greatt' is not a single token.*close single-token words: .*great/,
    ],
    [
      'label word count',
      evalArgs().map((a) => (a === 'terrible,great' ? 'bad,okay,good' : a)),
      /3 label word\(s\) but the data has 2 labels/,
    ],
    [
      'unknown task',
      ['eval', '--task', 'imdb', '--template', '{x} [MASK]', '--verbalizer', 'a,b'],
      /unknown task 'imdb'/,
    ],
    ['model folder missing files', evalArgs('--model', os.tmpdir()), /is missing config\.json, tokenizer\.json/],
  ])('bad input: %s → one line, exit 2', (_name, args, pattern) => {
    const resolved = (args as string[]).map((a) => (a.startsWith('@') ? tsv(a.slice(1)) : a));
    expectUserError(run(...resolved), pattern as RegExp);
  });

  test.each(['full', 'mask-head'])('a model whose ONNX lacks logits (%s scorer) → one line, exit 2', (scorer) => {
    expectUserError(run(...evalArgs('--model', modelWithoutLogits(), '--dtype', 'fp32', '--scorer', scorer)), /logits/);
  });
});
