import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readConfig } from '../src/runner/config';
import { CLI, ROOT } from './helpers';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-paths-'));
const EXAMPLES = path.join(ROOT, 'datasets', 'examples');
const cli = (args: string[], cwd: string) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, maxBuffer: 64 << 20 });

/** The SST-2 example CSVs with their columns renamed to review,sentiment, in `dir`. */
function reviewFiles(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const split of ['train', 'dev', 'test']) {
    const text = fs.readFileSync(path.join(EXAMPLES, `sst2-${split}.csv`), 'utf8');
    expect(text.startsWith('sentence,label\n')).toBe(true);
    fs.writeFileSync(path.join(dir, `${split}.csv`), 'review,sentiment\n' + text.slice('sentence,label\n'.length));
  }
}

const tinyConfig = (data: Record<string, unknown>) => ({
  name: 'reviews',
  data: { train: 'data/train.csv', dev: 'data/dev.csv', test: 'data/test.csv', ...data },
  labels: ['negative', 'positive'],
  template: '{x} <A:2> [MASK] .',
  verbalizer: 'terrible,great',
  strategy: 'random',
  candidates: { topK: 8 },
  budget: 600,
  selectTopK: 2,
  workers: 1,
  threadsPerWorker: 1,
});

describe("paths resolve against the config's own folder", () => {
  test('readConfig makes data paths absolute against the config file, not the current folder', () => {
    const dir = tmp();
    const file = path.join(dir, 'nested', 'search.json');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, JSON.stringify(tinyConfig({ test: '/elsewhere/test.csv' })));
    const c = readConfig(file);
    expect(c.data).toMatchObject({
      train: path.join(dir, 'nested', 'data', 'train.csv'),
      dev: path.join(dir, 'nested', 'data', 'dev.csv'),
      test: '/elsewhere/test.csv',
    });
  });

  test('a config run from another folder finds its relative data paths; predict reads the run’s label column', () => {
    const project = tmp();
    reviewFiles(path.join(project, 'data'));
    const config = path.join(project, 'search.json');
    fs.writeFileSync(config, JSON.stringify(tinyConfig({ textColumn: 'review', labelColumn: 'sentiment' })));
    const elsewhere = tmp();
    const runDir = path.join(elsewhere, 'run');
    const r = cli(['search', config, '--out', runDir, '--no-report'], elsewhere);
    expect(r.stderr).not.toMatch(/cannot read/);
    expect(r.status).toBe(0);
    // config.json records where the files were, absolute.
    const saved = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
    expect((saved.config ?? saved).data.train).toBe(path.join(project, 'data', 'train.csv'));
    const best = JSON.parse(fs.readFileSync(path.join(runDir, 'best.json'), 'utf8'));
    // predict on the run's test file: the label column is the run's 'sentiment', said on stderr.
    expect(cli(['export', runDir], elsewhere).status).toBe(0);
    const p = cli(
      [
        'predict',
        '--prompt',
        path.join(runDir, 'prompt.json'),
        '--data',
        path.join(project, 'data', 'test.csv'),
        '--out',
        path.join(elsewhere, 'p.jsonl'),
        '--threads',
        '1',
      ],
      elsewhere,
    );
    expect(p.status).toBe(0);
    expect(p.stderr).toMatch(
      /text from column 'review' \(the run's text column\), labels from column 'sentiment' \(the run's label column\)/,
    );
    const m = p.stderr.match(/^accuracy \d\.\d{4} \((\d+)\/(\d+) correct, gold labels from the 'sentiment' column/m);
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBe(200);
    expect(Number(m![1]) / Number(m![2])).toBe(best.testAccuracy);
    // --label-column still wins; a file without the column is read unlabelled, and says so.
    const unlabeled = path.join(elsewhere, 'texts.csv');
    fs.writeFileSync(unlabeled, 'review\na fine film\n');
    const u = cli(['predict', '--prompt', path.join(runDir, 'prompt.json'), '--data', unlabeled], elsewhere);
    expect(u.status).toBe(0);
    expect(u.stderr).toMatch(/no label column 'sentiment': no accuracy/);
  }, 180_000);

  test("a missing data file's error names the absolute path", () => {
    const project = tmp();
    const config = path.join(project, 'search.json');
    fs.writeFileSync(config, JSON.stringify(tinyConfig({ train: 'nope/train.csv' })));
    const elsewhere = tmp();
    const r = cli(['search', config, '--out', path.join(elsewhere, 'run')], elsewhere);
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[lines.length - 1]).toContain(`${path.join(project, 'nope', 'train.csv')}: cannot read (ENOENT)`);
    // On the command line, a relative path is the current folder's: the error says which one that is.
    const e = cli(['eval', '--data', 'missing.csv', '--template', '{x} [MASK]', '--verbalizer', 'bad,good'], elsewhere);
    expect(e.status).toBe(2);
    expect(e.stderr).toContain(`${path.join(fs.realpathSync(elsewhere), 'missing.csv')}: cannot read (ENOENT)`);
    // A row's error names the file by its absolute path too.
    fs.writeFileSync(path.join(elsewhere, 'bad.csv'), 'sentence,label\na fine film,maybe\n');
    const b = cli(['eval', '--data', 'bad.csv', '--template', '{x} [MASK]', '--verbalizer', 'bad,good'], elsewhere);
    expect(b.status).toBe(2);
    expect(b.stderr).toContain(
      `${path.join(fs.realpathSync(elsewhere), 'bad.csv')}:2: label 'maybe' is not an integer`,
    );
    // The config file itself.
    const c = cli(['search', 'absent.json'], elsewhere);
    expect(c.status).toBe(2);
    expect(c.stderr).toContain(
      `${path.join(fs.realpathSync(elsewhere), 'absent.json')}: cannot read the search config`,
    );
  });
});
