/**
 * Every read of a run directory that the run report does, in one place, through
 * runner/runDir.ts (the owner of the run directory's names and types). Readers return undefined
 * (or an empty list) for a file the run has not written.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';
import type { SearchConfig } from '../runner/config';
import { BestResult, RefineResult, ResolvedRun, RunDir, TestPredictions } from '../runner/runDir';
import type { Score } from '../search/types';

/** config.json: the search config and what the run resolved. */
export type RunConfigFile = SearchConfig & { resolved?: Partial<ResolvedRun> };

/**
 * best.json. Its `calibration` (mode and per-label offsets) is shown when present; older or
 * other writers' shapes (`calibrationOffsets`, a bare list, `{name: offset}`) are accepted too.
 */
export type RunBest = BestResult;

/** A progress.jsonl line: the best train candidate so far, or (last) the dev selection. */
export interface ProgressLine {
  evaluations: number;
  candidates?: number;
  bestTrainAccuracy?: number;
  bestTrainObjective?: number;
  seconds?: number;
  selection?: { prompt: string; train: number; dev: number }[];
}

/** A candidates.jsonl line. */
export interface CandidateLine {
  i: number;
  prompt: string;
  labelWords: string[];
  score: Score;
  cost: number;
}

/** A refine/progress.jsonl line: one CMA-ES generation. */
export interface RefineProgressLine {
  generation: number;
  evaluations: number;
  trainAccuracy: number;
  devAccuracy: number;
  bestDevAccuracy: number;
  trainLoss?: number;
  sigma?: number;
}

export function checkRunDir(dir: string): void {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`${dir}: no such run directory`);
  if (!new RunDir(dir).isRun()) throw new UserError(`${dir}: not a run directory (no config.json)`);
}

export function readRunConfig(dir: string): RunConfigFile {
  const { config, resolved } = new RunDir(dir).readConfig();
  return { ...config, resolved };
}

export function readRunBest(dir: string): RunBest | undefined {
  return new RunDir(dir).readBest();
}

/** test-predictions.json with the path it was read from (for errors). */
export function readRunTestPredictions(dir: string): (TestPredictions & { file: string }) | undefined {
  const run = new RunDir(dir);
  const p = run.readTestPredictions();
  return p && { ...p, file: run.file('testPredictions') };
}

/** The run directories of a search over several templates (`t1`, `t2`, ...), those started so far. */
export function templateRunDirs(dir: string, templates: number): string[] {
  const run = new RunDir(dir);
  return Array.from({ length: templates }, (_, i) => run.templateRun(i))
    .filter((t) => t.isRun())
    .map((t) => t.dir);
}

export function readRunProgress(dir: string): ProgressLine[] {
  return new RunDir(dir).readLines<ProgressLine>('progress');
}

export function readRunCandidates(dir: string): CandidateLine[] {
  return new RunDir(dir).readLines<CandidateLine>('candidates');
}

export function readRefineResult(dir: string): RefineResult | undefined {
  return new RunDir(dir).readRefine()?.result;
}

export function readRefineProgress(dir: string): RefineProgressLine[] {
  return new RunDir(dir).readLines<RefineProgressLine>('refineProgress');
}

export function runReportPath(dir: string): string {
  return path.join(dir, 'report.html');
}
