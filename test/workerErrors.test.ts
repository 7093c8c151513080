/**
 * Errors raised inside a scoring worker thread (issue 31): a UserError keeps its class across the
 * thread boundary (the CLI prints one line, exit 2), and a pool whose workers fail ends every
 * thread before it rejects (no native abort at exit). Workers run dist/ (npm run build first).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserError, isUserError } from '../src/errors';
import { resolveModel } from '../src/model/modelFolder';
import { ScoringPool, checkWorkers, workerLimit } from '../src/scoring/pool';
import { CLI } from './helpers';

const rows = [
  { fields: { sentence: 'a fine film' }, label: 1 },
  { fields: { sentence: 'a dull film' }, label: 0 },
];
const init = (over: Record<string, unknown>) => ({
  model: resolveModel('bert-mini-imdb-uncased', 'fp32').dir,
  dtype: 'fp32' as const,
  scorer: 'mask-head' as const,
  template: '{x} [MASK] .',
  textColumn: 'sentence',
  splits: { train: rows },
  batch: {},
  ...over,
});

describe('errors inside scoring workers', () => {
  test('a UserError while the workers start keeps its class', async () => {
    const e = await ScoringPool.start(init({ textColumn: 'text' }), { workers: 2, threadsPerWorker: 1 }).catch(
      (x) => x,
    );
    expect(e).toBeInstanceOf(UserError);
    expect(isUserError(e)).toBe(true);
    expect(e.message).toMatch(/template field \{x\} needs column 'text'/);
  });

  test('a UserError from one task keeps its class; the pool goes on serving', async () => {
    const pool = await ScoringPool.start(init({}), { workers: 1, threadsPerWorker: 1 });
    try {
      const e = await pool
        .score({
          template: '{x} <A:1> [MASK] .',
          split: 'train',
          slots: {},
          labelIds: [[2204], [2307]],
          start: 0,
          end: 2,
        })
        .catch((x) => x);
      expect(e).toBeInstanceOf(UserError);
      const ok = await pool.score({ split: 'train', slots: {}, labelIds: [[2204], [2307]], start: 0, end: 2 });
      expect(ok.logProbs).toHaveLength(2);
    } finally {
      await pool.close();
    }
  });

  test('a causal search whose template has text after [MASK]: one line, exit 2, no native abort', () => {
    // Two workers fail while a third thread may still load: exiting then used to abort (exit 134).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-werr-'));
    const cfg = path.join(dir, 'cfg.json');
    const config = {
      version: 1,
      name: 'c',
      task: 'sst-2',
      seed: 13,
      model: 'gpt-mini-imdb',
      template: '{x} <A:1> [MASK] indeed',
      verbalizer: 'awful,wonderful',
      strategy: 'random',
      budget: 600,
      selectTopK: 2,
    };
    fs.writeFileSync(cfg, JSON.stringify(config));
    const r = spawnSync(
      process.execPath,
      [CLI, 'search', cfg, '--out', path.join(dir, 'run'), '--workers', '2', '--threads-per-worker', '1'],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^promptsearch: [^\n]*must be the last thing in the template[^\n]*\n$/);
    expect(r.stderr).not.toMatch(/Napi|terminate called|internal error/);
  });
});

describe('worker limit', () => {
  test('at most 4 per core, and no more sessions than fit in free memory', () => {
    const { limit, why } = workerLimit(resolveModel('bert-mini-imdb-uncased', 'fp32').onnxPath);
    expect(limit).toBeGreaterThanOrEqual(1);
    expect(why).toMatch(/cores? × 4; each worker holds a ~\d+ MB model session, [\d.]+ GB free/);
    expect(() => checkWorkers(limit, undefined, '--workers')).not.toThrow();
    expect(() => checkWorkers(100_000, undefined, '--workers')).toThrow(
      /^--workers 100000: at most \d+ on this machine \(\d+ cores? × 4\)$/,
    );
  });
});
