import * as fs from 'fs';
import { loadExamples } from '../data/load';
import { UserError } from '../errors';
import { prepareEmbedsModel, readWordEmbeddings } from '../model/graph/embedsInput';
import { modelMaxLength } from '../model/load';
import { modelLabelNames, resolveModel, sha256File } from '../model/modelFolder';
import { PromptTokenizer } from '../model/tokenizer';
import { compileTemplate, encodeExample, EncodedExample } from '../prompt/encode';
import { parseTemplate } from '../prompt/template';
import { cacheDir } from '../paths';
import { promptLogProbs } from '../scoring/scorer';
import { judgeAll, summarize } from '../scoring/metrics';
import { meanOffsets, mergeOffsets } from '../prompt/calibration';
import { SearchConfig, configDataSource } from '../runner/config';
import { BestResult, RefineOptions, RefineResult, RunDir, SoftPromptData } from '../runner/runDir';
import { CMAES } from './cmaes';
import { project, randomProjection, std } from './projection';
import { SoftPromptBackend } from './softPromptBackend';

export const REFINE_DEFAULTS: RefineOptions = { budget: 20_000, dim: 256, sigma0: 0.5, seed: 13, loss: 'ce' };

export type { RefineOptions, RefineResult, SoftPromptData, SplitScores } from '../runner/runDir';

