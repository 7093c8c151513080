import * as fs from 'fs';
import * as path from 'path';
import { TASKS, getTask } from '../data/tasks';
import { UserError } from '../errors';
import { Cell, aggregate, publishedRows, toMarkdown } from '../reports/leaderboardTable';
import { toHtml } from '../reports/leaderboardHtml';
import { evaluateTemplate } from '../scoring/evaluate';
import { writeFileAtomic, writeJsonAtomic } from './atomic';
import { SearchConfig, validateConfig } from './config';
import { BestResult, runSearchAndRefine } from './run';
import type { RefineResult } from '../refine/refine';

/** A method of a suite: a hand-written prompt, or a search strategy with its settings. */
export interface SuiteMethod {
  name: string;
  /** `manual`: the task's hand-written prompt (datasets README); otherwise a search config fragment. */
  manual?: boolean;
  strategy?: string;
  strategyParams?: Record<string, unknown>;
  searchVerbalizer?: boolean | { candidates?: number };
  /** Refine the search's winner into a soft prompt; the cell reports the refined test accuracy. */
  refine?: SearchConfig['refine'];
  /** Any other search config fields for this method (e.g. `{"objective": "margin"}`). */
  config?: Record<string, unknown>;
}

export interface Suite {
  name: string;
  description?: string;
  tasks: string[];
  seeds: number[];
  /** Search config fields shared by every search cell (template, verbalizer, budget, dtype...). */
  base: Record<string, unknown>;
  /** Per-task overrides of `base` (e.g. another template for AG News). */
  perTask?: Record<string, Record<string, unknown>>;
  methods: SuiteMethod[];
  /** Show the published RoBERTa-large rows of datasets/README.md as reference rows. */
  published?: boolean;
}

/** Published RoBERTa-large results on these splits (RLPrompt, Deng et al. 2022, Table 2), percent. */
export const PUBLISHED: Record<string, Record<string, number | null>> = {
  'Manual prompt': { 'sst-2': 82.8, 'sst-5': 34.9, agnews: 76.9, trec: null },
  'Black-box tuning (BBT)': { 'sst-2': 89.1, 'sst-5': 38.4, agnews: 83.5, trec: null },
  AutoPrompt: { 'sst-2': 75.0, 'sst-5': 27.8, agnews: 65.7, trec: null },
  'RLPrompt, 5 tokens': { 'sst-2': 92.5, 'sst-5': 41.4, agnews: 80.2, trec: 57.6 },
  'Fine-tuning (all weights)': { 'sst-2': 80.6, 'sst-5': 40.7, agnews: 84.9, trec: 83.9 },
};

