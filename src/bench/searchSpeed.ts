/**
 * `npm run bench:search`: the same search with the scorer as exported (`full`, the engine before
 * the mask-head rewrite) and with the mask-head scorer, measured in one run. fp32 by default:
 * both scorers give the same logits there, so both searches take the same path and reach the
 * same prompt, and the time ratio is the speed-up at equal accuracy.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeJsonAtomic } from '../runner/atomic';
import { readConfig, validateConfig } from '../runner/config';
import { runSearch } from '../runner/run';
import { PACKAGE_ROOT } from '../paths';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

async function main(): Promise<void> {
  const configFile = flag('config', path.join(PACKAGE_ROOT, 'searches', 'sst2-genetic.json'));
  const budget = Number(flag('budget', '5000'));
  const dtype = flag('dtype', 'fp32');
  const base = readConfig(configFile);
  const rows: { scorer: string; seconds: number; testAccuracy: number | null; prompt: string; evaluations: number }[] = [];
  for (const scorer of ['full', 'mask-head'] as const) {
    const config = validateConfig({ ...base, budget, dtype, scorer }, configFile);
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), `ps-bench-${scorer}-`));
    const t0 = Date.now();
    const best = await runSearch(config, { runDir });
    const seconds = (Date.now() - t0) / 1000;
    rows.push({ scorer, seconds, testAccuracy: best.testAccuracy, prompt: best.prompt, evaluations: best.evaluations });
    process.stdout.write(`${scorer.padEnd(10)} ${seconds.toFixed(1).padStart(7)} s   test ${best.testAccuracy?.toFixed(4)}   ${best.prompt}\n`);
  }
  const speedup = rows[0].seconds / rows[1].seconds;
  process.stdout.write(`speed-up ${speedup.toFixed(2)}x at budget ${budget.toLocaleString('en-US')} (${dtype}); same prompt: ${rows[0].prompt === rows[1].prompt}\n`);
  writeJsonAtomic(path.join('results', 'bench', 'search-latest.json'), { config: configFile, budget, dtype, rows, speedup, cpu: os.cpus()[0]?.model, cores: os.cpus().length, date: new Date().toISOString() });
}

main().catch((e) => {
  process.stderr.write(`bench:search: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
