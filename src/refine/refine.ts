import * as fs from 'fs';
import { loadExamples, LoadedData } from '../data/load';
import { StoppedError, UserError } from '../errors';
import { prepareEmbedsModel, readWordEmbeddings } from '../model/graph/embedsInput';
import { modelMaxLength } from '../model/load';
import { modelLabelNames, resolveModel, sha256File } from '../model/modelFolder';
import { PromptTokenizer } from '../model/tokenizer';
import { CompiledTemplate, compileTemplate, encodeExample, EncodedExample } from '../prompt/encode';
import { parseTemplate } from '../prompt/template';
import { cacheDir } from '../paths';
import { promptReading, Reading } from '../scoring/scorer';
import { judgeAll, summarize } from '../scoring/metrics';
import {
  CalibrationMode,
  calibrate,
  ensembleLogProbs,
  fitMember,
  meanOffsets,
  MemberFit,
  mergeOffsets,
} from '../prompt/calibration';
import { SearchConfig, configDataSource } from '../runner/config';
import {
  BestResult,
  EnsembleMember,
  RefinedMember,
  RefineOptions,
  RefineResult,
  RunDir,
  SelectedPrompt,
  SoftMemberData,
  SoftPromptData,
} from '../runner/runDir';
import { CMAES, defaultPopSize } from './cmaes';
import { project, randomProjection, std } from './projection';
import { SoftPromptBackend } from './softPromptBackend';

export const REFINE_DEFAULTS: RefineOptions = { budget: 20_000, dim: 256, sigma0: 0.5, seed: 13, loss: 'ce' };

export type {
  RefineOptions,
  RefineResult,
  RefinedMember,
  SoftMemberData,
  SoftPromptData,
  SplitScores,
} from '../runner/runDir';

/** A member of the run's result as refine applies it (the run's one prompt is a member too). */
export interface ResultMember {
  template: string;
  prompt: string;
  /** The slot tokens as best.json lists them (ids authoritative). */
  slots: SelectedPrompt['slots'];
  reading: Reading;
  offsets: number[] | undefined;
  fit?: MemberFit;
  /** A readout member (reads its prompt's mask through words from the data); never refined itself. */
  readout: boolean;
}

/** The run's result as refine sees it: what export writes and predict applies, and its numbers. */
export interface RefineTarget {
  of: 'prompt' | 'ensemble';
  members: ResultMember[];
  /** The result's accuracies as best.json reports them (train: null where it reports none, an ensemble's). */
  train: number | null;
  dev: number | null;
  test: number | null;
  /** The decision rule of the single prompt (best.json `calibration`), for the soft prompt of one that is not refined. */
  calibrationMode: CalibrationMode;
}

/**
 * Everything refine reads of best.json, in one place (best.json's shape is changing: switch it
 * here). The result is the ensemble when there is one (several templates, or `ensemble` > 1),
 * else the selected prompt.
 */
export function refineTarget(best: BestResult): RefineTarget {
  const selected = best.selected;
  const members = best.result === 'ensemble' ? best.members : undefined;
  return {
    ...(members
      ? { of: 'ensemble' as const, members: members.map((m) => memberOf(m, selected.template)) }
      : { of: 'prompt' as const, members: [promptOf(selected)] }),
    train: best.trainAccuracy,
    dev: best.devAccuracy,
    test: best.testAccuracy,
    calibrationMode: selected.calibration?.mode ?? 'none',
  };
}

function readingOf(m: {
  labelIds: Reading['labelIds'];
  labelScore?: Reading['labelScore'];
  readout?: Reading['readout'];
}): Reading {
  return {
    labelIds: m.labelIds,
    ...(m.labelScore ? { labelScore: m.labelScore } : {}),
    ...(m.readout ? { readout: m.readout } : {}),
  };
}