export function readSuite(file: string): Suite {
  let raw: Suite;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file}: cannot read the suite (${(e as Error).message})`);
  }
  const allowed = ['$schema', 'name', 'description', 'tasks', 'seeds', 'base', 'perTask', 'methods', 'published'];
  for (const k of Object.keys(raw)) if (!allowed.includes(k)) throw new UserError(`${file}: unknown field '${k}' (allowed: ${allowed.slice(1).join(', ')})`);
  if (!raw.name || !Array.isArray(raw.tasks) || !Array.isArray(raw.seeds) || !Array.isArray(raw.methods)) throw new UserError(`${file}: needs name, tasks, seeds and methods`);
  for (const t of raw.tasks) if (!TASKS[t]) throw new UserError(`${file}: unknown task '${t}' (bundled tasks: ${Object.keys(TASKS).join(', ')})`);
  for (const m of raw.methods) {
    if (!m.name) throw new UserError(`${file}: every method needs a name`);
    if (!m.manual && !['random', 'beam', 'genetic', 'reinforce'].includes(m.strategy ?? '')) {
      throw new UserError(`${file}: method '${m.name}' has unknown strategy '${m.strategy}' (use manual: true, or random, beam, genetic, reinforce)`);
    }
  }
  raw.base ??= {};
  // Validate every search cell's config now, so a typo fails before hours of work.
  for (const task of raw.tasks) for (const m of raw.methods.filter((x) => !x.manual)) cellConfig(raw, m, task, raw.seeds[0], `${file}: method '${m.name}', task '${task}'`);
  return raw;
}

/** The search config of one cell (suite base, per-task override, method fields). */
export function cellConfig(s: Suite, m: SuiteMethod, task: string, seed: number, where: string) {
  return validateConfig(
    {
      ...s.base,
      ...(s.perTask?.[task] ?? {}),
      ...(m.config ?? {}),
      name: `${s.name}-${m.name}-${task}`,
      task,
      seed,
      strategy: m.strategy,
      ...(m.strategyParams ? { strategyParams: m.strategyParams } : {}),
      ...(m.searchVerbalizer !== undefined ? { searchVerbalizer: m.searchVerbalizer } : {}),
      ...(m.refine !== undefined ? { refine: m.refine } : {}),
    },
    where,
  );
}

export interface LeaderboardOptions {
  outDir: string;
  stopRequested?: () => boolean;
  log?: (line: string) => void;
}

/** Runs every cell not done yet, then writes leaderboard.json / .md / .html. */
export async function runLeaderboard(suite: Suite, opts: LeaderboardOptions): Promise<{ cells: Cell[]; complete: boolean }> {
  const log = opts.log ?? (() => {});
  const cells: Cell[] = [];
  let complete = true;
  const total = suite.methods.length * suite.tasks.length * suite.seeds.length;
  let k = 0;
  for (const m of suite.methods) {
    for (const task of suite.tasks) {
      for (const seed of suite.seeds) {
        k++;
        if (opts.stopRequested?.()) {
          complete = false;
          continue;
        }
        const runDir = path.join(opts.outDir, 'runs', m.name, `${task}-s${seed}`);
        const cellFile = path.join(runDir, 'cell.json');
        if (fs.existsSync(cellFile)) {
          cells.push(JSON.parse(fs.readFileSync(cellFile, 'utf8')));
          continue;
        }
        log(`[${k}/${total}] ${m.name} on ${task}, seed ${seed}`);
        const cell = m.manual ? await manualCell(suite, m, task, seed) : await searchCell(suite, m, task, seed, runDir, opts);
        if (!cell) {
          complete = false;
          continue;
        }
        writeJsonAtomic(cellFile, cell);
        cells.push(cell);
        writeReports(suite, cells, opts.outDir);
      }
    }
  }
  writeReports(suite, cells, opts.outDir);
  return { cells, complete };
}

/** A hand-written-prompt cell: the task's manual prompt scored on dev and test. */
export async function manualCell(suite: Suite, m: SuiteMethod, task: string, seed: number): Promise<Cell> {
  const info = getTask(task);
  const base = { ...suite.base, ...(suite.perTask?.[task] ?? {}) } as Record<string, string>;
  const common = { model: base.model, dtype: (base.dtype as 'fp32' | 'int8') ?? undefined, template: info.manualTemplate, verbalizer: info.manualLabelWords };
  const [dev, test] = [await evaluateTemplate({ ...common, data: { task, seed }, split: 'dev' }), await evaluateTemplate({ ...common, data: { task, seed }, split: 'test' })];
  return { method: m.name, task, seed, testAccuracy: test.accuracy, devAccuracy: dev.accuracy, trainAccuracy: null, prompt: test.prompt, labelWords: test.labelWords, evaluations: 0, seconds: dev.seconds + test.seconds };
}

async function searchCell(suite: Suite, m: SuiteMethod, task: string, seed: number, runDir: string, opts: LeaderboardOptions): Promise<Cell | undefined> {
  const config = cellConfig(suite, m, task, seed, `${suite.name}/${m.name}`);
  const resume = fs.existsSync(path.join(runDir, 'space.json'));
  const { best, refined } = await runSearchAndRefine(config, { runDir, resume, stopRequested: opts.stopRequested, log: opts.log });
  return searchCellFrom(m, task, seed, config, best, refined, path.relative(opts.outDir, runDir));
}

/** A search cell from its finished run (undefined when the run stopped early). */
export function searchCellFrom(m: SuiteMethod, task: string, seed: number, config: SearchConfig, best: BestResult, refined: RefineResult | undefined, runDirRel: string): Cell | undefined {
  if (best.status !== 'done' || best.testAccuracy === null || (config.refine && !refined)) return undefined;
  const cell: Cell = { method: m.name, task, seed, testAccuracy: best.testAccuracy, devAccuracy: best.devAccuracy, trainAccuracy: best.trainAccuracy, prompt: best.prompt, labelWords: best.labelWords, evaluations: best.evaluations, seconds: best.seconds, runDir: runDirRel };
  if (!refined || refined.refined.test === null) return cell;
  // The refined soft prompt; the discrete winner it started from stays in the cell for comparison.
  return { ...cell, testAccuracy: refined.refined.test, devAccuracy: refined.refined.dev, trainAccuracy: refined.refined.train, prompt: `${best.prompt} (soft)`, evaluations: best.evaluations + refined.evaluations, seconds: best.seconds + refined.seconds, discrete: { testAccuracy: best.testAccuracy, devAccuracy: best.devAccuracy } };
}

export function writeReports(suite: Suite, cells: Cell[], outDir: string): void {
  const methods = suite.methods.map((m) => m.name);
  const rows = aggregate(cells, methods, suite.tasks);
  const ref = suite.published ? publishedRows(PUBLISHED, suite.tasks) : [];
  const budget = suite.base.budget ?? 50000;
  const note = `Model ${suite.base.model ?? 'bert-mini-imdb-uncased'} (${suite.base.dtype ?? 'int8'}), seeds ${suite.seeds.join(', ')}, search budget ${Number(budget).toLocaleString('en-US')} example evaluations (train + dev) per cell.`;
  writeJsonAtomic(path.join(outDir, 'leaderboard.json'), { suite: suite.name, tasks: suite.tasks, seeds: suite.seeds, methods, rows: [...rows, ...ref], cells });
  writeFileAtomic(path.join(outDir, 'leaderboard.md'), toMarkdown([...rows, ...ref], suite.tasks, note));
  writeFileAtomic(path.join(outDir, 'leaderboard.html'), toHtml(`promptsearch leaderboard: ${suite.name}`, [...rows, ...ref], suite.tasks, note));
}
