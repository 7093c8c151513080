import * as fs from 'fs';
import * as path from 'path';
import { DataSource, LoadedData, loadExamples } from '../data/load';
import { UserError } from '../errors';
import { resolveModel, sha256File } from '../model/modelFolder';
import { loadModel, modelMaxLength } from '../model/load';
import { FullLogitsBackend } from '../model/onnxBackend';
import { PromptTokenizer } from '../model/tokenizer';
import { compileTemplate, encodeExample } from '../prompt/encode';
import { Template, parseTemplate } from '../prompt/template';
import { buildVerbalizer, parseVerbalizerSpec } from '../prompt/verbalizer';
import { renderPrompt } from '../scoring/evaluate';
import { ScoringPool } from '../scoring/pool';
import { SPLIT_CHUNK } from '../scoring/scorer';
import { ScoreResult, ScoreTask, SplitName } from '../scoring/workerProtocol';
import { DEFAULT_LABEL_TOP_K, firstTokenFill, proposeLabelWordPools, proposeSlotPools } from '../search/candidatePools';
import { tokenizeFill } from '../prompt/fill';
import { createStrategy } from '../search/strategies';
import { Candidate, Score, ScoredCandidate, SearchSpace, SlotGroup, candidateKey } from '../search/types';
import { readJsonLines, writeFileAtomic, writeJsonAtomic } from './atomic';
import { SearchConfig } from './config';
import { BudgetedEvaluator, scoreFromResult } from './evaluator';
import { ProgressBar } from './progress';
import { RefineResult, runRefine } from '../refine/refine';
import { packageVersions } from './versions';

/** What `best.json` holds. */
export interface BestResult {
  runId: string;
  status: 'done' | 'interrupted';
  template: string;
  prompt: string;
  slots: Record<string, { ids: number[]; tokens: string[]; text: string }>;
  labelWords: string[][];
  labelIds: number[][];
  trainAccuracy: number;
  trainMargin: number;
  devAccuracy: number | null;
  testAccuracy: number | null;
  evaluations: number;
  budget: number;
  candidatesScored: number;
  seconds: number;
  model: string;
  dtype: string;
  strategy: string;
  seed: number;
}

interface CandidateLine {
  i: number;
  key: string;
  prompt: string;
  labelWords: string[];
  score: Score;
  cost: number;
}

export interface RunOptions {
  runDir: string;
  /** Continue a stopped run in runDir: recorded scores are replayed, then the search goes on. */
  resume?: boolean;
  /** Polled between batches; true stops the search cleanly (Ctrl-C). */
  stopRequested?: () => boolean;
  progress?: boolean;
  log?: (line: string) => void;
}


function dataSource(c: SearchConfig, split: SplitName): DataSource {
  if (c.data) return { file: split === 'train' ? c.data.train : split === 'dev' ? c.data.dev : c.data.test, textColumn: c.data.textColumn, labelColumn: c.data.labelColumn, task: c.task };
  return { task: c.task, seed: c.seed };
}

