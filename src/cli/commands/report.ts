import type { Argv } from 'yargs';
import { writeRunReport } from '../../reports/runReport';

export const command = 'report <run-dir..>';
export const describe =
  "Write a run's report.html: learning curve, candidates' scores, the winner on test (confusion matrix), refinement";

export function builder(y: Argv) {
  return y
    .positional('run-dir', {
      type: 'string',
      array: true,
      demandOption: true,
      describe:
        'run directories (results/...); several: one page overlaying their curves (one colour and marker per run) with a table comparing them',
    })
    .option('out', {
      type: 'string',
      describe:
        'output page (one run: default <run-dir>/report.html; several: default ./report.html); the numbers go next to it as .json',
    })
    .option('test', {
      type: 'boolean',
      default: true,
      describe:
        'the confusion matrix on test, from the predictions the search recorded (a run from before they were recorded: its winning prompt scored again, which loads the model); --no-test skips it',
    })
    .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: all cores)' })
    .example(
      '$0 report results/sst2-beam-s13-20261126-101500',
      'writes results/sst2-beam-s13-.../report.html (open it in a browser)',
    )
    .example('$0 report results/sst2-* --out sst2.html', 'every SST-2 run on one page, curves overlaid');
}

type Args = Awaited<ReturnType<typeof builder>['argv']>;

export async function handler(argv: Args): Promise<void> {
  const dirs = (argv['run-dir'] ?? []).map(String);
  const out = await writeRunReport(dirs, { out: argv.out, scoreTest: argv.test, threads: argv.threads });
  process.stdout.write(`${out}\n`);
}
