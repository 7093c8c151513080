/**
 * The causal rows of `npm run bench`: a search-shaped workload on gpt-mini-imdb (fp32) — several
 * candidate fillings of `{x} <A:2> [MASK]` × the same sentences — scored by
 *
 *   - `full`: the model as exported, whole rows, logits sliced in JS (the reference path);
 *   - `mask-head (whole rows)`: the mask-head scorer recomputing every row;
 *   - `prefix-reuse`: the default for causal models. Cold: every timed pass starts with an empty
 *     prefix cache, so computing the prefixes is inside the timing, shared by the pass's 8
 *     candidates; warm: the prefixes are cached, as for all but the first candidates of a search;
 *   - transformers.js `AutoModelForCausalLM` on the same prompts as text (right-padded batches).
 *
 * Evaluations = candidates × sentences; one evaluation is one prompt scored on one sentence.
 */
import { Example } from '../data/tsv';
import { loadModel } from '../model/load';
import { PrefixReuseBackend } from '../model/prefixBackend';
import { buildRow, compileTemplate, encodeExample } from '../prompt/encode';
import { parseTemplate } from '../prompt/template';
import { buildVerbalizer } from '../prompt/verbalizer';
import { scorePrompt } from '../scoring/scorer';
import { BUNDLED_MODELS_DIR } from '../paths';

export const CAUSAL_MODEL = 'gpt-mini-imdb';
export const CAUSAL_TEMPLATE = '{x} <A:2> [MASK]';
const LABEL_WORDS = ['awful', 'wonderful'];
/** Two-token slot fillings (checked), standing in for a search's candidates. */
const FILLS = ['It was', 'This was', 'I found', 'Overall it', 'What a', 'In short', 'All told', 'Really quite'];
const BATCH = 64;

export interface CausalRow {
  scorer: string;
  evaluationsPerSecond: number;
  passSeconds: number[];
}

export interface CausalBench {
  model: string;
  dtype: 'fp32';
  template: string;
  candidates: number;
  sentences: number;
  evaluations: number;
  rows: CausalRow[];
  /** prefix-reuse (warm cache) evaluations/s over each other row's. */
  prefixReuseSpeedup: Record<string, number>;
  agreement: {
    /** Predictions of prefix-reuse identical to the other scorers', of `evaluations`. */
    prefixVsFull: number;
    prefixVsTransformersjs: number;
    maxAbsLogitDiffVsFull: number;
    maxAbsLogitDiffVsTransformersjs: number;
    inputIdsIdenticalToTransformersjs: number;
  };
  transformersjsVersion: string;
}

interface InProcessRun {
  row: CausalRow;
  /** Prefix reuse only: passes with the prefixes already cached, as through most of a search. */
  warm?: CausalRow;
  logits: Float32Array;
  predictions: number[];
  ids: number[][];
}

const since = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const same = (a: number[], b: number[]) => a.reduce((s, x, i) => s + (x === b[i] ? 1 : 0), 0);

