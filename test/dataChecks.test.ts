import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkRunData } from '../src/runner/dataChecks';
import { validateConfig } from '../src/runner/config';
import { CLI, ROOT } from './helpers';

/**
 * Data checks that need every split at once (runner/dataChecks.ts) and the readers' and run
 * directory's one-line errors: each is refused before anything is scored or written, with one
 * line naming the file (or the config field), exit 2.
 */
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-datachecks-'));
const EXAMPLES = path.join(ROOT, 'datasets', 'examples');
/** A search of the bundled example files into `out`. */
const exampleSearch = (out: string) => [
  'search',
  '--train',
  path.join(EXAMPLES, 'sst2-train.tsv'),
  '--dev',
  path.join(EXAMPLES, 'sst2-dev.tsv'),
  '--verbalizer',
  'terrible,great',
  '--budget',
  '800',
  '--workers',
  '1',
  '--out',
  out,
];
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');

/** The example TSV split with its text column renamed and its rows filtered. */
function tsv(
  dir: string,
  name: string,
  split: 'train' | 'dev' | 'test',
  opts: { column?: string; keep?: (label: string) => boolean; label?: (label: string) => string } = {},
): string {
  const [header, ...rows] = fs
    .readFileSync(path.join(EXAMPLES, `sst2-${split}.tsv`), 'utf8')
    .trim()
    .split('\n');
  const kept = rows
    .map((r) => r.split('\t'))
    .filter(([, l]) => (opts.keep ?? (() => true))(l))
    .map(([t, l]) => `${t}\t${(opts.label ?? ((x: string) => x))(l)}`);
  const file = path.join(dir, name);
  fs.writeFileSync(file, [header.replace('sentence', opts.column ?? 'sentence'), ...kept].join('\n') + '\n');
  return file;
}

/** A search on these files that must fail before it starts: one line, exit 2, no run directory. */
function refused(files: { train: string; dev: string; test?: string }, extra: string[] = []) {
  const out = path.join(tmp(), 'run');
  const r = cli([
    'search',
    '--train',
    files.train,
    '--dev',
    files.dev,
    ...(files.test ? ['--test', files.test] : []),
    '--template',
    '{x} <A:1> [MASK] .',
    '--budget',
    '800',
    '--workers',
    '1',
    '--out',
    out,
    ...extra,
  ]);
  expect({ status: r.status, stderrLines: lines(r.stderr).length }).toEqual({ status: 2, stderrLines: 1 });
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  expect(fs.existsSync(out)).toBe(false);
  return r.stderr.trim();
}

