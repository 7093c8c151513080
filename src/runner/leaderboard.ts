import * as fs from 'fs';
import * as path from 'path';
import { Cell, aggregate, estimateMarkdown, publishedRows, toMarkdown } from '../reports/leaderboardTable';
import { toHtml } from '../reports/leaderboardHtml';
import { BaselineSetting, manualCell, probeCell } from './baselines';
import { UserError } from '../errors';
import { getTask } from '../data/tasks';
import { Dtype, resolveModel, sha256File } from '../model/modelFolder';
import { writeFileAtomic, writeJsonAtomic } from './atomic';
import { validateConfig } from './config';
import { readJsonFile } from '../util/jsonFile';
import { SearchConfig, Suite, SuiteMethod, parseSuite } from './schema';
import { USER_MANUAL_TEMPLATE, UserTask, userTaskData, userTaskFiles } from './suiteTasks';
import { BestResult, RESUME_FREE, preflightSearch, runSearchAndRefine, runSetupDiffs } from './run';
import { RefineResult, RunDir, fieldDiffs } from './runDir';
import { checkRunData } from './dataChecks';
import { parseTemplate } from '../prompt/template';

export type { Suite, SuiteMethod } from './schema';

/** Published RoBERTa-large results on these splits (RLPrompt, Deng et al. 2022, Table 2), percent. */
export const PUBLISHED: Record<string, Record<string, number | null>> = {
  'Manual prompt': { 'sst-2': 82.8, 'sst-5': 34.9, agnews: 76.9, trec: null },
  'Black-box tuning (BBT)': { 'sst-2': 89.1, 'sst-5': 38.4, agnews: 83.5, trec: null },
  AutoPrompt: { 'sst-2': 75.0, 'sst-5': 27.8, agnews: 65.7, trec: null },
  'RLPrompt, 5 tokens': { 'sst-2': 92.5, 'sst-5': 41.4, agnews: 80.2, trec: 57.6 },
  'Fine-tuning (all weights)': { 'sst-2': 80.6, 'sst-5': 40.7, agnews: 84.9, trec: 83.9 },
};

/**
 * Reads a suite file. Its tasks' paths (folders, data objects' files) resolve against the suite
 * file's folder, not the current one, and are kept absolute (runner/suiteTasks.ts).
 */
export function readSuite(file: string): Suite {
  const raw = parseSuite(readJsonFile(file, 'suite'), file, path.dirname(path.resolve(file)));
  // Validate every search cell's config now, so a typo fails before hours of work.
  for (const task of raw.tasks)
    for (const m of raw.methods.filter((x) => !x.manual && !x.probe))
      cellConfig(raw, m, task, raw.seeds[0], `${file}: method '${m.name}', task '${task}'`);
  // A manual or probe method's own template (a mistyped slot), before any entry runs.
  for (const task of raw.tasks)
    for (const m of raw.methods.filter((x) => x.manual || x.probe)) {
      const template = baselineSetting(raw, m, task, raw.seeds[0]).template;
      try {
        if (template !== undefined) parseTemplate(template);
      } catch (e) {
        if (e instanceof UserError) throw new UserError(`${file}: method '${m.name}', task '${task}': ${e.message}`);
        throw e;
      }
    }
  // A manual row of a user task needs label words from somewhere.
  for (const task of raw.tasks)
    for (const m of raw.methods.filter((x) => x.manual))
      if (raw.userTasks?.[task] && baselineSetting(raw, m, task, raw.seeds[0]).verbalizer === undefined)
        throw new UserError(
          `${file}: method '${m.name}', task '${task}': the manual prompt needs label words: give 'verbalizer' (or 'manual': {template, verbalizer}) in the task, or 'verbalizer' in base, perTask or the method's config`,
        );
  return raw;
}

/** The fields a user task gives its cells (label names and words), below perTask and a method's config. */
function userTaskFields(u: UserTask | undefined): Record<string, unknown> {
  if (!u) return {};
  return {
    ...(u.labels !== undefined ? { labels: u.labels } : {}),
    ...(u.verbalizer !== undefined ? { verbalizer: u.verbalizer } : {}),
  };
}

