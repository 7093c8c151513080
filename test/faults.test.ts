/**
 * Fault tests (issue 12): real SIGKILL / SIGINT of the CLI, real damaged files, a real read-only
 * folder and a real full disk (a tiny tmpfs, where this machine lets us mount one). Each failure
 * a user can cause must be one line naming the file or field, exit 2, no stack trace. A fault this
 * machine cannot set up is a skipped test naming why (test/setup/requires.ts), never a pass.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as evaluate from '../src/scoring/evaluate';
import { Suite, runLeaderboard } from '../src/runner/leaderboard';
import { CLI, ROOT, lineCount, readJson, startCli, waitFor } from './helpers';
import { testIf } from './setup/requires';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-fault-'));
// The bundled SST-2 seed-13 train and dev, and the first 48 rows of its test split (a test pass
// of 48 rows, not 1,821, keeps each run to seconds).
const SST2 = path.join(ROOT, 'datasets', '16-shot', 'sst-2');
const TEST48 = path.join(tmp(), 'test48.tsv');
fs.chmodSync(path.dirname(TEST48), 0o755); // readable by the unprivileged user of the permission test
fs.writeFileSync(
  TEST48,
  fs.readFileSync(path.join(SST2, 'test.tsv'), 'utf8').split('\n').slice(0, 49).join('\n') + '\n',
);
const CONFIG = {
  // A version 1 config, said so: no note on stderr, whose lines the tests count.
  version: 1,
  name: 'fault',
  data: { train: path.join(SST2, '16-13', 'train.tsv'), dev: path.join(SST2, '16-13', 'dev.tsv'), test: TEST48 },
  seed: 13,
  template: '{x} <A:2> [MASK] .',
  verbalizer: 'terrible,great',
  strategy: 'random',
  strategyParams: { batchSize: 8 },
  candidates: { topK: 8 },
  budget: 600,
  selectTopK: 2,
  workers: 1,
  threadsPerWorker: 1,
};

function writeConfig(extra: Record<string, unknown> = {}): string {
  const dir = tmp();
  fs.chmodSync(dir, 0o755);
  const f = path.join(dir, 'cfg.json');
  fs.writeFileSync(f, JSON.stringify({ ...CONFIG, ...extra }));
  fs.chmodSync(f, 0o644);
  return f;
}

type Result = { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };
const cli = (args: string[], opts: { input?: string; uid?: number } = {}): Result => {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    input: opts.input,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
};

/** One line on stderr naming the problem, exit code 2, no stack trace. */
function expectUserError(r: Result, pattern: RegExp): void {
  expect({ status: r.status, stderr: r.stderr }).toEqual({
    status: 2,
    stderr: expect.stringMatching(/^promptsearch: [^\n]*\n$/),
  });
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
}

const start = startCli;
const comparable = (b: Record<string, unknown>) => ({ ...b, seconds: 0, runId: '' });

/** Whether this machine lets us mount a tmpfs (asked once, when the tests are collected). */
function tmpfsMountable(): boolean {
  const mnt = tmp();
  const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status === 0;
  if (ok) spawnSync('umount', [mnt]);
  fs.rmdirSync(mnt);
  return ok;
}