/** Runs one search experiment end to end and writes its run directory. */
export async function runSearch(config: SearchConfig, opts: RunOptions): Promise<BestResult> {
  const t0 = Date.now();
  const log = opts.log ?? (() => {});
  const runDir = opts.runDir;
  const runId = path.basename(runDir);
  const folder = resolveModel(config.model, config.dtype);
  const template = parseTemplate(config.template);
  const train = loadExamples(dataSource(config, 'train'), 'train');
  const dev = loadExamples(dataSource(config, 'dev'), 'dev');
  const test = config.data && !config.data.test ? undefined : loadExamples(dataSource(config, 'test'), 'test');
  const numLabels = train.numLabels;
  const tokenizer = PromptTokenizer.fromFolder(folder);

  const searchLabels = !!config.searchVerbalizer;
  const fixedWords = config.verbalizer !== undefined ? parseVerbalizerSpec(config.verbalizer, numLabels) : undefined;
  const fixedVerbalizer = fixedWords ? buildVerbalizer(fixedWords, tokenizer) : undefined;
  const reserve = config.selectTopK * dev.examples.length;
  if (config.budget < reserve + train.examples.length) {
    throw new UserError(`budget ${config.budget} is too small: dev selection alone needs ${config.selectTopK} × ${dev.examples.length} = ${reserve}, plus ${train.examples.length} per candidate on train`);
  }

  fs.mkdirSync(runDir, { recursive: true });
  const candidatesFile = path.join(runDir, 'candidates.jsonl');
  const progressFile = path.join(runDir, 'progress.jsonl');
  let replay: Map<string, { score: Score; cost: number }> | undefined;
  let space: SearchSpace;
  const spaceFile = path.join(runDir, 'space.json');
  if (opts.resume && fs.existsSync(spaceFile)) {
    space = { groups: JSON.parse(fs.readFileSync(spaceFile, 'utf8')).groups };
    const recorded = readJsonLines<CandidateLine>(candidatesFile);
    // Rewrite without a torn last line, so new appends start on a clean line.
    writeFileAtomic(candidatesFile, recorded.map((l) => JSON.stringify(l) + '\n').join(''));
    replay = new Map(recorded.map((l) => [l.key, { score: l.score, cost: l.cost }]));
    log(`resuming ${runId}: ${replay.size} scored candidates replayed from candidates.jsonl`);
  } else {
    space = await buildSpace(config, folder.onnxPath, tokenizer, template, train, fixedVerbalizer?.ids, searchLabels, numLabels);
    fs.writeFileSync(candidatesFile, '');
    fs.writeFileSync(progressFile, '');
    writeJsonAtomic(spaceFile, { groups: space.groups });
  }
  if (folder.kind === 'causal' && config.scorer === 'mask-head' && config.prefixReuse !== false) {
    log(template.parts.findIndex((p) => p.kind === 'slot') < template.parts.map((p) => p.kind).lastIndexOf('input')
      ? 'causal model: a slot comes before the input, so every candidate is scored on whole rows (no prefix reuse)'
      : 'causal model: each example\'s prefix is computed once and reused for every candidate');
  }
  if (searchLabels) space.isValid = (c) => new Set(labelTokens(c, template, numLabels)).size === numLabels;

  writeJsonAtomic(path.join(runDir, 'config.json'), {
    ...config,
    resolved: {
      modelDir: folder.dir,
      onnxFile: path.relative(folder.dir, folder.onnxPath),
      modelSha256: sha256File(folder.onnxPath),
      tokenizerSha256: sha256File(path.join(folder.dir, 'tokenizer.json')),
      versions: packageVersions(),
      trainExamples: train.examples.length,
      devExamples: dev.examples.length,
      testExamples: test?.examples.length ?? 0,
    },
  });
  writeJsonAtomic(path.join(runDir, 'state.json'), { status: 'running' });

  const decode = (c: Candidate) => decodeCandidate(c, template, numLabels, fixedVerbalizer?.ids, searchLabels);
  // Prepare (and cache) the rewritten model here so its errors are user errors, not worker crashes.
  await (await loadModel({ model: config.model, dtype: config.dtype, scorer: config.scorer, prefixReuse: config.prefixReuse, threads: 1 })).dispose();
  const pool = await ScoringPool.start(
    {
      model: folder.dir,
      dtype: config.dtype,
      scorer: config.scorer,
      prefixReuse: config.prefixReuse,
      template: config.template,
      textColumn: train.textColumn,
      splits: { train: train.examples, dev: dev.examples, ...(test ? { test: test.examples } : {}) },
      batch: {},
    },
    { workers: config.workers, threadsPerWorker: config.threadsPerWorker },
  );

  const bar = new ProgressBar(config.budget, process.stderr, opts.progress ?? !!process.stderr.isTTY);
  let scoredCount = 0;
  let best: ScoredCandidate | undefined;
  const evaluator = new BudgetedEvaluator({
    space,
    decode,
    score: (t) => pool.score(t),
    trainSize: train.examples.length,
    budget: config.budget - reserve,
    objective: config.objective,
    seed: config.randomSeed ?? config.seed,
    replay,
    racing: config.racing,
    stopRequested: opts.stopRequested,
    onScored: (batch) => {
      const lines: string[] = [];
      for (const b of batch) {
        const i = scoredCount++;
        // Replayed candidates are in candidates.jsonl already.
        if (!b.replayed) lines.push(JSON.stringify(candidateLine(i, b.candidate, b.score, b.cost, decode, template, tokenizer)));
      }
      if (lines.length) fs.appendFileSync(candidatesFile, lines.join('\n') + '\n');
      for (const b of batch) {
        if (b.score.partialExamples === undefined && (!best || b.score.objective > best.score.objective)) best = { candidate: b.candidate, score: b.score };
      }
      if (best && batch.some((b) => !b.replayed)) {
        fs.appendFileSync(progressFile, JSON.stringify({ evaluations: evaluator.spent, candidates: scoredCount, bestTrainAccuracy: best!.score.accuracy, bestTrainObjective: best!.score.objective, seconds: (Date.now() - t0) / 1000 }) + '\n');
      }
      bar.update(evaluator.spent, `best train ${best ? best.score.accuracy.toFixed(4) : '–'}`);
    },
  });

  try {
    await createStrategy(config.strategy, config.strategyParams).run(evaluator);
    bar.done();
    const interrupted = opts.stopRequested?.() ?? false;
    // Only candidates scored on the whole train split compete (racing drops the rest early).
    const ranked = evaluator.all().filter((c) => c.score.partialExamples === undefined).sort((a, b) => b.score.objective - a.score.objective || (candidateKey(a.candidate) < candidateKey(b.candidate) ? -1 : 1));
    if (ranked.length === 0) throw new UserError('the search scored no candidate (budget too small?)');
    let chosen = ranked[0];
    let devAccuracy: number | null = null;
    let testAccuracy: number | null = null;
    let spent = evaluator.spent;
    if (!interrupted) {
      // Selection on dev among the top-k by train; charged to the budget (reserved up front).
      const top = ranked.slice(0, config.selectTopK);
      const devScores = await Promise.all(top.map((c) => scoreSplit(pool, 'dev', dev.examples.length, decode(c.candidate), config.objective)));
      spent += top.length * dev.examples.length;
      let bi = 0;
      for (let i = 1; i < top.length; i++) if (devScores[i].objective > devScores[bi].objective) bi = i;
      chosen = top[bi];
      devAccuracy = devScores[bi].accuracy;
      fs.appendFileSync(progressFile, JSON.stringify({ evaluations: spent, selection: top.map((c, i) => ({ prompt: renderPrompt(template, decode(c.candidate).slots, (ids) => tokenizer.decode(ids)), train: c.score.accuracy, dev: devScores[i].accuracy })) }) + '\n');
      // Test is scored once, for the report; never used for a choice, never charged.
      if (test) testAccuracy = (await scoreSplit(pool, 'test', test.examples.length, decode(chosen.candidate), config.objective)).accuracy;
    }
    const result = bestResult(runId, interrupted ? 'interrupted' : 'done', chosen, devAccuracy, testAccuracy, spent, evaluator.all().length, (Date.now() - t0) / 1000, config, template, tokenizer, decode);
    writeJsonAtomic(path.join(runDir, 'best.json'), result);
    writeJsonAtomic(path.join(runDir, 'state.json'), { status: result.status, evaluations: spent });
    return result;
  } finally {
    await pool.close();
  }
}