/** An ensemble member of best.json (its template, or the run's). */
function memberOf(m: EnsembleMember, runTemplate: string): ResultMember {
  return {
    template: m.template ?? runTemplate,
    prompt: m.prompt,
    slots: m.slots,
    reading: readingOf(m),
    offsets: m.offsets ?? undefined,
    ...(m.fit ? { fit: m.fit } : {}),
    readout: m.readout !== undefined || (m.labelScore !== undefined && m.labelScore !== 'logsumexp'),
  };
}

/** The run's one prompt as a member: its template, slots, label words and offsets. */
function promptOf(p: Pick<SelectedPrompt, 'template' | 'prompt' | 'slots' | 'labelIds' | 'calibration'>): ResultMember {
  return {
    template: p.template,
    prompt: p.prompt,
    slots: p.slots,
    reading: readingOf(p),
    offsets: p.calibration?.offsets ?? undefined,
    readout: false,
  };
}

/** Everything refine reads of the run's config, in one place (config field names are changing: switch them here). */
function refineSettings(config: SearchConfig) {
  return {
    model: config.model,
    dtype: config.dtype,
    calibrated: config.calibration !== 'none',
    source: (split: 'train' | 'dev' | 'test', labels: string[] | undefined) => configDataSource(config, split, labels),
    hasTest: !(config.data && !config.data.test),
  };
}

/**
 * Refines a finished run's result into soft prompts: each prompt member's slot tokens become
 * continuous embeddings found by CMA-ES in a random subspace (BBT), its own template and label
 * words kept. The run's one prompt is refined as itself; an ensemble (several templates, or
 * `ensemble` > 1) member by member, greedily: a member's soft prompt replaces its discrete one
 * only when the ensemble's dev accuracy goes up (strictly, and not below the run's), so dev never
 * drops below the run's result. Readout members of a refined prompt read through its soft prompt
 * when that does not lower the ensemble's dev either.
 */
export async function runRefine(
  from: string | { dir: string; config: SearchConfig; best: BestResult },
  options: Partial<RefineOptions> = {},
  hooks: { log?: (l: string) => void; stopRequested?: () => boolean } = {},
): Promise<RefineResult> {
  const { dir: runDir, config, best } = typeof from === 'string' ? new RunDir(from).readFinished() : from;
  const run = new RunDir(runDir);
  return run.locked(() => refineLocked(run, config, best, options, hooks));
}

interface Split {
  name: 'train' | 'dev' | 'test';
  data: LoadedData;
  golds: number[];
}

/** A member's state while the ensemble is refined: its log-probabilities on each split, its decision rule, its vectors. */
interface MemberState {
  lp: { train: number[][]; dev: number[][]; test: number[][] | undefined };
  offsets: number[] | undefined;
  fit?: MemberFit;
  /** Row-major [slot tokens × hidden]; null: the discrete tokens. */
  soft: Float32Array | null;
}