/** The search config of one cell (suite base, per-task override, method fields). */
export function cellConfig(s: Suite, m: SuiteMethod, task: string, seed: number, where: string) {
  const u = s.userTasks?.[task];
  // A user task's data: its files for this seed (a data object: the same files for every seed,
  // where the seed only seeds the search's random choices). parseSuite refuses `data` and `task`
  // in base, perTask and a method's config.
  return validateConfig(
    {
      ...(s.version !== undefined ? { version: s.version } : {}),
      ...s.base,
      ...userTaskFields(u),
      ...(s.perTask?.[task] ?? {}),
      ...(m.config ?? {}),
      name: `${s.name}-${m.name}-${task}`,
      ...(u ? { data: userTaskData(u, seed) } : { task }),
      seed,
      strategy: m.strategy,
      ...(m.strategyParams ? { strategyParams: m.strategyParams } : {}),
      ...(m.findLabelWords !== undefined
        ? { findLabelWords: m.findLabelWords }
        : m.searchVerbalizer !== undefined
          ? { searchVerbalizer: m.searchVerbalizer }
          : {}),
      ...(m.refine !== undefined ? { refine: m.refine } : {}),
      ...(m.ensemble !== undefined ? { ensemble: m.ensemble } : {}),
    },
    where,
  );
}

/**
 * The setting of a manual or probe cell: the suite's base and per-task fields. A manual row runs
 * the task's hand-written prompt unless the method's `config` names its own template (the suite's
 * `template` is the searches', with slots).
 *
 * A user task (runner/suiteTasks.ts) has no hand-written prompt in src/data/tasks.ts: its manual
 * prompt is the task's `manual` ({template, verbalizer}), else `{x} it was [MASK] .` read through
 * the label words of the method's config, the task's `manual`, perTask, the task, or base (first
 * given); its probe reads the mask of that template. The setting then carries the seed's files.
 */
export function baselineSetting(s: Suite, m: SuiteMethod, task: string, seed: number): BaselineSetting {
  const u = s.userTasks?.[task];
  const setting = { ...s.base, ...userTaskFields(u), ...(s.perTask?.[task] ?? {}) } as BaselineSetting &
    Record<string, unknown>;
  if (!u) return m.manual ? { ...setting, template: undefined, ...(m.config ?? {}) } : setting;
  const data: NonNullable<BaselineSetting['data']> = { ...userTaskFiles(u, seed) };
  if (u.format !== undefined) data.format = u.format;
  if (u.textColumn !== undefined) data.textColumn = u.textColumn;
  if (u.labelColumn !== undefined) data.labelColumn = u.labelColumn;
  if (setting.labels !== undefined) data.labels = setting.labels as string | string[];
  delete setting.labels;
  const config = (m.config ?? {}) as Partial<BaselineSetting>;
  const template = (m.manual ? config.template : undefined) ?? u.manual?.template ?? USER_MANUAL_TEMPLATE;
  if (!m.manual) return { ...setting, template, data };
  const verbalizer = config.verbalizer ?? (u.manual?.verbalizer as BaselineSetting['verbalizer']) ?? setting.verbalizer;
  return { ...setting, ...config, template, verbalizer, data };
}

/**
 * What decides a cell's numbers, kept in its cell.json to tell when the suite asks for something
 * else: a search cell's config (less the fields that change only the speed) and its data files'
 * sha256, a manual or probe cell's prompt; the model and tokenizer files' sha256.
 */
function cellSetup(s: Suite, m: SuiteMethod, task: string, seed: number): Record<string, unknown> {
  const files = (model: string | undefined, dtype: Dtype | undefined) => {
    const folder = resolveModel(model, dtype);
    return {
      modelSha256: sha256File(folder.onnxPath),
      tokenizerSha256: sha256File(path.join(folder.dir, 'tokenizer.json')),
    };
  };
  if (!m.manual && !m.probe) {
    const config = cellConfig(s, m, task, seed, `${s.name}/${m.name}`);
    const setup: Record<string, unknown> = { kind: 'search', ...config, ...files(config.model, config.dtype) };
    // A finished cell may differ in what a resume may change: the speed, and the run's name (it
    // carries the method's name, so a renamed method keeps its cells).
    for (const k of RESUME_FREE) delete setup[k];
    const d = config.data;
    if (d) {
      // The files' contents decide, not their paths (a suite's folder may move).
      setup.dataSha256 = [d.train, d.dev, d.test ?? null].map((f) => (f === null ? null : sha256File(f)));
      const { train: _train, dev: _dev, test: _test, ...how } = d;
      setup.data = how;
    }
    return setup;
  }
  const setting = baselineSetting(s, m, task, seed);
  const d = setting.data;
  // A user task's cell is for its files' contents (not their paths: the folder may move).
  const data = d
    ? {
        dataSha256: [d.train, d.dev, d.test].map((f) => sha256File(f)),
        ...(d.labels !== undefined ? { labels: d.labels } : {}),
      }
    : {};
  const info = d ? undefined : getTask(task);
  if (m.probe)
    return {
      kind: 'probe',
      template: info?.manualTemplate ?? setting.template,
      ...files(setting.model, setting.dtype),
      ...data,
    };
  return {
    kind: 'manual',
    template: setting.template ?? info!.manualTemplate,
    verbalizer: setting.verbalizer ?? info!.manualLabelWords,
    calibration: m.calibration ?? 'none',
    ...files(setting.model, setting.dtype),
    ...data,
  };
}

