/**
 * `npm run bench:search`: the same search with the scorer as exported (`full`, the engine before
 * the mask-head rewrite) and with the mask-head scorer, measured in one run. fp32 by default:
 * both scorers give the same logits there, so both searches take the same path and reach the
 * same prompt, and the time ratio is the speed-up at equal accuracy.
 *
 * With a causal model (`--config searches/sst2-causal.json`) there is a third row: the mask-head
 * scorer with prefix reuse (the default), against the same scorer recomputing whole rows.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeJsonAtomic } from '../runner/atomic';
import { resolveModel } from '../model/modelFolder';
import { readConfig, validateConfig } from '../runner/config';
import { runSearch } from '../runner/run';
import { PACKAGE_ROOT } from '../paths';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

/**
 * Train evaluations per second between the first and the last progress line: the search itself,
 * without building the candidate pools, dev selection and the test score (the same for every scorer).
 */
function searchPhaseRate(runDir: string): { evaluationsPerSecond: number; seconds: number } {
  const lines = fs
    .readFileSync(path.join(runDir, 'progress.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { evaluations: number; seconds?: number })
    .filter((l): l is { evaluations: number; seconds: number } => l.seconds !== undefined);
  const first = lines[0];
  const last = lines[lines.length - 1];
  const seconds = last.seconds - first.seconds;
  return { evaluationsPerSecond: seconds > 0 ? (last.evaluations - first.evaluations) / seconds : NaN, seconds };
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
  const variants = [
    { label: 'full', scorer: 'full' as const, prefixReuse: false },
    { label: causal ? 'mask-head (whole rows)' : 'mask-head', scorer: 'mask-head' as const, prefixReuse: false },
    ...(causal ? [{ label: 'prefix-reuse', scorer: 'mask-head' as const, prefixReuse: true }] : []),
  ].filter((v) => only === undefined || only.includes(v.label));
  if (variants.length < 2) throw new Error(`--scorers must name at least two of: full, mask-head${causal ? ' (whole rows), prefix-reuse' : ''} (got ${flag('scorers', '')})`);
  const rows: {
    scorer: string;
    seconds: number;
    evaluationsPerSecond: number;
    searchPhase: { evaluationsPerSecond: number; seconds: number };
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
      searchPhase: searchPhaseRate(runDir),
      testAccuracy: best.testAccuracy,
      prompt: best.prompt,
      evaluations: best.evaluations,
    });
    const phase = rows[rows.length - 1].searchPhase;
    process.stdout.write(
      `${v.label.padEnd(24)} ${seconds.toFixed(1).padStart(7)} s  ${(best.evaluations / seconds).toFixed(0).padStart(6)} evaluations/s (search phase ${phase.evaluationsPerSecond.toFixed(0)}/s)   test ${best.testAccuracy?.toFixed(4)}   ${best.prompt}\n`,
    );
  }
  const last = rows[rows.length - 1];
  const speedup = rows[0].seconds / last.seconds;
  const phaseSpeedup = last.searchPhase.evaluationsPerSecond / rows[0].searchPhase.evaluationsPerSecond;
  const samePrompt = rows.every((r) => r.prompt === rows[0].prompt);
  const whole = rows.find((r) => r.scorer === 'mask-head (whole rows)');
  const vsWhole = causal && whole && whole !== last ? last.searchPhase.evaluationsPerSecond / whole.searchPhase.evaluationsPerSecond : undefined;
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
