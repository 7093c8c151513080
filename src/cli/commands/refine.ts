import type { Argv } from 'yargs';
import { REFINE_DEFAULTS, RefineResult, runRefine } from '../../refine/refine';
import { checkFlags, reportAfterRun, withGracefulStop } from '../common';

export const command = 'refine <run-dir>';
export const describe =
  "Refine a finished run's result into continuous slot embeddings (CMA-ES in a random subspace, BBT): its prompt, or its ensemble's prompt members one by one";

export function builder(y: Argv) {
  return y
    .positional('run-dir', { type: 'string', demandOption: true, describe: 'a finished search run (results/...)' })
    .option('budget', {
      type: 'number',
      default: REFINE_DEFAULTS.budget,
      describe:
        'example evaluations: scoring the discrete prompts, then train for CMA-ES and dev for selection, split over the prompt members; too small for one generation each is refused',
    })
    .option('dim', {
      type: 'number',
      default: REFINE_DEFAULTS.dim,
      describe: 'dimension of the searched vector z (p = p0 + A z)',
    })
    .option('pop', { type: 'number', describe: 'CMA-ES population per generation (default 4 + 3 ln dim)' })
    .option('sigma', {
      type: 'number',
      default: REFINE_DEFAULTS.sigma0,
      describe: 'initial CMA-ES step size in z (1 ≈ the spread of the word embeddings)',
    })
    .option('seed', {
      type: 'number',
      default: REFINE_DEFAULTS.seed,
      describe: 'seed of the projection A and of CMA-ES',
    })
    .option('loss', {
      choices: ['ce', 'margin'] as const,
      default: REFINE_DEFAULTS.loss,
      describe: 'train loss: cross-entropy over the label words, or minus the margin',
    })
    .option('threads', { type: 'number', describe: 'onnxruntime threads (default: all cores)' })
    .option('json', { type: 'boolean', default: false, describe: 'print result.json' });
}

type Args = Awaited<ReturnType<typeof builder>['argv']>;

export async function handler(argv: Args): Promise<void> {
  checkFlags(argv, {
    budget: 'positiveInt',
    dim: 'positiveInt',
    pop: 'positiveInt',
    sigma: 'positive',
    seed: 'int',
    threads: 'positiveInt',
  });
  const result = await withGracefulStop('stopping after this generation', (stopRequested) =>
    runRefine(
      argv['run-dir']!,
      {
        budget: argv.budget,
        dim: argv.dim,
        popSize: argv.pop,
        sigma0: argv.sigma,
        seed: argv.seed,
        loss: argv.loss,
        threads: argv.threads,
      },
      { log: (l) => process.stderr.write(l + '\n'), stopRequested },
    ),
  );
  const report = await reportAfterRun(argv['run-dir']!, argv.threads);
  process.stdout.write(
    argv.json
      ? JSON.stringify(result, null, 2) + '\n'
      : formatRefine(result, argv['run-dir']!) + (report ? `report     ${report}\n` : ''),
  );
}

export function formatRefine(r: RefineResult, runDir: string): string {
  const f = (x: number | null) => (x === null ? '–' : x.toFixed(4));
  const what = r.of === 'ensemble' ? 'ensemble' : 'prompt';
  const kept = r.improvedDev ? '' : `   (no soft prompt raised the ${what}'s dev: kept the run's ${what})`;
  const members = (r.members ?? []).map(
    (m) =>
      `  member ${m.member + 1} ${m.kept === 'soft' ? 'soft    ' : 'discrete'} dev ${f(m.devBefore)} → ${f(m.devAfter)}${m.readoutMembers.length ? `, readout member(s) ${m.readoutMembers.map((k) => k + 1).join(', ')} through it` : ''}  ${m.generations} generations, ${m.evaluations.toLocaleString('en-US')} evaluations  ${m.prompt}`,
  );
  return [
    `            train    dev      test`,
    `discrete    ${f(r.discrete.train)}   ${f(r.discrete.dev)}   ${f(r.discrete.test)}${r.of === 'ensemble' ? "   (the run's ensemble)" : ''}`,
    `refined     ${f(r.refined.train)}   ${f(r.refined.dev)}   ${f(r.refined.test)}${kept}`,
    ...members,
    `evaluations ${r.evaluations.toLocaleString('en-US')} of ${r.budget.toLocaleString('en-US')} in ${r.generations} generations, ${r.seconds.toFixed(1)} s`,
    `soft prompt ${runDir}/refine/soft.json (export it: promptsearch export ${runDir} --soft)`,
    '',
  ].join('\n');
}
