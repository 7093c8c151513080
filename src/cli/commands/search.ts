import * as path from 'path';
import type { Argv } from 'yargs';
import { UserError } from '../../errors';
import { Dtype, resolveModel } from '../../model/modelFolder';
import { checkWorkers } from '../../scoring/pool';
import { SearchConfig, readConfig, validateConfig } from '../../runner/config';
import { ProgressBar, SearchProgress, searchProgressLegend } from '../../runner/progress';
import { RunDir } from '../../runner/runDir';
import { DTYPES, STRATEGY_NAMES } from '../../runner/schema';
import { BestResult, runSearchAndRefine } from '../../runner/run';
import { checkFlags, reportAfterRun, withGracefulStop } from '../common';
import { formatRefine } from './refine';
import { queuedSearch } from '../remote';

export const command = 'search [config]';
export const describe =
  'Search prompts: from a config file, from data files (--train/--dev), or --resume a stopped run';

export function builder(y: Argv) {
  return y
    .positional('config', { type: 'string', describe: 'search config file, e.g. searches/sst2-beam.json' })
    .option('resume', {
      type: 'string',
      describe: 'continue the stopped run in this directory (same result as uninterrupted)',
    })
    .option('budget', { type: 'number', describe: 'override: max example evaluations (train + dev)' })
    .option('seed', {
      type: 'number',
      describe: 'override: data split seed (13, 21, 42, 87, 100); also the search RNG seed unless --random-seed',
    })
    .option('random-seed', { type: 'number', describe: 'override: search RNG seed' })
    .option('strategy', { choices: STRATEGY_NAMES, describe: 'override: search strategy' })
    .option('workers', { type: 'number', describe: 'override: scoring worker threads (default: one per core)' })
    .option('threads-per-worker', { type: 'number', describe: 'override: onnxruntime threads in each worker' })
    .option('model', { type: 'string', describe: 'override: model name or folder' })
    .option('dtype', { choices: DTYPES, describe: 'override: model weights' })
    .option('out', { type: 'string', describe: 'run directory (default results/<name>-s<seed>-<time>)' })
    .option('json', { type: 'boolean', default: false, describe: 'print best.json to stdout when done' })
    .option('redis', {
      type: 'string',
      describe: 'run on the queue at this Redis URL (workers: promptsearch worker); rerun to re-attach',
    })
    .option('queue', { type: 'string', describe: 'with --redis: queue name (default promptsearch)' })
    .option('report', {
      type: 'boolean',
      default: true,
      describe: 'write <run-dir>/report.html when done (see `promptsearch report`; --no-report skips it)',
    })
    .option('train', {
      type: 'string',
      describe: 'without a config: the training file (.tsv, .csv, .jsonl, .json); runs the recommended default',
    })
    .option('dev', { type: 'string', describe: 'without a config: the dev file (picks the winner)' })
    .option('test', { type: 'string', describe: 'without a config: the test file (scored once, for the report)' })
    .option('verbalizer', {
      type: 'string',
      describe: 'without a config: label words in label order (e.g. terrible,great); none: found in the data',
    })
    .option('labels', {
      type: 'string',
      describe: 'without a config: label names in label order, when the files hold names',
    })
    .option('text-column', { type: 'string', describe: 'without a config: the text column (default sentence or text)' })
    .option('label-column', { type: 'string', describe: 'without a config: the label column (default label)' })
    .option('template', {
      type: 'string',
      array: true,
      describe: 'without a config: a template (repeat for several; default: the three generic ones)',
    })
    .option('name', { type: 'string', describe: "without a config: the run name (default: the train file's folder)" })
    .option('baseline', {
      type: 'string',
      describe:
        "without a config: the hand-written prompt the result must beat (default: {x} it was [MASK] . with the label words); none: keep the search's result",
    })
    .example('$0 search searches/sst2-beam.json', 'the recommended default on SST-2 (bundled files and model)')
    .example(
      '$0 search --train train.csv --dev dev.csv --test test.csv --verbalizer terrible,great --labels negative,positive',
      'the recommended default on your own files, no config (the run writes the config it used)',
    )
    .example(
      '$0 search searches/sst2-csv.json',
      'your own CSV files with label names: "data" {train, dev, test} and "labels" in the config',
    )
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

const CONFIG_ONLY_FLAGS = [
  'train',
  'dev',
  'test',
  'verbalizer',
  'labels',
  'text-column',
  'label-column',
  'template',
  'name',
  'baseline',
] as const;

/** The config of a search given by flags (--train, --dev, ...): version 2, the recommended default. */
export function configFromFlags(a: Partial<Args>): Record<string, unknown> {
  if (a.dev === undefined) throw new UserError('--train needs --dev FILE (the dev split picks the winner)');
  const abs = (f: string) => path.resolve(f);
  const folder = path.basename(path.dirname(abs(a.train!)));
  const data: Record<string, string> = { train: abs(a.train!), dev: abs(a.dev) };
  if (a.test !== undefined) data.test = abs(a.test);
  if (a['text-column'] !== undefined) data.textColumn = a['text-column'];
  if (a['label-column'] !== undefined) data.labelColumn = a['label-column'];
  const templates = (a.template ?? []).map(String);
  return {
    version: 2,
    name: a.name ?? (folder && folder !== '.' && folder !== path.sep ? folder : 'search'),
    data,
    ...(a.verbalizer !== undefined ? { verbalizer: a.verbalizer } : {}),
    ...(a.labels !== undefined ? { labels: a.labels } : {}),
    ...(templates.length === 1 ? { template: templates[0] } : templates.length > 1 ? { templates } : {}),
    ...(a.baseline !== undefined ? { baseline: a.baseline === 'none' ? false : a.baseline } : {}),
  };
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export async function handler(argv: Args): Promise<void> {
  checkFlags(argv, {
    budget: 'positiveInt',
    seed: 'int',
    'random-seed': 'int',
    workers: 'positiveInt',
    'threads-per-worker': 'positiveInt',
  });
  let config: SearchConfig;
  let runDir: string;
  if (argv.queue && !argv.redis) throw new UserError('--queue needs --redis URL');
  const given = CONFIG_ONLY_FLAGS.filter((f) => argv[f] !== undefined);
  if (given.length && argv.train === undefined)
    throw new UserError(`--${given[0]} describes a search without a config file: give --train and --dev with it`);
  if (given.length && argv.resume) throw new UserError(`--${given[0]}: --resume continues a run with its own config`);
  if (argv.resume) {
    runDir = argv.resume;
    if (argv.redis) throw new UserError('--resume runs locally; with --redis, rerun the original command to re-attach');
    if (argv.config || argv.out)
      throw new UserError(
        '--resume continues the run in its own directory with its own config: give no config file and no --out',
      );
    const run = new RunDir(runDir);
    if (!run.isRun()) throw new UserError(`${runDir}: not a run directory (no config.json)`);
    if (run.readState()?.status === 'done')
      throw new UserError(`${runDir}: this run is already complete (see best.json)`);
    // Overrides that would change the results are refused by the resume's check against config.json.
    config = applyOverrides(run.readConfig().config, argv, run.file('config'));
  } else {
    const notes: string[] = [];
    const where = argv.config ?? 'the command line';
    if (argv.config && argv.train !== undefined)
      throw new UserError('give a config file or --train/--dev, not both (a config names its data in "data")');
    if (argv.config) config = applyOverrides(readConfig(argv.config, notes), argv, argv.config);
    else if (argv.train !== undefined)
      config = applyOverrides(validateConfig(configFromFlags(argv), where, notes), argv, where);
    else
      throw new UserError(
        'give a search config (e.g. searches/sst2-beam.json), data files (--train F --dev F [--test F]), or --resume RUN_DIR',
      );
    for (const n of notes) process.stderr.write(`promptsearch: note: ${n}\n`);
    if (argv.redis) {
      const q = await queuedSearch(config, argv.out, argv.redis, argv.queue);
      if (q)
        process.stdout.write(
          argv.json
            ? JSON.stringify(q.best, null, 2) + '\n'
            : formatBest(q.best, q.runDir) + (q.refined ? formatRefine(q.refined, q.runDir) : ''),
        );
      return;
    }
    runDir = argv.out ?? path.join('results', `${config.name}-s${config.seed}-${timestamp()}`);
  }
  // Before any model load: within the machine's cores and memory (a queued search's worker checks its own).
  checkWorkers(
    config.workers,
    resolveModel(config.model, config.dtype).onnxPath,
    argv.workers !== undefined
      ? '--workers'
      : `${argv.resume ? new RunDir(runDir).file('config') : (argv.config ?? 'the command line')}: workers`,
  );
  const bar = new ProgressBar(config.budget);
  // A log line on a terminal takes the bar's place (the next update draws it again below).
  const log = (line: string) => {
    bar.clear();
    process.stderr.write(`promptsearch: ${line}\n`);
  };
  // What the progress line shows, said once, with the first one (an error before it stays the only line).
  let legend = false;
  const onProgress = (p: SearchProgress) => {
    if (!legend) log(searchProgressLegend(config.objective, config.templates?.length ?? 1));
    legend = true;
    bar.updateSearch(p);
  };
  const { best: result, refined } = await withGracefulStop(
    `stopping (what is scored is kept); resume with: promptsearch search --resume ${runDir}`,
    (stopRequested) => runSearchAndRefine(config, { runDir, resume: !!argv.resume, stopRequested, log, onProgress }),
  );
  bar.done();
  // The picture of the run (a failure to draw it must not lose the search's result).
  const report =
    result.status === 'done' && argv.report ? await reportAfterRun(runDir, config.threadsPerWorker) : undefined;
  if (argv.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else
    process.stdout.write(
      formatBest(result, runDir) +
        (refined ? formatRefine(refined, runDir) : '') +
        (report ? `report       ${report}\n` : ''),
    );
  if (result.status === 'interrupted') process.exitCode = 130;
}

export function formatBest(r: BestResult, runDir: string): string {
  const f = (x: number | null) => (x === null ? '–' : x.toFixed(4));
  const sel = r.selected;
  const ensemble = r.result === 'ensemble';
  const q = (p: string) => (/^[\w./@:+-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`);
  const dir = q(runDir);
  return [
    r.status === 'interrupted'
      ? `stopped early (best so far, by train); resume with: promptsearch search --resume ${dir}`
      : 'search complete',
    `result       ${r.prompt}`,
    ...(ensemble
      ? r.members!.map((m) => `  member     ${m.prompt}${m.readout ? ' (readout member)' : ''}`)
      : [`label words  ${sel.labelWords.map((w) => w.join('/')).join(', ')}`]),
    `accuracy     train ${f(r.trainAccuracy)}  dev ${f(r.devAccuracy)}  test ${f(r.testAccuracy)}${ensemble && r.trainAccuracy !== null && r.members?.some((m) => m.fit || m.readout) ? '  (train and dev also fitted the members)' : ''}`,
    ...(r.estimate
      ? [
          `estimate     ${f(r.estimate.accuracy)} ± ${f(r.estimate.std)}  (${r.estimate.folds}-fold cross-validation on train + dev: what to expect on new data)`,
        ]
      : []),
    ...(r.baseline
      ? [
          `baseline     ${r.baseline.prompt}  estimate ${f(r.baseline.estimate?.accuracy ?? null)}  test ${f(r.baseline.testAccuracy)}`,
        ]
      : []),
    ...(r.choice ? [`             ${r.choice}`] : []),
    `evaluations  ${r.evaluations.toLocaleString('en-US')} of ${r.budget.toLocaleString('en-US')} (${r.candidatesScored} candidates) in ${r.seconds.toFixed(1)} s`,
    `results      ${runDir}/best.json`,
    ...(r.status === 'done'
      ? [
          'next',
          `  promptsearch export ${dir}                     # the result as a prompt file`,
          `  promptsearch predict --prompt ${q(path.join(runDir, ensemble ? 'prompt.ensemble.json' : 'prompt.json'))} --data FILE   # apply it`,
          `  promptsearch report ${dir}                     # the run as a page`,
          `  promptsearch refine ${dir}                     # refine into a soft prompt`,
        ]
      : []),
    '',
  ].join('\n');
}