/** A cell as its cell.json keeps it, with its setup. */
export type StoredCell = Cell & { setup?: Record<string, unknown> };

/** A finished cell as its cell.json keeps it (with its setup, see cellSetup). */
export function cellToStore(s: Suite, m: SuiteMethod, task: string, seed: number, cell: Cell): StoredCell {
  return { ...cell, setup: cellSetup(s, m, task, seed) };
}

/**
 * The finished cell in `runDir`, or undefined when there is none. A cell computed for another
 * setup than the suite now asks for (a method's or the base's fields, the model, tokenizer or data
 * files changed) is refused: reporting it under the method's name would be silently stale. A
 * cell from before cells kept their setup is checked, if it is a search, against its run's
 * config.json (but for the data files' paths, which a queue worker rewrites). A method may be
 * renamed: the run's name is not compared.
 */
export function finishedCell(s: Suite, m: SuiteMethod, task: string, seed: number, runDir: string): Cell | undefined {
  const run = new RunDir(runDir);
  const stored = run.readCell<StoredCell>();
  if (!stored) return undefined;
  const { setup, ...cell } = stored;
  const search = !m.manual && !m.probe;
  const diffs = setup
    ? fieldDiffs(setup, cellSetup(s, m, task, seed))
    : search && run.isRun()
      ? runSetupDiffs(run, cellConfig(s, m, task, seed, `${s.name}/${m.name}`), ['data'])
      : [];
  if (diffs.length)
    throw new UserError(
      `${runDir}: this entry was computed for another setup of method '${m.name}' than the suite asks for now: ${diffs.join('; ')}; delete that folder to compute it again, or choose another --out`,
    );
  // Reported under the method's name now, and its run where its folder is now (a renamed method's
  // cell.json still names the old ones).
  return { ...cell, method: m.name, ...(cell.runDir !== undefined ? { runDir: cellRunDir(m, task, seed) } : {}) };
}

/** A cell's run directory, relative to the suite's output folder: runs/<method>/<task>-s<seed>. */
export function cellRunDir(m: SuiteMethod, task: string, seed: number): string {
  return path.join('runs', m.name, `${task}-s${seed}`);
}

export interface LeaderboardOptions {
  outDir: string;
  stopRequested?: () => boolean;
  log?: (line: string) => void;
  /** After each cell and during a search cell: cells done of all, and the search's own progress. */
  onProgress?: (p: { cellsDone: number; cells: number; etaSeconds: number | null; status: string }) => void;
}

/**
 * Runs every cell not done yet. Each cell runs in its own run directory under
 * `<outDir>/runs/<method>/<task>-s<seed>`; the reports (leaderboard.json / .md / .html) are
 * written when a cell finishes, but a complete report is never replaced by a partial one.
 */
export async function runLeaderboard(
  suite: Suite,
  opts: LeaderboardOptions,
): Promise<{ cells: Cell[]; complete: boolean }> {
  // Every search cell's data (each task and seed), before the output folder or any cell is made.
  for (const w of checkSuiteData(suite, opts.outDir)) opts.log?.(`warning: ${w}`);
  const board = new RunDir(opts.outDir);
  return board.locked(() => leaderboardLocked(suite, opts));
}

