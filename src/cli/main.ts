#!/usr/bin/env node
import * as path from 'path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isStoppedError, isUserError } from '../errors';
import { onPreparedCacheNotice } from '../model/graph/preparedCache';
import { userIoProblem } from '../runner/atomic';
import * as evalCommand from './commands/eval';
import * as searchCommand from './commands/search';
import * as leaderboardCommand from './commands/leaderboard';
import * as refineCommand from './commands/refine';
import * as exportCommand from './commands/export';
import * as predictCommand from './commands/predict';
import * as workerCommand from './commands/worker';
import * as reportCommand from './commands/report';

/** Prints a user error on one line and exits 2; anything else is a bug and keeps its stack. */
function fail(e: unknown): never {
  if (isStoppedError(e)) {
    process.stderr.write(`promptsearch: ${e.message}\n`);
    process.exit(130);
  }
  // A file-system error a user can cause (a read-only folder, a full disk) that no code turned into a UserError.
  const io = userIoProblem(e);
  const file = (e as NodeJS.ErrnoException)?.path;
  if (isUserError(e) || (io && file)) {
    process.stderr.write(`promptsearch: ${isUserError(e) ? (e as Error).message : `${file}: ${io}`}\n`);
    process.exit(2);
  }
  process.stderr.write(`promptsearch: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
}

/** Arguments that name files or folders: made absolute, so every message names its file unambiguously. */
const PATH_ARGS = ['config', 'resume', 'suite', 'run-dir', 'runDir', 'prompt', 'data', 'train', 'dev', 'test', 'out'];

function absolutePaths(argv: Record<string, unknown>): void {
  for (const key of PATH_ARGS) {
    const v = argv[key];
    if (typeof v === 'string' && v !== '') argv[key] = path.resolve(v);
    else if (Array.isArray(v)) argv[key] = v.map((x) => (typeof x === 'string' && x !== '' ? path.resolve(x) : x));
  }
}

export async function main(args: string[]): Promise<void> {
  await yargs(args)
    .scriptName('promptsearch')
    .usage('$0 <command> [options]\n\nFind the best discrete prompt for a frozen masked language model.')
    .command(evalCommand)
    .command(searchCommand)
    .command(leaderboardCommand)
    .command(refineCommand)
    .command(exportCommand)
    .command(predictCommand)
    .command(workerCommand)
    .command(reportCommand)
    .middleware(absolutePaths)
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .fail((msg, err) => {
      if (err) fail(err);
      process.stderr.write(`promptsearch: ${String(msg).replace(/\s*\n\s*/g, ' ')}\n`);
      process.exit(2);
    })
    .help()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .parseAsync();
}

if (require.main === module) {
  onPreparedCacheNotice((m) => process.stderr.write(`promptsearch: ${m}\n`));
  main(hideBin(process.argv)).catch(fail);
}