/**
 * Refines a finished run's discrete prompt into continuous slot embeddings with CMA-ES in a
 * random subspace (BBT). Dev picks the final prompt among the discrete one and each
 * generation's best, the discrete one winning ties, so dev accuracy never goes down.
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
  const folder = resolveModel(config.model, config.dtype);
  const tokenizer = PromptTokenizer.fromFolder(folder);
  const template = parseTemplate(config.template);
  if (template.slots.length === 0) throw new UserError(`${runDir}: the template has no slots to refine`);
  const src = (s: 'train' | 'dev' | 'test') => configDataSource(config, s, modelLabelNames(folder));
  const train = loadExamples(src('train'), 'train');
  const dev = loadExamples(src('dev'), 'dev');
  const test = config.data && !config.data.test ? undefined : loadExamples(src('test'), 'test');
  const maxLength = modelMaxLength(folder);
  const ct = compileTemplate(template, tokenizer, train.textColumn, maxLength);
  const enc = (d: typeof train) => d.examples.map((ex) => encodeExample(ct, tokenizer, ex));
  const [trainEx, devEx, testEx] = [enc(train), enc(dev), test ? enc(test) : undefined];
  const slots: Record<string, number[]> = Object.fromEntries(Object.entries(best.selected.slots).map(([k, v]) => [k, v.ids]));
  const labelIds = best.selected.labelIds;

  const emb = readWordEmbeddings(fs.readFileSync(folder.onnxPath), folder.onnxPath);
  const backend = await SoftPromptBackend.load(await prepareEmbedsModel(folder.onnxPath, cacheDir()), emb, maxLength, tokenizer.special.pad, opts.threads);
  try {
    const slotIds = template.slots.flatMap((s) => slots[s.name]);
    const p0 = new Float32Array(slotIds.length * emb.hidden);
    slotIds.forEach((id, k) => p0.set(emb.matrix.subarray(id * emb.hidden, (id + 1) * emb.hidden), k * emb.hidden));
    const a = randomProjection(p0.length, opts.dim, std(emb.matrix), opts.seed);
    let spent = 0;
    // Calibration as in the search: each candidate's own offsets from the inputs it is scored on;
    // a prompt that is kept gets offsets from the train + dev inputs (`withDev`).
    const calibrated = config.calibration !== 'none';
    const evaluate = async (soft: Float32Array | null, examples: EncodedExample[], fixed?: number[]) => {
      backend.soft = soft;
      spent += examples.length;
      const logProbs = await promptLogProbs(backend, ct, examples, slots, labelIds);
      const offsets = fixed ?? (calibrated ? meanOffsets(logProbs, labelIds.length) : undefined);
      const summary = summarize(
        judgeAll(
          logProbs,
          examples.map((e) => e.label),
          offsets,
        ),
        labelIds.length,
      );
      const loss = opts.loss === 'ce' ? -summary.logLikelihood : -summary.margin;
      return { accuracy: summary.accuracy, loss, logProbs, offsets };
    };
    const withDev = (trainOffsets: number[] | undefined, devLogProbs: number[][]) =>
      trainOffsets ? mergeOffsets(trainOffsets, trainEx.length, meanOffsets(devLogProbs, labelIds.length), devLogProbs.length) : undefined;

    run.startLines('refineProgress');
    // The discrete prompt keeps the run's decision rule (best.json's offsets).
    const discreteOffsets = best.selected.calibration?.offsets ?? undefined;
    const baseTrain = await evaluate(null, trainEx, discreteOffsets);
    const baseDev = await evaluate(null, devEx, discreteOffsets);
    let chosen = { z: null as Float64Array | null, train: baseTrain.accuracy, dev: baseDev.accuracy, generation: -1, offsets: discreteOffsets };
    log(`refine: discrete prompt train ${baseTrain.accuracy.toFixed(4)} dev ${baseDev.accuracy.toFixed(4)}; CMA-ES d=${opts.dim}`);

    const es = new CMAES({ dim: opts.dim, x0: new Float64Array(opts.dim), sigma0: opts.sigma0, popSize: opts.popSize, seed: opts.seed });
    const generationCost = es.lambda * trainEx.length + devEx.length;
    while (spent + generationCost <= opts.budget && !(hooks.stopRequested?.() ?? false)) {
      const xs = es.ask();
      const results = [];
      for (const x of xs) results.push(await evaluate(project(p0, a, x), trainEx));
      es.tell(
        xs,
        results.map((r) => r.loss),
      );
      let bi = 0;
      for (let i = 1; i < results.length; i++) if (results[i].loss < results[bi].loss) bi = i;
      const soft = project(p0, a, xs[bi]);
      backend.soft = soft;
      spent += devEx.length;
      const devLp = await promptLogProbs(backend, ct, devEx, slots, labelIds);
      const offsets = withDev(results[bi].offsets, devLp);
      const d = {
        accuracy: summarize(
          judgeAll(
            devLp,
            devEx.map((e) => e.label),
            offsets,
          ),
          labelIds.length,
        ).accuracy,
      };
      // Strictly better on dev to replace: ties keep the earlier (the discrete prompt first).
      if (d.accuracy > chosen.dev) chosen = { z: Float64Array.from(xs[bi]), train: results[bi].accuracy, dev: d.accuracy, generation: es.generation - 1, offsets };
      const line = {
        generation: es.generation - 1,
        evaluations: spent,
        trainLoss: results[bi].loss,
        trainAccuracy: results[bi].accuracy,
        devAccuracy: d.accuracy,
        bestDevAccuracy: chosen.dev,
        sigma: es.sigma,
      };
      run.appendLines('refineProgress', [line]);
      log(
        `refine: generation ${line.generation} train ${line.trainAccuracy.toFixed(4)} (loss ${line.trainLoss.toFixed(4)}) dev ${line.devAccuracy.toFixed(4)} best dev ${chosen.dev.toFixed(4)} [${spent}/${opts.budget}]`,
      );
    }

    const soft = chosen.z ? project(p0, a, chosen.z) : p0;
    // The test split is for the report: never charged, and always judged with the kept offsets.
    const scoreTest = async (s: Float32Array | null, offsets: number[] | undefined) => {
      if (!testEx) return null;
      backend.soft = s;
      const logProbs = await promptLogProbs(backend, ct, testEx, slots, labelIds);
      return summarize(
        judgeAll(
          logProbs,
          testEx.map((e) => e.label),
          offsets,
        ),
        labelIds.length,
      ).accuracy;
    };
    const discreteTest = await scoreTest(null, discreteOffsets);
    const refinedTest = chosen.z ? await scoreTest(soft, chosen.offsets) : discreteTest;
    const result: RefineResult = {
      discrete: { train: baseTrain.accuracy, dev: baseDev.accuracy, test: discreteTest },
      refined: { train: chosen.train, dev: chosen.dev, test: refinedTest },
      improvedDev: chosen.z !== null,
      evaluations: spent,
      budget: opts.budget,
      generations: es.generation,
      seconds: (Date.now() - t0) / 1000,
      options: opts,
    };
    const vectors: number[][] = slotIds.map((_, k) => Array.from(soft.subarray(k * emb.hidden, (k + 1) * emb.hidden)));
    const softData: SoftPromptData = {
      slotTokens: template.slots.flatMap((s) => slots[s.name].map((id) => ({ slot: s.name, id, token: tokenizer.token(id) }))),
      hidden: emb.hidden,
      vectors,
      modelSha256: sha256File(folder.onnxPath),
      calibration: { mode: chosen.offsets ? (chosen.z ? 'inputs' : (best.selected.calibration?.mode ?? 'inputs')) : 'none', offsets: chosen.offsets ?? null },
    };
    run.writeRefine(result, softData);
    return result;
  } finally {
    await backend.dispose();
  }
}