async function leaderboardLocked(
  suite: Suite,
  opts: LeaderboardOptions,
): Promise<{ cells: Cell[]; complete: boolean }> {
  const log = opts.log ?? (() => {});
  const cells: Cell[] = [];
  let complete = true;
  const total = suite.methods.length * suite.tasks.length * suite.seeds.length;
  /** Seconds of the cells computed in this session, for the ETA. */
  const spent: number[] = [];
  /** Test accuracy of the manual prompt per task: the test split is the same for every seed. */
  const manualTest = new Map<string, Cell>();
  const progress = (status: string) => {
    const mean = spent.length ? spent.reduce((a, b) => a + b, 0) / spent.length : null;
    opts.onProgress?.({
      cellsDone: cells.length,
      cells: total,
      etaSeconds: mean === null ? null : mean * (total - cells.length),
      status,
    });
  };
  let k = 0;
  for (const m of suite.methods) {
    for (const task of suite.tasks) {
      for (const seed of suite.seeds) {
        k++;
        if (opts.stopRequested?.()) {
          complete = false;
          continue;
        }
        const runDir = path.join(opts.outDir, cellRunDir(m, task, seed));
        const done = finishedCell(suite, m, task, seed, runDir);
        if (done) {
          cells.push(done);
          if (m.manual) manualTest.set(`${m.name}/${task}`, done);
          continue;
        }
        log(`[${k}/${total}] ${m.name} on ${task}, seed ${seed}`);
        const t = Date.now();
        const setting = baselineSetting(suite, m, task, seed);
        const cell = m.manual
          ? await manualCell(m.name, task, seed, setting, m.calibration ?? 'none', manualTest.get(`${m.name}/${task}`))
          : m.probe
            ? await probeCell(m.name, task, seed, setting)
            : await searchCell(suite, m, task, seed, runDir, opts, progress);
        if (!cell) {
          complete = false;
          continue;
        }
        if (m.manual) manualTest.set(`${m.name}/${task}`, cell);
        new RunDir(runDir).writeCell(cellToStore(suite, m, task, seed, cell));
        cells.push(cell);
        spent.push((Date.now() - t) / 1000);
        progress(`${m.name} on ${task}, seed ${seed} done`);
        writeReportsUnlessComplete(suite, cells, opts.outDir, total, log);
      }
    }
  }
  if (complete) writeReports(suite, cells, opts.outDir);
  return { cells, complete };
}

/**
 * checkRunData and preflightSearch for every unfinished search entry of the suite, each setup once, so that
 * no entry fails at its turn after hours of others (its budget, label words, template); the
 * data's warnings, each once.
 */
function checkSuiteData(suite: Suite, outDir: string): string[] {
  const seen = new Set<string>();
  const warnings = new Set<string>();
  for (const m of suite.methods.filter((x) => !x.manual && !x.probe))
    for (const task of suite.tasks)
      for (const seed of suite.seeds) {
        if (new RunDir(path.join(outDir, cellRunDir(m, task, seed))).has('cell')) continue; // done: nothing left to refuse
        const c = cellConfig(suite, m, task, seed, `${suite.name}/${m.name}`);
        const key = JSON.stringify({ ...c, name: undefined, randomSeed: undefined });
        if (seen.has(key)) continue;
        seen.add(key);
        for (const w of checkRunData(c)) warnings.add(w);
        try {
          preflightSearch(c);
        } catch (e) {
          if (e instanceof UserError)
            throw new UserError(`method '${m.name}', task '${task}', seed ${seed}: ${e.message}`);
          throw e;
        }
      }
  return [...warnings];
}

/** Writes the reports of a partial leaderboard, unless `outDir` holds a complete one (a shipped report). */
function writeReportsUnlessComplete(
  suite: Suite,
  cells: Cell[],
  outDir: string,
  total: number,
  log: (line: string) => void,
): void {
  if (cells.length < total && reportIsComplete(outDir, total)) {
    log(
      `keeping the complete report in ${outDir}: it is replaced when all ${total} entries are done (${cells.length} so far)`,
    );
    return;
  }
  writeReports(suite, cells, outDir);
}

function reportIsComplete(outDir: string, total: number): boolean {
  try {
    const old = JSON.parse(fs.readFileSync(path.join(outDir, 'leaderboard.json'), 'utf8'));
    return (
      old.complete === true || (old.complete === undefined && Array.isArray(old.cells) && old.cells.length >= total)
    );
  } catch {
    return false;
  }
}

