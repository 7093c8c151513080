import * as path from 'path';
import type { Argv } from 'yargs';
import { UserError } from '../../errors';
import { readSuite, runLeaderboard } from '../../runner/leaderboard';
import { ProgressBar } from '../../runner/progress';
import { withGracefulStop } from '../common';
import { queuedLeaderboard } from '../remote';

export const command = 'leaderboard <suite>';
export const describe =
  'Run a suite (methods × tasks × seeds) and write leaderboard.json/.md/.html; finished entries are skipped';

export function builder(y: Argv) {
  return y
    .positional('suite', {
      type: 'string',
      demandOption: true,
      describe: 'suite file, e.g. searches/leaderboard-mini.json',
    })
    .option('out', { type: 'string', describe: 'output folder (default results/leaderboards/<suite name>)' })
    .option('redis', {
      type: 'string',
      describe: 'run the entries on the queue at this Redis URL (workers: promptsearch worker); rerun to re-attach',
    })
    .option('queue', { type: 'string', describe: 'with --redis: queue name (default promptsearch)' });
}

type Args = Awaited<ReturnType<typeof builder>['argv']>;

export async function handler(argv: Args): Promise<void> {
  const suite = readSuite(argv.suite!);
  // An entry of a suite without a version is read as a version 1 search config (its old meaning).
  if (suite.version === undefined && suite.methods.some((m) => m.strategy !== undefined))
    process.stderr.write(
      `promptsearch: note: ${argv.suite}: a suite without "version" reads its entries as version 1 search configs (the old defaults); add "version": 2 for the recommended defaults (docs/configuration.md)\n`,
    );
  const outDir = argv.out ?? path.join('results', 'leaderboards', suite.name);
  if (argv.queue && !argv.redis) throw new UserError('--queue needs --redis URL');
  if (argv.redis) return queuedLeaderboard(suite, outDir, argv.redis, argv.queue);
  const bar = new ProgressBar(suite.methods.length * suite.tasks.length * suite.seeds.length);
  const { complete } = await withGracefulStop(
    'stopping (finished entries and scored candidates are kept); rerun the same command to resume',
    (stopRequested) =>
      runLeaderboard(suite, {
        outDir,
        stopRequested,
        log: (l) => process.stderr.write(l + '\n'),
        onProgress: (p) => bar.update(p.cellsDone, `entries done (${p.status})`, p.cells, p.etaSeconds),
      }),
  );
  bar.done();
  process.stdout.write(
    `${complete ? 'complete' : 'stopped; rerun to resume'}: ${path.join(outDir, 'leaderboard.md')}\n`,
  );
  if (!complete) process.exitCode = 130;
}
