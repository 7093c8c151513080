/** The CLI's one-line errors name what the user gave: absolute file paths, the flag as typed, the total budget. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLI, ROOT } from './helpers';

function cli(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('CLI error lines', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-msg-'));

  test('a relative config, suite or run path is named absolute in the error', () => {
    fs.writeFileSync(path.join(dir, 'arr.json'), '[]');
    fs.mkdirSync(path.join(dir, 'run'));
    fs.writeFileSync(path.join(dir, 'run', 'config.json'), '{"version": 2');
    for (const [args, file] of [
      [['search', 'arr.json'], path.join(dir, 'arr.json')],
      [['leaderboard', 'arr.json'], path.join(dir, 'arr.json')],
      [['report', 'run'], path.join(dir, 'run', 'config.json')],
    ] as const) {
      const r = cli([...args], dir);
      expect(r.status).toBe(2);
      expect(r.stderr.startsWith(`promptsearch: ${file}: `)).toBe(true);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  test('a flag that is not a number is quoted as such, not as NaN', () => {
    const r = cli(['search', path.join(ROOT, 'searches', 'sst2-beam.json'), '--budget', 'abc'], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('promptsearch: --budget (not a number): expected a positive integer\n');
  });

  test("a total budget too small for the default's three templates names the total it needs", () => {
    const r = cli(
      ['search', path.join(ROOT, 'searches', 'sst2-beam.json'), '--budget', '30', '--out', path.join(dir, 'small')],
      dir,
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^promptsearch: budget 30 is too small for 3 templates: .*share \(10\) and needs 192 .*give a budget of 576 or more/,
    );
    expect(fs.existsSync(path.join(dir, 'small'))).toBe(false);
  });

  test('--out naming an existing file says so', () => {
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'x');
    const r = cli(['search', path.join(ROOT, 'searches', 'sst2-beam.json'), '--out', file], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `promptsearch: ${file}: cannot create the run directory (a file of that name exists, not a folder)\n`,
    );
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  test('a header naming one column twice is refused, in TSV and CSV; unnamed columns (a pandas index) are read', () => {
    for (const [name, text] of [
      ['dup.tsv', 'sentence\tlabel\tsentence\na\t0\tb\nc\t1\td\n'],
      ['dup.csv', 'sentence,label,sentence\na,0,b\nc,1,d\n'],
    ]) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      const r = cli(
        ['eval', '--data', file, '--template', '{x} it was [MASK] .', '--verbalizer', 'terrible,great'],
        dir,
      );
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(
        `promptsearch: ${file}:1: the header names column 'sentence' twice (columns 1 and 3); give each column its own name\n`,
      );
    }
    const pandas = path.join(dir, 'pandas.csv');
    fs.writeFileSync(pandas, ',sentence,label\n0,a fine film,1\n1,a dull film,0\n');
    expect(
      cli(
        [
          'eval',
          '--data',
          pandas,
          '--template',
          '{x} it was [MASK] .',
          '--verbalizer',
          'terrible,great',
          '--dtype',
          'fp32',
        ],
        dir,
      ).status,
    ).toBe(0);
  });

  test("a flag value outside its choices is one line, not yargs' two", () => {
    const r = cli(['search', path.join(ROOT, 'searches', 'sst2-beam.json'), '--strategy', 'nope'], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'promptsearch: Invalid values: Argument: strategy, Given: "nope", Choices: "random", "beam", "genetic", "reinforce"\n',
    );
  });
});