/** A search, then (when the config has a `refine` block and the search finished) its refinement. */
export async function runSearchAndRefine(config: SearchConfig, opts: RunOptions): Promise<{ best: BestResult; refined?: RefineResult }> {
  const best = await runSearch(config, opts);
  if (!config.refine || best.status !== 'done' || (opts.stopRequested?.() ?? false)) return { best };
  const refined = await runRefine(opts.runDir, { seed: config.randomSeed ?? config.seed, ...config.refine, threads: config.threadsPerWorker }, { log: opts.log, stopRequested: opts.stopRequested });
  return { best, refined };
}

async function buildSpace(
  config: SearchConfig,
  onnxPath: string,
  tokenizer: PromptTokenizer,
  template: Template,
  train: LoadedData,
  fixedLabelIds: number[][] | undefined,
  searchLabels: boolean,
  numLabels: number,
): Promise<SearchSpace> {
  const maxLength = modelMaxLength(resolveModel(config.model, config.dtype));
  const backend = await FullLogitsBackend.load(onnxPath, maxLength, tokenizer.special.pad);
  try {
    const compiled = compileTemplate(template, tokenizer, train.textColumn, maxLength);
    const examples = train.examples.map((ex) => encodeExample(compiled, tokenizer, ex));
    const exclude = new Set<number>(config.candidates.allowLabelWords ? [] : (fixedLabelIds ?? []).flat());
    const slotPools = await proposeSlotPools({ backend, tokenizer, compiled, examples, topK: config.candidates.topK, exclude, wordLists: config.candidates.words });
    const groups: SlotGroup[] = template.slots.map((s) => ({ name: s.name, minLength: 1, maxLength: s.length, pools: slotPools[s.name] }));
    if (searchLabels) {
      const sv = typeof config.searchVerbalizer === 'object' ? config.searchVerbalizer : {};
      const fixedSlots = sv.context ? tokenizeFill(template, tokenizer, sv.context) : firstTokenFill(slotPools);
      const labelPools = await proposeLabelWordPools({ backend, tokenizer, compiled, examples, numLabels, topK: sv.candidates ?? DEFAULT_LABEL_TOP_K, fixedSlots });
      labelPools.forEach((pool, label) => groups.push({ name: `label:${label}`, minLength: 1, maxLength: 1, pools: [pool] }));
    }
    return { groups };
  } finally {
    await backend.dispose();
  }
}