describe('run directory faults', () => {
  let cfg: string;
  let reference: string;

  beforeAll(async () => {
    // The reference run; a second search on the same --out while it runs must be refused by the lock.
    cfg = writeConfig();
    const parent = tmp();
    fs.chmodSync(parent, 0o755); // readable by the unprivileged user of the permission test
    reference = path.join(parent, 'ref');
    const a = start(['search', cfg, '--out', reference]);
    await waitFor(() => fs.existsSync(path.join(reference, 'lock')));
    const b = cli(['search', cfg, '--out', reference]);
    expectUserError(b, new RegExp(`${reference}: in use by process ${a.child.pid} on `));
    expect(await a.exit).toMatchObject({ code: 0, signal: null });
    expect(fs.existsSync(path.join(reference, 'lock'))).toBe(false);
  }, 300_000);

  test('two writers: the refused search left the run intact (one writer, indices in sequence)', () => {
    const recs = fs
      .readFileSync(path.join(reference, 'candidates.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(recs.map((r) => r.i)).toEqual(recs.map((_, i) => i));
    expect(readJson(path.join(reference, 'best.json')).status).toBe('done');
  });

  test('search --out on an existing run refuses unless --resume; a finished run cannot be resumed', () => {
    const before = fs.readFileSync(path.join(reference, 'best.json'), 'utf8');
    expectUserError(
      cli(['search', cfg, '--out', reference]),
      /already holds a run; continue it with: promptsearch search --resume/,
    );
    expectUserError(cli(['search', '--resume', reference]), /already complete/);
    expect(fs.readFileSync(path.join(reference, 'best.json'), 'utf8')).toBe(before);
  });

  /** A copy of the reference run, stopped (state interrupted) so that it can be resumed. */
  function stoppedCopy(): string {
    const dir = path.join(tmp(), 'run');
    fs.cpSync(reference, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ status: 'interrupted' }));
    fs.rmSync(path.join(dir, 'best.json'));
    return dir;
  }

  test.each([
    ['state.json', '', /state\.json: empty file/],
    ['state.json', '{"status": "interr', /state\.json: not valid JSON/],
    ['config.json', '{]', /config\.json: not valid JSON/],
    ['config.json', '', /config\.json: empty file/],
    ['space.json', '[1, 2', /space\.json: not valid JSON/],
    ['space.json', '{"pools": []}', /space\.json: not a search space: field 'groups'/],
  ])('%s damaged (%j) → one line naming it', (file, content, pattern) => {
    const dir = stoppedCopy();
    fs.writeFileSync(path.join(dir, file), content);
    expectUserError(cli(['search', '--resume', dir]), pattern);
  });

  test('a bad line in the middle of candidates.jsonl: an error naming the line, nothing deleted', () => {
    const dir = stoppedCopy();
    const f = path.join(dir, 'candidates.jsonl');
    const recs = fs.readFileSync(f, 'utf8').split('\n');
    recs[3] = recs[3].slice(0, 20);
    fs.writeFileSync(f, recs.join('\n'));
    const before = fs.readFileSync(f);
    expectUserError(
      cli(['search', '--resume', dir]),
      /candidates\.jsonl: line 4 is not valid JSON; the file is damaged \(nothing was changed/,
    );
    expect(fs.readFileSync(f).equals(before)).toBe(true);
  });

  test('two runs mixed in candidates.jsonl (duplicate indices) are refused', () => {
    const dir = stoppedCopy();
    const f = path.join(dir, 'candidates.jsonl');
    const first = fs.readFileSync(f, 'utf8').split('\n')[0];
    fs.appendFileSync(f, first + '\n');
    expectUserError(
      cli(['search', '--resume', dir]),
      /line \d+ has index 0, expected \d+ \(written by two processes at once\?\)/,
    );
  });

  test('model file or dtype changed between stop and --resume → refused, config.json kept', () => {
    const dir = stoppedCopy();
    const cfgBefore = fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
    expectUserError(
      cli(['search', '--resume', dir, '--dtype', 'fp32']),
      /cannot resume, this run was started with another setup: dtype "fp32" \(run: "int8"\)/,
    );
    // A model folder whose onnx file changes after the run started.
    const model = path.join(tmp(), 'model');
    fs.cpSync(readJson(path.join(dir, 'config.json')).resolved.modelDir, model, { recursive: true });
    const saved = readJson(path.join(dir, 'config.json'));
    fs.writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({ ...saved, model, resolved: { ...saved.resolved, modelDir: model } }),
    );
    const onnx = path.join(model, 'onnx', 'model_quantized.onnx');
    const bytes = fs.readFileSync(onnx);
    bytes[bytes.length - 100] ^= 0xff;
    fs.writeFileSync(onnx, bytes);
    expectUserError(
      cli(['search', '--resume', dir]),
      /another setup: model file onnx\/model_quantized\.onnx sha256 [0-9a-f]{12}… \(run: [0-9a-f]{12}…\)/,
    );
    expect(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).not.toBe(cfgBefore); // our edit, not the CLI's
    expect(readJson(path.join(dir, 'config.json')).resolved.modelSha256).toBe(saved.resolved.modelSha256);
  });

  test('a stale lock (its process is dead) is taken over; a live one refuses', () => {
    const dir = stoppedCopy();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    fs.writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: dead, host: os.hostname(), startedAt: 'then' }));
    fs.writeFileSync(path.join(dir, 'space.json'), ''); // stop right after the lock is taken
    expectUserError(cli(['search', '--resume', dir]), /space\.json: empty file/);
    expect(fs.existsSync(path.join(dir, 'lock'))).toBe(false); // taken over, then released
    fs.writeFileSync(
      path.join(dir, 'lock'),
      JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: 'now' }),
    );
    expectUserError(cli(['search', '--resume', dir]), new RegExp(`in use by process ${process.pid}`));
  });

  test('a prompt file applied with a model of another tokenizer: an error unless --force', () => {
    const out = path.join(tmp(), 'p.json');
    expect(cli(['export', reference, '--out', out]).status).toBe(0);
    expectUserError(
      cli(['predict', '--prompt', out, '--model', 'roberta-mini-imdb', '--dtype', 'int8'], { input: 'a fine film\n' }),
      /found with the tokenizer of bert-mini-imdb-uncased .* another .*--force/,
    );
    const forced = cli(['predict', '--prompt', out, '--model', 'roberta-mini-imdb', '--force'], {
      input: 'a fine film\n',
    });
    expect(forced.status).toBe(0);
    expect(forced.stdout.trim().split('\n')).toHaveLength(1);
  });

  // The README's library example runs as written: test/docExamples.test.ts runs its `sh test` blocks.

  const root = process.getuid?.() === 0;
  // Root writes anywhere, so the CLI runs as nobody; that needs a clone nobody can read (mktemp -d makes its folder 0700).
  const nobodyReads =
    !root ||
    spawnSync(
      process.execPath,
      ['-e', `require('fs').accessSync(${JSON.stringify(CLI)}, require('fs').constants.R_OK)`],
      { uid: 65534, gid: 65534 },
    ).status === 0;
  testIf(nobodyReads ? undefined : 'run as root and user 65534 cannot read the clone', { ci: 'may-skip' })(
    'results folder not writable: one line naming it, exit 2 (as an unprivileged user when run as root)',
    () => {
      const parent = tmp();
      fs.chmodSync(parent, 0o555);
      const r = cli(['search', cfg, '--out', path.join(parent, 'run')], root ? { uid: 65534 } : {});
      expectUserError(r, /run: cannot create the run directory \(permission denied\)/);
      const out = path.join(parent, 'p.json');
      const e = cli(['export', reference, '--out', out], root ? { uid: 65534 } : {});
      expectUserError(e, /p\.json: cannot write \(permission denied\)/);
      expect(fs.readdirSync(parent)).toEqual([]);
    },
  );

  // A real full disk: a 64 KiB tmpfs (root or CAP_SYS_ADMIN). `ulimit -f` would need no root, but it
  // fails a write with EFBIG (file too large), not ENOSPC: another error than a full disk gives.
  testIf(tmpfsMountable() ? undefined : 'cannot mount a tmpfs (not root)', { ci: 'may-skip' })(
    'disk full: one line, exit 2, no temp file left',
    () => {
      const mnt = tmp();
      expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status).toBe(0);
      try {
        const run = path.join(mnt, 'run');
        fs.cpSync(reference, run, { recursive: true, filter: (f) => !f.endsWith('candidates.jsonl') });
        // Fill the rest of the disk.
        const fd = fs.openSync(path.join(mnt, 'filler'), 'w');
        try {
          for (;;) fs.writeSync(fd, Buffer.alloc(1024));
        } catch (e) {
          expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
        } finally {
          fs.closeSync(fd);
        }
        expectUserError(cli(['export', run]), /prompt\.json: cannot write \(no space left on device\)/);
        expect(fs.readdirSync(run).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      } finally {
        spawnSync('umount', [mnt]);
      }
    },
  );
});