async function refineLocked(
  run: RunDir,
  config: SearchConfig,
  best: BestResult,
  options: Partial<RefineOptions>,
  hooks: { log?: (l: string) => void; stopRequested?: () => boolean },
): Promise<RefineResult> {
  const t0 = Date.now();
  const runDir = run.dir;
  const opts: RefineOptions = { ...REFINE_DEFAULTS, ...options };
  const log = hooks.log ?? (() => {});
  const settings = refineSettings(config);
  const target = refineTarget(best);
  const members = target.members;
  if (target.dev === null)
    throw new UserError(`${runDir}: the run has no dev accuracy; refine chooses on dev and needs a dev split`);
  // The prompt members, refined in order; readout members follow the prompt they read.
  const parsed = members.map((m) => parseTemplate(m.template));
  const prompts = members.map((m, i) => i).filter((i) => !members[i].readout && parsed[i].slots.length > 0);
  if (prompts.length === 0)
    throw new UserError(
      target.of === 'prompt'
        ? `${runDir}: the template has no slots to refine`
        : best.searched
          ? `${runDir}: the run's result is its hand-written baseline (${best.baseline?.prompt ?? 'no slots'}), which the search did not beat; it has no slots to refine`
          : `${runDir}: no member of the run's ensemble has slots to refine (its templates have no <slots>)`,
    );
  const sameIds = (a: SelectedPrompt['slots'], b: SelectedPrompt['slots']) =>
    JSON.stringify(Object.entries(a).map(([k, v]) => [k, v.ids])) ===
    JSON.stringify(Object.entries(b).map(([k, v]) => [k, v.ids]));
  const readoutsOf = (i: number) =>
    members
      .map((m, k) => k)
      .filter(
        (k) =>
          members[k].readout &&
          members[k].template === members[i].template &&
          sameIds(members[k].slots, members[i].slots),
      );
  for (const [k, m] of members.entries()) {
    if (m.reading.labelIds.some((ws) => ws.some((w) => Array.isArray(w))))
      throw new UserError(
        `${runDir}: refine scores masked language models only (member ${k + 1} has label words of several tokens, a causal model's)`,
      );
  }

  const folder = resolveModel(settings.model, settings.dtype);
  const tokenizer = PromptTokenizer.fromFolder(folder);
  const labels = modelLabelNames(folder);
  const load = (name: Split['name']): Split => {
    const data = loadExamples(settings.source(name, labels), name);
    return { name, data, golds: data.examples.map((e) => e.label) };
  };
  const train = load('train');
  const dev = load('dev');
  const test = settings.hasTest ? load('test') : undefined;
  const numLabels = members[0].reading.labelIds.length;
  const maxLength = modelMaxLength(folder);
  const compiled = new Map<
    string,
    { ct: CompiledTemplate; train: EncodedExample[]; dev: EncodedExample[]; test?: EncodedExample[] }
  >();
  const encodedOf = (template: string) => {
    if (!compiled.has(template)) {
      const ct = compileTemplate(parseTemplate(template), tokenizer, train.data.textColumn, maxLength);
      const enc = (s: Split) => s.data.examples.map((ex) => encodeExample(ct, tokenizer, ex));
      compiled.set(template, { ct, train: enc(train), dev: enc(dev), test: test ? enc(test) : undefined });
    }
    return compiled.get(template)!;
  };

  // The budget: scoring each distinct discrete prompt on train and dev once, then each prompt
  // member's share (its generations, and its readout members read through its soft prompt).
  const distinct = new Set(
    members.map((m) => `${m.template}\u0000${JSON.stringify(Object.values(m.slots).map((s) => s.ids))}`),
  ).size;
  const baseCost = distinct * (train.data.examples.length + dev.data.examples.length);
  const lambda = opts.popSize ?? defaultPopSize(opts.dim);
  const generationCost = lambda * train.data.examples.length + dev.data.examples.length;
  const readoutCost = (i: number) => readoutsOf(i).length * (train.data.examples.length + dev.data.examples.length);
  const needed = baseCost + prompts.reduce((s, i) => s + generationCost + readoutCost(i), 0);
  if (opts.budget < needed) {
    const what =
      prompts.length === 1 ? 'one generation' : `one generation for each of the ${prompts.length} prompt members`;
    throw new UserError(
      `refine: a budget of ${opts.budget} example evaluations cannot pay for ${what} (scoring the discrete prompt${distinct === 1 ? '' : 's'} costs ${baseCost}, a generation ${generationCost}${
        prompts.some((i) => readoutCost(i) > 0)
          ? ', reading the readout members through it ' + readoutCost(prompts[0])
          : ''
      }); give --budget ${needed} or more`,
    );
  }
  const shares = splitShares(opts.budget - baseCost, prompts.length);

  const emb = readWordEmbeddings(fs.readFileSync(folder.onnxPath), folder.onnxPath);
  // Ctrl-C before the first generation began: nothing to keep (a refinement starts over when rerun).
  let began = false;
  const stopBeforeStart = () => {
    if (!began && (hooks.stopRequested?.() ?? false))
      throw new StoppedError(
        `stopped before the first generation; nothing refined (rerun: promptsearch refine ${runDir})`,
      );
  };
  stopBeforeStart();
  const backend = await SoftPromptBackend.load(
    await prepareEmbedsModel(folder.onnxPath, cacheDir()),
    emb,
    maxLength,
    tokenizer.special.pad,
    opts.threads,
  );
  try {
    let spent = 0;
    const score = async (
      i: number,
      soft: Float32Array | null,
      split: 'train' | 'dev' | 'test',
      charged = split !== 'test',
    ) => {
      stopBeforeStart();
      const e = encodedOf(members[i].template);
      const examples = e[split]!;
      if (charged) spent += examples.length;
      backend.soft = soft;
      return promptReading(backend, e.ct, examples, slotIds(members[i].slots), members[i].reading);
    };
    // The discrete members, scored once per distinct prompt (a readout member reads its prompt's rows; the cost is the prompt's).
    const states: MemberState[] = [];
    const charged = new Set<string>();
    for (const [i, m] of members.entries()) {
      const key = `${m.template}\u0000${JSON.stringify(Object.values(m.slots).map((s) => s.ids))}`;
      const first = !charged.has(key);
      charged.add(key);
      states.push({
        lp: {
          train: await score(i, null, 'train', first),
          dev: await score(i, null, 'dev', first),
          test: test ? await score(i, null, 'test') : undefined,
        },
        offsets: m.offsets,
        ...(m.fit ? { fit: m.fit } : {}),
        soft: null,
      });
    }
    const accuracy = (ss: MemberState[], split: 'train' | 'dev' | 'test') => {
      const golds = (split === 'train' ? train : split === 'dev' ? dev : test!).golds;
      const scores = ensembleLogProbs(ss.map((s) => ({ logProbs: s.lp[split]!, offsets: s.offsets, fit: s.fit })));
      return summarize(judgeAll(scores, golds, undefined), numLabels).accuracy;
    };
    const rescored = { train: accuracy(states, 'train'), dev: accuracy(states, 'dev') };
    // The discrete numbers are the run's own (best.json); an ensemble's train accuracy, which the run does not report, is scored here.
    const discrete = { train: target.train ?? rescored.train, dev: target.dev, test: target.test };
    // A soft prompt is accepted only above both the rescored ensemble and the run's dev.
    let currentDev = rescored.dev;
    log(
      `refine: ${target.of === 'prompt' ? "the run's prompt" : `the run's ensemble of ${members.length} members, ${prompts.length} prompt member(s) in turn`}: train ${discrete.train.toFixed(4)} dev ${discrete.dev.toFixed(4)}; CMA-ES d=${opts.dim}, λ=${lambda}`,
    );

    if (rescored.dev !== target.dev)
      log(
        `refine: note: the soft-prompt scorer reads the discrete ${target.of} at dev ${rescored.dev.toFixed(4)} (the run: ${target.dev.toFixed(4)}); a soft prompt must beat both`,
      );
    run.startLines('refineProgress');
    const summaries: RefinedMember[] = [];
    let generations = 0;
    let firstP0: Float32Array | undefined;
    for (const [pi, i] of prompts.entries()) {
      stopBeforeStart();
      began = true;
      if (hooks.stopRequested?.() ?? false) break;
      const m = members[i];
      const e = encodedOf(m.template);
      const ids = parsed[i].slots.flatMap((s) => m.slots[s.name]?.ids ?? []);
      const p0 = new Float32Array(ids.length * emb.hidden);
      ids.forEach((id, k) => p0.set(emb.matrix.subarray(id * emb.hidden, (id + 1) * emb.hidden), k * emb.hidden));
      // The first member keeps the seed (a run's one prompt refines as it always did); the others their own.
      const seed = opts.seed + pi;
      const a = randomProjection(p0.length, opts.dim, std(emb.matrix), seed);
      const readouts = readoutsOf(i);
      const memberStart = spent;
      const memberBudget = shares[pi] - readoutCost(i);
      const devBefore = currentDev;
      const threshold = Math.max(currentDev, target.dev);
      const nTrain = e.train.length;
      // Calibration as in the search: each candidate's own offsets from the inputs it is scored on;
      // a prompt that is kept gets offsets from the train + dev inputs.
      const ownOffsets = (lp: number[][]) => (settings.calibrated ? meanOffsets(lp, numLabels) : undefined);
      const keptOffsets = (trainLp: number[][], devLp: number[][]) =>
        settings.calibrated
          ? mergeOffsets(meanOffsets(trainLp, numLabels), nTrain, meanOffsets(devLp, numLabels), devLp.length)
          : undefined;
      // A member the run fitted is fitted again, on the same labelled train + dev examples.
      const refit = (
        fit: MemberFit | undefined,
        trainLp: number[][],
        devLp: number[][],
        offsets: number[] | undefined,
      ) =>
        fit
          ? fitMember(
              [...trainLp, ...devLp].map((lp) => calibrate(lp, offsets)),
              [...train.golds, ...dev.golds],
              numLabels,
            )
          : undefined;
      let chosen: { state: MemberState; dev: number } | undefined;
      const es = new CMAES({
        dim: opts.dim,
        x0: new Float64Array(opts.dim),
        sigma0: opts.sigma0,
        popSize: opts.popSize,
        seed,
      });
      while (spent - memberStart + generationCost <= memberBudget && !(hooks.stopRequested?.() ?? false)) {
        const xs = es.ask();
        const results = [];
        for (const x of xs) {
          const lp = await score(i, project(p0, a, x), 'train');
          const offsets = ownOffsets(lp);
          const summary = summarize(judgeAll(lp, train.golds, offsets), numLabels);
          results.push({
            lp,
            accuracy: summary.accuracy,
            loss: opts.loss === 'ce' ? -summary.logLikelihood : -summary.margin,
          });
        }
        es.tell(
          xs,
          results.map((r) => r.loss),
        );
        let bi = 0;
        for (let k = 1; k < results.length; k++) if (results[k].loss < results[bi].loss) bi = k;
        const soft = project(p0, a, xs[bi]);
        const devLp = await score(i, soft, 'dev');
        const offsets = keptOffsets(results[bi].lp, devLp);
        const state: MemberState = { lp: { train: results[bi].lp, dev: devLp, test: undefined }, offsets, soft };
        const fit = refit(states[i].fit, results[bi].lp, devLp, offsets);
        if (fit) state.fit = fit;
        const candidate = states.map((s, k) => (k === i ? state : s));
        const memberDev = summarize(judgeAll(devLp, dev.golds, offsets), numLabels).accuracy;
        const ensembleDev = accuracy(candidate, 'dev');
        // Strictly better on dev to replace: ties keep the earlier (the discrete prompt first).
        if (ensembleDev > (chosen?.dev ?? threshold)) chosen = { state, dev: ensembleDev };
        const line = {
          ...(target.of === 'ensemble' ? { member: i } : {}),
          generation: es.generation - 1,
          evaluations: spent,
          trainLoss: results[bi].loss,
          trainAccuracy: results[bi].accuracy,
          devAccuracy: target.of === 'ensemble' ? ensembleDev : memberDev,
          ...(target.of === 'ensemble' ? { memberDevAccuracy: memberDev } : {}),
          bestDevAccuracy: chosen?.dev ?? currentDev,
          sigma: es.sigma,
        };
        run.appendLines('refineProgress', [line]);
        log(
          `refine: ${target.of === 'ensemble' ? `member ${i + 1} ` : ''}generation ${line.generation} train ${line.trainAccuracy.toFixed(4)} (loss ${line.trainLoss.toFixed(4)}) dev ${line.devAccuracy.toFixed(4)} best dev ${line.bestDevAccuracy.toFixed(4)} [${spent}/${opts.budget}]`,
        );
      }
      generations += es.generation;
      if (pi === 0) firstP0 = p0;
      const readSoft: number[] = [];
      if (chosen) {
        const soft = chosen.state.soft!;
        chosen.state.lp.test = test ? await score(i, soft, 'test') : undefined;
        states[i] = chosen.state;
        currentDev = chosen.dev;
        // Its readout members read through the soft prompt too (their words' weights as fitted; their
        // offsets and fit again), one by one, where the ensemble's dev does not go down.
        for (const k of readouts) {
          const trainLp = await score(k, soft, 'train');
          const devLp = await score(k, soft, 'dev');
          const offsets = keptOffsets(trainLp, devLp);
          const state: MemberState = { lp: { train: trainLp, dev: devLp, test: undefined }, offsets, soft };
          const fit = refit(states[k].fit, trainLp, devLp, offsets);
          if (fit) state.fit = fit;
          const candidate = states.map((s, j) => (j === k ? state : s));
          const d = accuracy(candidate, 'dev');
          if (d >= currentDev) {
            state.lp.test = test ? await score(k, soft, 'test') : undefined;
            states[k] = state;
            currentDev = d;
            readSoft.push(k);
          }
        }
      }
      summaries.push({
        member: i,
        prompt: m.prompt,
        kept: chosen ? 'soft' : 'discrete',
        readoutMembers: readSoft,
        devBefore,
        devAfter: currentDev,
        budget: shares[pi],
        evaluations: spent - memberStart,
        generations: es.generation,
      });
      if (target.of === 'ensemble')
        log(
          `refine: member ${i + 1} (${m.prompt}): ${chosen ? `soft prompt kept${readSoft.length ? `, ${readSoft.length} readout member(s) read through it` : ''}` : "no generation raised the ensemble's dev: kept discrete"}; ensemble dev ${currentDev.toFixed(4)}`,
        );
    }

    const improved = states.some((s) => s.soft !== null);
    // Nothing accepted: the refined result is the run's own, numbers and all.
    const refined = improved
      ? { train: accuracy(states, 'train'), dev: currentDev, test: test ? accuracy(states, 'test') : null }
      : { ...discrete };
    const result: RefineResult = {
      discrete,
      refined,
      improvedDev: improved,
      evaluations: spent,
      budget: opts.budget,
      generations,
      seconds: (Date.now() - t0) / 1000,
      options: opts,
      of: target.of,
      ...(target.of === 'ensemble' ? { members: summaries } : {}),
    };
    const tokensOf = (i: number) =>
      parsed[i].slots.flatMap((s) =>
        members[i].slots[s.name].ids.map((id) => ({ slot: s.name, id, token: tokenizer.token(id) })),
      );
    const vectorsOf = (v: Float32Array) =>
      Array.from({ length: v.length / emb.hidden }, (_, k) =>
        Array.from(v.subarray(k * emb.hidden, (k + 1) * emb.hidden)),
      );
    const mode = (offsets: number[] | undefined): CalibrationMode => (offsets ? 'inputs' : 'none');
    let softData: SoftPromptData;
    if (target.of === 'prompt') {
      const i = prompts[0];
      const soft = states[i].soft ?? firstP0!;
      softData = {
        slotTokens: tokensOf(i),
        hidden: emb.hidden,
        vectors: vectorsOf(soft),
        modelSha256: sha256File(folder.onnxPath),
        calibration: improved
          ? { mode: mode(states[i].offsets), offsets: states[i].offsets ?? null }
          : { mode: target.calibrationMode, offsets: members[i].offsets ?? null },
      };
    } else {
      softData = {
        slotTokens: [],
        hidden: emb.hidden,
        vectors: [],
        modelSha256: sha256File(folder.onnxPath),
        members: states.map((s, i): SoftMemberData | null =>
          s.soft
            ? {
                slotTokens: tokensOf(i),
                vectors: vectorsOf(s.soft),
                calibration: { mode: mode(s.offsets), offsets: s.offsets ?? null },
                ...(s.fit ? { fit: s.fit } : {}),
              }
            : null,
        ),
      };
    }
    run.writeRefine(result, softData);
    return result;
  } finally {
    await backend.dispose();
  }
}

/** The budget left after the discrete scoring, split evenly over the prompt members (the remainder to the first). */
function splitShares(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total - base * parts ? 1 : 0));
}

function slotIds(slots: SelectedPrompt['slots']): Record<string, number[]> {
  return Object.fromEntries(Object.entries(slots).map(([k, v]) => [k, v.ids]));
}
