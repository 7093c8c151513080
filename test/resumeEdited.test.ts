/** A run's config.json edited by hand between a kill and `--resume` is refused, naming the field. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLI, ROOT } from './helpers';

const E = path.join(ROOT, 'datasets', 'examples');
const FLAGS = [
  '--train',
  path.join(E, 'sst2-train.csv'),
  '--dev',
  path.join(E, 'sst2-dev.csv'),
  '--verbalizer',
  'terrible,great',
  '--labels',
  'negative,positive',
  '--no-report',
];

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, signal: r.signal, stderr: r.stderr };
}

/** A run killed (SIGKILL, test-only fault point) when its selection starts: candidates recorded, no best.json. */
function killedRun(dir: string, extra: string[]): void {
  const r = cli(['search', ...FLAGS, ...extra, '--out', dir], { PROMPTSEARCH_FAULT_AT: 'selection' });
  expect(r.signal).toBe('SIGKILL');
  expect(fs.existsSync(path.join(dir, 'best.json'))).toBe(false);
}

describe('resume after config.json was edited', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-edit-'));

  test("a slot's length changed in config.json: refused, one line naming the field; unedited, it resumes", () => {
    const dir = path.join(root, 'one');
    killedRun(dir, ['--template', '{x} <A:2> [MASK] .', '--budget', '800']);
    const file = path.join(dir, 'config.json');
    const original = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, original.replace('<A:2>', '<A:1>'));
    const r = cli(['search', '--resume', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `promptsearch: ${file}: cannot resume, this run was started with another setup: field 'template' of config.json was edited after the run started (its candidates were scored with the value it had then; put it back, or start a new run)\n`,
    );
    expect(fs.existsSync(path.join(dir, 'best.json'))).toBe(false);
    // Put back (keys reordered and reindented, as an editor might), it resumes; a speed setting may change.
    fs.writeFileSync(file, JSON.stringify(JSON.parse(original)));
    const ok = cli(['search', '--resume', dir, '--workers', '1']);
    expect(ok.status).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'best.json'), 'utf8')).prompt).toMatch(
      /^\{x\} \S+ \S+ \[MASK\] \.$/,
    );
  });

  test("the default's templates changed in a multi-template run's config.json: refused", () => {
    const dir = path.join(root, 'multi');
    killedRun(dir, ['--template', '{x} <A:1> [MASK] .', '--template', '{x} [MASK] <B:1> .', '--budget', '1200']);
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('<B:1>', '<B:2>'));
    const r = cli(['search', '--resume', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^promptsearch: .*config\.json: cannot resume, .*field 'templates' of config\.json was edited/,
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  test("a space.json whose groups are not the template's slots, or are malformed, is refused as damaged", () => {
    const dir = path.join(root, 'space');
    killedRun(dir, ['--template', '{x} <A:2> [MASK] .', '--budget', '800']);
    const file = path.join(dir, 'space.json');
    const good = fs.readFileSync(file, 'utf8');
    for (const [space, why] of [
      ['{"groups": []}', "its slot groups \\(none\\) are not the template's slots \\(A:2\\)"],
      [
        '{"groups": [{"name": "A", "minLength": 2, "maxLength": 2, "pools": [[1]]}]}',
        "groups\\[0\\] 'A': expected 2 non-empty lists of token ids",
      ],
    ]) {
      fs.writeFileSync(file, space);
      const r = cli(['search', '--resume', dir]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n').pop()).toMatch(
        new RegExp(`^promptsearch: ${file}: ${why}.*the run directory is damaged$`),
      );
    }
    fs.writeFileSync(file, good);
    expect(cli(['search', '--resume', dir]).status).toBe(0);
  });
});
