/**
 * `npm run bench:search`: the same search with the scorer as exported (`full`, the engine before
 * the mask-head rewrite) and with the mask-head scorer, measured in one run. fp32 by default:
 * both scorers give the same logits there, so both searches take the same path and reach the
 * same prompt, and the time ratio is the speed-up at equal accuracy.
 *
 * With a causal model (`--config searches/sst2-causal.json`) there is a third row: the mask-head
 * scorer with prefix reuse (the default), against the same scorer recomputing whole rows.
 *
 * `--vs-scorer` runs only the default scorer and compares the search's wall time with its
 * evaluations at the in-process scorer's rate (measured first, in the same run), with the
 * breakdown: start-up until the first progress line, the search, after it (dev selection, test, readout members, fits, the ensemble).
 * The in-process rate is measured again after the search and the verdict given against both: on
 * a shared machine one process with all threads moves more between moments than the search does.
 *   npm run bench:search -- --config searches/sst2-beam.json --dtype int8 --budget 50000 --vs-scorer
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeJsonAtomic } from '../runner/atomic';
import { resolveModel } from '../model/modelFolder';
import { readConfig, validateConfig } from '../runner/config';
import { runSearch } from '../runner/run';
import { RunDir } from '../runner/runDir';
import { PACKAGE_ROOT } from '../paths';
import { loadExamples } from '../data/load';
import { Dtype } from '../model/modelFolder';
import { benchInProcess } from './inProcess';

/** Sentences/s of the in-process mask-head scorer on 512 SST-2 test sentences (npm run bench's measurement). */
async function inProcessRate(dtype: Dtype): Promise<number> {
  const data = loadExamples({ task: 'sst-2' }, 'test');
  return (
    await benchInProcess(
      dtype,
      'mask-head',
      data.examples.slice(0, 512),
      data.textColumn,
      os.availableParallelism?.() ?? os.cpus().length,
    )
  ).sentencesPerSecond;
}

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

/**
 * Train evaluations per second between the first and the last progress line: the search itself,
 * without building the candidate pools, dev selection and the test score (the same for every scorer).
 * `setupSeconds`: until the first progress line (start-up, candidate pools, the first batch).
 * A search over several templates sums its sub-runs' phases (each starts its own workers).
 */
function searchPhaseRate(
  runDir: string,
  templates: number,
): { evaluationsPerSecond: number; seconds: number; setupSeconds: number; lastSeconds: number } {
  const run = new RunDir(runDir);
  const phases = (templates > 1 ? Array.from({ length: templates }, (_, i) => run.templateRun(i)) : [run]).map((r) => {
    const lines = r
      .readLines<{ evaluations: number; seconds?: number }>('progress')
      .filter((l): l is { evaluations: number; seconds: number } => l.seconds !== undefined);
    const first = lines[0];
    const last = lines[lines.length - 1];
    return {
      evaluations: last.evaluations - first.evaluations,
      seconds: last.seconds - first.seconds,
      setupSeconds: first.seconds,
      lastSeconds: last.seconds,
    };
  });
  const sum = (k: 'evaluations' | 'seconds' | 'setupSeconds' | 'lastSeconds') => phases.reduce((a, p) => a + p[k], 0);
  return {
    evaluationsPerSecond: sum('seconds') > 0 ? sum('evaluations') / sum('seconds') : NaN,
    seconds: sum('seconds'),
    setupSeconds: sum('setupSeconds'),
    lastSeconds: sum('lastSeconds'),
  };
}

