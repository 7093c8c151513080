import * as path from 'path';
import type { Argv } from 'yargs';
import { UserError } from '../../errors';
import { Dtype } from '../../model/modelFolder';
import { SearchConfig, readConfig, validateConfig } from '../../runner/config';
import { ProgressBar } from '../../runner/progress';
import { RunDir } from '../../runner/runDir';
import { DTYPES, STRATEGY_NAMES } from '../../runner/schema';
import { BestResult, runSearchAndRefine } from '../../runner/run';
import { checkFlags, reportAfterRun, withGracefulStop } from '../common';
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
    .option('strategy', { choices: STRATEGY_NAMES, describe: 'override: search strategy' })
    .option('workers', { type: 'number', describe: 'override: scoring worker threads (default: one per core)' })
    .option('threads-per-worker', { type: 'number', describe: 'override: onnxruntime threads in each worker' })
    .option('model', { type: 'string', describe: 'override: model name or folder' })
    .option('dtype', { choices: DTYPES, describe: 'override: model weights' })
    .option('out', { type: 'string', describe: 'run directory (default results/<name>-s<seed>-<time>)' })
    .option('json', { type: 'boolean', default: false, describe: 'print best.json to stdout when done' })
    .option('redis', { type: 'string', describe: 'run on the queue at this Redis URL (workers: promptsearch worker); rerun to re-attach' })
    .option('queue', { type: 'string', describe: 'with --redis: queue name (default promptsearch)' })
    .option('report', { type: 'boolean', default: true, describe: 'write <run-dir>/report.html when done (see `promptsearch report`; --no-report skips it)' })
    .example('$0 search searches/sst2-beam.json', 'beam search on SST-2 (bundled TSV files) with the bundled model')
    .example('$0 search searches/sst2-csv.json', 'your own CSV files with label names: "data" {train, dev, test} and "labels" in the config')
    .example('$0 search searches/sst2-jsonl.json', 'the same with JSON Lines files (.json arrays work the same way)')
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
  checkFlags(argv, { budget: 'positiveInt', seed: 'int', 'random-seed': 'int', workers: 'positiveInt', 'threads-per-worker': 'positiveInt' });
  let config: SearchConfig;
  let runDir: string;
  if (argv.queue && !argv.redis) throw new UserError('--queue needs --redis URL');
  if (argv.resume) {
    runDir = argv.resume;
    if (argv.redis) throw new UserError('--resume runs locally; with --redis, rerun the original command to re-attach');
    if (argv.config || argv.out) throw new UserError('--resume continues the run in its own directory with its own config: give no config file and no --out');
    const run = new RunDir(runDir);
    if (!run.isRun()) throw new UserError(`${runDir}: not a run directory (no config.json)`);
    if (run.readState()?.status === 'done') throw new UserError(`${runDir}: this run is already complete (see best.json)`);
    // Overrides that would change the results are refused by the resume's check against config.json.
    config = applyOverrides(run.readConfig().config, argv, run.file('config'));
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
  const log = (line: string) => process.stderr.write(`promptsearch: ${line}\n`);
  const bar = new ProgressBar(config.budget);
  const { best: result, refined } = await withGracefulStop(`stopping after the current batch; resume with: promptsearch search --resume ${runDir}`, (stopRequested) =>
    runSearchAndRefine(config, { runDir, resume: !!argv.resume, stopRequested, log, onProgress: (p) => bar.update(p.evaluations, p.status) }),
  );
  bar.done();
  // The picture of the run (a failure to draw it must not lose the search's result).
  const report = result.status === 'done' && argv.report ? await reportAfterRun(runDir, config.threadsPerWorker) : undefined;
  if (argv.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else process.stdout.write(formatBest(result, runDir) + (refined ? formatRefine(refined, runDir) : '') + (report ? `report       ${report}\n` : ''));
  if (result.status === 'interrupted') process.exitCode = 130;
}

export function formatBest(r: BestResult, runDir: string): string {
  const f = (x: number | null) => (x === null ? '–' : x.toFixed(4));
  return [
    r.status === 'interrupted' ? `stopped early (best so far, by train); resume with --resume ${runDir}` : 'search complete',
    `prompt       ${r.prompt}`,
    `label words  ${r.labelWords.map((w) => w.join('/')).join(', ')}`,
    `accuracy     train ${f(r.trainAccuracy)}  dev ${f(r.devAccuracy)}  test ${f(r.testAccuracy)}`,
    ...(r.ensemble
      ? [`ensemble     ${r.ensemble.members.length} prompts${templatesOf(r) > 1 ? ` over ${templatesOf(r)} templates` : ''}: dev ${f(r.ensemble.devAccuracy)}  test ${f(r.ensemble.testAccuracy)}`]
      : []),
    `evaluations  ${r.evaluations.toLocaleString('en-US')} of ${r.budget.toLocaleString('en-US')} (${r.candidatesScored} candidates) in ${r.seconds.toFixed(1)} s`,
    `results      ${runDir}/best.json`,
    '',
  ].join('\n');
}

/** How many templates a result's ensemble spans (several for a search over `templates`). */
function templatesOf(r: BestResult): number {
  return new Set((r.ensemble?.members ?? []).map((m) => m.template ?? r.template)).size;
}
