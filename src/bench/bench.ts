/**
 * `npm run bench`: our scorer vs transformers.js on the same SST-2 test sentences, same run.
 *
 *   node dist/bench/bench.js [--n 512] [--quick] [--out results/bench/latest.json]
 *
 * Ours: the in-process mask-head scorer (threads = cores), the worker pool (cores × 1 thread,
 * tasks of 64 examples) and the `full` scorer (model as exported) as a reference. Each is warmed
 * up on a few batches, then timed over 2 passes; the best pass counts. Also: the machine's fp32
 * MatMul and int8 MatMulInteger peaks and the share of each our scorer reaches on necessary
 * operations (see flops.ts); int8 with activations quantized per row (the default) against per
 * tensor (as exported), and how many sentences score differently alone than batched (int8.ts).
 * Then the causal rows (causal.ts): full recompute vs prefix reuse vs transformers.js
 * AutoModelForCausalLM on a search-shaped workload (8 candidates × min(n, 256) sentences);
 * `--no-causal` skips them.
 */
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { loadExamples } from '../data/load';
import { Example } from '../data/tsv';
import { DEFAULT_MODEL, Dtype, resolveModel } from '../model/modelFolder';
import type { ActivationQuant } from '../model/graph/preparedCache';
import { PromptTokenizer } from '../model/tokenizer';
import { PACKAGE_ROOT, BUNDLED_MODELS_DIR } from '../paths';
import { buildVerbalizer } from '../prompt/verbalizer';
import { writeJsonAtomic } from '../runner/atomic';
import { packageVersions } from '../runner/versions';
import { ScoringPool } from '../scoring/pool';
import { judge } from '../scoring/metrics';
import { ScoreTask } from '../scoring/workerProtocol';
import { benchCausal, causalLines } from './causal';
import { encoderShape, totalFlops, weightMatmulFlops } from './flops';
import { batchDependence } from './int8';
import { measureMatmulPeak } from './matmulPeak';
import {
  BATCH,
  InProcess,
  LABEL_WORDS,
  PASSES,
  TEMPLATE,
  Timed,
  benchInProcess,
  best,
  interleave,
  now,
  openInProcess,
  r2,
  since,
} from './inProcess';
import { WordIds } from '../prompt/verbalizer';

const DTYPES: Dtype[] = ['fp32', 'int8'];
/** Rounds of the interleaved per-row / per-tensor comparisons (the best pass of each counts). */
const INTERLEAVED_ROUNDS = 3;

/** The worker pool as `promptsearch search` uses it (tasks of 64 examples, all in flight), started and warmed. */
async function openPool(
  dtype: Dtype,
  examples: Example[],
  textColumn: string,
  labelIds: WordIds[][],
  workers: number,
  threadsPerWorker = 1,
  activations: ActivationQuant = 'per-row',
): Promise<{ pass(): Promise<void>; predictions(): number[]; close(): Promise<void> }> {
  const pool = await ScoringPool.start(
    {
      model: DEFAULT_MODEL,
      dtype,
      scorer: 'mask-head',
      template: TEMPLATE,
      textColumn,
      splits: { test: examples },
      batch: {},
      activations,
    },
    { workers, threadsPerWorker },
  );
  const tasks: ScoreTask[] = [];
  for (let start = 0; start < examples.length; start += BATCH)
    tasks.push({ split: 'test', slots: {}, labelIds, start, end: Math.min(examples.length, start + BATCH) });
  try {
    await Promise.all(tasks.slice(0, Math.max(workers, 2)).map((t) => pool.score(t)));
  } catch (e) {
    await pool.close();
    throw e;
  }
  let predictions: number[] = [];
  return {
    async pass() {
      predictions = (await Promise.all(tasks.map((t) => pool.score(t)))).flatMap((r) =>
        r.logProbs.map((lp) => judge(lp, 0).predicted),
      );
    },
    predictions: () => predictions,
    close: () => pool.close(),
  };
}

/** One pool layout, timed alone. */
async function benchPool(
  dtype: Dtype,
  examples: Example[],
  textColumn: string,
  labelIds: WordIds[][],
  workers: number,
  threadsPerWorker = 1,
): Promise<Timed & { predictions: number[] }> {
  const p = await openPool(dtype, examples, textColumn, labelIds, workers, threadsPerWorker);
  try {
    const [timed] = await interleave(examples.length, [() => p.pass()]);
    return { ...timed, predictions: p.predictions() };
  } finally {
    await p.close();
  }
}