async function main(): Promise<void> {
  const configFile = flag('config', path.join(PACKAGE_ROOT, 'searches', 'sst2-genetic.json'));
  const budget = Number(flag('budget', '5000'));
  const dtype = flag('dtype', 'fp32');
  const base = readConfig(configFile);
  // `--scorers full,prefix-reuse`: only these rows (a 50,000-evaluation causal comparison skips the middle one).
  const only = process.argv.includes('--scorers')
    ? flag('scorers', '')
        .split(',')
        .map((x) => x.trim())
    : undefined;
  const causal = resolveModel(base.model as string | undefined, dtype as 'fp32' | 'int8').kind === 'causal';
  // --vs-scorer: only the default scorer, against the in-process scorer's rate measured here first.
  const vsScorer = process.argv.includes('--vs-scorer');
  const scorerRate = vsScorer ? await inProcessRate(dtype as Dtype) : undefined;
  if (scorerRate)
    process.stdout.write(
      `in-process mask-head scorer (${dtype}, ${os.cpus().length} threads, SST-2 test): ${scorerRate.toFixed(0)} sentences/s\n`,
    );
  const all = [
    { label: 'full', scorer: 'full' as const, prefixReuse: false },
    { label: causal ? 'mask-head (whole rows)' : 'mask-head', scorer: 'mask-head' as const, prefixReuse: false },
    ...(causal ? [{ label: 'prefix-reuse', scorer: 'mask-head' as const, prefixReuse: true }] : []),
  ];
  const variants = vsScorer
    ? all.slice(causal ? 2 : 1)
    : all.filter((v) => only === undefined || only.includes(v.label));
  if (!vsScorer && variants.length < 2)
    throw new Error(
      `--scorers must name at least two of: full, mask-head${causal ? ' (whole rows), prefix-reuse' : ''} (got ${flag('scorers', '')})`,
    );
  const rows: {
    scorer: string;
    seconds: number;
    evaluationsPerSecond: number;
    searchPhase: { evaluationsPerSecond: number; seconds: number; setupSeconds: number; lastSeconds: number };
    testAccuracy: number | null;
    prompt: string;
    evaluations: number;
  }[] = [];
  for (const v of variants) {
    const config = validateConfig({ ...base, budget, dtype, scorer: v.scorer, prefixReuse: v.prefixReuse }, configFile);
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), `ps-bench-${v.scorer}-`));
    const t0 = Date.now();
    const best = await runSearch(config, { runDir });
    const seconds = (Date.now() - t0) / 1000;
    rows.push({
      scorer: v.label,
      seconds,
      evaluationsPerSecond: best.evaluations / seconds,
      searchPhase: searchPhaseRate(runDir, config.templates?.length ?? 1),
      testAccuracy: best.testAccuracy,
      prompt: best.prompt,
      evaluations: best.evaluations,
    });
    // The run directory served its purpose (the phase timings above); do not leave it in /tmp.
    fs.rmSync(runDir, { recursive: true, force: true });
    const phase = rows[rows.length - 1].searchPhase;
    process.stdout.write(
      `${v.label.padEnd(24)} ${seconds.toFixed(1).padStart(7)} s  ${(best.evaluations / seconds).toFixed(0).padStart(6)} evaluations/s (search phase ${phase.evaluationsPerSecond.toFixed(0)}/s)   test ${best.testAccuracy?.toFixed(4)}   ${best.prompt}\n`,
    );
  }
  const last = rows[rows.length - 1];
  const breakdown = rows.map((r) => ({
    scorer: r.scorer,
    setupSeconds: r.searchPhase.setupSeconds,
    searchSeconds: r.searchPhase.seconds,
    afterSearchSeconds: r.seconds - r.searchPhase.lastSeconds,
  }));
  for (const b of breakdown) {
    process.stdout.write(
      `${b.scorer}: setup until the first progress line ${b.setupSeconds.toFixed(1)} s, search ${b.searchSeconds.toFixed(1)} s, after it (dev selection, test, readout members, fits, the ensemble) ${b.afterSearchSeconds.toFixed(1)} s\n`,
    );
  }
  const against = (rate: number) => ({
    scorerRate: rate,
    scoringSeconds: last.evaluations / rate,
    wallOverScoring: last.seconds / (last.evaluations / rate),
    targetSeconds: 1.15 * (last.evaluations / rate) + 3,
  });
  const target = scorerRate ? against(scorerRate) : undefined;
  const afterRate = scorerRate ? await inProcessRate(dtype as Dtype) : undefined;
  const targetAfter = afterRate ? against(afterRate) : undefined;
  for (const [when, t] of [
    ['before', target],
    ['after', targetAfter],
  ] as const) {
    if (!t) continue;
    process.stdout.write(
      `wall ${last.seconds.toFixed(1)} s = ${t.wallOverScoring.toFixed(2)}× the ${last.evaluations.toLocaleString('en-US')} evaluations at the in-process rate measured ${when} the search (${t.scorerRate.toFixed(0)} sentences/s: ${t.scoringSeconds.toFixed(1)} s); target 1.15× + 3 s = ${t.targetSeconds.toFixed(1)} s: ${last.seconds <= t.targetSeconds ? 'met' : 'missed'}\n`,
    );
  }
  if (vsScorer) {
    writeJsonAtomic(path.join('results', 'bench', 'search-vs-scorer-latest.json'), {
      config: configFile,
      budget,
      dtype,
      rows,
      breakdown,
      target,
      targetAfter,
      cpu: os.cpus()[0]?.model,
      cores: os.cpus().length,
      loadavg: os.loadavg(),
      date: new Date().toISOString(),
    });
    return;
  }
  const speedup = rows[0].seconds / last.seconds;
  const phaseSpeedup = last.searchPhase.evaluationsPerSecond / rows[0].searchPhase.evaluationsPerSecond;
  const samePrompt = rows.every((r) => r.prompt === rows[0].prompt);
  const whole = rows.find((r) => r.scorer === 'mask-head (whole rows)');
  const vsWhole =
    causal && whole && whole !== last
      ? last.searchPhase.evaluationsPerSecond / whole.searchPhase.evaluationsPerSecond
      : undefined;
  process.stdout.write(
    `speed-up ${speedup.toFixed(2)}x vs full end to end; search phase ${phaseSpeedup.toFixed(2)}x vs full${vsWhole !== undefined ? `, ${vsWhole.toFixed(2)}x vs mask-head on whole rows` : ''} at budget ${budget.toLocaleString('en-US')} (${dtype}); same prompt: ${samePrompt}\n`,
  );
  const out = path.join('results', 'bench', causal ? 'search-causal-latest.json' : 'search-latest.json');
  writeJsonAtomic(out, {
    config: configFile,
    budget,
    dtype,
    rows,
    speedup,
    searchPhaseSpeedup: phaseSpeedup,
    ...(vsWhole !== undefined ? { speedupVsWholeRows: vsWhole } : {}),
    samePrompt,
    breakdown,
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    loadavg: os.loadavg(),
    date: new Date().toISOString(),
  });
}

main().catch((e) => {
  process.stderr.write(`bench:search: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