/**
 * SIGKILL at fixed moments (PROMPTSEARCH_FAULT_AT, src/runner/faultPoint.ts: the run kills itself
 * there), then --resume: each kill is checked to have happened where it was asked (killed by
 * SIGKILL, no best.json, the run's files as that moment leaves them), and the resumed run's
 * best.json, candidates and test predictions equal an uninterrupted run's.
 */
describe('SIGKILL at fixed moments, then --resume', () => {
  const configFile = (extra: Record<string, unknown>) => {
    const f = path.join(tmp(), 'cfg.json');
    fs.writeFileSync(f, JSON.stringify({ ...CONFIG, ...extra }));
    return f;
  };
  // One template with an ensemble of its top 2 (budget: 2 batches of 8 on train, then dev for 2);
  // two templates of that budget each (the result: the ensemble of their selected prompts).
  const single = configFile({ ensemble: 2 });
  const multi = configFile({
    template: undefined,
    templates: ['{x} <A:2> [MASK] .', '<A:2> {x} [MASK] .'],
    budget: 1200,
  });
  const withoutFault = () => {
    const env = { ...process.env };
    delete env.PROMPTSEARCH_FAULT_AT;
    return env;
  };
  const search = (args: string[], faultAt?: string) =>
    spawnSync(process.execPath, [CLI, 'search', ...args], {
      encoding: 'utf8',
      env: faultAt ? { ...withoutFault(), PROMPTSEARCH_FAULT_AT: faultAt } : withoutFault(),
    });
  const refs: Record<string, string> = {};
  beforeAll(() => {
    for (const [name, cfgFile] of [
      ['single', single],
      ['multi', multi],
    ]) {
      refs[name] = path.join(tmp(), 'ref');
      const r = search([cfgFile, '--out', refs[name]]);
      expect({ status: r.status, stderr: r.stderr }).toEqual({
        status: 0,
        stderr: expect.not.stringMatching(/internal error/),
      });
    }
  }, 300_000);

  const count = (f: string) => lineCount(f);
  /** The files of a run (and of each template's run) that must equal the uninterrupted run's. */
  const expectSameAsReference = (dir: string, ref: string, subRuns: string[]) => {
    expect(comparable(readJson(path.join(dir, 'best.json')))).toEqual(
      comparable(readJson(path.join(ref, 'best.json'))),
    );
    expect(readJson(path.join(dir, 'test-predictions.json'))).toEqual(
      readJson(path.join(ref, 'test-predictions.json')),
    );
    for (const sub of subRuns) {
      expect(fs.readFileSync(path.join(dir, sub, 'candidates.jsonl'), 'utf8')).toBe(
        fs.readFileSync(path.join(ref, sub, 'candidates.jsonl'), 'utf8'),
      );
      expect(comparable(readJson(path.join(dir, sub, 'best.json')))).toEqual(
        comparable(readJson(path.join(ref, sub, 'best.json'))),
      );
    }
  };

  test.each([
    ['candidate:1', 'after the first batch of candidates'],
    ['selection', 'during selection (top candidates scored on dev)'],
    ['test', 'during test scoring'],
    ['ensemble', 'during the ensemble (its members scored on test)'],
  ])(
    'one template, killed at %s (%s)',
    (faultAt) => {
      const dir = path.join(tmp(), 'run');
      const killed = search([single, '--out', dir], faultAt);
      expect({ signal: killed.signal, stderr: killed.stderr }).toEqual({
        signal: 'SIGKILL',
        stderr: expect.not.stringMatching(/internal error/),
      });
      expect(fs.existsSync(path.join(dir, 'best.json'))).toBe(false);
      expect(readJson(path.join(dir, 'state.json')).status).toBe('running');
      const scored = count(path.join(dir, 'candidates.jsonl'));
      const all = count(path.join(refs.single, 'candidates.jsonl'));
      if (faultAt === 'candidate:1') {
        expect(scored).toBe(8); // one batch of the reference's two
        expect(all).toBe(16);
      } else expect(scored).toBe(all); // the search was over
      const progress = path.join(dir, 'progress.jsonl');
      const killedAfter = Math.max(
        ...fs
          .readFileSync(progress, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l).seconds ?? 0),
      );
      // A torn last line, as a crash mid-append leaves it: repaired before the resume appends.
      fs.appendFileSync(progress, '{"evaluations": 12');
      const resumed = search(['--resume', dir, '--json']);
      expect({ status: resumed.status, stderr: resumed.stderr }).toEqual({
        status: 0,
        stderr: expect.not.stringMatching(/internal error/),
      });
      expectSameAsReference(dir, refs.single, ['.']);
      expect(readJson(path.join(dir, 'best.json')).seconds).toBeGreaterThanOrEqual(killedAfter);
      const text = fs.readFileSync(progress, 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      const recs = text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)); // every line parses
      expect(recs.filter((r) => r.selection).length).toBe(1);
    },
    300_000,
  );

  test.each([
    ['candidate:3', 'mid-template: the first batch of the second template'],
    ['ensemble', "during the ensemble of the templates' selected prompts"],
  ])(
    'two templates, killed at %s (%s)',
    (faultAt) => {
      const dir = path.join(tmp(), 'run');
      const killed = search([multi, '--out', dir], faultAt);
      expect({ signal: killed.signal, stderr: killed.stderr }).toEqual({
        signal: 'SIGKILL',
        stderr: expect.not.stringMatching(/internal error/),
      });
      expect(fs.existsSync(path.join(dir, 'best.json'))).toBe(false);
      expect(readJson(path.join(dir, 't1', 'state.json')).status).toBe('done');
      if (faultAt === 'candidate:3') {
        expect(count(path.join(refs.multi, 't1', 'candidates.jsonl'))).toBe(16); // two batches in the first template
        expect(count(path.join(dir, 't2', 'candidates.jsonl'))).toBe(8);
        expect(fs.existsSync(path.join(dir, 't2', 'best.json'))).toBe(false);
      } else expect(readJson(path.join(dir, 't2', 'state.json')).status).toBe('done');
      const resumed = search(['--resume', dir]);
      expect({ status: resumed.status, stderr: resumed.stderr }).toEqual({
        status: 0,
        stderr: expect.not.stringMatching(/internal error/),
      });
      expectSameAsReference(dir, refs.multi, ['t1', 't2']);
    },
    300_000,
  );
});