async function searchCell(
  suite: Suite,
  m: SuiteMethod,
  task: string,
  seed: number,
  runDir: string,
  opts: LeaderboardOptions,
  progress: (status: string) => void,
): Promise<Cell | undefined> {
  const config = cellConfig(suite, m, task, seed, `${suite.name}/${m.name}`);
  const resume = new RunDir(runDir).isRun();
  const onProgress = (p: { evaluations: number; budget: number }) =>
    progress(
      `${m.name} on ${task}, seed ${seed}: ${p.evaluations.toLocaleString('en-US')}/${p.budget.toLocaleString('en-US')} evals`,
    );
  const { best, refined } = await runSearchAndRefine(config, {
    runDir,
    resume,
    stopRequested: opts.stopRequested,
    log: opts.log,
    onProgress,
    dataChecked: true,
  });
  return searchCellFrom(m, task, seed, config, best, refined, path.relative(opts.outDir, runDir));
}

/** A search cell from its finished run (undefined when the run stopped early). */
export function searchCellFrom(
  m: SuiteMethod,
  task: string,
  seed: number,
  config: SearchConfig,
  best: BestResult,
  refined: RefineResult | undefined,
  runDirRel: string,
): Cell | undefined {
  if (best.status !== 'done' || best.testAccuracy === null || (config.refine && !refined)) return undefined;
  // The entry reports the run's result: its ensemble where there is one (best.json's top level).
  const cell: Cell = {
    method: m.name,
    task,
    seed,
    testAccuracy: best.testAccuracy,
    devAccuracy: best.devAccuracy,
    trainAccuracy: best.trainAccuracy ?? best.selected.trainAccuracy,
    prompt: best.members ? `${best.prompt}: ${best.members.map((x) => x.prompt).join(' | ')}` : best.prompt,
    labelWords: best.selected.labelWords,
    evaluations: best.evaluations,
    seconds: best.seconds,
    runDir: runDirRel,
    ...(best.estimate ? { estimate: best.estimate.accuracy } : {}),
    ...(best.baseline ? { chose: best.searched ? ('baseline' as const) : ('search' as const) } : {}),
  };
  if (!refined || refined.refined.test === null) return cell;
  // The refined soft prompt; the discrete winner it started from stays in the cell for comparison.
  return {
    ...cell,
    testAccuracy: refined.refined.test,
    devAccuracy: refined.refined.dev,
    trainAccuracy: refined.refined.train,
    prompt: `${best.prompt} (soft)`,
    evaluations: best.evaluations + refined.evaluations,
    seconds: best.seconds + refined.seconds,
    discrete: { testAccuracy: best.testAccuracy, devAccuracy: best.devAccuracy },
  };
}

export function writeReports(suite: Suite, cells: Cell[], outDir: string): void {
  const methods = suite.methods.map((m) => m.name);
  const rows = aggregate(cells, methods, suite.tasks);
  const ref = suite.published ? publishedRows(PUBLISHED, suite.tasks) : [];
  const budget = suite.base.budget ?? 50000;
  const note = `Model ${suite.base.model ?? 'bert-mini-imdb-uncased'} (${suite.base.dtype ?? 'int8'}), seeds ${suite.seeds.join(', ')}, search budget ${Number(budget).toLocaleString('en-US')} example evaluations (train + dev) per cell.`;
  const complete = cells.length >= suite.methods.length * suite.tasks.length * suite.seeds.length;
  writeJsonAtomic(path.join(outDir, 'leaderboard.json'), {
    suite: suite.name,
    tasks: suite.tasks,
    seeds: suite.seeds,
    methods,
    complete,
    rows: [...rows, ...ref],
    cells,
  });
  writeFileAtomic(
    path.join(outDir, 'leaderboard.md'),
    toMarkdown([...rows, ...ref], suite.tasks, note) + estimateMarkdown(cells, methods),
  );
  const references = Object.fromEntries(
    suite.methods
      .filter((m) => m.manual || m.probe || /probe/i.test(m.name))
      .map((m) => [m.name, m.manual ? ('manual' as const) : ('probe' as const)]),
  );
  writeFileAtomic(
    path.join(outDir, 'leaderboard.html'),
    toHtml(`promptsearch leaderboard: ${suite.name}`, [...rows, ...ref], suite.tasks, note, { cells, references }),
  );
}
