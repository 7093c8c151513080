import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLI, ROOT } from './helpers';

/**
 * Data checks that need every split at once (runner/dataChecks.ts) and the readers' and run
 * directory's one-line errors: each is refused before anything is scored or written, with one
 * line naming the file (or the config field), exit 2.
 */
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-datachecks-'));
const EXAMPLES = path.join(ROOT, 'datasets', 'examples');
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

/** The example TSV split with its text column renamed and its rows filtered. */
function tsv(dir: string, name: string, split: 'train' | 'dev' | 'test', opts: { column?: string; keep?: (label: string) => boolean; label?: (label: string) => string } = {}): string {
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

describe('readers and the run directory say what is wrong', () => {
  test("'task' and 'data' together are refused, in a config and as eval's flags", () => {
    const dir = tmp();
    const file = path.join(dir, 'both.json');
    fs.writeFileSync(file, JSON.stringify({ version: 2, task: 'sst-2', data: { train: tsv(dir, 'train.tsv', 'train'), dev: tsv(dir, 'dev.tsv', 'dev') }, verbalizer: 'terrible,great' }));
    const out = path.join(dir, 'run');
    const r = cli(['search', file, '--out', out]);
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 2, stderr: `promptsearch: ${file}: give 'task' or 'data', not both ('task' names a bundled task, 'data' your own files)` });
    expect(fs.existsSync(out)).toBe(false);
    const e = cli(['eval', '--task', 'sst-2', '--data', path.join(dir, 'dev.tsv'), '--template', '{x} it was [MASK] .', '--verbalizer', 'terrible,great']);
    expect({ status: e.status, stderr: e.stderr.trim() }).toEqual({ status: 2, stderr: "promptsearch: give --task or --data, not both (--task scores a bundled task's split, --data your own file)" });
  });

  test('a CSV saved as .tsv: the header is one column with commas, and the message says so', () => {
    const dir = tmp();
    const file = path.join(dir, 'dev.tsv');
    fs.copyFileSync(path.join(EXAMPLES, 'sst2-dev.csv'), file);
    const r = cli(['eval', '--data', file, '--labels', 'negative,positive', '--template', '{x} it was [MASK] .', '--verbalizer', 'terrible,great']);
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({
      status: 2,
      stderr: `promptsearch: ${file}: the header has one column 'sentence,label' (no tab) — is this a CSV file? rename it .csv, or read it as CSV (eval --format csv, predict --data-format csv, "format": "csv" in a config's data)`,
    });
  });

  // Root ignores a folder's mode bits: then a folder under /sys, where no one may create one.
  const root = process.getuid?.() === 0;
  const sysfs = fs.existsSync('/sys/fs') && fs.statSync('/sys/fs').isDirectory();
  (root && !sysfs ? test.skip : test)(`a run directory that cannot be created: the kernel's reason and the folder (${root ? 'under /sys/fs, running as root' : 'a folder of mode 0555'})`, () => {
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
    const r = cli([
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
    ]);
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 2, stderr: `promptsearch: ${parent}: cannot create the run directory ${out} (${reason})` });
  });

  (fs.existsSync('/proc/self') ? test : test.skip)("a run directory under /proc (Linux) is refused at once: Node's recursive mkdir spins there forever", () => {
    const out = `/proc/promptsearch-test-${process.pid}/run`;
    const r = cli([
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
    ]);
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({
      status: 2,
      stderr: `promptsearch: ${path.dirname(out)}: cannot create the run directory ${out} (the file system does not allow it)`,
    });
  });
});