describe('bad input, one line each', () => {
  const refineRun = tmp(); // refine checks its flags before it looks at the run
  test.each([
    [['refine', refineRun, '--dim', '0'], /--dim 0: expected a positive integer/],
    [['refine', refineRun, '--sigma', '-1'], /--sigma -1: expected a number > 0/],
    [['refine', refineRun, '--budget', '-1'], /--budget -1: expected a positive integer/],
    [
      ['eval', '--task', 'sst-2', '--template', '{x} [MASK]', '--verbalizer', 'bad,good', '--threads', '-3'],
      /--threads -3: expected a positive integer/,
    ],
    [['search', 'CFG', '--workers', '0'], /--workers 0: expected a positive integer/],
  ])('%j', (args, pattern) => {
    const cfg = writeConfig();
    expectUserError(cli((args as string[]).map((a) => (a === 'CFG' ? cfg : a))), pattern as RegExp);
  });

  test('strategyParams {"widht": 4}: refused before any model loads', () => {
    const r = cli(['search', writeConfig({ strategy: 'beam', strategyParams: { widht: 4 } })]);
    expectUserError(
      r,
      /cfg\.json: strategyParams: unknown field 'widht' \(allowed: width, candidatesPerPosition, restarts\)/,
    );
  });

  test('a binary file as --data: a short message, no raw bytes', () => {
    const bin = path.join(tmp(), 'data.bin');
    fs.writeFileSync(bin, Buffer.from(Array.from({ length: 1200 }, (_, i) => (i * 37) % 256)));
    const r = cli(['eval', '--data', bin, '--template', '{x} [MASK]', '--verbalizer', 'bad,good']);
    expectUserError(r, /data\.bin: not a text file \(binary data at byte 0\)/);
    expect(r.stderr.length).toBeLessThan(200);
  });

  test('a search config that is not JSON (binary): the file named, no raw bytes', () => {
    const f = path.join(tmp(), 'cfg.json');
    fs.writeFileSync(f, Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x01, 0x02]));
    const r = cli(['search', f]);
    expectUserError(r, /cfg\.json: not valid JSON/);
    // eslint-disable-next-line no-control-regex -- raw control bytes are what must not leak
    expect(r.stderr).not.toMatch(/[\x00-\x08\ufffd]/);
  });
});

