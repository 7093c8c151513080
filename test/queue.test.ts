import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Queue } from 'bullmq';
import { connectionOptions, jobId, parsePayload, parseRedisUrl } from '../src/distributed/queue';
import { modelRef, searchPayload } from '../src/distributed/submit';
import { checkModel, resolveData } from '../src/distributed/runJob';
import { validateConfig } from '../src/runner/config';
import { Suite, runLeaderboard } from '../src/runner/leaderboard';
import { parseSuite } from '../src/runner/schema';
import { CLI, ROOT } from './helpers';
import { describeIf, testIf } from './setup/requires';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ps-queue-'));
const REDIS = process.env.PROMPTSEARCH_TEST_REDIS;
const tinyConfig = (seed = 13) =>
  validateConfig(
    {
      name: 't',
      task: 'sst-2',
      seed,
      template: '{x} <A:1> [MASK] .',
      verbalizer: 'terrible,great',
      strategy: 'random',
      candidates: { topK: 4 },
      budget: 300,
      selectTopK: 2,
    },
    'x',
  );

describe('queue payloads and URLs (no Redis needed)', () => {
  test('redis URLs: password, user, db, TLS; other schemes refused', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6390')).toEqual({ host: '127.0.0.1', port: 6390, db: 0 });
    expect(parseRedisUrl('redis://:p%40ss%3Aword@host.example/3')).toEqual({
      host: 'host.example',
      port: 6379,
      db: 3,
      password: 'p@ss:word',
    });
    expect(parseRedisUrl('rediss://alice:secret@cache.example:6380')).toEqual({
      host: 'cache.example',
      port: 6380,
      db: 0,
      username: 'alice',
      password: 'secret',
      tls: {},
    });
    expect(() => parseRedisUrl('http://host')).toThrow(/unsupported scheme 'http:'/);
    expect(() => parseRedisUrl('redis://host/x')).toThrow(/database 'x' is not a number/);
    expect(() => parseRedisUrl('localhost:6379')).toThrow(/unsupported scheme|not a URL/);
  });

  test('payloads are validated like config files; job ids are deterministic', () => {
    const p = searchPayload(tinyConfig(), 'sst-2-s13');
    expect(parsePayload(JSON.parse(JSON.stringify(p)), 'job')).toEqual(p);
    expect(jobId(p)).toBe(jobId(searchPayload(tinyConfig(), 'sst-2-s13')));
    expect(jobId(p)).not.toBe(jobId(searchPayload(tinyConfig(21), 'sst-2-s13')));
    expect(jobId(p)).toMatch(/^search-[0-9a-f]{24}$/);
    expect(() => parsePayload({ ...p, model: { ...p.model, sha256: 'abc' } }, 'job 7')).toThrow(
      /^job 7: invalid job payload at 'model\.sha256'/,
    );
    expect(() => parsePayload({ ...p, extra: 1 }, 'job 7')).toThrow(/invalid job payload/);
    expect(() => parsePayload({ ...p, kind: 'shell' }, 'job 7')).toThrow(/invalid job payload at 'kind'/);
  });

  test('a worker refuses a model or data whose sha256 differs, saying which', () => {
    const m = modelRef('bert-mini-imdb-uncased', 'int8');
    expect(() => checkModel(m)).not.toThrow();
    expect(() => checkModel({ ...m, sha256: '0'.repeat(64) })).toThrow(
      /model 'bert-mini-imdb-uncased' \(int8\) differs on this worker: .*model_quantized\.onnx has sha256 [0-9a-f]{12}…, the job needs 000000000000…/,
    );
    expect(() => checkModel({ ...m, name: 'no-such-model' })).toThrow(
      /model 'no-such-model' \(int8\) is not on this worker/,
    );
    const d = searchPayload(tinyConfig(), 'r').data;
    const dir = tmp();
    expect(resolveData(d.train, 'train', dir)).toBeUndefined();
    expect(() => resolveData({ ...d.train, sha256: 'f'.repeat(64) }, 'train', dir)).toThrow(
      /data sst-2 train \(seed 13\) differs on this worker: .*train\.tsv has sha256/,
    );
    expect(() =>
      resolveData({ sha256: 'f'.repeat(64), file: { name: 'x.tsv', content: 'sentence\tlabel\n' } }, 'dev', dir),
    ).toThrow(/corrupted in transit/);
  });

  test('worker: a bad --redis is one line, exit 2; --queue without --redis too', () => {
    const r = spawnSync(process.execPath, [CLI, 'worker', '--redis', 'http://127.0.0.1:1'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^promptsearch: --redis: unsupported scheme/)]);
    const q = spawnSync(
      process.execPath,
      [CLI, 'leaderboard', path.join(ROOT, 'searches', 'queue-demo.json'), '--queue', 'x'],
      { encoding: 'utf8' },
    );
    expect(q.status).toBe(2);
    expect(q.stderr.trim()).toBe('promptsearch: --queue needs --redis URL');
  });

  test('search --redis with no Redis listening: one line after the 10 s connect timeout, exit 2, nothing written', () => {
    const dir = tmp();
    const cfg = path.join(dir, 'c.json');
    fs.writeFileSync(
      cfg,
      JSON.stringify({
        version: 1,
        task: 'sst-2',
        template: '{x} <A:1> [MASK] .',
        verbalizer: 'terrible,great',
        strategy: 'random',
      }),
    );
    const r = spawnSync(
      process.execPath,
      [CLI, 'search', cfg, '--redis', 'redis://:pw@127.0.0.1:1', '--out', path.join(dir, 'run')],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[lines.length - 1]).toMatch(
      /^promptsearch: --redis: cannot reach redis:\/\/:\*\*\*@127\.0\.0\.1:1 within 10 s/,
    );
    expect(lines.filter((l) => !l.startsWith('promptsearch: queueing'))).toHaveLength(1);
    expect(r.stderr).not.toMatch(/pw@/);
    expect(fs.existsSync(path.join(dir, 'run'))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Integration with a real Redis (.ci/run starts one and sets PROMPTSEARCH_TEST_REDIS).

interface Proc {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function start(args: string[]): Proc {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b) => (out += b));
  proc.stderr!.on('data', (b) => (out += b));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, out: () => out, exited };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A TCP port nothing listens on now (the kernel's pick), for a Redis of the test's own. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** "job ID: ... (attempt n)" lines, per job id. */
function starts(log: string): string[] {
  return [...log.matchAll(/job (\S+): .* \(attempt \d+\)$/gm)].map((m) => m[1]);
}

const strip = (j: Record<string, unknown>) => {
  const { seconds: _s, ...rest } = j;
  return rest;
};
const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8'));

/** Small bundled-task data: the seed-13 train/dev split, and the test set's first 48 rows (fast cells). */
function smallData(dir: string, task: string) {
  const src = path.join(ROOT, 'datasets', '16-shot', task);
  const test = path.join(dir, `${task}-test48.tsv`);
  fs.writeFileSync(
    test,
    fs.readFileSync(path.join(src, 'test.tsv'), 'utf8').split('\n').slice(0, 49).join('\n') + '\n',
  );
  return { train: path.join(src, '16-13', 'train.tsv'), dev: path.join(src, '16-13', 'dev.tsv'), test };
}

const VERBALIZERS: Record<string, string> = {
  'sst-2': 'terrible,great',
  trec: 'description,entity,expression,human,location,number',
};

function makeSuite(dir: string, methods: Suite['methods'], tasks = ['sst-2', 'trec']): Record<string, unknown> {
  return {
    name: 'queue-test',
    // Tasks of the user's own (data objects): the data files are fixed per task (small test sets); the seed still seeds each search.
    tasks: tasks.map((t) => ({ name: t, ...smallData(dir, t), verbalizer: VERBALIZERS[t] })),
    seeds: [13, 21],
    base: {
      template: '{x} <A:1> [MASK] .',
      budget: 300,
      selectTopK: 1,
      candidates: { topK: 4 },
      workers: 1,
      threadsPerWorker: 1,
    },
    perTask: tasks.includes('trec') ? { trec: { budget: 400 } } : undefined,
    methods,
  };
}

function expectSameRuns(outA: string, outB: string, methods: string[], tasks: string[], seeds: number[]) {
  for (const m of methods) {
    for (const t of tasks) {
      for (const s of seeds) {
        const a = path.join(outA, 'runs', m, `${t}-s${s}`);
        const b = path.join(outB, 'runs', m, `${t}-s${s}`);
        expect(strip(readJson(path.join(a, 'cell.json')))).toEqual(strip(readJson(path.join(b, 'cell.json'))));
        expect(strip(readJson(path.join(a, 'best.json')))).toEqual(strip(readJson(path.join(b, 'best.json'))));
        expect(fs.readFileSync(path.join(a, 'candidates.jsonl'), 'utf8')).toBe(
          fs.readFileSync(path.join(b, 'candidates.jsonl'), 'utf8'),
        );
        expect(fs.readFileSync(path.join(a, 'space.json'), 'utf8')).toBe(
          fs.readFileSync(path.join(b, 'space.json'), 'utf8'),
        );
      }
    }
  }
}

// Without a Redis these are skipped, and the run's last lines say so (test/setup/skipReporter.js).
const NO_REDIS = REDIS ? undefined : 'no PROMPTSEARCH_TEST_REDIS; .ci/run starts a Redis';

describeIf(NO_REDIS)('leaderboard on the job queue (real Redis, 2 worker processes)', () => {
  const dir = tmp();
  const queue = `test-${process.pid}-${Date.now()}`;
  const workerArgs = [
    'worker',
    '--redis',
    REDIS!,
    '--queue',
    queue,
    '--lock-seconds',
    '4',
    '--workers',
    '1',
    '--threads-per-worker',
    '1',
  ];
  const good = [
    { name: 'random', strategy: 'random' },
    { name: 'genetic', strategy: 'genetic', strategyParams: { population: 4 } },
  ];
  const workers: Proc[] = [];
  afterAll(() => workers.forEach((w) => w.proc.kill('SIGKILL')));

  test('SIGKILLed worker and submitter: the suite completes, results equal a local run, a broken cell (a user error) is reported after one attempt', async () => {
    // A third method whose cells fail on the worker (budget below dev selection + train).
    const suite = makeSuite(dir, [...good, { name: 'broken', strategy: 'random', config: { budget: 40 } }]);
    const suiteFile = path.join(dir, 'suite.json');
    fs.writeFileSync(suiteFile, JSON.stringify(suite));
    const outQ = path.join(dir, 'queued');
    const submit = () => start(['leaderboard', suiteFile, '--redis', REDIS!, '--queue', queue, '--out', outQ]);

    workers.push(start(workerArgs), start(workerArgs));
    const s1 = submit();
    // Kill worker 1 in the middle of its first search.
    await waitFor('worker 1 to start a job', () => starts(workers[0].out()).length > 0);
    await new Promise((r) => setTimeout(r, 300));
    workers[0].proc.kill('SIGKILL');
    await workers[0].exited;
    const killedJob = starts(workers[0].out())[0];
    expect(workers[0].out()).not.toContain(`job ${killedJob}: done`);
    workers.push(start(workerArgs));
    // Kill the submitter once a cell has come back; rerunning the command re-attaches.
    const cellFiles = () =>
      fs.existsSync(path.join(outQ, 'runs'))
        ? fs.readdirSync(path.join(outQ, 'runs'), { recursive: true }).filter((f) => String(f).endsWith('cell.json'))
            .length
        : 0;
    await waitFor('a first cell', () => cellFiles() > 0);
    s1.proc.kill('SIGKILL');
    await s1.exited;
    const s2 = submit();
    // Every failure is a user error: exit 2, as the same suite run locally would.
    expect(await s2.exited).toBe(2);
    expect(s2.out()).toMatch(/4 entries failed; rerun to retry them/);
    expect(s2.out()).toMatch(/job \S+ \(broken on sst-2, seed 13\) failed: budget 40 is too small/);

    // Every good job ran once, except the killed one, which ran again on another worker and finished there.
    const logs = workers.map((w) => w.out()).join('\n');
    const count = new Map<string, number>();
    for (const id of starts(logs)) count.set(id, (count.get(id) ?? 0) + 1);
    const done = [...logs.matchAll(/job (\S+): done$/gm)].map((m) => m[1]);
    expect(done.length).toBe(8);
    expect(new Set(done).size).toBe(8);
    for (const id of done) expect(count.get(id)).toBe(id === killedJob ? 2 : 1);
    expect(done).toContain(killedJob);
    expect(workers[0].out()).not.toMatch(/: done$/m);
    const failedIds = [...count.keys()].filter((id) => !done.includes(id));
    expect(failedIds.length).toBe(4);
    // A user error fails the same way every time: tried once, not JOB_ATTEMPTS times.
    for (const id of failedIds) expect(count.get(id)).toBe(1);

    // The same suite run locally gives the same cells, runs and leaderboard rows.
    const outL = path.join(dir, 'local');
    const local = await runLeaderboard(parseSuite(makeSuite(dir, good), 'suite.json', dir), { outDir: outL });
    expect(local.complete).toBe(true);
    expectSameRuns(outQ, outL, ['random', 'genetic'], ['sst-2', 'trec'], [13, 21]);
    const rows = (f: string) => readJson(f).rows.filter((r: { method: string }) => r.method !== 'broken');
    expect(rows(path.join(outQ, 'leaderboard.json'))).toEqual(rows(path.join(outL, 'leaderboard.json')));
    for (const f of ['leaderboard.md', 'leaderboard.html']) expect(fs.existsSync(path.join(outQ, f))).toBe(true);

    // Re-attaching with a finished cell deleted on disk: it comes back from the queue, nothing is recomputed.
    const before = starts(workers.map((w) => w.out()).join('\n')).length;
    fs.rmSync(path.join(outQ, 'runs', 'genetic', 'trec-s21'), { recursive: true });
    const good2 = path.join(dir, 'suite-good.json');
    fs.writeFileSync(good2, JSON.stringify(makeSuite(dir, good)));
    const s3 = start(['leaderboard', good2, '--redis', REDIS!, '--queue', queue, '--out', outQ]);
    expect(await s3.exited).toBe(0);
    expect(s3.out()).toMatch(/^complete: /m);
    expect(starts(workers.map((w) => w.out()).join('\n')).length).toBe(before);
    expectSameRuns(outQ, outL, ['genetic'], ['trec'], [21]);

    // Ctrl-C on an idle worker: it exits cleanly.
    workers[1].proc.kill('SIGINT');
    expect(await workers[1].exited).toBe(0);
    expect(workers[1].out()).toMatch(/worker stopped/);
  });
});

describe('the queue survives a Redis restart', () => {
  const server = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  testIf(NO_REDIS ?? (server ? undefined : 'no redis-server to restart'))(
    'Redis restarted (state lost) mid-suite: jobs are queued again and the suite completes with the local results',
    async () => {
      const dir = tmp();
      const port = await freePort();
      const url = `redis://127.0.0.1:${port}`;
      const redis = () =>
        spawn(
          server,
          ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
          { stdio: 'ignore' },
        );
      let r = redis();
      const procs: Proc[] = [];
      try {
        await waitFor(
          'redis',
          () => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG',
          10_000,
        );
        // The manual row runs the task's own prompt on the worker too (the suite's template has slots).
        const suite = makeSuite(
          dir,
          [
            { name: 'random', strategy: 'random' },
            { name: 'manual', manual: true },
          ],
          ['sst-2'],
        );
        const suiteFile = path.join(dir, 'suite.json');
        fs.writeFileSync(suiteFile, JSON.stringify(suite));
        const w = start([
          'worker',
          '--redis',
          url,
          '--lock-seconds',
          '4',
          '--workers',
          '1',
          '--threads-per-worker',
          '1',
        ]);
        procs.push(w);
        const s = start(['leaderboard', suiteFile, '--redis', url, '--out', path.join(dir, 'queued')]);
        procs.push(s);
        await waitFor('a job to start', () => starts(w.out()).length > 0);
        r.kill('SIGKILL');
        await new Promise((res) => r.on('exit', res));
        await new Promise((res) => setTimeout(res, 1000));
        r = redis();
        expect(await s.exited).toBe(0);
        expect(s.out()).toMatch(/re-queued random on sst-2, seed 1[3]/);
        const outL = path.join(dir, 'local');
        await runLeaderboard(parseSuite(suite, 'suite.json', dir), { outDir: outL });
        expectSameRuns(path.join(dir, 'queued'), outL, ['random'], ['sst-2'], [13, 21]);
        const rows = (out: string) => readJson(path.join(out, 'leaderboard.json')).rows;
        expect(rows(path.join(dir, 'queued'))).toEqual(rows(outL));
        expect(rows(outL).map((r: { method: string }) => r.method)).toEqual(['random', 'manual']);

        // Ctrl-C twice on a busy worker: the search stops and its job goes back to the queue, no attempt spent.
        const cfg = path.join(dir, 'search.json');
        fs.writeFileSync(
          cfg,
          JSON.stringify({
            name: 'handback',
            task: 'sst-2',
            seed: 42,
            template: '{x} <A:2> [MASK] .',
            verbalizer: 'terrible,great',
            strategy: 'random',
            budget: 3000,
          }),
        );
        const seen = starts(w.out()).length;
        const s2 = start(['search', cfg, '--redis', url, '--out', path.join(dir, 'handback')]);
        procs.push(s2);
        await waitFor('the search job to start', () => starts(w.out()).length > seen);
        const id = starts(w.out())[seen];
        w.proc.kill('SIGINT');
        await new Promise((res) => setTimeout(res, 300));
        w.proc.kill('SIGINT');
        expect(await w.exited).toBe(0);
        expect(w.out()).toMatch(/handing the current job back to the queue/);
        const q = new Queue('promptsearch', { connection: connectionOptions(url) });
        try {
          expect(await q.getJobState(id)).toBe('waiting');
          expect((await q.getJob(id))!.attemptsMade).toBe(0);
        } finally {
          await q.close();
        }
      } finally {
        procs.forEach((p) => p.proc.kill('SIGKILL'));
        r.kill('SIGKILL');
      }
    },
  );
});