describe('data checks before the search', () => {
  test("a test file whose text column differs from train's is refused up front, naming it and its columns", () => {
    const dir = tmp();
    const train = tsv(dir, 'train.tsv', 'train', { column: 'text' });
    const dev = tsv(dir, 'dev.tsv', 'dev', { column: 'text' });
    const test = tsv(dir, 'test.tsv', 'test');
    const msg = refused({ train, dev, test }, ['--verbalizer', 'terrible,great']);
    expect(msg).toBe(
      `promptsearch: ${test}: no 'text' column, which template field {x} reads (the text column of the train file, ${train}); this file has columns: sentence (give every split the same column names)`,
    );
  });

  test('a template field no split has: named with the file and its columns', () => {
    const dir = tmp();
    const train = tsv(dir, 'train.tsv', 'train');
    const dev = tsv(dir, 'dev.tsv', 'dev');
    const msg = refused({ train, dev }, [
      '--verbalizer',
      'terrible,great',
      '--template',
      '{premise} {x} <A:1> [MASK] .',
    ]);
    expect(msg).toBe(
      `promptsearch: ${train}: template field {premise} needs column 'premise'; this file has columns: sentence`,
    );
  });

  test('a train file without a label is refused naming the file and the label (not the verbalizer)', () => {
    const dir = tmp();
    const train = tsv(dir, 'train.tsv', 'train', { keep: (l) => l === '0' });
    const dev = tsv(dir, 'dev.tsv', 'dev');
    for (const extra of [['--verbalizer', 'terrible,great'], []]) {
      const msg = refused({ train, dev }, extra);
      expect(msg).toBe(
        `promptsearch: ${train}: no train example of label 1 (dev has 16): a label absent from train cannot be learned; add train examples of it`,
      );
    }
    // With label names: the name too.
    expect(refused({ train, dev }, ['--verbalizer', 'terrible,great', '--labels', 'negative,positive'])).toMatch(
      new RegExp(`^promptsearch: ${train}: no train example of label 1 'positive' \\(dev has 16\\)`),
    );
  });

  test("'labels' listing more labels than the data has is refused naming the field", () => {
    const dir = tmp();
    const train = tsv(dir, 'train.tsv', 'train');
    const dev = tsv(dir, 'dev.tsv', 'dev');
    expect(refused({ train, dev }, ['--verbalizer', 'terrible,great', '--labels', 'a,b,c'])).toBe(
      'promptsearch: labels: lists 3 labels (a, b, c) but the verbalizer gives 2 label word(s) (one per label, in label order)',
    );
    expect(refused({ train, dev }, ['--labels', 'a,b,c'])).toBe(
      `promptsearch: labels: lists 3 labels (a, b, c) but no file has an example of label 2 'c' (${train}, ${dev}); list the labels the data has`,
    );
  });

  test('a label name not in `labels` is refused naming the file and line', () => {
    const dir = tmp();
    const train = tsv(dir, 'train.tsv', 'train', { label: (l) => (l === '0' ? 'negative' : 'positive') });
    const dev = tsv(dir, 'dev.tsv', 'dev', { label: (l) => (l === '0' ? 'negative' : 'postive') });
    expect(refused({ train, dev }, ['--verbalizer', 'terrible,great', '--labels', 'negative,positive'])).toMatch(
      new RegExp(`^promptsearch: ${dev}:\\d+: unknown label 'postive' \\(expected one of: negative, positive\\)$`),
    );
  });

  test('a label absent from dev or test is a warning the caller says (the library writes nothing)', () => {
    const dir = tmp();
    const config = validateConfig(
      {
        version: 2,
        data: {
          train: tsv(dir, 'train.tsv', 'train'),
          dev: tsv(dir, 'dev.tsv', 'dev', { keep: (l) => l === '1' }),
          test: tsv(dir, 'test.tsv', 'test', { keep: (l) => l === '0' }),
        },
        labels: ['negative', 'positive'],
        template: '{x} <A:1> [MASK] .',
        verbalizer: 'terrible,great',
      },
      'x',
    );
    const write = jest.spyOn(process.stderr, 'write');
    const log = jest.spyOn(console, 'log');
    try {
      expect(checkRunData(config)).toEqual([
        `${path.join(dir, 'dev.tsv')}: no dev example of label 0 'negative': the prompt is selected without judging it`,
        `${path.join(dir, 'test.tsv')}: no test example of label 1 'positive': the test accuracy does not measure it`,
      ]);
      expect(write).not.toHaveBeenCalled();
      expect(log).not.toHaveBeenCalled();
    } finally {
      write.mockRestore();
      log.mockRestore();
    }
    // The CLI says it once, as a warning, for a search over two templates too (and the search runs).
    const out = path.join(dir, 'run');
    const r = cli(
      [
        'search',
        '--train',
        config.data!.train,
        '--dev',
        config.data!.dev,
        '--verbalizer',
        'terrible,great',
        '--template',
        '{x} <A:1> [MASK] .',
        '--template',
        '<A:1> {x} [MASK] .',
      ].concat(['--budget', '1000', '--workers', '1', '--out', out]),
    );
    expect(r.status).toBe(0);
    expect(lines(r.stderr).filter((l) => l.includes('warning'))).toEqual([
      `promptsearch: warning: ${config.data!.dev}: no dev example of label 0: the prompt is selected without judging it`,
    ]);
  });

  test("'task' and 'data' together are refused, in a config and as eval's flags", () => {
    const dir = tmp();
    const file = path.join(dir, 'both.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        version: 2,
        task: 'sst-2',
        data: { train: tsv(dir, 'train.tsv', 'train'), dev: tsv(dir, 'dev.tsv', 'dev') },
        verbalizer: 'terrible,great',
      }),
    );
    const out = path.join(dir, 'run');
    const r = cli(['search', file, '--out', out]);
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({
      status: 2,
      stderr: `promptsearch: ${file}: give 'task' or 'data', not both ('task' names a bundled task, 'data' your own files)`,
    });
    expect(fs.existsSync(out)).toBe(false);
    const e = cli([
      'eval',
      '--task',
      'sst-2',
      '--data',
      path.join(dir, 'dev.tsv'),
      '--template',
      '{x} it was [MASK] .',
      '--verbalizer',
      'terrible,great',
    ]);
    expect({ status: e.status, stderr: e.stderr.trim() }).toEqual({
      status: 2,
      stderr:
        "promptsearch: give --task or --data, not both (--task scores a bundled task's split, --data your own file)",
    });
  });

  test("a leaderboard checks its tasks' data before its output folder or any entry is made", () => {
    const dir = tmp();
    const suite = path.join(dir, 'suite.json');
    const test = tsv(dir, 'test.tsv', 'test');
    const reviews = {
      name: 'reviews',
      train: tsv(dir, 'train.tsv', 'train', { column: 'text' }),
      dev: tsv(dir, 'dev.tsv', 'dev', { column: 'text' }),
      test,
      verbalizer: 'terrible,great',
    };
    const search = { template: '{x} <A:1> [MASK] .', budget: 800, workers: 1, threadsPerWorker: 1 };
    fs.writeFileSync(
      suite,
      JSON.stringify({
        version: 2,
        name: 'x',
        tasks: [reviews],
        seeds: [13],
        base: search,
        methods: [
          { name: 'manual', manual: true },
          { name: 'random', strategy: 'random' },
        ],
      }),
    );
    const out = path.join(dir, 'board');
    const r = cli(['leaderboard', suite, '--out', out]);
    expect({ status: r.status, stderrLines: lines(r.stderr).length }).toEqual({ status: 2, stderrLines: 1 });
    expect(r.stderr).toMatch(
      new RegExp(`^promptsearch: ${test}: no 'text' column, which template field \\{x\\} reads`),
    );
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('readers and the run directory say what is wrong', () => {
  test('a CSV saved as .tsv: the header is one column with commas, and the message says so', () => {
    const dir = tmp();
    const file = path.join(dir, 'dev.tsv');
    fs.copyFileSync(path.join(EXAMPLES, 'sst2-dev.csv'), file);
    const r = cli([
      'eval',
      '--data',
      file,
      '--labels',
      'negative,positive',
      '--template',
      '{x} it was [MASK] .',
      '--verbalizer',
      'terrible,great',
    ]);
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({
      status: 2,
      stderr: `promptsearch: ${file}: the header has one column 'sentence,label' (no tab) — is this a CSV file? rename it .csv, or read it as CSV (eval --format csv, predict --data-format csv, "format": "csv" in a config's data)`,
    });
  });

  // A genuinely read-only file system: a folder bind-mounted read-only in a user and mount namespace of its own.
  const roMount =
    spawnSync('unshare', ['-rm', 'sh', '-c', 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1"', 'sh', tmp()], {
      encoding: 'utf8',
    }).status === 0;
  (roMount ? test : test.skip)(
    `a run directory on a read-only file system says so, naming the folder (not "no such file or directory")${roMount ? '' : ' [skipped: unshare -rm cannot make a read-only bind mount here]'}`,
    () => {
      const ro = tmp();
      const out = path.join(ro, 'a', 'run');
      const search = [CLI, ...exampleSearch(out)];
      const script = `mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"`;
      const r = spawnSync('unshare', ['-rm', 'sh', '-c', script, 'sh', ro, process.execPath, ...search], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({
        status: 2,
        stderr: `promptsearch: ${path.join(ro, 'a')}: cannot create the run directory ${out} (read-only file system)`,
      });
      expect(fs.readdirSync(ro)).toEqual([]);
    },
  );

  // Root ignores a folder's mode bits: then a folder under /sys, where no one may create one.
  const root = process.getuid?.() === 0;
  const sysfs = fs.existsSync('/sys/fs') && fs.statSync('/sys/fs').isDirectory();
  (root && !sysfs ? test.skip : test)(
    `a run directory that cannot be created: the kernel's reason and the folder (${root ? 'under /sys/fs, running as root' : 'a folder of mode 0555'})`,
    () => {
      const dir = tmp();
      let parent: string;
      let reason: string;
      if (root) {
        parent = `/sys/fs/promptsearch-test-${process.pid}`;
        reason = 'permission denied';
      } else {
        parent = path.join(dir, 'ro');
        fs.mkdirSync(parent, { mode: 0o555 });
        parent = path.join(parent, 'x');
        reason = 'permission denied';
      }
      const out = path.join(parent, 'run');
      const r = cli(exampleSearch(out));
      expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({
        status: 2,
        stderr: `promptsearch: ${parent}: cannot create the run directory ${out} (${reason})`,
      });
    },
  );

  (fs.existsSync('/proc/self') ? test : test.skip)(
    "a run directory under /proc (Linux) is refused at once: Node's recursive mkdir spins there forever",
    () => {
      const out = `/proc/promptsearch-test-${process.pid}/run`;
      const r = cli(exampleSearch(out));
      expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({
        status: 2,
        stderr: `promptsearch: ${path.dirname(out)}: cannot create the run directory ${out} (the file system does not allow it)`,
      });
    },
  );
});