describe('Ctrl-C', () => {
  test('before the first candidate: says so, exit 130, the run resumable', async () => {
    const dir = path.join(tmp(), 'run');
    const p = start(['search', writeConfig(), '--out', dir]);
    await waitFor(() => fs.existsSync(path.join(dir, 'lock')), 5); // the Ctrl-C handler is in place
    p.child.kill('SIGINT');
    expect(await p.exit).toMatchObject({ code: 130, signal: null });
    expect(p.out()).toMatch(
      /promptsearch: stopped before the first candidate was scored; resume with: promptsearch search --resume /,
    );
    expect(p.out()).not.toMatch(/scored no candidate|internal error/);
    expect(readJson(path.join(dir, 'state.json')).status).toBe('interrupted');
  }, 120_000);

  test('twice while scoring: dies of SIGINT (exit 130 in a shell), no native abort', async () => {
    const dir = path.join(tmp(), 'run');
    const p = start(['search', writeConfig({ budget: 4000 }), '--out', dir]);
    await waitFor(() => lineCount(path.join(dir, 'candidates.jsonl')) > 0, 5);
    p.child.kill('SIGINT');
    await waitFor(() => /Ctrl-C again to abort/.test(p.out()), 5);
    p.child.kill('SIGINT');
    const { code, signal } = await p.exit;
    expect(code === 130 || signal === 'SIGINT').toBe(true);
    expect(p.out()).not.toMatch(/Napi|Abort|core dumped|internal error/);
  }, 120_000);
});

