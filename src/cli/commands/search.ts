import * as fs from 'fs';
import * as path from 'path';
import type { Argv } from 'yargs';
import { UserError } from '../../errors';
import { Dtype } from '../../model/modelFolder';
import { SearchConfig, readConfig, validateConfig } from '../../runner/config';
import { BestResult, runSearchAndRefine } from '../../runner/run';
import { withGracefulStop } from '../common';
import { formatRefine } from './refine';
import { queuedSearch } from '../remote';

export const command = 'search [config]';
export const describe = 'Run a search experiment from a searches/*.json config (or --resume a stopped run)';

export function builder(y: Argv) {
  return y
    .positional('config', { type: 'string', describe: 'search config file, e.g. searches/sst2-beam.json' })
    .option('resume', { type: 'string', describe: 'continue the stopped run in this directory (same result as uninterrupted)' })
    .option('budget', { type: 'number', describe: 'override: max example evaluations (train + dev)' })
    .option('seed', { type: 'number', describe: 'override: data split seed (13, 21, 42, 87, 100); also the search RNG seed unless --random-seed' })
    .option('random-seed', { type: 'number', describe: 'override: search RNG seed' })
    .option('strategy', { choices: ['random', 'beam', 'genetic', 'reinforce'] as const, describe: 'override: search strategy' })
    .option('workers', { type: 'number', describe: 'override: scoring worker threads (default: one per core)' })
    .option('threads-per-worker', { type: 'number', describe: 'override: onnxruntime threads in each worker' })
    .option('model', { type: 'string', describe: 'override: model name or folder' })
    .option('dtype', { choices: ['fp32', 'int8'] as const, describe: 'override: model weights' })
    .option('out', { type: 'string', describe: 'run directory (default results/<name>-s<seed>-<time>)' })
    .option('json', { type: 'boolean', default: false, describe: 'print best.json to stdout when done' })
    .option('redis', { type: 'string', describe: 'run on the queue at this Redis URL (workers: promptsearch worker); rerun to re-attach' })
    .option('queue', { type: 'string', describe: 'with --redis: queue name (default promptsearch)' })
    .example('$0 search searches/sst2-beam.json', 'beam search on SST-2 with the bundled model')
    .example('$0 search searches/sst2-genetic.json --seed 42 --budget 10000', 'override fields from the command line')
    .example('$0 search --resume results/sst2-beam-s13-20261126-101500', 'continue a run stopped by Ctrl-C');
}

type Args = Awaited<ReturnType<typeof builder>['argv']>;

/** Applies command-line overrides to a config (validated again as a whole). */
export function applyOverrides(c: SearchConfig, a: Partial<Args>, where: string): SearchConfig {
  const o: Record<string, unknown> = { ...c };
  if (a.budget !== undefined) o.budget = a.budget;
  if (a.seed !== undefined) {
    o.seed = a.seed;
    if (a['random-seed'] === undefined) delete o.randomSeed;
  }
  if (a['random-seed'] !== undefined) o.randomSeed = a['random-seed'];
  if (a.strategy !== undefined && a.strategy !== c.strategy) {
    o.strategy = a.strategy;
    o.strategyParams = {}; // another strategy's parameters would not apply
  }
  if (a.workers !== undefined) o.workers = a.workers;
  if (a['threads-per-worker'] !== undefined) o.threadsPerWorker = a['threads-per-worker'];
  if (a.model !== undefined) o.model = a.model;
  if (a.dtype !== undefined) o.dtype = a.dtype as Dtype;
  return validateConfig(o, where);
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export async function handler(argv: Args): Promise<void> {
  let config: SearchConfig;
  let runDir: string;
  if (argv.queue && !argv.redis) throw new UserError('--queue needs --redis URL');
  if (argv.resume) {
    runDir = argv.resume;
    if (argv.redis) throw new UserError('--resume runs locally; with --redis, rerun the original command to re-attach');
    const cfgFile = path.join(runDir, 'config.json');
    if (!fs.existsSync(cfgFile)) throw new UserError(`${runDir}: not a run directory (no config.json)`);
    const state = fs.existsSync(path.join(runDir, 'state.json')) ? JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) : {};
    if (state.status === 'done') throw new UserError(`${runDir}: this run is already complete (see best.json)`);
    const { resolved: _resolved, ...saved } = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    config = validateConfig(saved, cfgFile);
  } else {
    if (!argv.config) throw new UserError('give a search config (e.g. searches/sst2-beam.json) or --resume RUN_DIR');
    config = applyOverrides(readConfig(argv.config), argv, argv.config);
    if (argv.redis) {
      const q = await queuedSearch(config, argv.out, argv.redis, argv.queue);
      if (q) process.stdout.write(argv.json ? JSON.stringify(q.best, null, 2) + '\n' : formatBest(q.best, q.runDir) + (q.refined ? formatRefine(q.refined, q.runDir) : ''));
      return;
    }
    runDir = argv.out ?? path.join('results', `${config.name}-s${config.seed}-${timestamp()}`);
  }
  const log = (line: string) => process.stderr.write(line + '\n');
  log(`promptsearch: ${config.strategy} search '${config.name}' on ${config.task ?? config.data?.train} (seed ${config.seed}), budget ${config.budget.toLocaleString('en-US')} → ${runDir}`);
  const { best: result, refined } = await withGracefulStop(`stopping after the current batch; resume with: promptsearch search --resume ${runDir}`, (stopRequested) =>
    runSearchAndRefine(config, { runDir, resume: !!argv.resume, stopRequested, log }),
  );
  if (argv.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else process.stdout.write(formatBest(result, runDir) + (refined ? formatRefine(refined, runDir) : ''));
  if (result.status === 'interrupted') process.exitCode = 130;
}

export function formatBest(r: BestResult, runDir: string): string {
  const f = (x: number | null) => (x === null ? '–' : x.toFixed(4));
  return [
    r.status === 'interrupted' ? `stopped early (best so far, by train); resume with --resume ${runDir}` : 'search complete',
    `prompt       ${r.prompt}`,
    `label words  ${r.labelWords.map((w) => w.join('/')).join(', ')}`,
    `accuracy     train ${f(r.trainAccuracy)}  dev ${f(r.devAccuracy)}  test ${f(r.testAccuracy)}`,
    `evaluations  ${r.evaluations.toLocaleString('en-US')} of ${r.budget.toLocaleString('en-US')} (${r.candidatesScored} candidates) in ${r.seconds.toFixed(1)} s`,
    `results      ${runDir}/best.json`,
    '',
  ].join('\n');
}