async function inProcess(
  label: string,
  scorer: 'full' | 'mask-head',
  prefixReuse: boolean,
  examples: Example[],
  textColumn: string,
  threads: number,
  passes: number,
): Promise<InProcessRun> {
  const model = await loadModel({ model: CAUSAL_MODEL, dtype: 'fp32', scorer, prefixReuse, threads });
  try {
    const labelIds = buildVerbalizer(
      LABEL_WORDS.map((w) => [w]),
      model.tokenizer,
    ).ids;
    const ct = compileTemplate(parseTemplate(CAUSAL_TEMPLATE), model.tokenizer, textColumn, model.maxLength);
    const encoded = examples.map((ex) => encodeExample(ct, model.tokenizer, ex));
    const fills = FILLS.map((f) => {
      const ids = model.tokenizer.encode(f, true);
      if (ids.length !== 2) throw new Error(`bench: slot filling '${f}' is ${ids.length} tokens, expected 2`);
      return { A: ids };
    });
    const backend = model.backend;
    const coldStart = () => (backend instanceof PrefixReuseBackend ? backend.clearCache() : undefined);
    await scorePrompt(backend, ct, encoded.slice(0, BATCH), fills[0], labelIds);
    const passSeconds: number[] = [];
    let logits = new Float32Array(0);
    let predictions: number[] = [];
    for (let p = 0; p < passes; p++) {
      coldStart();
      const t0 = process.hrtime.bigint();
      const results = [];
      for (const slots of fills) results.push(await scorePrompt(backend, ct, encoded, slots, labelIds));
      passSeconds.push(since(t0));
      logits = Float32Array.from(results.flatMap((r) => r.scores.flatMap((s) => s.labelScores)));
      predictions = results.flatMap((r) => r.scores.map((s) => s.predicted));
    }
    const evaluations = fills.length * examples.length;
    let warm: CausalRow | undefined;
    if (backend instanceof PrefixReuseBackend) {
      const warmSeconds: number[] = [];
      for (let p = 0; p < passes; p++) {
        const t0 = process.hrtime.bigint();
        for (const slots of fills) await scorePrompt(backend, ct, encoded, slots, labelIds);
        warmSeconds.push(since(t0));
      }
      warm = {
        scorer: 'prefix-reuse (warm cache)',
        evaluationsPerSecond: evaluations / Math.min(...warmSeconds),
        passSeconds: warmSeconds,
      };
    }
    return {
      row: { scorer: label, evaluationsPerSecond: evaluations / Math.min(...passSeconds), passSeconds },
      warm,
      logits,
      predictions,
      ids: fills.flatMap((slots) => encoded.map((ex) => buildRow(ct, ex, slots).ids)),
    };
  } finally {
    await model.dispose();
  }
}

export async function benchCausal(o: {
  examples: Example[];
  textColumn: string;
  threads: number;
  passes: number;
  warmupBatches: number;
  log: (s: string) => void;
}): Promise<CausalBench> {
  const runs: InProcessRun[] = [];
  for (const [label, scorer, reuse] of [
    ['full', 'full', false],
    ['mask-head (whole rows)', 'mask-head', false],
    ['prefix-reuse (cold cache)', 'mask-head', true],
  ] as const) {
    o.log(`causal: ${label}`);
    runs.push(await inProcess(label, scorer, reuse, o.examples, o.textColumn, o.threads, o.passes));
  }
  o.log('causal: transformers.js AutoModelForCausalLM');
  const { benchTransformersJsCausal } = await import('./transformersjs');
  const texts = FILLS.flatMap((f) => o.examples.map((ex) => `${ex.fields[o.textColumn].trim()} ${f}`));
  const tjs = await benchTransformersJsCausal({
    modelsDir: BUNDLED_MODELS_DIR,
    model: CAUSAL_MODEL,
    dtype: 'fp32',
    texts,
    labelWords: LABEL_WORDS.map((w) => ` ${w}`),
    threads: o.threads,
    batchSize: BATCH,
    warmupBatches: o.warmupBatches,
    passes: o.passes,
  });
  const rows = [
    ...runs.flatMap((r) => (r.warm ? [r.row, r.warm] : [r.row])),
    {
      scorer: `transformers.js ${tjs.version}`,
      evaluationsPerSecond: tjs.sentencesPerSecond,
      passSeconds: tjs.passSeconds,
    },
  ];
  const [full, , prefix] = runs;
  const reuseRate = prefix.warm!.evaluationsPerSecond;
  return {
    model: CAUSAL_MODEL,
    dtype: 'fp32',
    template: CAUSAL_TEMPLATE,
    candidates: FILLS.length,
    sentences: o.examples.length,
    evaluations: texts.length,
    rows,
    prefixReuseSpeedup: Object.fromEntries(
      rows
        .filter((r) => r !== prefix.warm)
        .map((r) => [r.scorer, Math.round((reuseRate / r.evaluationsPerSecond) * 100) / 100]),
    ),
    agreement: {
      prefixVsFull: same(prefix.predictions, full.predictions),
      prefixVsTransformersjs: same(prefix.predictions, tjs.predictions),
      maxAbsLogitDiffVsFull: maxAbsDiff(prefix.logits, full.logits),
      maxAbsLogitDiffVsTransformersjs: maxAbsDiff(prefix.logits, tjs.labelLogits),
      inputIdsIdenticalToTransformersjs: prefix.ids.filter(
        (ids, i) => ids.length === tjs.ids[i].length && ids.every((x, j) => x === tjs.ids[i][j]),
      ).length,
    },
    transformersjsVersion: tjs.version,
  };
}

