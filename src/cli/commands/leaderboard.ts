import * as path from 'path';
import type { Argv } from 'yargs';
import { readSuite, runLeaderboard } from '../../runner/leaderboard';

export const command = 'leaderboard <suite>';
export const describe = 'Run a suite (methods × tasks × seeds) and write leaderboard.json/.md/.html; finished cells are skipped';

export function builder(y: Argv) {
  return y
    .positional('suite', { type: 'string', demandOption: true, describe: 'suite file, e.g. searches/leaderboard-mini.json' })
    .option('out', { type: 'string', describe: 'output folder (default results/leaderboards/<suite name>)' });
}

type Args = Awaited<ReturnType<typeof builder>['argv']>;

export async function handler(argv: Args): Promise<void> {
  const suite = readSuite(argv.suite!);
  const outDir = argv.out ?? path.join('results', 'leaderboards', suite.name);
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('\npromptsearch: stopping after the current batch (Ctrl-C again to abort); rerun the same command to resume\n');
  };
  process.on('SIGINT', onSigint);
  const { complete } = await runLeaderboard(suite, { outDir, stopRequested: () => stop, log: (l) => process.stderr.write(l + '\n') });
  process.off('SIGINT', onSigint);
  process.stdout.write(`${complete ? 'complete' : 'stopped; rerun to resume'}: ${path.join(outDir, 'leaderboard.md')}\n`);
  if (!complete) process.exitCode = 130;
}