describe('leaderboard reports', () => {
  const suite: Suite = {
    name: 'manual-only',
    tasks: ['sst-2'],
    seeds: [13, 21],
    base: {},
    methods: [{ name: 'manual', manual: true }],
  };

  test('an interrupted run never replaces a complete report; the seed-independent test split is scored once', async () => {
    const out = tmp();
    const complete = {
      suite: 'manual-only',
      tasks: ['sst-2'],
      seeds: [13, 21],
      methods: ['manual'],
      complete: true,
      rows: [],
      cells: [{}, {}],
    };
    fs.writeFileSync(path.join(out, 'leaderboard.json'), JSON.stringify(complete));
    fs.writeFileSync(path.join(out, 'leaderboard.md'), 'the shipped report\n');
    const spy = jest.spyOn(evaluate, 'evaluateTemplate');
    const log: string[] = [];
    const progress: number[] = [];
    const first = await runLeaderboard(suite, {
      outDir: out,
      stopRequested: () => fs.existsSync(path.join(out, 'runs', 'manual', 'sst-2-s13', 'cell.json')),
      log: (l) => log.push(l),
      onProgress: (p) => progress.push(p.cellsDone),
    });
    expect(first.complete).toBe(false);
    expect(fs.readFileSync(path.join(out, 'leaderboard.md'), 'utf8')).toBe('the shipped report\n');
    expect(log.some((l) => /keeping the complete report/.test(l))).toBe(true);
    expect(progress).toEqual([1]);
    const second = await runLeaderboard(suite, { outDir: out });
    expect(second.complete).toBe(true);
    expect(fs.readFileSync(path.join(out, 'leaderboard.md'), 'utf8')).toMatch(/\| manual \|/);
    expect(readJson(path.join(out, 'leaderboard.json')).complete).toBe(true);
    // dev per seed (2) + test once.
    expect(spy.mock.calls.map((c) => c[0].split)).toEqual(['dev', 'test', 'dev']);
    expect(second.cells[1].testAccuracy).toBe(second.cells[0].testAccuracy);
    spy.mockRestore();
  }, 120_000);
});