function labelTokens(c: Candidate, template: Template, numLabels: number): number[] {
  return Array.from({ length: numLabels }, (_, l) => c.tokens[template.slots.length + l][0]);
}

/** Candidate → slot tokens and label ids (searched labels come after the template slots). */
export function decodeCandidate(c: Candidate, template: Template, numLabels: number, fixedLabelIds: number[][] | undefined, searchLabels: boolean): { slots: Record<string, number[]>; labelIds: number[][] } {
  const slots: Record<string, number[]> = {};
  template.slots.forEach((s, i) => (slots[s.name] = c.tokens[i]));
  const labelIds = searchLabels ? labelTokens(c, template, numLabels).map((t) => [t]) : fixedLabelIds!;
  return { slots, labelIds };
}

/** Scores a whole split in fixed chunks (the same chunks whatever the pool size). */
async function scoreSplit(pool: ScoringPool, split: SplitName, n: number, d: { slots: Record<string, number[]>; labelIds: number[][] }, objective: SearchConfig['objective']): Promise<Score & { n: number }> {
  const tasks: ScoreTask[] = [];
  // SPLIT_CHUNK-aligned tasks: the pool parallelises over chunks without changing any batch.
  for (let start = 0; start < n; start += SPLIT_CHUNK) tasks.push({ split, slots: d.slots, labelIds: d.labelIds, start, end: Math.min(n, start + SPLIT_CHUNK) });
  const parts = await Promise.all(tasks.map((t) => pool.score(t)));
  const merged: ScoreResult = { correct: parts.flatMap((p) => p.correct), gaps: parts.flatMap((p) => p.gaps) };
  return { ...scoreFromResult(merged, objective), n };
}

function candidateLine(i: number, c: Candidate, score: Score, cost: number, decode: (c: Candidate) => { slots: Record<string, number[]>; labelIds: number[][] }, template: Template, tokenizer: PromptTokenizer): CandidateLine {
  const d = decode(c);
  return { i, key: candidateKey(c), prompt: renderPrompt(template, d.slots, (ids) => tokenizer.decode(ids)), labelWords: d.labelIds.map((ids) => ids.map((id) => tokenizer.tokenText(id).trim()).join('/')), score, cost };
}

function bestResult(
  runId: string,
  status: BestResult['status'],
  chosen: ScoredCandidate,
  devAccuracy: number | null,
  testAccuracy: number | null,
  evaluations: number,
  candidatesScored: number,
  seconds: number,
  config: SearchConfig,
  template: Template,
  tokenizer: PromptTokenizer,
  decode: (c: Candidate) => { slots: Record<string, number[]>; labelIds: number[][] },
): BestResult {
  const d = decode(chosen.candidate);
  const slots: BestResult['slots'] = {};
  for (const [name, ids] of Object.entries(d.slots)) slots[name] = { ids, tokens: ids.map((i) => tokenizer.token(i)), text: tokenizer.decode(ids) };
  return {
    runId,
    status,
    template: config.template,
    prompt: renderPrompt(template, d.slots, (ids) => tokenizer.decode(ids)),
    slots,
    labelWords: d.labelIds.map((ids) => ids.map((id) => tokenizer.tokenText(id).trim())),
    labelIds: d.labelIds,
    trainAccuracy: chosen.score.accuracy,
    trainMargin: chosen.score.margin,
    devAccuracy,
    testAccuracy,
    evaluations,
    budget: config.budget,
    candidatesScored,
    seconds,
    model: config.model,
    dtype: config.dtype,
    strategy: config.strategy,
    seed: config.seed,
  };
}
