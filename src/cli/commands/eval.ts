import type { Argv } from 'yargs';
import { Split } from '../../data/tasks';
import { UserError } from '../../errors';
import { Dtype } from '../../model/modelFolder';
import { parseFillArgs } from '../../prompt/fill';
import { CALIBRATIONS, DEFAULT_CALIBRATION } from '../../prompt/calibration';
import { EvalReport, evaluateTemplate } from '../../scoring/evaluate';
import { checkFlags, dataOptions, dataSourceFromArgs, modelOptions } from '../common';

export const command = 'eval';
export const describe = 'Score one (filled) template with a verbalizer on a labeled split';

export function builder(y: Argv) {
  return dataOptions(modelOptions(y))
    .option('split', {
      choices: ['train', 'dev', 'test'] as const,
      default: 'test' as const,
      describe: 'which split of --task',
    })
    .option('template', {
      type: 'string',
      demandOption: true,
      describe: 'e.g. "{x} it was [MASK] ." or "{x} <A:2> [MASK] ." with --fill',
    })
    .option('verbalizer', {
      type: 'string',
      demandOption: true,
      describe: 'label words in label order ("terrible,great") or JSON {"0":["terrible","awful"],"1":["great"]}',
    })
    .option('fill', {
      type: 'string',
      array: true,
      default: [] as string[],
      describe: 'slot filling NAME=TEXT, e.g. --fill A="it was" (repeatable)',
    })
    .option('calibration', {
      choices: CALIBRATIONS,
      default: DEFAULT_CALIBRATION,
      describe:
        "remove each label's prior before deciding: from the task's train + dev inputs (--task) or the scored inputs (--data), from content-free inputs, or none (raw)",
    })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object instead of the summary' })
    .option('per-example', { type: 'boolean', default: false, describe: "with --json: include every example's scores" })
    .example(
      '$0 eval --task sst-2 --template "{x} it was [MASK] ." --verbalizer awful,wonderful',
      'the bundled model on SST-2 test',
    )
    .example(
      '$0 eval --data datasets/examples/sst2-test.tsv --template "{x} <A:2> [MASK] ." --fill A="it was" --verbalizer bad,good',
      'your own TSV (integer labels), a filled slot',
    )
    .example(
      '$0 eval --data datasets/examples/sst2-test.csv --labels negative,positive --template "{x} it was [MASK] ." --verbalizer bad,good',
      'a CSV whose label column holds names',
    )
    .example(
      '$0 eval --data datasets/examples/sst2-test.jsonl --labels negative,positive --template "{x} it was [MASK] ." --verbalizer bad,good',
      'JSON Lines: {"sentence": "...", "label": "positive"} per line',
    )
    .example(
      '$0 eval --data datasets/examples/sst2-test.json --labels negative,positive --template "{x} it was [MASK] ." --verbalizer bad,good',
      'a JSON array of such objects',
    );
}

type Args = Awaited<ReturnType<typeof builder>['argv']>;

export async function handler(argv: Args): Promise<void> {
  checkFlags(argv, { threads: 'positiveInt', seed: 'int' });
  if (argv.task !== undefined && argv.data !== undefined)
    throw new UserError("give --task or --data, not both (--task scores a bundled task's split, --data your own file)");
  const report = await evaluateTemplate({
    model: argv.model,
    dtype: argv.dtype as Dtype,
    scorer: argv.scorer,
    threads: argv.threads,
    template: argv.template,
    verbalizer: argv.verbalizer,
    fill: parseFillArgs(argv.fill),
    data: dataSourceFromArgs(argv),
    split: argv.split as Split,
    calibration: argv.calibration,
  });
  if (argv.json) {
    const { examples, ...rest } = report;
    process.stdout.write(JSON.stringify(argv['per-example'] ? report : rest) + '\n');
    void examples;
  } else process.stdout.write(formatReport(report));
}

export function formatReport(r: EvalReport): string {
  const pct = (x: number) => (Number.isNaN(x) ? '–' : (100 * x).toFixed(2) + '%');
  const lines = [
    `model      ${r.model} (${r.dtype}, scorer ${r.scorer})`,
    `data       ${r.data} (${r.n} examples)`,
    `prompt     ${r.prompt}`,
    `verbalizer ${r.labelWords.map((ws, i) => `${r.labelNames[i]}: ${ws.join('/')}`).join(', ')}`,
    `calibrated ${r.calibration.offsets ? `${r.calibration.mode}: offsets ${r.calibration.offsets.map((o, i) => `${r.labelNames[i]} ${o.toFixed(3)}`).join(', ')} (from ${r.calibration.reference})` : 'no (raw scores)'}`,
    `accuracy   ${r.accuracy.toFixed(4)}`,
    `per class  ${r.perClassAccuracy.map((a, i) => `${r.labelNames[i]} ${pct(a)}`).join(', ')}`,
    `margin     ${r.margin.toFixed(4)} (mean P(gold) − max P(other))`,
    `speed      ${r.sentencesPerSecond.toFixed(1)} sentences/s (${r.seconds.toFixed(1)} s)`,
  ];
  return lines.join('\n') + '\n';
}