const sameCount = (a: number[], b: number[]) => a.reduce((s, x, i) => s + (x === b[i] ? 1 : 0), 0);
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      'no-causal': { type: 'boolean', default: false },
    },
  });
  const quick = !!values.quick;
  const n = values.n !== undefined ? Number(values.n) : quick ? 64 : 512;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--n must be a positive integer (got ${values.n})`);
  const out = path.resolve(values.out ?? path.join(PACKAGE_ROOT, 'results', 'bench', 'latest.json'));
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const loadStart = os.loadavg();
  const tStart = now();

  const data = loadExamples({ task: 'sst-2' }, 'test');
  if (data.examples.length < n)
    throw new Error(`--n ${n}: the SST-2 test split has only ${data.examples.length} sentences`);
  const examples = data.examples.slice(0, n);
  const folder = resolveModel(DEFAULT_MODEL, 'fp32');
  const labelIds = buildVerbalizer(
    LABEL_WORDS.map((w) => [w]),
    PromptTokenizer.fromFolder(folder),
  ).ids;
  const texts = examples.map((ex) => TEMPLATE.replace('{x}', ex.fields[data.textColumn].trim()));
  const log = (s: string) => process.stderr.write(`[bench ${since(tStart).toFixed(0)}s] ${s}\n`);
  log(`${n} SST-2 test sentences, ${cores} cores, template '${TEMPLATE}', label words ${LABEL_WORDS.join('/')}`);

  // Measured at the start and again at the end; the better one counts (a busy moment only lowers it).
  const peakRun = (kind: 'fp32' | 'int8' = 'fp32') =>
    measureMatmulPeak({ threads: cores, size: 1024, runs: quick ? 4 : 10, kind });
  log('fp32 and int8 MatMul peaks');
  const peakStart = await peakRun();
  const int8PeakStart = await peakRun('int8');

  const { benchTransformersJs } = await import('./transformersjs'); // devDependency: loaded only here
  const ours: Partial<Record<Dtype, InProcess>> = {};
  const full: Partial<Record<Dtype, InProcess>> = {};
  const pool: Partial<Record<Dtype, Timed & { predictions: number[] }>> = {};
  const tjs: Partial<Record<Dtype, Awaited<ReturnType<typeof benchTransformersJs>>>> = {};
  let perTensor: InProcess | undefined;
  let poolPerTensor: Timed | undefined;
  for (const dtype of DTYPES) {
    if (dtype === 'int8') {
      // Per-row activations (ours) against per-tensor (as exported), their passes interleaved.
      log('int8: ours (in-process mask-head), per-row and per-tensor activations, passes interleaved');
      const row = await openInProcess(dtype, 'mask-head', examples, data.textColumn, cores, 'per-row');
      const tensor = await openInProcess(dtype, 'mask-head', examples, data.textColumn, cores, 'per-tensor');
      const [tRow, tTensor] = await interleave(n, [() => row.pass(), () => tensor.pass()], INTERLEAVED_ROUNDS);
      ours[dtype] = { ...tRow, ...(await row.finish()) };
      perTensor = { ...tTensor, ...(await tensor.finish()) };
      log(`int8: ours (pool ${cores}×1), per-row and per-tensor activations, passes interleaved`);
      const poolRow = await openPool(dtype, examples, data.textColumn, labelIds, cores, 1, 'per-row');
      const poolTensor = await openPool(dtype, examples, data.textColumn, labelIds, cores, 1, 'per-tensor');
      try {
        const [pRow, pTensor] = await interleave(
          n,
          [() => poolRow.pass(), () => poolTensor.pass()],
          INTERLEAVED_ROUNDS,
        );
        pool[dtype] = { ...pRow, predictions: poolRow.predictions() };
        poolPerTensor = pTensor;
      } finally {
        await poolRow.close();
        await poolTensor.close();
      }
    } else {
      log(`${dtype}: ours (in-process mask-head)`);
      ours[dtype] = await benchInProcess(dtype, 'mask-head', examples, data.textColumn, cores);
      log(`${dtype}: ours (pool ${cores}×1)`);
      pool[dtype] = await benchPool(dtype, examples, data.textColumn, labelIds, cores);
    }
    log(`${dtype}: ours (full)`);
    full[dtype] = await benchInProcess(dtype, 'full', examples, data.textColumn, cores);
    log(`${dtype}: transformers.js`);
    tjs[dtype] = await benchTransformersJs({
      modelsDir: BUNDLED_MODELS_DIR,
      model: DEFAULT_MODEL,
      dtype,
      texts,
      labelWords: LABEL_WORDS,
      threads: cores,
      batchSize: BATCH,
      warmupBatches: quick ? 1 : 2,
      passes: PASSES,
    });
  }

  const causal = values['no-causal']
    ? undefined
    : await benchCausal({
        examples: examples.slice(0, 256),
        textColumn: data.textColumn,
        threads: cores,
        passes: PASSES,
        warmupBatches: quick ? 1 : 2,
        log,
      });

  // Pool layouts for int8: 1..cores workers × 1 thread, and 1 worker × all cores.
  const layouts = [
    ...Array.from({ length: cores }, (_, i) => ({ workers: i + 1, threadsPerWorker: 1 })),
    ...(cores > 1 ? [{ workers: 1, threadsPerWorker: cores }] : []),
  ];
  const poolScaling = [];
  for (const l of layouts) {
    log(`int8: pool ${l.workers}×${l.threadsPerWorker}`);
    poolScaling.push({
      ...l,
      sentencesPerSecond: r2(
        (await benchPool('int8', examples, data.textColumn, labelIds, l.workers, l.threadsPerWorker))
          .sentencesPerSecond,
      ),
    });
  }

  const dependenceRows = examples.slice(0, Math.min(n, 256));
  log(`int8: each of ${dependenceRows.length} sentences alone vs batched, per-tensor and per-row activations`);
  const dependence = [];
  for (const a of ['per-tensor', 'per-row'] as const)
    dependence.push(await batchDependence(a, TEMPLATE, LABEL_WORDS, dependenceRows, data.textColumn, cores));

  log('fp32 and int8 MatMul peaks, again');
  const peakEnd = await peakRun();
  const int8PeakEnd = await peakRun('int8');
  const peak = peakEnd.gflops > peakStart.gflops ? peakEnd : peakStart;
  const int8Peak = int8PeakEnd.gflops > int8PeakStart.gflops ? int8PeakEnd : int8PeakStart;

  const lengths = ours.fp32!.ids.map((r) => r.length);
  const necessary = totalFlops(encoderShape(folder.config), lengths);
  const oursGflops = necessary / best(ours.fp32!) / 1e9;
  // int8: the weight matmuls run as integer GEMMs; their operations per second against the int8 peak.
  const integerOps = weightMatmulFlops(encoderShape(folder.config), lengths);
  const oursInt8Gops = integerOps / best(ours.int8!) / 1e9;
  const agreement = Object.fromEntries(
    DTYPES.map((d) => {
      const o = ours[d]!;
      const t = tjs[d]!;
      return [
        d,
        {
          n,
          identical: sameCount(o.predictions, t.predictions),
          maxAbsLogitDiff: maxAbsDiff(o.labelLogits, t.labelLogits),
          inputIdsIdentical: o.ids.filter(
            (ids, i) => ids.length === t.ids[i].length && ids.every((x, j) => x === t.ids[i][j]),
          ).length,
          poolVsOurs: sameCount(pool[d]!.predictions, o.predictions),
          fullVsOurs: sameCount(full[d]!.predictions, o.predictions),
          // The model as exported, batched our way: separates batching effects from the mask-head rewrite.
          fullVsTransformersjs: {
            identical: sameCount(full[d]!.predictions, t.predictions),
            maxAbsLogitDiff: maxAbsDiff(full[d]!.labelLogits, t.labelLogits),
          },
          accuracy: {
            ours:
              sameCount(
                o.predictions,
                examples.map((e) => e.label),
              ) / n,
            transformersjs:
              sameCount(
                t.predictions,
                examples.map((e) => e.label),
              ) / n,
          },
        },
      ];
    }),
  );
  const sps = (m: Partial<Record<Dtype, Timed>>) => ({
    fp32: r2(m.fp32!.sentencesPerSecond),
    int8: r2(m.int8!.sentencesPerSecond),
  });
  const result = {
    date: new Date().toISOString(),
    n,
    quick,
    template: TEMPLATE,
    labelWords: LABEL_WORDS,
    model: DEFAULT_MODEL,
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores,
      platform: `${os.platform()} ${os.arch()}`,
      totalMemGiB: r2(os.totalmem() / 2 ** 30),
      loadavgStart: loadStart.map(r2),
      loadavgEnd: os.loadavg().map(r2),
    },
    versions: { ...packageVersions(), '@huggingface/transformers': tjs.fp32!.version },
    ours: sps(ours),
    transformersjs: sps(tjs),
    ratio: {
      fp32: r2(ours.fp32!.sentencesPerSecond / tjs.fp32!.sentencesPerSecond),
      int8: r2(ours.int8!.sentencesPerSecond / tjs.int8!.sentencesPerSecond),
    },
    pool: { workers: cores, threadsPerWorker: 1, taskSize: BATCH, ...sps(pool) },
    full: sps(full),
    peakGflops: r2(peak.gflops),
    peakMatmul: {
      ...peak,
      gflops: r2(peak.gflops),
      medianGflops: r2(peak.medianGflops),
      startGflops: r2(peakStart.gflops),
      endGflops: r2(peakEnd.gflops),
    },
    oursGflops: r2(oursGflops),
    peakShare: Math.round((oursGflops / peak.gflops) * 1000) / 1000,
    int8: {
      perTensor: r2(perTensor!.sentencesPerSecond),
      perRow: r2(ours.int8!.sentencesPerSecond),
      perRowVsPerTensor: r2(ours.int8!.sentencesPerSecond / perTensor!.sentencesPerSecond),
      pool: {
        perTensor: r2(poolPerTensor!.sentencesPerSecond),
        perRow: r2(pool.int8!.sentencesPerSecond),
        perRowVsPerTensor: r2(pool.int8!.sentencesPerSecond / poolPerTensor!.sentencesPerSecond),
      },
      accuracy: {
        perTensor:
          sameCount(
            perTensor!.predictions,
            examples.map((e) => e.label),
          ) / n,
        perRow:
          sameCount(
            ours.int8!.predictions,
            examples.map((e) => e.label),
          ) / n,
        fp32:
          sameCount(
            ours.fp32!.predictions,
            examples.map((e) => e.label),
          ) / n,
      },
      batchDependence: dependence,
      poolScaling,
      peakGops: r2(int8Peak.gflops),
      peakMatmul: {
        ...int8Peak,
        gflops: r2(int8Peak.gflops),
        medianGflops: r2(int8Peak.medianGflops),
        startGflops: r2(int8PeakStart.gflops),
        endGflops: r2(int8PeakEnd.gflops),
      },
      oursGops: r2(oursInt8Gops),
      peakShare: Math.round((oursInt8Gops / int8Peak.gflops) * 1000) / 1000,
      integerOps,
    },
    transformersjsGflops: r2(necessary / best(tjs.fp32!) / 1e9),
    necessaryFlops: {
      total: necessary,
      realTokens: lengths.reduce((a, b) => a + b, 0),
      meanTokensPerSentence: r2(lengths.reduce((a, b) => a + b, 0) / n),
    },
    agreement,
    seconds: Object.fromEntries(
      DTYPES.map((d) => [
        d,
        {
          ours: ours[d]!.passSeconds,
          oursEncode: ours[d]!.encodeSeconds,
          pool: pool[d]!.passSeconds,
          full: full[d]!.passSeconds,
          transformersjs: tjs[d]!.passSeconds,
          transformersjsTokenize: tjs[d]!.tokenizeSeconds,
        },
      ]),
    ),
    causal,
    totalSeconds: r2(since(tStart)),
  };
  writeJsonAtomic(out, result);

  const rows: [string, string, number, number][] = [];
  for (const d of DTYPES) {
    const base = tjs[d]!.sentencesPerSecond;
    rows.push([`ours (in-process, ${cores} threads)`, d, ours[d]!.sentencesPerSecond, base]);
    if (d === 'int8') rows.push([`ours in-process, per-tensor int8`, d, perTensor!.sentencesPerSecond, base]);
    rows.push([`ours (pool ${cores}×1, tasks of ${BATCH})`, d, pool[d]!.sentencesPerSecond, base]);
    rows.push(['ours full (reference)', d, full[d]!.sentencesPerSecond, base]);
    rows.push([`transformers.js ${tjs[d]!.version}`, d, base, base]);
  }
  const lines = [
    `${'scorer'.padEnd(36)} ${'dtype'.padEnd(5)} ${'sentences/s'.padStart(12)} ${'vs transformers.js'.padStart(19)}`,
    ...rows.map(
      ([s, d, v, b]) =>
        `${s.padEnd(36)} ${d.padEnd(5)} ${v.toFixed(1).padStart(12)} ${(v / b).toFixed(2).padStart(18)}×`,
    ),
    '',
    `MatMul peak (fp32, ${peak.shape.join('×')}, ${cores} threads): ${peak.gflops.toFixed(1)} GFLOP/s (best of start ${peakStart.gflops.toFixed(1)} / end ${peakEnd.gflops.toFixed(1)})`,
    `ours fp32 on necessary FLOPs: ${oursGflops.toFixed(1)} GFLOP/s = ${(100 * result.peakShare).toFixed(1)}% of peak (transformers.js fp32: ${result.transformersjsGflops} GFLOP/s)`,
    `MatMulInteger peak (u8×s8, ${int8Peak.shape.join('×')}, ${cores} threads): ${int8Peak.gflops.toFixed(1)} GOP/s (best of start ${int8PeakStart.gflops.toFixed(1)} / end ${int8PeakEnd.gflops.toFixed(1)})`,
    `ours int8 on the weight matmuls' integer ops: ${oursInt8Gops.toFixed(1)} GOP/s = ${(100 * result.int8.peakShare).toFixed(1)}% of the int8 peak`,
    `int8 activations per row vs per tensor (as exported): ${result.int8.perRowVsPerTensor}× the speed in one ${cores}-thread process, ${result.int8.pool.perRowVsPerTensor}× in the pool (${cores}×1, the searches' layout: ${result.int8.pool.perRow.toFixed(1)} vs ${result.int8.pool.perTensor.toFixed(1)} sentences/s); accuracy on these ${n}: per-row ${result.int8.accuracy.perRow.toFixed(4)}, per-tensor ${result.int8.accuracy.perTensor.toFixed(4)}, fp32 ${result.int8.accuracy.fp32.toFixed(4)}`,
    `int8 pool scaling (sentences/s; in-process ${cores} threads ${ours.int8!.sentencesPerSecond.toFixed(1)}): ${poolScaling.map((p) => `${p.workers}×${p.threadsPerWorker} ${p.sentencesPerSecond.toFixed(1)}`).join(', ')}`,
    ...dependence.map(
      (b) =>
        `int8 ${b.activations}: ${b.differAlone}/${b.n} sentences score differently alone than batched (${b.labelChanges} change label)`,
    ),
    ...DTYPES.map((d) => {
      const a = agreement[d] as {
        identical: number;
        maxAbsLogitDiff: number;
        inputIdsIdentical: number;
        poolVsOurs: number;
        fullVsOurs: number;
        fullVsTransformersjs: { identical: number; maxAbsLogitDiff: number };
      };
      const f = a.fullVsTransformersjs;
      return (
        `${d}: predictions identical to transformers.js ${a.identical}/${n} (max |Δlogit| ${a.maxAbsLogitDiff.toExponential(2)}, input ids identical ${a.inputIdsIdentical}/${n}); ` +
        `full vs transformers.js ${f.identical}/${n} (max |Δlogit| ${f.maxAbsLogitDiff.toExponential(2)}); pool ${a.poolVsOurs}/${n}, full ${a.fullVsOurs}/${n} vs in-process`
      );
    }),
    ...(causal ? ['', ...causalLines(causal), ''] : []),
    `tokenization: ours ${(1000 * ours.fp32!.encodeSeconds).toFixed(0)} ms once per split, outside the timing (reused by every prompt); transformers.js ${(1000 * tjs.fp32!.tokenizeSeconds).toFixed(0)} ms per pass, inside it`,
    `machine: ${result.machine.cpu}, ${cores} cores, load avg ${loadStart.map((x) => x.toFixed(2)).join(' ')} at start; ${result.totalSeconds} s total`,
    `wrote ${out}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const fp32 = agreement.fp32 as { identical: number };
  if (fp32.identical !== n) {
    process.stderr.write(
      `bench: FAIL: fp32 predictions differ from transformers.js on ${n - fp32.identical} of ${n} sentences\n`,
    );
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
