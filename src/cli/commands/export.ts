import type { Argv } from 'yargs';
import { UserError } from '../../errors';
import { PromptFile, promptFileFromRun } from '../../export/promptFile';
import { parseTemplate, renderTemplate } from '../../prompt/template';
import { writeJsonAtomic } from '../../runner/atomic';
import { RunDir } from '../../runner/runDir';

export const command = 'export <run-dir..>';
export const describe = 'Write the best prompt of finished runs as a prompt file (for predict and loadPrompt)';

export function builder(y: Argv) {
  return y
    .positional('run-dir', {
      type: 'string',
      array: true,
      demandOption: true,
      describe: 'finished run directories (results/...)',
    })
    .option('out', {
      type: 'string',
      describe:
        'output file (one run: default <run-dir>/prompt.json, with --soft <run-dir>/prompt.soft.json; several runs: required)',
    })
    .option('soft', {
      type: 'boolean',
      default: false,
      describe:
        'export the refined result (<run-dir>/refine/soft.json, from `promptsearch refine`) with its refined scores: the soft prompt, or the refined ensemble (its refined members soft)',
    })
    .option('ensemble', {
      type: 'boolean',
      describe:
        'export the run\'s prompt ensemble (a search with "ensemble": K > 1, or over several templates): predict averages its members\' calibrated log-probabilities. Default: on when the run\'s result is an ensemble (best.json "result"); --no-ensemble exports its selected single prompt',
    })
    .option('top', {
      type: 'number',
      describe: 'several runs: keep the K best by dev accuracy (ties: train accuracy); default all',
    })
    .example(
      '$0 export results/sst2-beam-s13-20261126-101500',
      'the default search (3 templates): writes its ensemble to results/sst2-beam-s13-.../prompt.ensemble.json',
    )
    .example(
      '$0 export results/sst2-genetic-s13-20261126-101500',
      'a search over one template: writes results/sst2-genetic-s13-.../prompt.json',
    )
    .example(
      '$0 export results/sst2-csv-s13-20261126-101500',
      'a run on CSV data: the prompt file names the labels of its "labels" (negative, positive)',
    )
    .example(
      '$0 export results/sst2-* --top 3 --out best3.json',
      'the 3 best runs by dev accuracy, as a JSON array, best first',
    )
    .example(
      '$0 export results/sst2-beam-s13-20261126-101500 --no-ensemble',
      "the default search's best single prompt: results/sst2-beam-s13-.../prompt.json",
    )
    .example(
      '$0 export results/sst2-beam-s13-20261126-101500 --soft',
      'a refined run: writes its refined result (the default search: the ensemble, members soft) to results/sst2-beam-s13-.../prompt.soft.json',
    );
}

type Args = Awaited<ReturnType<typeof builder>['argv']>;

export async function handler(argv: Args): Promise<void> {
  const dirs = (argv['run-dir'] ?? []).map(String);
  if (argv.top !== undefined && (!Number.isInteger(argv.top) || argv.top < 1))
    throw new UserError(`--top ${argv.top}: expected a positive integer`);
  // With --soft, the refinement says what it refined (a prompt, or the ensemble); --ensemble / --no-ensemble are checked against it.
  const ensembles = dirs.map((d) => (argv.soft === true ? argv.ensemble : (argv.ensemble ?? resultIsEnsemble(d))));
  const prompts = dirs.map((d, i) => promptFileFromRun(d, { soft: argv.soft === true, ensemble: ensembles[i] }));
  if (prompts.length === 1) {
    const out = argv.out ?? new RunDir(dirs[0]).promptFile(argv.soft ? 'soft' : ensembles[0] ? 'ensemble' : 'discrete');
    writeJsonAtomic(out, prompts[0]);
    process.stdout.write(`${out}: ${summary(prompts[0])}\n`);
    return;
  }
  if (!argv.out) throw new UserError(`exporting ${prompts.length} runs writes one JSON array: give --out FILE`);
  const ranked = rankPrompts(prompts).slice(0, argv.top ?? prompts.length);
  writeJsonAtomic(argv.out, ranked);
  process.stdout.write(
    `${argv.out}: ${ranked.length} of ${prompts.length} runs, best first\n${ranked.map((p, i) => `  ${i + 1}. ${summary(p)}`).join('\n')}\n`,
  );
}

/** A run whose result is an ensemble (best.json `result`): a search over several templates or with `ensemble` > 1. */
function resultIsEnsemble(dir: string): boolean {
  const run = new RunDir(dir);
  return run.isRun() && run.readBest()?.result === 'ensemble';
}

/** Best first: dev accuracy, then train accuracy; then run directory, so the order is stable. */
export function rankPrompts(prompts: PromptFile[]): PromptFile[] {
  const dev = (p: PromptFile) => p.scores.dev ?? -1;
  return [...prompts].sort(
    (a, b) => dev(b) - dev(a) || b.scores.train - a.scores.train || (a.source.runDir < b.source.runDir ? -1 : 1),
  );
}

function summary(p: PromptFile): string {
  const f = (x: number | null) => (x === null ? '–' : x.toFixed(4));
  // A one-member ensemble (a run whose result is its hand-written baseline) is told as that member.
  const shown = p.ensemble?.members.length === 1 ? { ...p, ...p.ensemble.members[0] } : p;
  const text = Object.fromEntries(Object.entries(shown.slots).map(([k, s]) => [k, s.text]));
  const words = shown.labels.map((l) => l.words.join('/')).join(', ');
  const softCount = p.ensemble?.members.filter((m) => m.soft).length ?? 0;
  const ens = p.ensemble
    ? ` ensemble of ${p.ensemble.members.length}${softCount ? ` (${softCount} soft, refined)` : p.refine ? ' (refined: no dev gain, the discrete members)' : ''}`
    : '';
  const soft = p.soft
    ? ` soft (refined${p.soft.refine.improvedDev ? '' : ', no dev gain: the discrete tokens'})`
    : p.refine && !p.ensemble
      ? ' (refined: no dev gain, the discrete prompt)'
      : '';
  return `"${renderTemplate(parseTemplate(shown.template), text)}"${soft}${ens} (${words}) dev ${f(p.scores.dev)} train ${f(p.scores.train)} test ${f(p.scores.test)} [${p.source.runId}]`;
}