/** The causal rows as printed by `npm run bench`. */
export function causalLines(c: CausalBench): string[] {
  const base = c.rows[c.rows.length - 1].evaluationsPerSecond;
  const a = c.agreement;
  return [
    `causal: ${c.model} fp32, '${c.template}', ${c.candidates} candidates × ${c.sentences} sentences = ${c.evaluations} evaluations per pass`,
    `${'scorer'.padEnd(36)} ${'evaluations/s'.padStart(14)} ${'vs transformers.js'.padStart(19)}`,
    ...c.rows.map(
      (r) =>
        `${r.scorer.padEnd(36)} ${r.evaluationsPerSecond.toFixed(1).padStart(14)} ${(r.evaluationsPerSecond / base).toFixed(2).padStart(18)}×`,
    ),
    `prefix reuse (warm) vs full ${c.prefixReuseSpeedup.full}×, vs mask-head on whole rows ${c.prefixReuseSpeedup['mask-head (whole rows)']}×, vs its cold start ${c.prefixReuseSpeedup['prefix-reuse (cold cache)']}×; ` +
      `predictions identical to full ${a.prefixVsFull}/${c.evaluations} (max |Δlogit| ${a.maxAbsLogitDiffVsFull.toExponential(2)}), ` +
      `to transformers.js ${a.prefixVsTransformersjs}/${c.evaluations} (max |Δlogit| ${a.maxAbsLogitDiffVsTransformersjs.toExponential(2)}, input ids identical ${a.inputIdsIdenticalToTransformersjs}/${c.evaluations})`,
  ];
}

/** `npm run bench:causal [-- --n 256]`: only the causal rows, written to results/bench/causal-latest.json. */
async function main(): Promise<void> {
  const os = await import('os');
  const path = await import('path');
  const { parseArgs } = await import('util');
  const { loadExamples } = await import('../data/load');
  const { writeJsonAtomic } = await import('../runner/atomic');
  const { PACKAGE_ROOT } = await import('../paths');
  const { values } = parseArgs({ options: { n: { type: 'string', default: '256' } } });
  const n = Number(values.n);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--n must be a positive integer (got ${values.n})`);
  const data = loadExamples({ task: 'sst-2' }, 'test');
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const loadavgStart = os.loadavg();
  const c = await benchCausal({
    examples: data.examples.slice(0, n),
    textColumn: data.textColumn,
    threads: cores,
    passes: 2,
    warmupBatches: 2,
    log: (s) => process.stderr.write(`[bench] ${s}\n`),
  });
  const out = path.join(PACKAGE_ROOT, 'results', 'bench', 'causal-latest.json');
  writeJsonAtomic(out, {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores, loadavgStart, loadavgEnd: os.loadavg() },
    ...c,
  });
  process.stdout.write(
    [
      ...causalLines(c),
      `load avg ${loadavgStart.map((x) => x.toFixed(2)).join(' ')} at start (a shared machine lowers every row; compare ratios within one run)`,
      `wrote ${out}`,
    ].join('\n') + '\n',
  );
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`bench:causal: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  });
}
