/**
 * Limits and signals of the CLI (issue 31): too many workers are refused before any model loads,
 * and SIGTERM stops a search within seconds in each phase, leaving a run that --resume finishes.
 * Spawns the built CLI (dist/).
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLI, lineCount, readJson, startCli, tinySearchRun, waitFor } from './helpers';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-signal-'));
const CONFIG = {
  version: 1,
  name: 'sig',
  task: 'sst-2',
  seed: 13,
  template: '{x} <A:2> [MASK] .',
  verbalizer: 'terrible,great',
  strategy: 'random',
  strategyParams: { batchSize: 8 },
  candidates: { topK: 8 },
  budget: 1200,
  selectTopK: 2,
  workers: 2,
  threadsPerWorker: 1,
};

function writeConfig(extra: Record<string, unknown> = {}): string {
  const f = path.join(tmp(), 'cfg.json');
  fs.writeFileSync(f, JSON.stringify({ ...CONFIG, ...extra }));
  return f;
}

const start = startCli;

describe('worker limit', () => {
  test('--workers 1000 is refused within 2 s, exit 2, one line saying the limit and why, nothing written', () => {
    const out = path.join(tmp(), 'run');
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [CLI, 'search', writeConfig(), '--workers', '1000', '--out', out], {
      encoding: 'utf8',
    });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^promptsearch: --workers 1000: at most \d+ on this machine \(\d+ cores? × 4; each worker holds a ~\d+ MB model session, [\d.]+ GB free\)\n$/,
    );
    expect(fs.existsSync(out)).toBe(false);
  });

  test('a config\'s "workers" gets the same check, naming the file and field', () => {
    const cfg = writeConfig({ workers: 1000 });
    const r = spawnSync(process.execPath, [CLI, 'search', cfg, '--out', path.join(tmp(), 'run')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `promptsearch: ${cfg}: workers 1000: at most ${/at most (\d+)/.exec(r.stderr)?.[1]} on this machine (${/\(([^)]*)\)/.exec(r.stderr)?.[1]})\n`,
    );
  });

  test('promptsearch worker --workers 1000 is refused before it connects', () => {
    const r = spawnSync(process.execPath, [CLI, 'worker', '--redis', 'redis://127.0.0.1:1', '--workers', '1000'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^promptsearch: --workers 1000: at most \d+ on this machine \(\d+ cores? × 4\)\n$/);
  });
});

describe('SIGTERM stops a search within seconds, resumable', () => {
  const stopAndResume = async (
    moment: (dir: string, out: () => string) => boolean,
    extra: Record<string, unknown> = {},
    within = 5000,
  ) => {
    const dir = path.join(tmp(), 'run');
    const p = start(['search', writeConfig(extra), '--out', dir]);
    await waitFor(() => moment(dir, p.out) || p.child.exitCode !== null);
    expect(p.child.exitCode).toBeNull(); // the moment came before the search ended
    const sent = Date.now();
    p.child.kill('SIGTERM');
    const { code, at } = await p.exit;
    expect(at - sent).toBeLessThan(within);
    expect(code).toBe(130);
    expect(p.out()).not.toMatch(/Napi|terminate called|internal error/);
    expect(readJson(path.join(dir, 'state.json')).status).toBe('interrupted');
    const r = spawnSync(process.execPath, [CLI, 'search', '--resume', dir, '--no-report'], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.status).toBe(0);
    expect(readJson(path.join(dir, 'best.json')).status).toBe('done');
  };

  test('while the scoring workers start', async () => {
    // The search's first line is logged just before its workers start; 8 take seconds to start on
    // 2 cores (before issue 31 the stop waited for all of them, or aborted destroying them mid-load).
    await stopAndResume((_dir, out) => / random search 'sig' on /.test(out()), {
      workers: Math.min(8, os.availableParallelism() * 4),
    });
  }, 120_000);

  test('mid-search', async () => {
    await stopAndResume((dir) => lineCount(path.join(dir, 'candidates.jsonl')) >= 8);
  }, 120_000);

  test('mid-batch: the tasks of a batch not yet begun are dropped, not waited for', async () => {
    // A batch of 64 candidates on 32 train rows takes seconds on 2 cores; the stop waits only for
    // the tasks under way (one per worker), and the resume scores the dropped batch again.
    await stopAndResume(
      (dir) => lineCount(path.join(dir, 'candidates.jsonl')) >= 64,
      { strategyParams: { batchSize: 64 }, budget: 4000 },
      1500,
    );
  }, 120_000);
});

describe('promptsearch worker when Redis cannot be reached', () => {
  const startWorker = (url: string) => start(['worker', '--redis', url, '--workers', '1', '--threads-per-worker', '1']);

  test('a port with nothing listening: says so, SIGTERM ends it within 5 s', async () => {
    const w = startWorker('redis://127.0.0.1:1');
    await waitFor(() => /cannot reach Redis/.test(w.out()) || w.child.exitCode !== null);
    const sent = Date.now();
    w.child.kill('SIGTERM');
    const { code, at } = await w.exit;
    expect(at - sent).toBeLessThan(5000);
    expect(code).toBe(0);
    // Said once (the next in 30 s), naming the server.
    expect(w.out().match(/cannot reach Redis/g)).toHaveLength(1);
    expect(w.out()).toMatch(
      /queue: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED [^\n]*\(retrying; said again every 30 s while it lasts\)/,
    );
    expect(w.out()).toMatch(/worker stopped/);
  }, 30_000);

  test('said again at the slow rate while it lasts; stop() gives up on the server', () => {
    // The library from dist/ (its job processor is compiled JS), in a child: the connections it
    // gave up on go on retrying until the process ends.
    const script = `
      const { startWorker } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'distributed', 'worker.js'))});
      (async () => {
        const said = [];
        const w = await startWorker({ redisUrl: 'redis://127.0.0.1:1', unreachableRepeatMs: 1500, scratchDir: ${JSON.stringify(tmp())}, log: (l) => said.push(l) });
        await new Promise((res) => setTimeout(res, 5000));
        const t0 = Date.now();
        const clean = await w.stop(false);
        console.log(JSON.stringify({ said: said.filter((l) => /cannot reach Redis/.test(l)).length, clean, ms: Date.now() - t0 }));
        process.exit(0);
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    const out = JSON.parse(r.stdout);
    expect(out.said).toBeGreaterThanOrEqual(2);
    expect(out.said).toBeLessThanOrEqual(4);
    expect(out.clean).toBe(false);
    expect(out.ms).toBeLessThan(2000);
  });

  const server = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  (server ? test : test.skip)(
    'connected, then its server shut down: SIGTERM ends it within 5 s (needs redis-server)',
    async () => {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const redis = spawn(server, ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      try {
        const w = startWorker(`redis://127.0.0.1:${port}`);
        await waitFor(() => /waiting for jobs/.test(w.out()) || w.child.exitCode !== null);
        expect(w.child.exitCode).toBeNull();
        redis.kill('SIGTERM');
        await waitFor(() => /cannot reach Redis/.test(w.out()) || w.child.exitCode !== null);
        const sent = Date.now();
        w.child.kill('SIGTERM');
        const { code, at } = await w.exit;
        expect(at - sent).toBeLessThan(5000);
        expect(code).toBe(0);
      } finally {
        redis.kill('SIGKILL');
      }
    },
    60_000,
  );
});

describe('SIGTERM stops refine', () => {
  test('before its first generation: one line, exit 130, no crash', async () => {
    const dir = path.join(tmp(), 'run');
    await tinySearchRun(dir);
    const p = start(['refine', dir, '--budget', '2000', '--threads', '1']);
    // Still loading the model or scoring the discrete prompt (seconds before the first generation).
    await new Promise((res) => setTimeout(res, 1000));
    expect(p.child.exitCode).toBeNull();
    const sent = Date.now();
    p.child.kill('SIGTERM');
    const { code, at } = await p.exit;
    expect(at - sent).toBeLessThan(5000);
    expect(code).toBe(130);
    expect(p.out()).toMatch(
      /promptsearch: stopped before the first generation; nothing refined \(rerun: promptsearch refine [^\n]*\)\n$/,
    );
    expect(p.out()).not.toMatch(/internal error|\n\s+at /);
  }, 120_000);
});

describe('SIGTERM in the later phases', () => {
  const sameBest = (a: string, b: string) => {
    const strip = (f: string) => {
      const { runId: _r, seconds: _s, ...rest } = readJson(f);
      return rest;
    };
    expect(strip(b)).toEqual(strip(a));
  };

  test('during the selection on dev (a fault point sends it): exit 130, interrupted, and --resume gives the uninterrupted result', () => {
    const cfg = writeConfig();
    const ref = path.join(tmp(), 'ref');
    expect(
      spawnSync(process.execPath, [CLI, 'search', cfg, '--out', ref, '--no-report'], { encoding: 'utf8' }).status,
    ).toBe(0);
    const dir = path.join(tmp(), 'run');
    const r = spawnSync(process.execPath, [CLI, 'search', cfg, '--out', dir, '--no-report'], {
      encoding: 'utf8',
      env: { ...process.env, PROMPTSEARCH_FAULT_AT: 'selection:SIGTERM' },
    });
    expect(r.status).toBe(130);
    expect(r.stderr).toMatch(/stopped during the selection on dev; resume with: promptsearch search --resume /);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(readJson(path.join(dir, 'state.json')).status).toBe('interrupted');
    expect(fs.existsSync(path.join(dir, 'best.json'))).toBe(false);
    expect(
      spawnSync(process.execPath, [CLI, 'search', '--resume', dir, '--no-report'], { encoding: 'utf8' }).status,
    ).toBe(0);
    sameBest(path.join(ref, 'best.json'), path.join(dir, 'best.json'));
  }, 180_000);

  test('a leaderboard mid-entry: exit 130 within 5 s, and the same command finishes it', async () => {
    const root = tmp();
    const suite = path.join(root, 'suite.json');
    const { version: _v, name: _n, task: _t, seed: _s, ...config } = CONFIG;
    fs.writeFileSync(
      suite,
      JSON.stringify({
        version: 1,
        name: 'sig',
        tasks: ['sst-2'],
        seeds: [13],
        methods: [{ name: 'random', strategy: 'random', config }],
      }),
    );
    const out = path.join(root, 'out');
    const p = start(['leaderboard', suite, '--out', out]);
    const candidates = path.join(out, 'runs', 'random', 'sst-2-s13', 'candidates.jsonl');
    await waitFor(() => lineCount(candidates) >= 8 || p.child.exitCode !== null);
    expect(p.child.exitCode).toBeNull();
    const sent = Date.now();
    p.child.kill('SIGTERM');
    const { code, at } = await p.exit;
    expect(at - sent).toBeLessThan(5000);
    expect(code).toBe(130);
    expect(p.out()).not.toMatch(/Napi|terminate called|internal error/);
    const again = spawnSync(process.execPath, [CLI, 'leaderboard', suite, '--out', out], { encoding: 'utf8' });
    expect(again.status).toBe(0);
    expect(readJson(path.join(out, 'leaderboard.json')).complete).toBe(true);
  }, 180_000);
});
